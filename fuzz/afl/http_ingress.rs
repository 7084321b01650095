//! AFL++ main for the HTTP ingress: a request head and body through classification,
//! key reading and the whole gateway stack (`gateway_server::fuzzing::http_ingress`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        gateway_server::fuzzing::http_ingress(data);
    });
}
