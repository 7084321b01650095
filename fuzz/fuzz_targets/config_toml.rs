//! Fuzzes configuration loading: TOML text through validation and the gateway's state.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gateway_server::fuzzing::config_toml(data);
});
