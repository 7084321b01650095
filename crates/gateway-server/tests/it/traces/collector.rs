//! The trace tests' fixtures: an OTLP collector (OTLP/HTTP protobuf and OTLP/gRPC)
//! that keeps the spans it receives, and an OpenAI-shaped upstream that keeps the
//! trace headers it is sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
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
use tokio::net::TcpListener;

use crate::support::serve_fn;

/// A span as the collector got it.
#[derive(Debug, Clone)]
pub(super) struct Got {
    pub(super) service: String,
    pub(super) trace_id: String,
    pub(super) span_id: String,
    pub(super) parent: String,
    pub(super) name: String,
    pub(super) kind: SpanKind,
    pub(super) error: bool,
    pub(super) attrs: HashMap<String, String>,
}

impl Got {
    pub(super) fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).map(String::as_str)
    }
}

pub(super) type Received = Arc<Mutex<Vec<Got>>>;

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

pub(super) fn keep(request: ExportTraceServiceRequest, into: &Received) {
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
pub(super) async fn http_collector() -> (SocketAddr, Received) {
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
pub(super) async fn grpc_collector() -> (SocketAddr, Received) {
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

pub(super) const ANSWER: &str = r#"{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14}}"#;

pub(super) const STREAM: &str = concat!(
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"hello\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3,\"total_tokens\":14}}\n\n",
    "data: [DONE]\n\n",
);

/// Each upstream request's `traceparent` and `tracestate` (empty when none came).
pub(super) type Seen = Arc<Mutex<Vec<(String, String)>>>;

pub(super) fn parents(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(p, _)| p.clone())
        .collect()
}

/// An OpenAI-shaped upstream answering every chat, keeping each request's trace
/// headers.
pub(super) async fn upstream() -> (SocketAddr, Seen) {
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
