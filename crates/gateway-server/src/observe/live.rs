//! The live feed behind the console's Live page (`GET /admin/live`): figures per
//! second, the requests in flight and the newest finished ones, pushed to watchers.
//!
//! The request path pays one relaxed atomic load when nobody watches: requests are
//! recorded only while a watcher is connected (and for [`LINGER`] after the last
//! one leaves, so a reload finds the recent past). While recording, a request's
//! start and end each take one short lock (no I/O under it); a ticker task closes
//! each wall-clock second into a [`Tick`], written as SSE bytes once and handed to
//! every watcher through a bounded broadcast ring. A watcher that does not keep up
//! misses ticks and is told how many ([`Delivery::Lagged`]): it never holds memory
//! and never slows a request.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use foldhash::HashMap;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use super::Finished;
use crate::layers::shed::InFlight;

/// Finished requests a tick or a snapshot lists (the newest).
pub const FINISHED_ROWS: usize = 50;
/// Requests in flight a tick or a snapshot lists (the oldest).
pub const IN_FLIGHT_ROWS: usize = 100;
/// Seconds of figures a snapshot carries.
pub const HISTORY_SECONDS: usize = 60;
/// Ticks held for watchers that are behind; past it a watcher misses ticks.
const TICK_BACKLOG: usize = 8;
/// Requests in flight tracked at most (the count stays exact: it is the shed
/// layer's).
const TRACKED_IN_FLIGHT: usize = 10_000;
/// Durations of one second kept for its percentiles (a uniform sample past it).
const LATENCY_SAMPLES: usize = 4096;
/// How long recording goes on after the last watcher left.
pub const LINGER: Duration = Duration::from_secs(120);

/// The live feed: shared by the request path (which records) and the admin
/// listener (which watches).
#[derive(Debug)]
pub struct Live {
    /// The request path records only while this is set.
    recording: AtomicBool,
    state: Mutex<State>,
    ticks: broadcast::Sender<Bytes>,
    /// Set once at shutdown: every watcher's stream ends.
    closed: watch::Sender<bool>,
    /// The shed layer's count of requests being answered (exact, always kept).
    in_flight: InFlight,
}

/// A request counted in flight, to be taken out when it finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Slot(u64);

/// What the request path knows when a request starts.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Started {
    pub request_id: String,
    /// The key's public id (never its secret).
    pub key_id: String,
    /// The model asked for.
    pub model: String,
    pub operation: &'static str,
    /// Arrival, Unix ms.
    pub started_ms: i64,
    /// The caller asked for a stream.
    pub streamed: bool,
}

/// One finished request as a watcher sees it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Done {
    pub request_id: String,
    pub key_id: Option<String>,
    pub operation: Option<&'static str>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub status: u16,
    /// The error's kind (`RateLimited`, `Upstream`, ...), also for a stream that
    /// failed after its 200.
    pub error: Option<String>,
    pub streamed: bool,
    /// Arrival, Unix ms.
    pub started_ms: i64,
    /// ms, to the microsecond.
    pub duration_ms: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// The figures of one second.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub(crate) struct Figures {
    /// The second's start, Unix seconds.
    pub t: i64,
    /// Requests that finished in it.
    pub requests: u64,
    /// Of those, answered with status 400 or above or ended by an error.
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// What the priced ones cost, USD.
    pub cost_usd: f64,
    /// Requests being answered at the second's end (streams until their last byte).
    pub in_flight: usize,
    /// Nearest-rank percentiles of the successful requests' durations, ms to
    /// the microsecond (a mock answers in a fraction of one).
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

/// One second's events: its figures, the newest requests finished in it, and
/// the requests in flight at its end.
#[derive(Debug, Serialize)]
struct Tick<'a> {
    figures: Figures,
    /// Newest first, at most [`FINISHED_ROWS`].
    finished: &'a [Done],
    /// Finished in the second but not listed.
    finished_more: u64,
    /// Oldest first, at most [`IN_FLIGHT_ROWS`].
    in_flight: Vec<&'a Started>,
    /// In flight (as far as the feed saw them start) but not listed.
    in_flight_more: usize,
}

