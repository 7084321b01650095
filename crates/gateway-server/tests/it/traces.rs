//! OpenTelemetry traces through the gateway, received by an OTLP collector the test
//! starts (OTLP/HTTP protobuf and OTLP/gRPC): the spans of a same-shape chat, a
//! stream, a cross-shape request under a caller's `traceparent` and a refused key;
//! their names, links and GenAI attributes; the `traceparent` the upstream got;
//! failed tries as error spans of their own; a limit's refusal (admission, no try);
//! sampling that follows the caller; the caller's `traceparent` passed through
//! unchanged when the gateway does not trace. The collector and the upstream are in
//! `traces/collector.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use gateway_protocol::ApiShape;
use http_body_util::Full;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use support::*;

mod collector;

use collector::*;

async fn gateway(upstream: SocketAddr, tracing: &str) -> Gateway {
    Gateway::start(&format!(
        r#"
[providers.openai]
kind = "openai_compatible"
base_url = "http://{upstream}/v1"
api_key = "sk-upstream"

[[keys]]
name = "test"
secret = "{KEY}"

[[routes]]
model = "gpt-test"
targets = [{{ provider = "openai", model = "gpt-4o-mini" }}]

{tracing}
"#
    ))
    .await
}

/// Exports every ended span (the export runs on this test's runtime: flushed from
/// a blocking thread).
async fn flush(gw: &Gateway) {
    let app = gw.app.clone();
    tokio::task::spawn_blocking(move || app.observer().flush_traces())
        .await
        .unwrap();
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const CALLER_STATE: &str = "caller=1";

async fn chat(gw: &Gateway, shape: ApiShape, stream: bool, traceparent: Option<&str>) -> String {
    let (path, body) = chat_request(shape, "gpt-test", "hi", stream, false);
    let mut req = client().post(gw.url(&path)).json(&body);
    req = match shape {
        ApiShape::Anthropic => req
            .header("x-api-key", KEY)
            .header("anthropic-version", "2023-06-01"),
        _ => req.bearer_auth(KEY),
    };
    if let Some(parent) = traceparent {
        req = req
            .header("traceparent", parent)
            .header("tracestate", CALLER_STATE);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

/// The spans of the trace whose root is named `name`: (root, its children).
fn trace_of<'a>(spans: &'a [Got], name: &str) -> (&'a Got, Vec<&'a Got>) {
    let roots: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server && s.name == name)
        .collect();
    assert_eq!(roots.len(), 1, "one `{name}` root in {spans:#?}");
    let root = roots[0];
    let children = spans.iter().filter(|s| s.parent == root.span_id).collect();
    (root, children)
}

fn named<'a>(children: &[&'a Got], name: &str) -> &'a Got {
    let found: Vec<_> = children.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one `{name}` child in {children:#?}");
    found[0]
}

/// Checks one traced chat: root, admission, one upstream try whose id went
/// upstream as `sent`, and a relay when `streamed`.
fn check_chat(root: &Got, children: &[&Got], sent: &str, streamed: bool) {
    assert_eq!(root.service, "patchbay-test");
    assert!(!root.error);
    for (key, value) in [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.system", "openai"),
        ("gen_ai.request.model", "gpt-test"),
        ("gen_ai.response.model", "gpt-4o-mini"),
        ("gen_ai.usage.input_tokens", "11"),
        ("gen_ai.usage.output_tokens", "3"),
        ("http.request.method", "POST"),
        ("http.response.status_code", "200"),
        ("patchbay.provider", "openai"),
        ("patchbay.attempts", "1"),
        ("patchbay.streamed", if streamed { "true" } else { "false" }),
    ] {
        assert_eq!(root.attr(key), Some(value), "{key} of {root:#?}");
    }
    assert!(
        root.attr("patchbay.request_id")
            .is_some_and(|id| id.starts_with("req_"))
    );
    assert!(
        root.attr("patchbay.key_id")
            .is_some_and(|id| !id.is_empty())
    );
    // 11 in at $0.15/M and 3 out at $0.60/M: 3.45 µ$, kept in whole micro-dollars.
    let cost: f64 = root.attr("patchbay.cost_usd").unwrap().parse().unwrap();
    assert!((cost - 0.000_003).abs() < 1e-12, "cost {cost}");
    let admission = named(children, "admission");
    assert_eq!(admission.kind, SpanKind::Internal);
    let try_span = named(children, "chat gpt-4o-mini");
    assert_eq!(try_span.kind, SpanKind::Client);
    assert_eq!(try_span.attr("gen_ai.request.model"), Some("gpt-4o-mini"));
    assert_eq!(try_span.attr("gen_ai.system"), Some("openai"));
    assert_eq!(try_span.attr("patchbay.provider"), Some("openai"));
    assert_eq!(try_span.attr("http.response.status_code"), Some("200"));
    assert_eq!(
        sent,
        format!("00-{}-{}-01", root.trace_id, try_span.span_id),
        "the upstream's traceparent names the try's span"
    );
    let relays: Vec<_> = children.iter().filter(|s| s.name == "relay").collect();
    if streamed {
        assert_eq!(relays.len(), 1);
        assert_eq!(relays[0].attr("gen_ai.usage.output_tokens"), Some("3"));
    } else {
        assert!(relays.is_empty(), "no relay for a whole answer");
    }
    assert_eq!(children.len(), if streamed { 3 } else { 2 });
}

