//! OpenTelemetry traces over OTLP (`[tracing]`): one `SERVER` span per request, its
//! parent the caller's W3C `traceparent`, with children for admission, each upstream
//! try (`CLIENT`, its `traceparent` sent upstream) and a streamed answer's relay;
//! attributes per the GenAI semantic conventions.
//!
//! Spans are the gateway's own records, written as OTLP protobuf the moment they
//! end (`otlp.rs`) and queued for the exporter (`export.rs`): the OpenTelemetry SDK
//! made a span object, an attribute vector and a second encoding per span, which
//! cost more than the 2 µs a request may spend on observation.
//!
//! Without `otlp_endpoint` there is no [`Tracing`], no request carries a
//! [`RequestTrace`], and no span or context is ever made. The caller's own
//! `traceparent`/`tracestate` then go upstream unchanged, as a proxy's should.
//! Health probes, which never report an end, leave no trace.

mod context;
mod export;
mod otlp;

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use gateway_protocol::GatewayError;
use gateway_providers::{Operation, ProviderKind};
use http::{HeaderMap, HeaderValue};

use self::context::{TRACEPARENT, TRACESTATE};
use self::export::Exporter;
use self::otlp::{Kind, Value};
use super::Finished;
use crate::config::TracingConfig;

/// The tracer `[tracing]` asks for.
#[derive(Debug)]
pub(crate) struct Tracing {
    exporter: Arc<Exporter>,
    sample_ratio: f64,
}

impl Tracing {
    /// The tracer exporting to `config.otlp_endpoint`; `None` when it is unset.
    /// Needs the async runtime (the exporter runs on it).
    pub(crate) fn from_config(config: &TracingConfig) -> Result<Option<Tracing>, String> {
        let Some(endpoint) = config.otlp_endpoint.as_deref() else {
            return Ok(None);
        };
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "traces need the async runtime to be running".to_owned())?;
        let exporter = Exporter::start(endpoint, config, runtime)?;
        Ok(Some(Tracing {
            exporter,
            sample_ratio: config.sample_ratio,
        }))
    }

    /// A request arriving with `headers`: its trace, parented by the caller's
    /// `traceparent` if it sent a valid one, sampled as the caller says, else by
    /// `sample_ratio`.
    pub(crate) fn request(&self, headers: &HeaderMap) -> RequestTrace {
        let started_ns = now_ns();
        let (trace_id, parent_id, sampled, state) = match context::parent(headers) {
            Some(p) => (p.trace_id, Some(p.span_id), p.sampled, p.state),
            None => {
                let id = context::new_trace_id();
                (
                    id,
                    None,
                    context::sampled_by_ratio(&id, self.sample_ratio),
                    None,
                )
            }
        };
        RequestTrace {
            exporter: self.exporter.clone(),
            started_ns,
            trace_id,
            root_id: context::new_span_id(),
            parent_id,
            sampled,
            state,
            relay_started_ns: Mutex::new(None),
            system: Mutex::new(None),
        }
    }

    /// Exports every ended span (blocking: call it off the runtime's workers).
    pub(crate) fn flush(&self) {
        self.exporter.flush();
    }

    /// Exports every ended span and stops the exporter (blocking, as `flush`).
    pub(crate) fn shutdown(&self) {
        self.exporter.shutdown();
    }
}

/// The caller's `traceparent` and `tracestate`, to go upstream unchanged when the
/// gateway does not trace.
pub(crate) fn passed_through(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    if let Some(parent) = headers.get(TRACEPARENT) {
        out.insert(TRACEPARENT, parent.clone());
        if let Some(state) = headers.get(TRACESTATE) {
            out.insert(TRACESTATE, state.clone());
        }
    }
    out
}

fn now_ns() -> u64 {
    let since = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    since.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

thread_local! {
    /// Where a span is written before it is queued (one buffer per thread).
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

/// One request's spans.
pub(crate) struct RequestTrace {
    exporter: Arc<Exporter>,
    started_ns: u64,
    trace_id: [u8; 16],
    root_id: [u8; 8],
    /// The caller's span, when it sent a `traceparent`.
    parent_id: Option<[u8; 8]>,
    /// Whether its spans are recorded (the upstream is told either way).
    sampled: bool,
    /// The caller's `tracestate`, carried on.
    state: Option<HeaderValue>,
    relay_started_ns: Mutex<Option<u64>>,
    /// `gen_ai.system` of the last upstream tried, for the root's attributes.
    system: Mutex<Option<&'static str>>,
}

impl std::fmt::Debug for RequestTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestTrace")
            .field("sampled", &self.sampled)
            .finish_non_exhaustive()
    }
}

