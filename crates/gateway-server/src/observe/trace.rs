//! OpenTelemetry traces over OTLP (`[tracing]`): one `SERVER` span per request, its
//! parent the caller's W3C `traceparent`, with children for admission, each upstream
//! try (`CLIENT`, its `traceparent` sent upstream) and a streamed answer's relay;
//! attributes per the GenAI semantic conventions.
//!
//! Without `otlp_endpoint` there is no [`Tracing`], no request carries a
//! [`RequestTrace`], and no span or context is ever made. The caller's own
//! `traceparent`/`tracestate` then go upstream unchanged, as a proxy's should.
//!
//! A request's root span is made lazily, the first time a child or the end needs
//! it (backdated to the arrival): health probes, which never ask, leave no trace.

use std::borrow::Cow;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use gateway_protocol::GatewayError;
use gateway_providers::{Operation, ProviderKind};
use http::{HeaderMap, HeaderName};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HttpClient, HttpError};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider};

use super::Finished;
use crate::config::{OtlpProtocol, TracingConfig};

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The tracer `[tracing]` asks for.
pub(crate) struct Tracing {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl std::fmt::Debug for Tracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracing").finish_non_exhaustive()
    }
}

impl Tracing {
    /// The tracer exporting to `config.otlp_endpoint`; `None` when it is unset.
    /// Needs the async runtime (the exporters' connections live on it).
    pub(crate) fn from_config(config: &TracingConfig) -> Result<Option<Tracing>, String> {
        let Some(endpoint) = config.otlp_endpoint.as_deref() else {
            return Ok(None);
        };
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "traces need the async runtime to be running".to_owned())?;
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let bad =
                |what: &str| format!("tracing.headers: `{name}` is not a valid header {what}");
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("name"))?;
            let value = http::HeaderValue::from_str(value).map_err(|_| bad("value"))?;
            headers.insert(name, value);
        }
        let exporter = match config.protocol {
            OtlpProtocol::Http => {
                let url = match endpoint.trim_end_matches('/') {
                    e if e.ends_with("/v1/traces") => e.to_owned(),
                    e => format!("{e}/v1/traces"),
                };
                opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_endpoint(url)
                    .with_headers(config.headers.clone().into_iter().collect())
                    .with_http_client(OnRuntime::new(runtime)?)
                    .build()
            }
            OtlpProtocol::Grpc => {
                let metadata =
                    opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers);
                let _in_runtime = runtime.enter();
                let mut exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint)
                    .with_metadata(metadata);
                if endpoint.starts_with("https://") {
                    let tls = opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new()
                        .with_webpki_roots();
                    exporter = exporter.with_tls_config(tls);
                }
                exporter.build()
            }
        }
        .map_err(|e| e.to_string())?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(config.service_name.clone())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BatchSpanProcessor::builder(exporter).build())
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.sample_ratio,
            ))))
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("patchbay");
        Ok(Some(Tracing { provider, tracer }))
    }

    /// A request arriving with `headers`: its trace, parented by the caller's
    /// `traceparent` if it sent one.
    pub(crate) fn request(&self, headers: &HeaderMap) -> RequestTrace {
        RequestTrace {
            tracer: self.tracer.clone(),
            started: SystemTime::now(),
            parent: TraceContextPropagator::new().extract(&HeaderExtractor(headers)),
            root: OnceLock::new(),
            relay: Mutex::new(None),
            system: Mutex::new(None),
        }
    }

    /// Exports every ended span (blocking: call it off the runtime's workers).
    pub(crate) fn flush(&self) {
        if let Err(err) = self.provider.force_flush() {
            tracing::warn!(%err, "traces could not be flushed");
        }
    }

    /// Exports every ended span and stops the exporter (blocking, as `flush`).
    pub(crate) fn shutdown(&self) {
        if let Err(err) = self.provider.shutdown() {
            tracing::warn!(%err, "the trace exporter did not shut down cleanly");
        }
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

/// The W3C trace context headers naming `cx`: `traceparent`
/// (`00-<trace id>-<span id>-<flags>`), and `tracestate` when it has one. Written
/// by hand: the SDK's propagator formatted it through `format!` and parsed the
/// header names again, a fifth of an unsampled request's tracing cost.
fn trace_headers(cx: &opentelemetry::trace::SpanContext) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if !cx.is_valid() {
        return headers;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut line = *b"00-00000000000000000000000000000000-0000000000000000-00";
    let flags = [cx.trace_flags().to_u8()];
    let fields: [(usize, &[u8]); 3] = [
        (3, &cx.trace_id().to_bytes()),
        (36, &cx.span_id().to_bytes()),
        (53, &flags),
    ];
    for (at, bytes) in fields {
        for (i, b) in bytes.iter().enumerate() {
            line[at + 2 * i] = HEX[usize::from(b >> 4)];
            line[at + 2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
    }
    if let Ok(v) = http::HeaderValue::from_bytes(&line) {
        headers.insert(TRACEPARENT, v);
    }
    let state = cx.trace_state().header();
    if !state.is_empty()
        && let Ok(v) = http::HeaderValue::from_str(&state)
    {
        headers.insert(TRACESTATE, v);
    }
    headers
}

/// One request's spans.
pub(crate) struct RequestTrace {
    tracer: SdkTracer,
    started: SystemTime,
    /// The caller's context (empty when it sent no `traceparent`).
    parent: Context,
    /// A context holding the root span, once made.
    root: OnceLock<Context>,
    relay: Mutex<Option<opentelemetry_sdk::trace::Span>>,
    /// `gen_ai.system` of the last upstream tried, for the root's attributes.
    system: Mutex<Option<&'static str>>,
}

impl std::fmt::Debug for RequestTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestTrace").finish_non_exhaustive()
    }
}

impl RequestTrace {
    fn root(&self) -> &Context {
        self.root.get_or_init(|| {
            let span = SpanBuilder::from_name("request")
                .with_kind(SpanKind::Server)
                .with_start_time(self.started);
            let span = self.tracer.build_with_context(span, &self.parent);
            self.parent.with_span(span)
        })
    }

    fn child(&self, name: impl Into<Cow<'static, str>>, kind: SpanKind) -> SpanBuilder {
        SpanBuilder::from_name(name).with_kind(kind)
    }

    /// The root's context if its span records (is sampled): spans under one that
    /// does not are not made, nor their attributes worked out.
    fn recording(&self) -> Option<&Context> {
        let root = self.root();
        root.span().is_recording().then_some(root)
    }

    /// Admission (key, decoding, routing, limits) is over: its span, from arrival.
    pub(crate) fn admitted(&self) {
        if let Some(root) = self.recording() {
            let span = self
                .child("admission", SpanKind::Internal)
                .with_start_time(self.started);
            self.tracer.build_with_context(span, root).end();
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
        let root = self.root();
        let span = self.recording().map(|root| {
            let system = gen_ai_system(kind);
            *self.system.lock().unwrap_or_else(|p| p.into_inner()) = Some(system);
            let operation = gen_ai_operation(op);
            let span = self
                .child(joined(operation, model), SpanKind::Client)
                .with_attributes([
                    KeyValue::new("gen_ai.system", system),
                    KeyValue::new("gen_ai.provider.name", system),
                    KeyValue::new("gen_ai.operation.name", operation),
                    KeyValue::new("gen_ai.request.model", model.to_owned()),
                    KeyValue::new("patchbay.provider", provider.to_owned()),
                ]);
            self.tracer.build_with_context(span, root)
        });
        let try_cx;
        let upstream_cx = match &span {
            Some(span) => {
                try_cx = Context::new().with_remote_span_context(span.span_context().clone());
                &try_cx
            }
            None => root,
        };
        (
            UpstreamTry(span),
            trace_headers(upstream_cx.span().span_context()),
        )
    }

    /// A streamed answer's first byte is on its way: the relay's span starts.
    pub(crate) fn relay_started(&self) {
        if let Some(root) = self.recording() {
            let span = self.child("relay", SpanKind::Internal);
            let span = self.tracer.build_with_context(span, root);
            *self.relay.lock().unwrap_or_else(|p| p.into_inner()) = Some(span);
        }
    }

    /// The request is over: the relay's span and the root's end, with what `f` says.
    pub(crate) fn finished(&self, f: &Finished<'_>) {
        let relay = self.relay.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut relay) = relay {
            relay.set_attribute(KeyValue::new(
                "gen_ai.usage.output_tokens",
                tokens(f.usage.output_tokens),
            ));
            if let Some(kind) = f.error {
                relay.set_status(Status::error(super::names::kind_name(kind)));
            }
            relay.end();
        }
        let root = self.root().span();
        if root.is_recording() {
            root.update_name(span_name(f));
            let system = *self.system.lock().unwrap_or_else(|p| p.into_inner());
            let mut attributes = attributes(f);
            if let Some(system) = system {
                attributes.push(KeyValue::new("gen_ai.system", system));
            }
            root.set_attributes(attributes);
            if let Some(kind) = f.error {
                root.set_status(Status::error(super::names::kind_name(kind)));
            }
        }
        root.end();
    }
}

/// An upstream try's span, open while the try runs (none when not sampled).
pub(crate) struct UpstreamTry(Option<opentelemetry_sdk::trace::Span>);

impl UpstreamTry {
    /// The try ended: answered with `status` (when one came), or failed with `err`.
    pub(crate) fn ended(self, status: Option<u16>, err: Option<&GatewayError>) {
        let Some(mut span) = self.0 else {
            return;
        };
        if let Some(status) = status {
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
        }
        if let Some(err) = err {
            let kind = super::names::kind_name(err.kind);
            span.set_attribute(KeyValue::new("error.type", kind));
            span.set_status(Status::error(kind));
        }
        span.end();
    }
}

/// `first second`, without `format!`'s machinery (span names on the request path).
fn joined(first: &str, second: &str) -> String {
    let mut name = String::with_capacity(first.len() + 1 + second.len());
    name.push_str(first);
    name.push(' ');
    name.push_str(second);
    name
}

/// `{gen_ai.operation.name} {gen_ai.request.model}`, else the operation, else the
/// method.
fn span_name(f: &Finished<'_>) -> String {
    match (f.operation, f.requested_model) {
        (Some(op), Some(model)) => joined(op, model),
        (Some(op), None) => op.to_owned(),
        (None, _) => f.method.to_owned(),
    }
}

fn attributes(f: &Finished<'_>) -> Vec<KeyValue> {
    let mut out = Vec::with_capacity(18);
    out.extend([
        KeyValue::new("http.request.method", method_value(f.method)),
        KeyValue::new("url.path", f.path.to_owned()),
        KeyValue::new("http.response.status_code", i64::from(f.status)),
        KeyValue::new("patchbay.request_id", f.request_id.to_owned()),
    ]);
    let mut add = |key: &'static str, value: Option<opentelemetry::Value>| {
        if let Some(value) = value {
            out.push(KeyValue::new(key, value));
        }
    };
    add("gen_ai.operation.name", f.operation.map(Into::into));
    add(
        "gen_ai.request.model",
        f.requested_model.map(|m| m.to_owned().into()),
    );
    add("patchbay.key_id", f.key_id.map(|k| k.to_owned().into()));
    add("patchbay.refusal", f.refusal.map(Into::into));
    add(
        "error.type",
        f.error.map(|k| super::names::kind_name(k).into()),
    );
    // What an upstream was asked and answered: usage, cost, tries.
    if let Some(provider) = f.provider {
        add("patchbay.provider", Some(provider.to_owned().into()));
        add(
            "gen_ai.response.model",
            f.model.map(|m| m.to_owned().into()),
        );
        add("patchbay.attempts", Some(i64::from(f.attempts).into()));
        add("patchbay.streamed", Some(f.streamed.into()));
        add(
            "gen_ai.usage.input_tokens",
            Some(tokens(f.usage.input_tokens).into()),
        );
        add(
            "gen_ai.usage.output_tokens",
            Some(tokens(f.usage.output_tokens).into()),
        );
        let usd = f.cost_micros.map(|c| c as f64 / 1e6);
        add("patchbay.cost_usd", usd.map(Into::into));
    }
    out
}

