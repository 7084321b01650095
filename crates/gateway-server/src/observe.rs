//! What the gateway tells its operator about each request: Prometheus metrics, one
//! access log line, and (when configured) an OpenTelemetry trace.
//!
//! Everything known when a request ends is gathered in one `Finished` and handed
//! to each. A request with an account (a `Ticket`: chat, embeddings, token counts,
//! and limit refusals) is reported by its ticket when it closes — for a stream, at
//! its last byte; every other answer (401, 400, 404, shed, model lists) by the
//! observe layer when the answer leaves, from what the inner layers left in the
//! answer's extensions.

pub(crate) mod access_log;
pub(crate) mod live;
pub(crate) mod metrics;
pub(crate) mod names;
pub(crate) mod scrape;
pub(crate) mod trace;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_protocol::{ApiShape, ErrorKind, Usage};

use crate::config::Config;
pub use access_log::AccessLog;
pub use metrics::Metrics;

/// The gateway's metrics, access log and tracer.
#[derive(Debug, Default)]
pub struct Observer {
    pub(crate) metrics: Option<Metrics>,
    pub(crate) access: Option<AccessLog>,
    /// Who may read `/metrics`.
    pub(crate) scrape: scrape::ScrapeAccess,
    /// The tracer, when `[tracing]` names a collector.
    pub(crate) tracing: Option<trace::Tracing>,
    /// The console's live feed (`GET /admin/live`).
    pub(crate) live: Arc<live::Live>,
}

impl Observer {
    /// What `config` asks for, with label values from its providers, its routes'
    /// models and `catalog`.
    pub(crate) fn new(
        config: &Config,
        catalog: &crate::catalog::Catalog,
    ) -> std::io::Result<Observer> {
        let metrics = config
            .metrics
            .enabled
            .then(|| Metrics::new(label_names(config, catalog), config.metrics.key_labels));
        Ok(Observer {
            metrics,
            access: AccessLog::start(&config.access_log, Some(crate::listen::release_thoroughly))?,
            scrape: scrape::ScrapeAccess::new(&config.metrics),
            tracing: None,
            live: Arc::default(),
        })
    }

    /// Learns the label values of a reloaded configuration.
    pub(crate) fn learn(&self, config: &Config, catalog: &crate::catalog::Catalog) {
        if let Some(m) = &self.metrics {
            m.learn(&label_names(config, catalog));
        }
    }

    /// Reports a finished request to every sink.
    pub(crate) fn finished(&self, f: &Finished<'_>) {
        if let Some(trace) = f.trace {
            trace.finished(f);
        }
        self.live.finished(f);
        let left_out = self.access.as_ref().map_or(0, |log| log.log(f));
        if let Some(m) = &self.metrics {
            m.finished(f);
            if left_out > 0 {
                m.access_log_suppressed(left_out);
            }
        }
    }

    /// An upstream try of `provider` ended after `took`, failed with `error` or not.
    pub(crate) fn attempt(
        &self,
        provider: &str,
        took: Duration,
        error: Option<&gateway_protocol::GatewayError>,
    ) {
        if let Some(m) = &self.metrics {
            m.attempt(provider, took, error.map(|e| (e.kind, e.blame)));
        }
    }

    /// Writes out the access log (tests, shutdown).
    pub fn flush(&self) {
        if let Some(log) = &self.access {
            log.flush();
        }
    }

    /// Exports every ended span, when `[tracing]` is on. Blocking (the export runs
    /// on the async runtime): call it off the runtime's workers.
    pub fn flush_traces(&self) {
        if let Some(tracing) = &self.tracing {
            tracing.flush();
        }
    }

    /// True while the console's live feed records requests: someone watches
    /// `/admin/live`, or did within the last two minutes.
    pub fn live_recording(&self) -> bool {
        self.live.recording()
    }

    /// The metrics, when `[metrics]` is on.
    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }
}

