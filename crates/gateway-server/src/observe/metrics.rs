//! Prometheus metrics (`prometheus-client`): what every finished request adds, what
//! each upstream try adds, and the gauges read from the gateway's state at scrape
//! time.
//!
//! Label values are bounded: providers are the configured ones, models the
//! catalogue's and the configured routes' (anything else is `other`), shapes,
//! operations and status classes are fixed sets; key ids appear only in the
//! `patchbay_key_*` families, and only with `[metrics] key_labels`.
//!
//! The hot path looks up one cached [`Series`] per request (by a packed id of its
//! labels) and bumps atomics; the families' own label maps are touched only the
//! first time a combination is seen.

use foldhash::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use gateway_protocol::{ApiShape, Blame, ErrorKind};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use super::Finished;
use super::names::{LabelNames, status_class};
use crate::app::App;

/// `patchbay_requests_total`'s labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    caller: &'static str,
    upstream: &'static str,
    provider: Arc<String>,
    model: Arc<String>,
    status: &'static str,
}

/// Per provider and model.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    provider: Arc<String>,
    model: Arc<String>,
}

/// Per operation, provider and model, streamed or not.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    operation: &'static str,
    provider: Arc<String>,
    model: Arc<String>,
    streamed: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    provider: Arc<String>,
    model: Arc<String>,
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    provider: Arc<String>,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    provider: Arc<String>,
    kind: &'static str,
    blame: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: Arc<String>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    key: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyTokenLabels {
    key: String,
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Makes histograms with a fixed bucket layout.
#[derive(Debug, Clone, Copy)]
struct Buckets {
    start: f64,
    factor: f64,
    count: u16,
}

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(self.start, self.factor, self.count))
    }
}

/// 5 ms to ~164 s, doubling.
const SECONDS: Buckets = Buckets {
    start: 0.005,
    factor: 2.0,
    count: 16,
};

/// 1 to ~65,536 tokens a second, doubling (a whole answer's rate counts its
/// whole duration, a stream's the time after its first token, which can be short).
const RATE: Buckets = Buckets {
    start: 1.0,
    factor: 2.0,
    count: 17,
};

type Histograms<L> = Family<L, Histogram, Buckets>;

/// Token kinds, in the order of [`Series::tokens`].
const TOKEN_KINDS: [&str; 5] = ["input", "output", "cached", "cache_write", "reasoning"];

/// The handles one label combination's request updates.
struct Series {
    requests: Counter,
    duration: Histogram,
    ttfb: Histogram,
    ttft: Histogram,
    tokens_per_second: Histogram,
    tokens: [Counter; 5],
    cost: Counter<f64, AtomicU64>,
}

/// The handles one provider's tries update.
struct AttemptSeries {
    ok: Histogram,
    failed: Histogram,
}