/// The common methods as static strings (no copy); others copied.
fn method_value(method: &str) -> opentelemetry::Value {
    match method {
        "POST" => "POST".into(),
        "GET" => "GET".into(),
        other => other.to_owned().into(),
    }
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
        ProviderKind::Ollama => "ollama",
        ProviderKind::Mock => "patchbay.mock",
    }
}

/// The OTLP/HTTP exporter's client: gateway-providers' pooled client (outbound HTTP
/// and TLS are its job), asked on the gateway's runtime (the batch processor calls
/// from a thread of its own).
#[derive(Debug)]
struct OnRuntime {
    runtime: tokio::runtime::Handle,
    client: gateway_providers::HttpClient,
}

impl OnRuntime {
    fn new(runtime: tokio::runtime::Handle) -> Result<OnRuntime, String> {
        let client = gateway_providers::HttpClient::new().map_err(|e| e.to_string())?;
        Ok(OnRuntime { runtime, client })
    }
}

/// How long an export waits for the collector's answer (OTLP's default).
const COLLECTOR_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A collector's answer is small; more is not read.
const MAX_COLLECTOR_ANSWER: usize = 1 << 20;

impl HttpClient for OnRuntime {
    fn send_bytes<'a, 'b>(
        &'a self,
        request: http::Request<Bytes>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, HttpError>> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            client
                .send_whole(request, MAX_COLLECTOR_ANSWER, COLLECTOR_TIMEOUT)
                .await
                .map_err(|e| HttpError::from(e.message))
        });
        Box::pin(async move { sent.await? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_trace_headers_are_the_propagators() {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
        let state = TraceState::from_key_value([("vendor", "v1")]).unwrap();
        for (flags, state) in [
            (TraceFlags::SAMPLED, state),
            (TraceFlags::default(), TraceState::default()),
        ] {
            let cx = SpanContext::new(
                TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
                SpanId::from_hex("00f067aa0ba902b7").unwrap(),
                flags,
                true,
                state,
            );
            let mut expected = HeaderMap::new();
            let parent = Context::new().with_remote_span_context(cx.clone());
            TraceContextPropagator::new().inject_context(
                &parent,
                &mut opentelemetry_http::HeaderInjector(&mut expected),
            );
            // The propagator sends an empty `tracestate`; an empty one says nothing.
            if expected.get(TRACESTATE).is_some_and(|v| v.is_empty()) {
                expected.remove(TRACESTATE);
            }
            assert_eq!(trace_headers(&cx), expected);
        }
        assert!(trace_headers(&SpanContext::empty_context()).is_empty());
    }

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
