//! AFL++ main for every stream decoder (the body is `gateway_translate::fuzzing::stream`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        gateway_translate::fuzzing::stream(data);
    });
}