/// Every metric the gateway exports, and its registry.
pub struct Metrics {
    registry: Registry,
    /// Append-only: a reload adds the names of new providers and models, ids stay.
    names: arc_swap::ArcSwap<LabelNames>,
    key_labels: bool,
    requests: Family<RequestLabels, Counter>,
    duration: Histograms<DurationLabels>,
    ttfb: Histograms<DurationLabels>,
    ttft: Histograms<ModelLabels>,
    tokens_per_second: Histograms<ModelLabels>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ModelLabels, Counter<f64, AtomicU64>>,
    upstream_duration: Histograms<AttemptLabels>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    retries: Family<ProviderLabels, Counter>,
    fallbacks: Family<ProviderLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    key_requests: Family<KeyLabels, Counter>,
    key_tokens: Family<KeyTokenLabels, Counter>,
    key_cost: Family<KeyLabels, Counter<f64, AtomicU64>>,
    in_flight: Gauge,
    pub(crate) open_streams: Gauge,
    open_connections: Gauge,
    usage_queue: Gauge,
    usage_batches: Counter,
    usage_written: Counter,
    usage_failed: Counter,
    usage_dropped: Counter,
    limiter_fail_open: Counter,
    limiter_fail_closed: Counter,
    limiter_settle_failures: Counter,
    key_cache: Gauge,
    cache_requests: Family<CacheLabels, Counter>,
    cache_stored: Counter,
    cache_failures: Counter,
    cache_entries: Gauge,
    cache_bytes: Gauge,
    cooldowns: Family<ProviderLabels, Gauge>,
    access_log_suppressed: Counter,
    series: RwLock<HashMap<u64, Arc<Series>>>,
    attempts: RwLock<HashMap<u16, Arc<AttemptSeries>>>,
    connection_slots: Mutex<Option<crate::listen::Slots>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The metrics of a gateway with `names` as its label values.
    pub(crate) fn new(names: LabelNames, key_labels: bool) -> Metrics {
        let mut registry = Registry::with_prefix("patchbay");
        let m = Metrics {
            registry: Registry::default(),
            names: arc_swap::ArcSwap::from_pointee(names),
            key_labels,
            requests: Family::default(),
            duration: Family::new_with_constructor(SECONDS),
            ttfb: Family::new_with_constructor(SECONDS),
            ttft: Family::new_with_constructor(SECONDS),
            tokens_per_second: Family::new_with_constructor(RATE),
            tokens: Family::default(),
            cost: Family::default(),
            upstream_duration: Family::new_with_constructor(SECONDS),
            upstream_errors: Family::default(),
            retries: Family::default(),
            fallbacks: Family::default(),
            refusals: Family::default(),
            key_requests: Family::default(),
            key_tokens: Family::default(),
            key_cost: Family::default(),
            in_flight: Gauge::default(),
            open_streams: Gauge::default(),
            open_connections: Gauge::default(),
            usage_queue: Gauge::default(),
            usage_batches: Counter::default(),
            usage_written: Counter::default(),
            usage_failed: Counter::default(),
            usage_dropped: Counter::default(),
            limiter_fail_open: Counter::default(),
            limiter_fail_closed: Counter::default(),
            limiter_settle_failures: Counter::default(),
            key_cache: Gauge::default(),
            cache_requests: Family::default(),
            cache_stored: Counter::default(),
            cache_failures: Counter::default(),
            cache_entries: Gauge::default(),
            cache_bytes: Gauge::default(),
            cooldowns: Family::default(),
            access_log_suppressed: Counter::default(),
            series: RwLock::default(),
            attempts: RwLock::default(),
            connection_slots: Mutex::default(),
        };
        let r = &mut registry;
        r.register(
            "requests",
            "Requests answered, by operation, caller and upstream shape, provider, model and status class",
            m.requests.clone(),
        );
        r.register_with_unit(
            "request_duration",
            "From the request's arrival to the answer's last byte",
            Unit::Seconds,
            m.duration.clone(),
        );
        r.register_with_unit(
            "time_to_first_byte",
            "From the request's arrival to the answer's first byte",
            Unit::Seconds,
            m.ttfb.clone(),
        );
        r.register_with_unit(
            "time_to_first_token",
            "Streams: from the request's arrival to the first output sent",
            Unit::Seconds,
            m.ttft.clone(),
        );
        r.register(
            "output_tokens_per_second",
            "Output tokens over the time spent producing them (after the first token, for streams)",
            m.tokens_per_second.clone(),
        );
        r.register(
            "tokens",
            "Tokens used, by kind: input (cache included), output (reasoning included), cached, cache_write, reasoning",
            m.tokens.clone(),
        );
        r.register(
            "cost_usd",
            "Cost at the catalogue's prices, in US dollars",
            m.cost.clone(),
        );
        r.register_with_unit(
            "upstream_duration",
            "One upstream try, from sending to its answer's commit point (whole body, or a stream's first chunk), by outcome",
            Unit::Seconds,
            m.upstream_duration.clone(),
        );
        r.register(
            "upstream_errors",
            "Failed upstream tries, by error kind and who is to blame",
            m.upstream_errors.clone(),
        );
        r.register(
            "retries",
            "Tries of the same target again after a retryable failure",
            m.retries.clone(),
        );
        r.register(
            "fallbacks",
            "Requests moved on from this provider's target to the route's next one",
            m.fallbacks.clone(),
        );
        r.register(
            "refusals",
            "Requests refused by the gateway, by reason (a limit's name, quota, budget, or the error kind)",
            m.refusals.clone(),
        );
        if key_labels {
            r.register("key_requests", "Requests by key", m.key_requests.clone());
            r.register("key_tokens", "Tokens by key and kind", m.key_tokens.clone());
            r.register(
                "key_cost_usd",
                "Cost by key, in US dollars",
                m.key_cost.clone(),
            );
        }
        r.register(
            "in_flight_requests",
            "Requests being answered, streams until their last byte",
            m.in_flight.clone(),
        );
        r.register(
            "open_streams",
            "Streamed answers being relayed",
            m.open_streams.clone(),
        );
        r.register(
            "open_connections",
            "Connections open on the main listener",
            m.open_connections.clone(),
        );
        r.register(
            "usage_queue_depth",
            "Usage records waiting for the writer",
            m.usage_queue.clone(),
        );
        r.register(
            "usage_batches",
            "Usage transactions committed",
            m.usage_batches.clone(),
        );
        r.register(
            "usage_records_written",
            "Usage records committed",
            m.usage_written.clone(),
        );
        r.register(
            "usage_records_failed",
            "Usage records given up after failing commits",
            m.usage_failed.clone(),
        );
        r.register(
            "usage_records_dropped",
            "Usage records refused because the queue was full or the writer had stopped",
            m.usage_dropped.clone(),
        );
        r.register(
            "limiter_fail_open",
            "Admissions the local limiter decided because the shared store ([limits] redis) failed",
            m.limiter_fail_open.clone(),
        );
        r.register(
            "limiter_fail_closed",
            "Admissions refused (503) because the shared store ([limits] redis) failed",
            m.limiter_fail_closed.clone(),
        );
        r.register(
            "limiter_settle_failures",
            "Settles and releases that did not reach the shared store ([limits] redis)",
            m.limiter_settle_failures.clone(),
        );
        r.register(
            "key_cache_entries",
            "Keys held in memory (declared and the database's)",
            m.key_cache.clone(),
        );
        r.register(
            "cache_requests",
            "Chat requests the response cache applied to, by outcome (hit, miss, bypass)",
            m.cache_requests.clone(),
        );
        r.register(
            "cache_stored",
            "Answers kept in the response cache",
            m.cache_stored.clone(),
        );
        r.register(
            "cache_store_failures",
            "Response cache calls to Redis that failed or were skipped after a failure (answered as misses)",
            m.cache_failures.clone(),
        );
        r.register(
            "cache_entries",
            "Answers held by the in-memory response cache",
            m.cache_entries.clone(),
        );
        r.register(
            "cache_bytes",
            "Bytes held by the in-memory response cache (its measure of answers)",
            m.cache_bytes.clone(),
        );
        r.register(
            "cooldowns_active",
            "Route targets cooling down after failures, by provider",
            m.cooldowns.clone(),
        );
        r.register(
            "access_log_suppressed",
            "Access log lines of refused keys left out by the rate limit on them",
            m.access_log_suppressed.clone(),
        );
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        r.register("build_info", "The running version", build);
        Metrics { registry, ..m }
    }

