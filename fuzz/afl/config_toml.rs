//! AFL++ main for configuration loading: TOML text through parsing, interpolation,
//! validation and the gateway's state (`gateway_server::fuzzing::config_toml`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        gateway_server::fuzzing::config_toml(data);
    });
}
