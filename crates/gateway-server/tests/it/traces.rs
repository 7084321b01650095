//! OpenTelemetry traces through the gateway, received by an OTLP collector the test
//! starts (OTLP/HTTP protobuf and OTLP/gRPC): the spans of a same-shape chat, a
//! stream, a cross-shape request under a caller's `traceparent` and a refused key;
//! their names, links and GenAI attributes; the `traceparent` the upstream got;
//! failed tries as error spans of their own; sampling that follows the caller; the caller's `traceparent` passed through
//! unchanged when the gateway does not trace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use gateway_protocol::ApiShape;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use prost::Message;
use support::*;
use tokio::net::TcpListener;

/// A span as the collector got it.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    kind: SpanKind,
    error: bool,
    attrs: HashMap<String, String>,
}

impl Got {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).map(String::as_str)
    }
}

type Received = Arc<Mutex<Vec<Got>>>;

fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn keep(request: ExportTraceServiceRequest, into: &Received) {
    let mut got = into.lock().unwrap();
    for rs in request.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .map(|kv| text_of(kv.value.as_ref().and_then(|v| v.value.as_ref())))
            .unwrap_or_default();
        for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
            got.push(Got {
                service: service.clone(),
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent: hex(&span.parent_span_id),
                name: span.name.clone(),
                kind: span.kind(),
                error: span
                    .status
                    .as_ref()
                    .is_some_and(|s| s.code() == StatusCode::Error),
                attrs: span
                    .attributes
                    .iter()
                    .map(|kv| {
                        let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
                        (kv.key.clone(), text_of(v))
                    })
                    .collect(),
            });
        }
    }
}

/// An OTLP/HTTP collector on loopback: `POST /v1/traces` with protobuf bodies.
async fn http_collector() -> (SocketAddr, Received) {
    let received = Received::default();
    let kept = received.clone();
    let addr = serve_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let kept = kept.clone();
        async move {
            assert_eq!(req.uri().path(), "/v1/traces");
            assert_eq!(
                req.headers()["content-type"],
                "application/x-protobuf",
                "OTLP/HTTP protobuf"
            );
            assert_eq!(req.headers()["x-collector-key"], "collector-secret");
            let body = req.into_body().collect().await.unwrap().to_bytes();
            keep(ExportTraceServiceRequest::decode(body).unwrap(), &kept);
            let answer = ExportTraceServiceResponse::default().encode_to_vec();
            hyper::Response::builder()
                .header("content-type", "application/x-protobuf")
                .body(Full::new(Bytes::from(answer)))
                .unwrap()
        }
    })
    .await;
    (addr, received)
}

struct GrpcCollector(Received);

#[tonic::async_trait]
impl TraceService for GrpcCollector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        keep(request.into_inner(), &self.0);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP/gRPC collector on loopback (HTTP/2 only).
async fn grpc_collector() -> (SocketAddr, Received) {
    let received = Received::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(GrpcCollector(received.clone()));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    (addr, received)
}

const ANSWER: &str = r#"{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14}}"#;

const STREAM: &str = concat!(
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"hello\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3,\"total_tokens\":14}}\n\n",
    "data: [DONE]\n\n",
);

/// Each upstream request's `traceparent` and `tracestate` (empty when none came).
type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn parents(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(p, _)| p.clone())
        .collect()
}

/// An OpenAI-shaped upstream answering every chat, keeping each request's trace
/// headers.
async fn upstream() -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let kept = seen.clone();
    let addr = serve_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let kept = kept.clone();
        async move {
            let header = |name| {
                let value = req.headers().get(name);
                value.map_or(String::new(), |v| v.to_str().unwrap().to_owned())
            };
            let trace = (header("traceparent"), header("tracestate"));
            kept.lock().unwrap().push(trace);
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let (kind, answer) = if body["stream"] == true {
                ("text/event-stream", STREAM)
            } else {
                ("application/json", ANSWER)
            };
            hyper::Response::builder()
                .header("content-type", kind)
                .body(Full::new(Bytes::from_static(answer.as_bytes())))
                .unwrap()
        }
    })
    .await;
    (addr, seen)
}

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
