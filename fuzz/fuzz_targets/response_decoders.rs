//! Fuzzes every response decoder: the first byte picks the shape.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gateway_translate::fuzzing::response(data);
});
