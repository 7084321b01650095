//! Fuzzes the HTTP ingress: a request head and body through the whole gateway stack.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gateway_server::fuzzing::http_ingress(data);
});