/// Sends the four requests and checks what `received` got.
async fn exercise(gw: &Gateway, received: &Received, seen: &Seen) {
    let caller = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    chat(gw, ApiShape::OpenAiChat, false, None).await;
    let streamed = chat(gw, ApiShape::OpenAiChat, true, None).await;
    assert!(streamed.contains("hello"), "{streamed}");
    let crossed = chat(gw, ApiShape::Anthropic, false, Some(&caller)).await;
    assert!(crossed.contains("hello there"), "{crossed}");
    let refused = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("pbk_not_a_key")
        .json(&serde_json::json!({"model": "gpt-test", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let probe = client().get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(probe.status(), 200);
    flush(gw).await;

    let spans = received.lock().unwrap().clone();
    let sent = parents(seen);
    assert_eq!(sent.len(), 3, "three upstream calls: {sent:?}");
    let states: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, s)| s.clone())
        .collect();
    assert_eq!(
        states,
        ["", "", CALLER_STATE],
        "the caller's tracestate goes on"
    );
    // Roots by their paths (all three chats are `chat gpt-test`).
    let roots: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server)
        .collect();
    assert_eq!(
        roots.len(),
        4,
        "a root per request, none for the probe: {spans:#?}"
    );
    let children_of =
        |root: &Got| -> Vec<&Got> { spans.iter().filter(|s| s.parent == root.span_id).collect() };
    let by = |path: &str, streamed: &str| {
        *roots
            .iter()
            .find(|r| {
                r.attr("url.path") == Some(path) && r.attr("patchbay.streamed") == Some(streamed)
            })
            .unwrap_or_else(|| panic!("no root for {path} streamed={streamed}: {roots:#?}"))
    };
    let whole = by("/v1/chat/completions", "false");
    assert_eq!(whole.name, "chat gpt-test");
    assert_eq!(whole.parent, "", "no caller context: a new trace");
    check_chat(whole, &children_of(whole), &sent[0], false);
    let stream = by("/v1/chat/completions", "true");
    check_chat(stream, &children_of(stream), &sent[1], true);
    let cross = by("/v1/messages", "false");
    assert_eq!(cross.trace_id, CALLER_TRACE, "the caller's trace goes on");
    assert_eq!(cross.parent, CALLER_SPAN, "under the caller's span");
    check_chat(cross, &children_of(cross), &sent[2], false);
    assert!(sent[2].contains(CALLER_TRACE));
    // The refused key: a root alone, an error, no GenAI usage.
    let (refused, children) = trace_of(&spans, "chat");
    assert!(children.is_empty());
    assert!(refused.error);
    assert_eq!(refused.attr("http.response.status_code"), Some("401"));
    assert_eq!(refused.attr("patchbay.refusal"), Some("unauthenticated"));
    assert_eq!(refused.attr("gen_ai.usage.input_tokens"), None);
}