/// What a new watcher is sent first.
#[derive(Debug, Serialize)]
struct Snapshot<'a> {
    /// When recording began, Unix ms: requests that ended before are not in the
    /// feed, and requests already running then are counted in flight but not
    /// listed.
    recording_since_ms: i64,
    /// Oldest first, at most [`HISTORY_SECONDS`].
    seconds: Vec<Figures>,
    /// Newest first, at most [`FINISHED_ROWS`].
    finished: Vec<&'a Done>,
    in_flight: Vec<&'a Started>,
    in_flight_more: usize,
    /// Requests being answered now.
    in_flight_now: usize,
    limits: Limits,
}

#[derive(Debug, Serialize)]
struct Limits {
    finished_rows: usize,
    in_flight_rows: usize,
    history_seconds: usize,
}

#[derive(Debug, Default)]
struct State {
    watchers: usize,
    ticker_running: bool,
    /// Unix ms when the last watcher left.
    idle_since_ms: Option<i64>,
    recording_since_ms: i64,
    second: Second,
    history: VecDeque<Figures>,
    /// Newest last.
    recent: VecDeque<Done>,
    in_flight: HashMap<Slot, Started>,
    next_slot: u64,
}

/// The second being counted.
#[derive(Debug, Default)]
struct Second {
    figures: Figures,
    cost_micros: i64,
    /// Newest last, at most [`FINISHED_ROWS`].
    finished: VecDeque<Done>,
    /// Successful requests' durations, µs (a uniform sample past
    /// [`LATENCY_SAMPLES`]).
    durations: Vec<u64>,
    successes: u64,
}

/// What a watcher's next read gives.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// An event's bytes.
    Event(Bytes),
    /// The watcher fell behind and missed this many ticks.
    Lagged(u64),
    /// The feed is shutting down.
    Closed,
}

/// One watcher: its subscription, counted until dropped.
#[derive(Debug)]
pub(crate) struct Watcher {
    live: Arc<Live>,
    ticks: broadcast::Receiver<Bytes>,
    closed: watch::Receiver<bool>,
}

impl Default for Live {
    /// A feed whose in-flight count is its own (the app gives its shed layer's).
    fn default() -> Live {
        Live::new(InFlight::new(usize::MAX))
    }
}