    /// Adds the label values of `more` (a reload's providers and models) to the
    /// known ones; series already made keep their ids.
    pub(crate) fn learn(&self, more: &LabelNames) {
        let mut names = LabelNames::clone(&self.names.load());
        names.extend(more);
        self.names.store(Arc::new(names));
    }

    /// Adds a finished request.
    pub(crate) fn finished(&self, f: &Finished<'_>) {
        let names = self.names.load();
        let provider = names.provider_id(f.provider);
        let model = names.model_id(f.model);
        let series = self.series(f, provider, model);
        series.requests.inc();
        if let Some(reason) = f.refusal {
            self.refusals.get_or_create(&RefusalLabels { reason }).inc();
        }
        if f.operation.is_none() {
            return;
        }
        series.duration.observe(f.duration.as_secs_f64());
        if let Some(ttfb) = f.ttfb {
            series.ttfb.observe(ttfb.as_secs_f64());
        }
        if let Some(ttft) = f.ttft {
            series.ttft.observe(ttft.as_secs_f64());
        }
        let u = &f.usage;
        if u.output_tokens > 0 && f.status < 400 {
            // A stream's output is produced after its first token; a whole answer's
            // over the whole request.
            let producing = f.ttft.map_or(f.duration, |t| f.duration.saturating_sub(t));
            let secs = producing.as_secs_f64();
            if secs > 0.0 {
                series
                    .tokens_per_second
                    .observe(u.output_tokens as f64 / secs);
            }
        }
        let counts = [
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
            u.reasoning_tokens,
        ];
        for (counter, n) in series.tokens.iter().zip(counts) {
            if n > 0 {
                counter.inc_by(n);
            }
        }
        let usd = f.cost_micros.map_or(0.0, |c| c as f64 / 1e6);
        if usd > 0.0 {
            series.cost.inc_by(usd);
        }
        if self.key_labels
            && let Some(key) = f.key_id
        {
            self.per_key(key, &counts, usd);
        }
    }