impl RequestTrace {
    fn head<'a>(&'a self, span_id: &'a [u8; 8], name: &'a [&'a str], kind: Kind) -> otlp::Span<'a> {
        otlp::Span {
            trace_id: &self.trace_id,
            span_id,
            parent_id: Some(&self.root_id),
            parent_remote: false,
            trace_state: self.state.as_ref().map(HeaderValue::as_bytes),
            name,
            kind,
            start_ns: self.started_ns,
            end_ns: 0,
            error: None,
        }
    }

    /// Writes one span and queues it.
    fn emit(&self, span: &otlp::Span<'_>, attributes: &[(&str, Option<Value<'_>>)]) {
        SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            otlp::span(buf, span, attributes);
            self.exporter.push(buf);
        });
    }

    /// Admission (key, decoding, routing, limits) is over: its span, from arrival.
    pub(crate) fn admitted(&self) {
        if self.sampled {
            let id = context::new_span_id();
            let mut span = self.head(&id, &["admission"], Kind::Internal);
            span.end_ns = now_ns();
            self.emit(&span, &[]);
        }
    }

    /// An upstream try of `model` on `provider` starts: its span, and the headers
    /// that carry it upstream (the root's context when not sampled).
    pub(crate) fn upstream_try(
        &self,
        provider: &str,
        kind: ProviderKind,
        model: &str,
        op: Operation,
    ) -> (UpstreamTry, HeaderMap) {
        if !self.sampled {
            let headers =
                context::headers(&self.trace_id, &self.root_id, false, self.state.as_ref());
            return (UpstreamTry(None), headers);
        }
        let system = gen_ai_system(kind);
        *self.system.lock().unwrap_or_else(|p| p.into_inner()) = Some(system);
        let operation = gen_ai_operation(op);
        let id = context::new_span_id();
        let name = [operation, model];
        let mut span = self.head(&id, &name, Kind::Client);
        span.start_ns = now_ns();
        let mut body = Vec::with_capacity(512);
        // The fields known now; the end adds its time, status and error.
        otlp::span_start(
            &mut body,
            &span,
            &[
                ("gen_ai.system", Some(Value::Str(system))),
                ("gen_ai.provider.name", Some(Value::Str(system))),
                ("gen_ai.operation.name", Some(Value::Str(operation))),
                ("gen_ai.request.model", Some(Value::Str(model))),
                ("patchbay.provider", Some(Value::Str(provider))),
            ],
        );
        let headers = context::headers(&self.trace_id, &id, true, self.state.as_ref());
        let open = OpenTry {
            exporter: self.exporter.clone(),
            body,
        };
        (UpstreamTry(Some(open)), headers)
    }

    /// A streamed answer's first byte is on its way: the relay's span starts.
    pub(crate) fn relay_started(&self) {
        if self.sampled {
            *self
                .relay_started_ns
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(now_ns());
        }
    }

    /// The request is over: the relay's span and the root's end, with what `f` says.
    pub(crate) fn finished(&self, f: &Finished<'_>) {
        if !self.sampled {
            return;
        }
        let end_ns = now_ns();
        let error = f.error.map(super::names::kind_name);
        let relay = self
            .relay_started_ns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(start_ns) = relay {
            let id = context::new_span_id();
            let mut span = self.head(&id, &["relay"], Kind::Internal);
            span.start_ns = start_ns;
            span.end_ns = end_ns;
            span.error = error;
            let output = Value::Int(tokens(f.usage.output_tokens));
            self.emit(&span, &[("gen_ai.usage.output_tokens", Some(output))]);
        }
        let system = *self.system.lock().unwrap_or_else(|p| p.into_inner());
        let name: &[&str] = match (f.operation, f.requested_model) {
            (Some(op), Some(model)) => &[op, model],
            (Some(op), None) => &[op],
            (None, _) => &[f.method],
        };
        let root = otlp::Span {
            parent_id: self.parent_id.as_ref(),
            parent_remote: self.parent_id.is_some(),
            end_ns,
            error,
            ..self.head(&self.root_id, name, Kind::Server)
        };
        let upstream = f.provider.is_some();
        let asked = |v: Value<'static>| upstream.then_some(v);
        let cost = f
            .cost_micros
            .filter(|_| upstream)
            .map(|c| Value::Double(c as f64 / 1e6));
        self.emit(
            &root,
            &[
                ("http.request.method", Some(Value::Str(f.method))),
                ("url.path", Some(Value::Str(f.path))),
                (
                    "http.response.status_code",
                    Some(Value::Int(f.status.into())),
                ),
                ("patchbay.request_id", Some(Value::Str(f.request_id))),
                ("gen_ai.operation.name", text(f.operation)),
                ("gen_ai.request.model", text(f.requested_model)),
                ("patchbay.key_id", text(f.key_id)),
                ("patchbay.refusal", text(f.refusal)),
                ("error.type", text(error)),
                ("patchbay.provider", text(f.provider)),
                ("gen_ai.response.model", text(f.model.filter(|_| upstream))),
                ("patchbay.attempts", asked(Value::Int(f.attempts.into()))),
                ("patchbay.streamed", asked(Value::Bool(f.streamed))),
                (
                    "gen_ai.usage.input_tokens",
                    asked(Value::Int(tokens(f.usage.input_tokens))),
                ),
                (
                    "gen_ai.usage.output_tokens",
                    asked(Value::Int(tokens(f.usage.output_tokens))),
                ),
                ("patchbay.cost_usd", cost),
                ("gen_ai.system", text(system)),
            ],
        );
    }
}

