//! Criterion bench of the whole tower stack, in process (no sockets), over the
//! built-in mock provider: one same-shape OpenAI chat request through every layer —
//! key, decode, routing, usage record — with observability off (no metrics, no
//! access log) and on (metrics, and the access log as text or JSON to `/dev/null`).
//! The difference between the lines is what observation costs a request; the goal
//! is ≤ 2 µs.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use gateway_server::config::Config;
use gateway_server::{Gateway, stack::GatewayBody};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceExt};

const KEY: &str = "bench-key-0123456789abcdef";

const BODY: &str =
    r#"{"model":"mock-echo","messages":[{"role":"user","content":"measure the stack"}]}"#;

fn gateway(observe: &str) -> Gateway {
    let text = format!(
        r#"
[storage]
path = ":memory:"

[providers.mock]
kind = "mock"

[[routes]]
model = "*"
targets = [{{ provider = "mock" }}]

[[keys]]
name = "bench"
secret = "{KEY}"

{observe}
"#
    );
    let config = Config::from_toml_str(&text, &|_| None).expect("bench config");
    Gateway::from_config(&config).expect("gateway")
}

fn request() -> http::Request<GatewayBody> {
    http::Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from_static(BODY.as_bytes()))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("request")
}

/// The configurations compared: observability off, then on in four ways. The traced
/// ones export to a port nothing listens on: every span is made and handed to the
/// batch exporter, whose sends then fail (off the request path).
const VARIANTS: [(&str, &str); 6] = [
    (
        "observe_off",
        "[metrics]\nenabled = false\n[access_log]\nformat = \"off\"\n",
    ),
    ("metrics_only", "[access_log]\nformat = \"off\"\n"),
    (
        "metrics_and_text_log",
        "[access_log]\nformat = \"text\"\npath = \"/dev/null\"\n",
    ),
    (
        "metrics_and_json_log",
        "[access_log]\nformat = \"json\"\npath = \"/dev/null\"\n",
    ),
    (
        "text_log_and_traces",
        "[access_log]\nformat = \"text\"\npath = \"/dev/null\"\n[tracing]\notlp_endpoint = \"http://127.0.0.1:9\"\n",
    ),
    (
        "text_log_and_traces_unsampled",
        "[access_log]\nformat = \"text\"\npath = \"/dev/null\"\n[tracing]\notlp_endpoint = \"http://127.0.0.1:9\"\nsample_ratio = 0.0\n",
    ),
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// One request through the stack, its answer read whole.
async fn one(gw: &Gateway) -> Bytes {
    let mut svc = gw.clone();
    let resp = ServiceExt::<http::Request<GatewayBody>>::ready(&mut svc)
        .await
        .expect("ready")
        .call(request())
        .await
        .expect("answer");
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.expect("body").to_bytes()
}

/// Opens the live feed on an admin listener on loopback: the connection, held
/// unread after the snapshot, keeps it watched.
async fn watch(gw: &Gateway) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let token = "bench-admin-token";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(gateway_server::admin::serve(
        gw.app().clone(),
        listener,
        None,
        gateway_server::admin::AdminToken::from_plain(token),
        None,
        std::future::pending(),
    ));
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "GET /admin/live HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.expect("send");
    let mut got = Vec::new();
    while !got.windows(15).any(|w| w == b"event: snapshot") {
        let mut buf = [0u8; 4096];
        let n = conn.read(&mut buf).await.expect("read");
        assert!(n > 0, "the feed closed");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(gw.app().observer().live_recording());
    conn
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("stack_same_shape_chat");
    for (name, observe) in VARIANTS {
        let gw = {
            let _in_runtime = rt.enter();
            gateway(observe)
        };
        group.bench_function(name, |b| b.iter(|| black_box(rt.block_on(one(&gw)))));
        gw.app().shutdown_usage();
    }
    group.finish();
}

criterion_group!(benches, bench);

/// `STACK_REQUESTS=n STACK_VARIANT=name`: just send `n` requests through that
/// variant and exit, for instruction counts under `valgrind --tool=callgrind`
/// (the slope between two values of `n` is the cost of one request, whatever
/// else the machine is doing). `STACK_WATCHED=1`: with the console's live feed
/// watched (`GET /admin/live` opened on the admin stack and held unread), so the
/// requests are recorded.
fn main() {
    let requests = std::env::var("STACK_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok());
    if let Some(requests) = requests {
        let wanted = std::env::var("STACK_VARIANT").unwrap_or_default();
        let Some((_, observe)) = VARIANTS.iter().find(|(name, _)| *name == wanted) else {
            panic!("STACK_VARIANT is one of {:?}", VARIANTS.map(|v| v.0));
        };
        let rt = runtime();
        let gw = {
            let _in_runtime = rt.enter();
            gateway(observe)
        };
        let _watcher = std::env::var_os("STACK_WATCHED").map(|_| rt.block_on(watch(&gw)));
        for _ in 0..requests {
            black_box(rt.block_on(one(&gw)));
        }
        gw.app().shutdown_usage();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
