//! Charging requests: the limit check and reservation before the upstream call, and
//! the usage record (tokens, cost, timings, outcome) with the settlement after it.
//!
//! A `Ticket` travels with the request from admission to its end — the whole
//! answer, the end of the stream, or the client leaving — and is closed exactly once:
//! dropping an open ticket closes it as cancelled, so no path loses a record or
//! leaves a reservation held.
//!
//! What a request that did not end normally is charged: a stream that ended without
//! its final usage (the caller hung up, the upstream broke off) at least the input
//! the upstream reported, else the request's local estimate, and the output relayed
//! (the larger of the upstream's count so far and the count of the content sent); a
//! request dropped while an upstream was being asked, the input estimate. The
//! upstream bills the operator for these, so hanging up early must not make a request
//! free.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_auth::limits::{micros_to_usd, usd_to_micros};
use gateway_auth::{Actual, Entry, Estimate, Reservation, UsageRecord};
use gateway_protocol::{ApiShape, ChatRequest, GatewayError, Usage};
use gateway_translate::estimate;

use crate::app::App;
use crate::catalog::Catalog;
use crate::observe::{Arrival, Finished, OpenStream, names};
use crate::routing::RoutePlan;

/// Output tokens reserved for a request that sets no `max_tokens` and whose model the
/// catalogue does not know.
const DEFAULT_OUTPUT_ESTIMATE: u64 = 4096;

/// The most of a request or an answer (whole or streamed) the body log keeps: a
/// logged record must not hold a 10 MiB request and a 64 MiB answer in the writer's
/// queue.
pub(crate) const STREAM_LOG_LIMIT: usize = 4 << 20;

/// `body`, cut to what the body log keeps.
fn logged(body: &[u8]) -> Vec<u8> {
    body[..body.len().min(STREAM_LOG_LIMIT)].to_vec()
}

/// One request's account, open until the request ends.
///
/// Boxed: a ticket moves through the request's futures (the operation, the attempts,
/// the relay of its answer) and its record makes it some 650 bytes, so each move is
/// a pointer's instead of a copy of the account.
pub(crate) struct Ticket(Box<Account>);

/// What a [`Ticket`] holds.
pub(crate) struct Account {
    app: Arc<App>,
    record: UsageRecord,
    reservation: Option<Reservation>,
    started: Instant,
    first_byte: Option<Duration>,
    closed: bool,
    /// The key logs request and response bodies.
    log_bodies: bool,
    /// The request's input tokens counted locally.
    input_estimate: u64,
    /// An upstream was sent the request.
    upstream_asked: bool,
    /// When and how the request arrived (its path, method), if the observe layer saw it.
    arrival: Option<Arrival>,
    operation: &'static str,
    caller: ApiShape,
    upstream: Option<ApiShape>,
    /// Upstream tries made.
    attempts: u32,
    /// Streams: when the first output went to the caller.
    first_token: Option<Duration>,
    /// The limit that refused the request.
    limit: Option<gateway_auth::LimitKind>,
    /// Held while the answer streams.
    open_stream: Option<OpenStream>,
    /// Its row in the live feed's requests in flight, while a console watches.
    live: Option<crate::observe::live::Slot>,
}

impl std::ops::Deref for Ticket {
    type Target = Account;

    fn deref(&self) -> &Account {
        &self.0
    }
}

impl std::ops::DerefMut for Ticket {
    fn deref_mut(&mut self) -> &mut Account {
        &mut self.0
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("request_id", &self.record.request_id)
            .finish_non_exhaustive()
    }
}

/// Who is charged for what a request asked.
pub(crate) struct Charge<'a> {
    pub entry: &'a Entry,
    /// The request body as the caller sent it (kept only for keys that log bodies).
    pub body: &'a [u8],
    pub request_id: &'a str,
    pub caller: ApiShape,
    pub streamed: bool,
    /// The request's input tokens counted locally (0 for what uses none).
    pub input_estimate: u64,
    /// `chat`, `embeddings`, `count_tokens`.
    pub operation: &'static str,
    /// When and how it arrived.
    pub arrival: Option<&'a Arrival>,
}