    fn per_key(&self, key: &str, counts: &[u64; 5], usd: f64) {
        let labels = KeyLabels {
            key: key.to_owned(),
        };
        self.key_requests.get_or_create(&labels).inc();
        if usd > 0.0 {
            self.key_cost.get_or_create(&labels).inc_by(usd);
        }
        for (kind, n) in TOKEN_KINDS.iter().zip(counts) {
            if *n > 0 {
                let labels = KeyTokenLabels {
                    key: key.to_owned(),
                    kind,
                };
                self.key_tokens.get_or_create(&labels).inc_by(*n);
            }
        }
    }

    /// The cached handles of `f`'s label combination (made the first time).
    fn series(&self, f: &Finished<'_>, provider: u16, model: u16) -> Arc<Series> {
        let operation = f.operation.unwrap_or("unknown");
        let caller = f.caller.map_or(0, shape_index);
        let upstream = f.upstream.map_or(0, shape_index);
        let status = status_class(f.status);
        let id = u64::from(super::names::operation_index(operation))
            | u64::from(caller) << 8
            | u64::from(upstream) << 12
            | u64::from(status.0) << 16
            | u64::from(f.streamed) << 20
            | u64::from(provider) << 24
            | u64::from(model) << 40;
        if let Some(s) = read(&self.series).get(&id) {
            return s.clone();
        }
        let names = self.names.load();
        let provider = names.provider(provider);
        let model = names.model(model);
        let per_model = ModelLabels {
            provider: provider.clone(),
            model: model.clone(),
        };
        let durations = DurationLabels {
            operation,
            provider: provider.clone(),
            model: model.clone(),
            streamed: if f.streamed { "true" } else { "false" },
        };
        let token = |kind| {
            self.tokens.get_or_create_owned(&TokenLabels {
                provider: provider.clone(),
                model: model.clone(),
                kind,
            })
        };
        let series = Arc::new(Series {
            requests: self.requests.get_or_create_owned(&RequestLabels {
                operation,
                caller: f.caller.map_or("none", ApiShape::as_str),
                upstream: f.upstream.map_or("none", ApiShape::as_str),
                provider: provider.clone(),
                model: model.clone(),
                status: status.1,
            }),
            duration: self.duration.get_or_create_owned(&durations),
            ttfb: self.ttfb.get_or_create_owned(&durations),
            ttft: self.ttft.get_or_create_owned(&per_model),
            tokens_per_second: self.tokens_per_second.get_or_create_owned(&per_model),
            tokens: TOKEN_KINDS.map(token),
            cost: self.cost.get_or_create_owned(&per_model),
        });
        write(&self.series).insert(id, series.clone());
        series
    }

    /// Adds one upstream try of `provider`: how long it took and how it ended.
    pub(crate) fn attempt(
        &self,
        provider: &str,
        took: Duration,
        error: Option<(ErrorKind, Blame)>,
    ) {
        let id = self.names.load().provider_id(Some(provider));
        let series = self.attempt_series(id);
        match error {
            None => series.ok.observe(took.as_secs_f64()),
            Some((kind, blame)) => {
                series.failed.observe(took.as_secs_f64());
                self.upstream_errors
                    .get_or_create(&UpstreamErrorLabels {
                        provider: self.names.load().provider(id),
                        kind: super::names::kind_name(kind),
                        blame: super::names::blame_name(blame),
                    })
                    .inc();
            }
        }
    }

