//! Criterion bench of the response cache (issue 15), in process (no sockets), over
//! the built-in mock provider: the same OpenAI Chat request through the whole stack
//! with the cache off (the mock answers), as a hit (whole, and replayed as a
//! stream), and as a miss that is asked upstream and then kept (`no-cache`, so every
//! iteration looks nothing up but stores). A hit's added latency is the hit line
//! itself against the stack's floor; the issue's goal is ≤ 0.2 ms at p50. The
//! conversation is a realistic few kilobytes, as the key digest reads all of it.
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

fn gateway(cache: bool) -> Gateway {
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

[metrics]
enabled = false

[access_log]
format = "off"

[cache]
enabled = {cache}
"#
    );
    let config = Config::from_toml_str(&text, &|_| None).expect("bench config");
    Gateway::from_config(&config).expect("gateway")
}

/// A conversation of ten turns, about 4 KB.
fn body(stream: bool) -> Bytes {
    let mut messages = Vec::new();
    for i in 0..10 {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        let text = format!("turn {i}: {}", "a few words of context ".repeat(16));
        messages.push(serde_json::json!({"role": role, "content": text}));
    }
    let body = serde_json::json!({"model": "mock-echo", "stream": stream, "messages": messages});
    Bytes::from(serde_json::to_vec(&body).expect("body"))
}

fn request(body: &Bytes, cache_control: Option<&str>) -> http::Request<GatewayBody> {
    let mut req = http::Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json");
    if let Some(cc) = cache_control {
        req = req.header("cache-control", cc);
    }
    req.body(
        Full::new(body.clone())
            .map_err(|never| match never {})
            .boxed_unsync(),
    )
    .expect("request")
}

/// One request through the stack, its answer read whole, and its cache outcome.
async fn one(gw: &Gateway, req: http::Request<GatewayBody>) -> (Bytes, Option<String>) {
    let mut svc = gw.clone();
    let resp = ServiceExt::<http::Request<GatewayBody>>::ready(&mut svc)
        .await
        .expect("ready")
        .call(req)
        .await
        .expect("answer");
    assert_eq!(resp.status(), 200);
    let outcome = resp
        .headers()
        .get("x-patchbay-cache")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        resp.into_body().collect().await.expect("body").to_bytes(),
        outcome,
    )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (whole, streamed) = (body(false), body(true));
    let mut group = c.benchmark_group("response_cache");
    let off = {
        let _in_runtime = rt.enter();
        gateway(false)
    };
    group.bench_function("off_mock_answers", |b| {
        b.iter(|| black_box(rt.block_on(one(&off, request(&whole, None)))))
    });
    off.app().shutdown_usage();

    let on = {
        let _in_runtime = rt.enter();
        gateway(true)
    };
    // Warm: the first request is the miss that stores the answer.
    let (_, first) = rt.block_on(one(&on, request(&whole, None)));
    assert_eq!(first.as_deref(), Some("miss"));
    for (name, body, cache_control, expected) in [
        ("hit_whole", &whole, None, "hit"),
        ("hit_replayed_as_stream", &streamed, None, "hit"),
        ("miss_then_stored", &whole, Some("no-cache"), "bypass"),
    ] {
        let (_, got) = rt.block_on(one(&on, request(body, cache_control)));
        assert_eq!(got.as_deref(), Some(expected), "{name}");
        group.bench_function(name, |b| {
            b.iter(|| black_box(rt.block_on(one(&on, request(body, cache_control)))))
        });
    }
    on.app().shutdown_usage();
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
