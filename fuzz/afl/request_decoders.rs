//! AFL++ main for every request decoder (the body is `gateway_translate::fuzzing::request`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        gateway_translate::fuzzing::request(data);
    });
}