/// A request as its end reports it.
#[derive(Debug, Default)]
pub(crate) struct Finished<'a> {
    /// Arrival, Unix ms.
    pub ts_ms: i64,
    pub request_id: &'a str,
    /// The key's public id, once known.
    pub key_id: Option<&'a str>,
    pub method: &'a str,
    /// The path, never the query (it can hold a key).
    pub path: &'a str,
    /// `chat`, `embeddings`, `count_tokens`, `list_models`, `estimate`; `None` for
    /// requests to no known operation (404, 405).
    pub operation: Option<&'static str>,
    pub caller: Option<ApiShape>,
    pub upstream: Option<ApiShape>,
    pub provider: Option<&'a str>,
    /// The model that served, else the one asked for.
    pub model: Option<&'a str>,
    pub requested_model: Option<&'a str>,
    pub status: u16,
    pub streamed: bool,
    pub attempts: u32,
    /// From arrival to the answer's end.
    pub duration: Duration,
    pub ttfb: Option<Duration>,
    /// Streams: to the first output sent.
    pub ttft: Option<Duration>,
    pub usage: Usage,
    pub cost_micros: Option<i64>,
    /// Why the gateway refused it (see [`names::refusal_reason`]).
    pub refusal: Option<&'static str>,
    /// The error's kind, when it failed.
    pub error: Option<ErrorKind>,
    /// Its spans, when it is traced.
    pub trace: Option<&'a trace::RequestTrace>,
    /// Its row in the live feed's list of requests in flight.
    pub live: Option<live::Slot>,
}

/// When and how a request arrived: in its extensions, put there by the observe
/// layer (shared: the layer keeps it too).
#[derive(Debug, Clone)]
pub(crate) struct Arrival(pub(crate) Arc<ArrivalInner>);

#[derive(Debug)]
pub(crate) struct ArrivalInner {
    pub at: Instant,
    pub ts_ms: i64,
    pub method: http::Method,
    pub uri: http::Uri,
    /// Its spans, when the gateway traces.
    pub trace: Option<Box<trace::RequestTrace>>,
    /// When it does not: the caller's `traceparent` and `tracestate`, passed
    /// upstream unchanged.
    pub passed_trace: http::HeaderMap,
}

impl Arrival {
    pub(crate) fn now<B>(observer: &Observer, req: &http::Request<B>) -> Arrival {
        let (trace, passed_trace) = match &observer.tracing {
            Some(tracing) => (
                Some(Box::new(tracing.request(req.headers()))),
                http::HeaderMap::new(),
            ),
            None => (None, trace::passed_through(req.headers())),
        };
        Arrival(Arc::new(ArrivalInner {
            at: Instant::now(),
            ts_ms: gateway_auth::cache::now_ms(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            trace,
            passed_trace,
        }))
    }

    /// The request's spans, when it is traced.
    pub(crate) fn trace(&self) -> Option<&trace::RequestTrace> {
        self.0.trace.as_deref()
    }
}

/// Marks an answer whose request has an account: the account reports it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accounted;

/// What a request without an account is known as: put in its answer's extensions
/// by the classify layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestKind {
    pub operation: Option<&'static str>,
    pub shape: ApiShape,
    /// Health and readiness probes and the root pre-flight: not reported.
    pub probe: bool,
}

/// Counts a streamed answer in `patchbay_open_streams` while it lives.
#[derive(Debug)]
pub(crate) struct OpenStream(Option<prometheus_client::metrics::gauge::Gauge>);

impl OpenStream {
    pub(crate) fn new(observer: &Observer) -> OpenStream {
        let gauge = observer.metrics.as_ref().map(|m| m.open_streams.clone());
        if let Some(g) = &gauge {
            g.inc();
        }
        OpenStream(gauge)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        if let Some(g) = &self.0 {
            g.dec();
        }
    }
}

/// The label values of `config`: its providers; its routes' exact public names and
/// their targets' upstream models, and `catalog`'s models.
fn label_names(config: &Config, catalog: &crate::catalog::Catalog) -> names::LabelNames {
    let models = config.routes.iter().flat_map(|r| {
        let public = std::iter::once(&r.model)
            .chain(&r.aliases)
            .filter(|m| !m.contains(['*', '?']))
            .map(String::as_str);
        public.chain(r.targets.iter().filter_map(|t| t.model.as_deref()))
    });
    names::LabelNames::new(config.providers.keys().map(String::as_str), models, catalog)
}