/// An upstream try's span, open while the try runs (none when not sampled).
pub(crate) struct UpstreamTry(Option<OpenTry>);

struct OpenTry {
    exporter: Arc<Exporter>,
    /// The span's fields known at its start, encoded.
    body: Vec<u8>,
}

impl UpstreamTry {
    /// The try ended: answered with `status` (when one came), or failed with `err`.
    pub(crate) fn ended(self, status: Option<u16>, err: Option<&GatewayError>) {
        let Some(OpenTry { exporter, mut body }) = self.0 else {
            return;
        };
        let error = err.map(|e| super::names::kind_name(e.kind));
        otlp::span_end(
            &mut body,
            now_ns(),
            error,
            &[
                (
                    "http.response.status_code",
                    status.map(|s| Value::Int(s.into())),
                ),
                ("error.type", error.map(Value::Str)),
            ],
        );
        exporter.push(&body);
    }
}

fn text(value: Option<&str>) -> Option<Value<'_>> {
    value.map(Value::Str)
}

fn tokens(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn gen_ai_operation(op: Operation) -> &'static str {
    match op {
        Operation::Chat => "chat",
        Operation::Embeddings => "embeddings",
        Operation::CountTokens => "count_tokens",
        Operation::ListModels => "list_models",
    }
}

/// `gen_ai.system`: the well-known value for the provider's family.
fn gen_ai_system(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => "openai",
        ProviderKind::AzureOpenAi => "az.ai.openai",
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Gemini => "gcp.gemini",
        ProviderKind::Vertex | ProviderKind::VertexAnthropic => "gcp.vertex_ai",
        ProviderKind::Bedrock | ProviderKind::BedrockAnthropic => "aws.bedrock",
        ProviderKind::Cohere => "cohere",
        ProviderKind::Ollama => "ollama",
        ProviderKind::Mock => "patchbay.mock",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OtlpProtocol;

    fn config(endpoint: &str, protocol: OtlpProtocol) -> TracingConfig {
        TracingConfig {
            otlp_endpoint: Some(endpoint.to_owned()),
            protocol,
            ..TracingConfig::default()
        }
    }

    #[test]
    fn no_endpoint_no_tracer_and_a_tracer_needs_the_runtime() {
        let off = Tracing::from_config(&TracingConfig::default());
        assert!(matches!(off, Ok(None)));
        let outside = Tracing::from_config(&config("http://127.0.0.1:4318", OtlpProtocol::Http));
        assert!(outside.unwrap_err().contains("runtime"));
    }

    #[tokio::test]
    async fn https_collectors_are_accepted_over_http_and_grpc() {
        for protocol in [OtlpProtocol::Http, OtlpProtocol::Grpc] {
            let built = Tracing::from_config(&config("https://collector.example:4318", protocol));
            assert!(matches!(built, Ok(Some(_))), "{protocol:?}");
        }
    }

    #[tokio::test]
    async fn a_collector_header_that_is_not_one_is_refused() {
        for protocol in [OtlpProtocol::Http, OtlpProtocol::Grpc] {
            let mut bad = config("http://127.0.0.1:4317", protocol);
            bad.headers.insert("bad header".into(), "v".into());
            let err = Tracing::from_config(&bad).unwrap_err();
            assert!(err.contains("`bad header`"), "{err}");
        }
    }

    #[test]
    fn only_the_trace_headers_pass_through() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer k".parse().unwrap());
        headers.insert(TRACESTATE, "vendor=1".parse().unwrap());
        // A tracestate without a traceparent means nothing.
        assert!(passed_through(&headers).is_empty());
        headers.insert(TRACEPARENT, "00-ab-cd-01".parse().unwrap());
        let passed = passed_through(&headers);
        assert_eq!(passed.len(), 2);
        assert_eq!(passed[TRACEPARENT], "00-ab-cd-01");
        assert_eq!(passed[TRACESTATE], "vendor=1");
    }
}