#[tokio::test]
async fn traces_reach_an_otlp_http_collector() {
    let (collector, received) = http_collector().await;
    let (up, seen) = upstream().await;
    let gw = gateway(
        up,
        &format!(
            r#"[tracing]
otlp_endpoint = "http://{collector}"
protocol = "http"
service_name = "patchbay-test"
headers = {{ x-collector-key = "collector-secret" }}
"#
        ),
    )
    .await;
    exercise(&gw, &received, &seen).await;
    gw.shutdown().await;
}

#[tokio::test]
async fn traces_reach_an_otlp_grpc_collector() {
    let (collector, received) = grpc_collector().await;
    let (up, seen) = upstream().await;
    let gw = gateway(
        up,
        &format!(
            "[tracing]\notlp_endpoint = \"http://{collector}\"\nprotocol = \"grpc\"\nservice_name = \"patchbay-test\"\n"
        ),
    )
    .await;
    exercise(&gw, &received, &seen).await;
    gw.shutdown().await;
}

#[tokio::test]
async fn sampling_follows_the_callers_flag() {
    let (collector, received) = grpc_collector().await;
    let (up, seen) = upstream().await;
    let gw = gateway(
        up,
        &format!(
            "[tracing]\notlp_endpoint = \"http://{collector}\"\nprotocol = \"grpc\"\nsample_ratio = 0.0\n"
        ),
    )
    .await;
    // Ratio 0: a request of its own is not traced, one the caller samples is, one
    // the caller does not sample is not.
    chat(&gw, ApiShape::OpenAiChat, false, None).await;
    let sampled = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    chat(&gw, ApiShape::OpenAiChat, false, Some(&sampled)).await;
    let unsampled = format!("00-{}-{CALLER_SPAN}-00", "a".repeat(32));
    chat(&gw, ApiShape::OpenAiChat, false, Some(&unsampled)).await;
    flush(&gw).await;
    let spans = received.lock().unwrap().clone();
    assert!(!spans.is_empty());
    assert!(
        spans.iter().all(|s| s.trace_id == CALLER_TRACE),
        "only the sampled caller's trace: {spans:#?}"
    );
    assert_eq!(
        spans.iter().filter(|s| s.kind == SpanKind::Server).count(),
        1
    );
    let sent = parents(&seen);
    assert!(sent[0].ends_with("-00"), "not sampled: {}", sent[0]);
    assert!(sent[1].starts_with(&format!("00-{CALLER_TRACE}-")) && sent[1].ends_with("-01"));
    assert!(sent[2].starts_with(&format!("00-{}-", "a".repeat(32))) && sent[2].ends_with("-00"));
    gw.shutdown().await;
}

#[tokio::test]
async fn untraced_gateways_pass_the_callers_traceparent_through() {
    let (up, seen) = upstream().await;
    let gw = gateway(up, "").await;
    let caller = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    chat(&gw, ApiShape::Anthropic, false, Some(&caller)).await;
    chat(&gw, ApiShape::OpenAiChat, false, None).await;
    let sent = seen.lock().unwrap().clone();
    let caller_headers = (caller, CALLER_STATE.to_owned());
    assert_eq!(sent, [caller_headers, Default::default()]);
    gw.shutdown().await;
}

/// An OpenAI-shaped upstream answering every call with a 503, keeping each
/// request's `traceparent`.
async fn busy_upstream() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    let addr = serve_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let kept = kept.clone();
        async move {
            let parent = req.headers().get("traceparent");
            let parent = parent.map(|v| v.to_str().unwrap().to_owned());
            kept.lock().unwrap().push(parent.unwrap_or_default());
            let busy = r#"{"error":{"message":"overloaded","type":"server_error"}}"#;
            hyper::Response::builder()
                .status(503)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(busy.as_bytes())))
                .unwrap()
        }
    })
    .await;
    (addr, seen)
}