impl Live {
    pub(crate) fn new(in_flight: InFlight) -> Live {
        Live {
            recording: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            ticks: broadcast::channel(TICK_BACKLOG).0,
            closed: watch::channel(false).0,
            in_flight,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True while requests are recorded (someone watches).
    #[inline]
    pub(crate) fn recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    /// A request started: listed in flight until [`Live::finished`] with its slot.
    /// `started` is called only while recording.
    #[inline]
    pub(crate) fn started(&self, started: impl FnOnce() -> Started) -> Option<Slot> {
        if !self.recording() {
            return None;
        }
        self.start(started())
    }

    fn start(&self, started: Started) -> Option<Slot> {
        let mut state = self.lock();
        if state.in_flight.len() >= TRACKED_IN_FLIGHT {
            return None;
        }
        let slot = Slot(state.next_slot);
        state.next_slot += 1;
        state.in_flight.insert(slot, started);
        Some(slot)
    }

    /// A request finished (its slot, if it was listed in flight).
    #[inline]
    pub(crate) fn finished(&self, f: &Finished<'_>) {
        if self.recording() || f.live.is_some() {
            self.finish(f);
        }
    }

    fn finish(&self, f: &Finished<'_>) {
        let micros = u64::try_from(f.duration.as_micros()).unwrap_or(u64::MAX);
        // Built before the lock is taken: its allocations hold up no one.
        let row = self.recording().then(|| Done {
            request_id: f.request_id.to_owned(),
            key_id: f.key_id.map(str::to_owned),
            operation: f.operation,
            model: f.model.map(str::to_owned),
            provider: f.provider.map(str::to_owned),
            status: f.status,
            error: f.error.map(|e| format!("{e:?}")),
            streamed: f.streamed,
            started_ms: f.ts_ms,
            duration_ms: micros_to_ms(micros),
            input_tokens: f.usage.input_tokens,
            output_tokens: f.usage.output_tokens,
        });
        let mut state = self.lock();
        if let Some(slot) = f.live {
            state.in_flight.remove(&slot);
        }
        let Some(row) = row else {
            return;
        };
        let second = &mut state.second;
        let failed = f.status >= 400 || f.error.is_some();
        let figures = &mut second.figures;
        figures.requests += 1;
        figures.errors += u64::from(failed);
        figures.input_tokens += f.usage.input_tokens;
        figures.output_tokens += f.usage.output_tokens;
        second.cost_micros += f.cost_micros.unwrap_or(0);
        if !failed {
            second.successes += 1;
            if second.durations.len() < LATENCY_SAMPLES {
                second.durations.push(micros);
            } else {
                // Reservoir sampling: each success so far kept with equal chance.
                let i = fastrand::u64(..second.successes);
                if let Ok(i) = usize::try_from(i)
                    && i < LATENCY_SAMPLES
                {
                    second.durations[i] = micros;
                }
            }
        }
        if second.finished.len() == FINISHED_ROWS {
            second.finished.pop_front();
        }
        second.finished.push_back(row);
    }

    /// A new watcher: recording starts (with the ticker) if it was off; the
    /// snapshot to send first, and the subscription to the ticks after it.
    pub(crate) fn watch(self: &Arc<Self>) -> (Bytes, Watcher) {
        let mut state = self.lock();
        state.watchers += 1;
        state.idle_since_ms = None;
        if !self.recording() {
            state.recording_since_ms = gateway_auth::cache::now_ms();
            self.recording.store(true, Ordering::Relaxed);
        }
        if !state.ticker_running {
            state.ticker_running = true;
            tokio::spawn(ticker(self.clone()));
        }
        let snapshot = self.snapshot(&state);
        // Subscribed under the lock ticks are sent under: no tick is both in the
        // snapshot and after it, and none falls between.
        let watcher = Watcher {
            live: self.clone(),
            ticks: self.ticks.subscribe(),
            closed: self.closed.subscribe(),
        };
        (snapshot, watcher)
    }

    fn snapshot(&self, state: &State) -> Bytes {
        let (in_flight, in_flight_more) = oldest_in_flight(state);
        let snapshot = Snapshot {
            recording_since_ms: state.recording_since_ms,
            seconds: state.history.iter().copied().collect(),
            finished: state.recent.iter().rev().collect(),
            in_flight,
            in_flight_more,
            in_flight_now: self.in_flight.current(),
            limits: Limits {
                finished_rows: FINISHED_ROWS,
                in_flight_rows: IN_FLIGHT_ROWS,
                history_seconds: HISTORY_SECONDS,
            },
        };
        event("snapshot", &snapshot)
    }

    /// Closes the second that started at Unix second `t`: its tick goes to every
    /// watcher. False when recording stopped (nobody watched for [`LINGER`]): the
    /// ticker ends.
    fn tick(&self, t: i64, now_ms: i64) -> bool {
        let mut state = self.lock();
        let idle_too_long = state
            .idle_since_ms
            .is_some_and(|since| now_ms - since >= millis(LINGER));
        if state.watchers == 0 && idle_too_long {
            self.recording.store(false, Ordering::Relaxed);
            let next_slot = state.next_slot;
            *state = State {
                next_slot,
                ..State::default()
            };
            return false;
        }
        let mut second = std::mem::take(&mut state.second);
        let (in_flight, in_flight_more) = oldest_in_flight(&state);
        let in_flight: Vec<Started> = in_flight.into_iter().cloned().collect();
        // The percentiles and the JSON are worked out with the lock let go: the
        // request path never waits on them.
        drop(state);
        let figures = second.close(t, self.in_flight.current());
        let finished_more = figures.requests - second.finished.len() as u64;
        let finished: Vec<Done> = second.finished.into_iter().rev().collect();
        let tick = event(
            "tick",
            &Tick {
                figures,
                finished: &finished,
                finished_more,
                in_flight: in_flight.iter().collect(),
                in_flight_more,
            },
        );
        // The second joins the history and goes out under one lock, the lock a new
        // watcher subscribes under: it is in the snapshot or after it, never both.
        let mut state = self.lock();
        if state.history.len() == HISTORY_SECONDS {
            state.history.pop_front();
        }
        state.history.push_back(figures);
        // Nobody subscribed is not an error: the tick is simply not kept.
        let _ = self.ticks.send(tick);
        for done in finished.into_iter().rev() {
            if state.recent.len() == FINISHED_ROWS {
                state.recent.pop_front();
            }
            state.recent.push_back(done);
        }
        true
    }

    /// Ends every watcher's stream (shutdown: the admin listener's grace must not
    /// wait on them).
    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }
}

impl Second {
    fn close(&mut self, t: i64, in_flight: usize) -> Figures {
        let mut figures = self.figures;
        figures.t = t;
        figures.in_flight = in_flight;
        // Micro-dollars to dollars: the sum is exact, the division rounds once.
        #[allow(clippy::cast_precision_loss)]
        let cost = self.cost_micros as f64 / 1e6;
        figures.cost_usd = cost;
        figures.p50_ms = nearest_rank(&mut self.durations, 50).map(micros_to_ms);
        figures.p95_ms = nearest_rank(&mut self.durations, 95).map(micros_to_ms);
        figures
    }
}

/// The value at rank ⌈p/100 · n⌉ of `values` in ascending order.
fn nearest_rank(values: &mut [u64], p: usize) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let rank = (values.len() * p).div_ceil(100).max(1);
    Some(*values.select_nth_unstable(rank - 1).1)
}