/// What a streamed answer reported and delivered when it ended.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Streamed {
    /// The latest usage the upstream reported, if any.
    pub reported: Option<Usage>,
    /// Output tokens estimated from the content sent to the caller.
    pub output_tokens: u64,
}

/// Records a request `limit` refused: refused requests are requests too.
pub(crate) fn record_refusal(
    app: &Arc<App>,
    charge: &Charge<'_>,
    model: &str,
    err: &GatewayError,
    limit: Option<gateway_auth::LimitKind>,
) {
    let mut ticket = Ticket::open(app, charge, model, None);
    ticket.limit = limit;
    ticket.close(err.status, None, Some(err));
}

impl Ticket {
    /// The account of an admitted request asking for `model`, holding its
    /// reservation when the limiter made one.
    pub(crate) fn open(
        app: &Arc<App>,
        charge: &Charge<'_>,
        model: &str,
        reservation: Option<Reservation>,
    ) -> Ticket {
        let subject = &charge.entry.subject;
        let log_bodies = charge.entry.policy.log_bodies;
        let arrived_ms = charge.arrival.map(|a| a.0.ts_ms);
        let live = app.observer.live.started(|| crate::observe::live::Started {
            request_id: charge.request_id.into(),
            key_id: subject.key_id.as_str().into(),
            model: model.to_owned(),
            operation: charge.operation,
            started_ms: arrived_ms.unwrap_or_else(gateway_auth::cache::now_ms),
            streamed: charge.streamed,
        });
        let ticket = Ticket(Box::new(Account {
            app: app.clone(),
            log_bodies,
            record: UsageRecord {
                request_body: log_bodies.then(|| logged(charge.body)),
                request_id: charge.request_id.into(),
                ts_ms: gateway_auth::cache::now_ms(),
                key_id: subject.key_id.as_str().into(),
                project_id: subject.project_id.as_deref().map(Into::into),
                requested_model: model.into(),
                streamed: charge.streamed,
                ..UsageRecord::default()
            },
            reservation,
            started: charge.arrival.map_or_else(Instant::now, |a| a.0.at),
            first_byte: None,
            closed: false,
            input_estimate: charge.input_estimate,
            upstream_asked: false,
            arrival: charge.arrival.cloned(),
            operation: charge.operation,
            caller: charge.caller,
            upstream: None,
            attempts: 0,
            first_token: None,
            limit: None,
            open_stream: None,
            live,
        }));
        if let Some(trace) = ticket.trace() {
            trace.admitted();
        }
        ticket
    }
}

/// Tokens and money an embeddings call may use: its text counted locally (about
/// four bytes a token, token arrays as they are), at the first target's prices.
pub(crate) fn embeddings_estimate(
    catalog: &Catalog,
    req: &gateway_protocol::EmbeddingsRequest,
    plan: &RoutePlan,
) -> Estimate {
    at_first_target(catalog, plan, embeddings_tokens(req), |_| 0)
}

/// The local count of an embeddings request's input tokens.
pub(crate) fn embeddings_tokens(req: &gateway_protocol::EmbeddingsRequest) -> u64 {
    req.inputs
        .iter()
        .map(|i| match i {
            gateway_protocol::EmbeddingInput::Text(t) => (t.len() as u64).div_ceil(4),
            gateway_protocol::EmbeddingInput::Tokens(t) => t.len() as u64,
        })
        .sum()
}

/// Tokens and money a request may use: the prompt counted locally, the output it asks
/// for (or the first target's catalogue limit), at the first target's prices.
pub(crate) fn estimate_for(catalog: &Catalog, req: &ChatRequest, plan: &RoutePlan) -> Estimate {
    at_first_target(catalog, plan, estimate::input_tokens(req), |info| {
        req.sampling
            .max_output_tokens
            .or_else(|| info.and_then(|i| i.max_output_tokens))
            .unwrap_or(DEFAULT_OUTPUT_ESTIMATE)
    })
}