    fn attempt_series(&self, id: u16) -> Arc<AttemptSeries> {
        if let Some(s) = read(&self.attempts).get(&id) {
            return s.clone();
        }
        let provider = self.names.load().provider(id);
        let of = |outcome| {
            self.upstream_duration.get_or_create_owned(&AttemptLabels {
                provider: provider.clone(),
                outcome,
            })
        };
        let series = Arc::new(AttemptSeries {
            ok: of("ok"),
            failed: of("error"),
        });
        write(&self.attempts).insert(id, series.clone());
        series
    }

    /// A retry of `provider`'s target.
    pub(crate) fn retry(&self, provider: &str) {
        let names = self.names.load();
        let provider = names.provider(names.provider_id(Some(provider)));
        self.retries
            .get_or_create(&ProviderLabels { provider })
            .inc();
    }

    /// A move from `provider`'s target to the route's next one.
    pub(crate) fn fallback(&self, provider: &str) {
        let names = self.names.load();
        let provider = names.provider(names.provider_id(Some(provider)));
        self.fallbacks
            .get_or_create(&ProviderLabels { provider })
            .inc();
    }

    /// Access log lines left out.
    pub(crate) fn access_log_suppressed(&self, n: u64) {
        self.access_log_suppressed.inc_by(n);
    }

    /// The main listener's connection slots, read at scrape time.
    pub(crate) fn watch_connections(&self, slots: crate::listen::Slots) {
        *self
            .connection_slots
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(slots);
    }

    /// The exposition text, the gauges read from `app` first.
    pub fn render(&self, app: &App) -> String {
        self.refresh(app);
        let mut out = String::with_capacity(16 << 10);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn refresh(&self, app: &App) {
        self.in_flight.set(gauge(app.in_flight.current()));
        let connections = self
            .connection_slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, crate::listen::Slots::open);
        self.open_connections.set(gauge(connections));
        if let Some(writer) = &app.usage {
            let stats = writer.stats();
            self.usage_queue.set(gauge(stats.queued));
            catch_up(&self.usage_batches, stats.batches);
            catch_up(&self.usage_written, stats.written);
            catch_up(&self.usage_failed, stats.failed);
            catch_up(&self.usage_dropped, stats.dropped);
        }
        if let Some(redis) = &app.shared_limiter {
            let stats = redis.stats();
            catch_up(&self.limiter_fail_open, stats.fail_open);
            catch_up(&self.limiter_fail_closed, stats.fail_closed);
            catch_up(&self.limiter_settle_failures, stats.settle_failures);
        }
        let cache = app.cache.stats();
        for (outcome, n) in
            crate::cache::OUTCOMES
                .into_iter()
                .zip([cache.hits, cache.misses, cache.bypasses])
        {
            catch_up(
                &self.cache_requests.get_or_create(&CacheLabels { outcome }),
                n,
            );
        }
        catch_up(&self.cache_stored, cache.stored);
        catch_up(&self.cache_failures, cache.failures);
        let (entries, bytes) = cache.held.unwrap_or_default();
        self.cache_entries.set(gauge(entries));
        self.cache_bytes.set(gauge(bytes));
        let keys = app.keys();
        let cached = keys.declared_len() + keys.store().map_or(0, |s| s.cache().len());
        self.key_cache.set(gauge(cached));
        let cooling = app.cooldown.active_by_provider(Instant::now());
        // Every configured provider has a value, 0 included, so a target that stops
        // cooling down shows 0 rather than its last count.
        let names = self.names.load();
        for id in 1..names.provider_count() {
            let provider = names.provider(id);
            let n = cooling.get(provider.as_str()).copied().unwrap_or(0);
            self.cooldowns
                .get_or_create(&ProviderLabels { provider })
                .set(gauge(n));
        }
    }
}

/// Moves a counter up to a total counted elsewhere.
fn catch_up(counter: &Counter, total: u64) {
    let have = counter.get();
    if total > have {
        counter.inc_by(total - have);
    }
}

fn gauge(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

fn shape_index(shape: ApiShape) -> u8 {
    ApiShape::ALL
        .iter()
        .position(|s| *s == shape)
        .map_or(0, |i| i as u8 + 1)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