/// The oldest requests in flight (at most [`IN_FLIGHT_ROWS`]) and how many more.
fn oldest_in_flight(state: &State) -> (Vec<&Started>, usize) {
    let mut rows: Vec<&Started> = state.in_flight.values().collect();
    let more = rows.len().saturating_sub(IN_FLIGHT_ROWS);
    if more > 0 {
        rows.select_nth_unstable_by_key(IN_FLIGHT_ROWS - 1, |s| s.started_ms);
        rows.truncate(IN_FLIGHT_ROWS);
    }
    rows.sort_by_key(|s| s.started_ms);
    (rows, more)
}

/// One SSE event: `event: <name>`, the JSON on one `data:` line.
fn event(name: &str, value: &impl Serialize) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serializing plain structs into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, value);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// Microseconds as milliseconds (whole microseconds are exact in an f64 up to 285
/// years).
#[allow(clippy::cast_precision_loss)]
fn micros_to_ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Closes a second at each wall-clock second's end until recording stops or the
/// feed closes.
async fn ticker(live: Arc<Live>) {
    let mut closed = live.closed.subscribe();
    loop {
        let now = gateway_auth::cache::now_ms();
        let next = (now / 1000 + 1) * 1000;
        let wait = Duration::from_millis(u64::try_from(next - now).unwrap_or(1000));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = closed.wait_for(|c| *c) => break,
        }
        if !live.tick(next / 1000 - 1, gateway_auth::cache::now_ms()) {
            return;
        }
    }
    live.lock().ticker_running = false;
}

impl Watcher {
    /// The next tick, or why there is none.
    pub(crate) async fn next(&mut self) -> Delivery {
        if *self.closed.borrow() {
            return Delivery::Closed;
        }
        tokio::select! {
            got = self.ticks.recv() => match got {
                Ok(bytes) => Delivery::Event(bytes),
                Err(broadcast::error::RecvError::Lagged(n)) => Delivery::Lagged(n),
                Err(broadcast::error::RecvError::Closed) => Delivery::Closed,
            },
            _ = self.closed.wait_for(|c| *c) => Delivery::Closed,
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let mut state = self.live.lock();
        state.watchers -= 1;
        if state.watchers == 0 {
            state.idle_since_ms = Some(gateway_auth::cache::now_ms());
        }
    }
}

/// The event telling a watcher it missed `n` ticks.
pub(crate) fn lagged_event(n: u64) -> Bytes {
    event("lagged", &serde_json::json!({ "missed": n }))
}

#[cfg(test)]
mod tests;