/// `input_tokens` and the output `output_tokens` picks (given the first target's
/// catalogue entry), priced at the first target's prices.
fn at_first_target(
    catalog: &Catalog,
    plan: &RoutePlan,
    input_tokens: u64,
    output_tokens: impl FnOnce(Option<&crate::catalog::ModelInfo>) -> u64,
) -> Estimate {
    let info = plan
        .attempts
        .first()
        .and_then(|t| catalog.lookup(&t.upstream_model));
    let output_tokens = output_tokens(info);
    let usage = Usage {
        input_tokens,
        output_tokens,
        ..Usage::default()
    };
    Estimate {
        input_tokens,
        output_tokens,
        cost_micros: info.and_then(|i| i.prices.cost(&usage)).map(usd_to_micros),
    }
}

impl Ticket {
    /// An upstream is being sent the request: from here on, a request dropped before
    /// its answer is charged its input.
    pub(crate) fn asking(&mut self, provider: &str, model: &str, upstream: ApiShape) {
        self.routed(provider, model, upstream);
        self.upstream_asked = true;
        self.attempts += 1;
    }

    /// Where the request went.
    pub(crate) fn routed(&mut self, provider: &str, model: &str, upstream: ApiShape) {
        self.record.provider = Some(provider.into());
        self.record.routed_model = Some(model.into());
        self.upstream = Some(upstream);
    }

    /// The answer's body, kept when the key logs bodies (up to [`STREAM_LOG_LIMIT`]).
    pub(crate) fn response_body(&mut self, body: &[u8]) {
        if self.log_bodies {
            self.record.response_body = Some(logged(body));
        }
    }

