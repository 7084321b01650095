//! AFL++ main for every response decoder (the body is `gateway_translate::fuzzing::response`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        gateway_translate::fuzzing::response(data);
    });
}