#[tokio::test]
async fn failed_tries_are_spans_of_their_own_with_their_error() {
    let (collector, received) = http_collector().await;
    let (up, _) = upstream().await;
    let (busy, busy_seen) = busy_upstream().await;
    let gw = gateway(
        up,
        &format!(
            r#"
[providers.busy]
kind = "openai_compatible"
base_url = "http://{busy}/v1"

[[routes]]
model = "gpt-fallback"
targets = [{{ provider = "busy", model = "gpt-4o-mini" }}]
fallbacks = [{{ provider = "openai", model = "gpt-4o-mini" }}]
retries = 1
backoff_ms = 1
backoff_max_ms = 2

[[routes]]
model = "gpt-down"
targets = [{{ provider = "busy", model = "gpt-4o-mini" }}]

[tracing]
otlp_endpoint = "http://{collector}/"
service_name = "patchbay-test"
headers = {{ x-collector-key = "collector-secret" }}
"#
        ),
    )
    .await;
    let ask = |model: &'static str| {
        client()
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(KEY)
            .json(&serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    assert_eq!(ask("gpt-fallback").await.unwrap().status(), 200);
    let down = ask("gpt-down").await.unwrap();
    assert_eq!(down.status(), 503);
    flush(&gw).await;
    let spans = received.lock().unwrap().clone();
    let busy_sent = busy_seen.lock().unwrap().clone();

    // Busy twice (a retry), then the fallback.
    let (root, children) = trace_of(&spans, "chat gpt-fallback");
    assert!(!root.error);
    assert_eq!(root.attr("patchbay.attempts"), Some("3"));
    let mut tries: Vec<_> = children
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .collect();
    assert_eq!(tries.len(), 3);
    tries.sort_by_key(|s| s.attr("patchbay.provider") == Some("openai"));
    for (failed, sent) in tries[..2].iter().zip(&busy_sent[..2]) {
        assert_eq!(failed.attr("patchbay.provider"), Some("busy"));
        assert!(failed.error);
        assert_eq!(failed.attr("error.type"), Some("overloaded"));
        assert_eq!(failed.attr("http.response.status_code"), Some("503"));
        assert_eq!(*sent, format!("00-{}-{}-01", root.trace_id, failed.span_id));
    }
    assert!(!tries[2].error);
    assert_eq!(tries[2].attr("http.response.status_code"), Some("200"));

    // Every try failed: the request is an error too.
    let (root, children) = trace_of(&spans, "chat gpt-down");
    assert!(root.error);
    assert_eq!(root.attr("http.response.status_code"), Some("503"));
    assert_eq!(root.attr("error.type"), Some("overloaded"));
    let tries: Vec<_> = children
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .collect();
    assert!(!tries.is_empty() && tries.iter().all(|s| s.error));
    let attempts = tries.len().to_string();
    assert_eq!(root.attr("patchbay.attempts"), Some(attempts.as_str()));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_limit_refusal_is_a_trace_with_its_admission_and_no_upstream_try() {
    let (collector, received) = http_collector().await;
    let (up, seen) = upstream().await;
    let gw = gateway(
        up,
        &format!(
            "[tracing]\notlp_endpoint = \"http://{collector}\"\nheaders = {{ x-collector-key = \"collector-secret\" }}\n"
        ),
    )
    .await;
    let (_, limited) = key_with(
        &gw,
        "one-a-minute",
        gateway_auth::Limits {
            rpm: Some(1),
            ..gateway_auth::Limits::default()
        },
    );
    let (path, body) = chat_request(ApiShape::OpenAiChat, "gpt-test", "hi", false, false);
    let send = || {
        client()
            .post(gw.url(&path))
            .bearer_auth(&limited)
            .json(&body)
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    assert_eq!(send().await.unwrap().status(), 429);
    flush(&gw).await;
    let spans = received.lock().unwrap().clone();
    let refused: Vec<&Got> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server && s.attr("patchbay.refusal") == Some("rpm"))
        .collect();
    assert_eq!(refused.len(), 1, "{spans:#?}");
    let root = refused[0];
    assert!(root.error, "a refusal is an error span");
    assert_eq!(root.attr("http.response.status_code"), Some("429"));
    assert_eq!(root.attr("error.type"), Some("rate_limited"));
    assert_eq!(root.attr("gen_ai.request.model"), Some("gpt-test"));
    assert!(
        root.attr("gen_ai.usage.input_tokens").is_none(),
        "no upstream was asked"
    );
    let children: Vec<&Got> = spans.iter().filter(|s| s.parent == root.span_id).collect();
    named(&children, "admission");
    assert!(
        children.iter().all(|s| s.kind != SpanKind::Client),
        "no upstream try: {children:#?}"
    );
    assert_eq!(
        parents(&seen).len(),
        1,
        "only the admitted request went upstream"
    );
    gw.shutdown().await;
}