    /// A piece of a streamed answer as the caller got it, appended to the logged
    /// body when the key logs bodies (up to [`STREAM_LOG_LIMIT`] bytes).
    pub(crate) fn streamed_bytes(&mut self, bytes: &[u8]) {
        if !self.log_bodies {
            return;
        }
        let log = self.record.response_body.get_or_insert_with(Vec::new);
        let room = STREAM_LOG_LIMIT.saturating_sub(log.len());
        log.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The gateway this request runs in.
    pub(crate) fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The answer is streaming: counted open until the ticket closes.
    pub(crate) fn streaming(&mut self) {
        self.open_stream = Some(OpenStream::new(&self.app.observer));
        if let Some(trace) = self.trace() {
            trace.relay_started();
        }
    }

    /// The request's spans, when it is traced.
    pub(crate) fn trace(&self) -> Option<&crate::observe::trace::RequestTrace> {
        self.arrival.as_ref().and_then(Arrival::trace)
    }

    /// The caller's `traceparent` and `tracestate`, when the gateway does not trace.
    pub(crate) fn passed_trace(&self) -> Option<&http::HeaderMap> {
        self.arrival.as_ref().map(|a| &a.0.passed_trace)
    }

    /// Nanoseconds since the request arrived (Ollama's `*_duration` fields).
    pub(crate) fn elapsed_ns(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The first output of a stream is on its way to the caller.
    pub(crate) fn first_token(&mut self) {
        let account = &mut *self.0;
        account
            .first_token
            .get_or_insert_with(|| account.started.elapsed());
    }

    /// The first byte of the answer is on its way to the caller.
    pub(crate) fn first_byte(&mut self) {
        let account = &mut *self.0;
        account
            .first_byte
            .get_or_insert_with(|| account.started.elapsed());
    }

    /// Closes the account of an answered request with the usage the upstream
    /// reported; an answer that reports none is charged its input estimate.
    pub(crate) fn succeed(mut self, usage: Option<Usage>) {
        let usage = usage
            .filter(|u| u.total_tokens() > 0)
            .or_else(|| self.input_only());
        self.close(200, usage, None);
    }

    /// Closes the account of a request answered from the response cache by what
    /// `provider`'s `model` once answered: no upstream was asked and no tokens were
    /// spent, so it settles at nothing and costs 0 (its admission still counted it
    /// against the key's rates).
    pub(crate) fn cache_hit(mut self, provider: &str, model: &str) {
        self.record.provider = Some(provider.into());
        self.record.routed_model = Some(model.into());
        self.record.cache_hit = true;
        self.first_byte();
        self.close(200, Some(Usage::default()), None);
    }

    /// Closes the account of a failed request.
    pub(crate) fn fail(mut self, err: &GatewayError, usage: Option<Usage>) {
        self.close(err.status, usage, Some(err));
    }

    /// Closes the account of a stream that ended normally: the usage the upstream
    /// reported, or, when it reported none, the input estimate and the output sent.
    pub(crate) fn stream_ended(mut self, streamed: Streamed) {
        let usage = streamed
            .reported
            .unwrap_or_else(|| self.at_least_relayed(streamed));
        self.close(200, Some(usage), None);
    }

    /// Closes the account of a stream whose caller went away mid-answer.
    pub(crate) fn cancelled(mut self, streamed: Streamed) {
        let usage = self.at_least_relayed(streamed);
        self.close(499, Some(usage), None);
    }

    /// Closes the account of a stream that ended with an in-band error.
    pub(crate) fn stream_failed(mut self, err: &GatewayError, streamed: Streamed) {
        let usage = self.at_least_relayed(streamed);
        self.close(200, Some(usage), Some(err));
    }

    /// The charge of a request that an upstream was asked but whose usage is not
    /// known: its input estimate.
    fn input_only(&self) -> Option<Usage> {
        self.upstream_asked.then_some(Usage {
            input_tokens: self.input_estimate,
            ..Usage::default()
        })
    }

    /// The charge of a stream cut short: what the upstream reported so far, with
    /// the input estimate when it reported no input and at least the output sent.
    fn at_least_relayed(&self, streamed: Streamed) -> Usage {
        let mut usage = streamed.reported.unwrap_or_default();
        if usage.input_tokens == 0 {
            usage.input_tokens = self.input_estimate;
        }
        usage.output_tokens = usage.output_tokens.max(streamed.output_tokens);
        usage
    }

    fn close(&mut self, status: u16, usage: Option<Usage>, err: Option<&GatewayError>) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        self.open_stream = None;
        let usage = usage.unwrap_or_default();
        let model = self
            .record
            .routed_model
            .as_deref()
            .unwrap_or(&self.record.requested_model);
        let cost = self
            .app
            .table()
            .catalog
            .lookup(model)
            .and_then(|m| m.prices.cost(&usage));
        // Nothing reached an upstream (refused, failed before routing, answered from
        // the cache): it cost nothing — known, so not "unpriced".
        let cost_micros = if self.record.provider.is_none() || self.record.cache_hit {
            Some(0)
        } else {
            cost.map(usd_to_micros)
        };
        if let Some(reservation) = self.reservation.take() {
            let actual = Actual::from_usage(&usage, cost_micros);
            reservation.settle(&actual, gateway_auth::cache::now_ms());
        }
        self.record.set_usage(&usage);
        // The shapes as the record stores them, written once rather than per try.
        self.record.caller_shape = self.caller.as_str().into();
        self.record.upstream_shape = self.upstream.map(|s| s.as_str().into());
        self.record.cost_micros = cost_micros;
        self.record.status = status;
        self.record.error_kind = err.map(|e| compact_str::format_compact!("{:?}", e.kind));
        self.record.ttfb_ms = self.first_byte.map(millis);
        let took = self.started.elapsed();
        self.record.total_ms = millis(took);
        self.report(took, &usage, err);
        let account = &mut *self.0;
        if let Some(writer) = &account.app.usage {
            writer.record(std::mem::take(&mut account.record));
        }
        tracing::debug!(
            cost_usd = cost.map(|c| micros_to_usd(usd_to_micros(c))),
            status,
            "request accounted"
        );
    }
}

impl Ticket {
    /// Reports the request to the metrics and the access log.
    fn report(&self, took: Duration, usage: &Usage, err: Option<&GatewayError>) {
        let r = &self.record;
        let arrival = self.arrival.as_ref().map(|a| &*a.0);
        let error = err.map(|e| e.kind);
        let f = Finished {
            ts_ms: arrival.map_or(r.ts_ms, |a| a.ts_ms),
            request_id: &r.request_id,
            key_id: Some(&r.key_id),
            method: arrival.map_or("POST", |a| a.method.as_str()),
            path: arrival.map_or("", |a| a.uri.path()),
            operation: Some(self.operation),
            caller: Some(self.caller),
            upstream: self.upstream,
            provider: r.provider.as_deref(),
            model: Some(r.rollup_model()),
            requested_model: Some(&r.requested_model),
            status: r.status,
            streamed: r.streamed,
            attempts: self.attempts,
            duration: took,
            ttfb: self.first_byte,
            ttft: self.first_token,
            usage: *usage,
            cost_micros: r.cost_micros,
            // An upstream's own refusal is not the gateway's.
            refusal: if self.upstream_asked {
                None
            } else {
                names::refusal_reason(self.limit, error, r.status)
            },
            error,
            trace: self.trace(),
            live: self.live,
        };
        self.app.observer.finished(&f);
    }
}

impl Drop for Ticket {
    /// A ticket dropped open: the client went away before the answer (or a path
    /// forgot it). Recorded as cancelled with 499; charged the input estimate when an
    /// upstream was already asked, else nothing.
    fn drop(&mut self) {
        if !self.closed {
            let usage = self.input_only();
            self.close(499, usage, None);
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_request_and_answer_bodies_are_capped() {
        let config = crate::config::Config::default_mock_with_key("k");
        let app = Arc::new(App::with_keys(&config, None).unwrap());
        let mut entry = (*app.keys().authenticate("k").unwrap()).clone();
        entry.policy.log_bodies = true;
        let big = vec![b'x'; STREAM_LOG_LIMIT + 1000];
        let charge = Charge {
            entry: &entry,
            body: &big,
            request_id: "req_test",
            caller: ApiShape::OpenAiChat,
            streamed: false,
            input_estimate: 0,
            operation: "chat",
            arrival: None,
        };
        let mut ticket = Ticket::open(&app, &charge, "m", None);
        ticket.response_body(&big);
        let logged_request = ticket.record.request_body.as_ref().map(Vec::len);
        let logged_answer = ticket.record.response_body.as_ref().map(Vec::len);
        assert_eq!(logged_request, Some(STREAM_LOG_LIMIT));
        assert_eq!(logged_answer, Some(STREAM_LOG_LIMIT));
        ticket.response_body(b"small");
        assert_eq!(ticket.record.response_body.as_deref(), Some(&b"small"[..]));
    }

    #[test]
    fn a_stream_cut_short_is_charged_at_least_what_was_relayed() {
        let config = crate::config::Config::default_mock_with_key("k");
        let app = Arc::new(App::with_keys(&config, None).unwrap());
        let entry = app.keys().authenticate("k").unwrap();
        let charge = Charge {
            entry: &entry,
            body: b"{}",
            request_id: "req_test",
            caller: ApiShape::Anthropic,
            streamed: true,
            input_estimate: 120,
            operation: "chat",
            arrival: None,
        };
        let ticket = Ticket::open(&app, &charge, "m", None);
        let charged = |reported, output_tokens| {
            ticket.at_least_relayed(Streamed {
                reported,
                output_tokens,
            })
        };
        // Nothing reported: the input estimate and the output sent.
        let none = charged(None, 40);
        assert_eq!((none.input_tokens, none.output_tokens), (120, 40));
        // Anthropic's message_start: the upstream's input count wins; its output
        // so far (1) is less than what was sent.
        let started = Usage {
            input_tokens: 300,
            cache_read_tokens: 200,
            output_tokens: 1,
            ..Usage::default()
        };
        let partial = charged(Some(started), 40);
        assert_eq!(
            partial,
            Usage {
                output_tokens: 40,
                ..started
            }
        );
        // An upstream count above the content sent (hidden reasoning) stands.
        let reasoned = Usage {
            input_tokens: 300,
            output_tokens: 900,
            reasoning_tokens: 800,
            ..Usage::default()
        };
        assert_eq!(charged(Some(reasoned), 40), reasoned);
    }
}
