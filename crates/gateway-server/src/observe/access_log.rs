//! The access log: one line per request, `key=value` text or JSON, written off the
//! request path.
//!
//! Lines are formatted where the request ends and appended to a shared buffer; a
//! writer thread takes the buffer every 100 ms (or sooner when it fills) and writes
//! it in one call, so a request costs a format and a short lock, never a system
//! call. A writer that cannot keep up (a stuck disk, a blocked pipe) makes lines be
//! dropped past 8 MiB waiting, counted in `patchbay_access_log_suppressed_total`,
//! instead of holding memory or requests. Refused keys (401) are logged at most
//! `auth_failures_per_minute` a minute, the rest counted in the next line let
//! through.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gateway_protocol::calendar::rfc3339_millis;
use serde::Serialize;

use super::Finished;
use crate::config::{AccessLogConfig, AccessLogFormat};

/// Lines waiting past this many bytes are dropped.
const MAX_WAITING: usize = 8 << 20;
/// The writer wakes early when this much is waiting.
const WAKE_AT: usize = 64 << 10;
/// How often the writer takes what is waiting.
const EVERY: Duration = Duration::from_millis(100);
/// Room of the buffer each thread writes its lines in before queueing them; one that
/// a long line grew past it is replaced.
const LINE_ROOM: usize = 1 << 10;

thread_local! {
    static LINE: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(LINE_ROOM));
}

/// Room each of the two line buffers keeps once a take finds nothing waiting: a
/// burst grows them to hundreds of KiB, resident once written, and a quiet gateway
/// should not keep that.
const QUIET_ROOM: usize = 16 << 10;

/// The access log of a gateway.
pub struct AccessLog {
    format: AccessLogFormat,
    shared: Arc<Shared>,
    auth: Mutex<AuthWindow>,
    auth_per_minute: u32,
    dropped: AtomicU64,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<Waiting>,
    wake: Condvar,
    flushed: Condvar,
}

#[derive(Default)]
struct Waiting {
    lines: Vec<u8>,
    /// The writer's buffer between takes (it swaps with `lines`).
    spare: Vec<u8>,
    /// Flushes asked for and done, so `flush` knows when its lines are out.
    asked: u64,
    done: u64,
    stop: bool,
}

/// Refused-key lines let through in the current minute, and those held back.
struct AuthWindow {
    started: Instant,
    logged: u32,
    held_back: u64,
}

impl AccessLog {
    /// The access log `config` asks for; `None` when it is off. Fails when the file
    /// cannot be opened. `on_quiet` is called on the log's thread when it goes quiet
    /// after a burst, once it has handed back the burst's room (the gateway passes
    /// its allocator's release: a sleeping thread's allocator caches are kept).
    pub(crate) fn start(
        config: &AccessLogConfig,
        on_quiet: Option<fn()>,
    ) -> io::Result<Option<AccessLog>> {
        if config.format == AccessLogFormat::Off {
            return Ok(None);
        }
        let out: Box<dyn Write + Send> = match &config.path {
            Some(path) => Box::new(OpenOptions::new().create(true).append(true).open(path)?),
            None => Box::new(io::stderr()),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(Waiting::default()),
            wake: Condvar::new(),
            flushed: Condvar::new(),
        });
        let thread = std::thread::Builder::new()
            .name("patchbay-access-log".to_owned())
            .spawn({
                let shared = shared.clone();
                move || write_loop(&shared, out, on_quiet)
            })?;
        Ok(Some(AccessLog {
            format: config.format,
            shared,
            auth: Mutex::new(AuthWindow {
                started: Instant::now(),
                logged: 0,
                held_back: 0,
            }),
            auth_per_minute: config.auth_failures_per_minute,
            dropped: AtomicU64::new(0),
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// Logs `f`; returns how many lines were left out since the last call that
    /// returned (refused keys over the rate, lines over the waiting limit).
    pub(crate) fn log(&self, f: &Finished<'_>) -> u64 {
        let mut held_back = 0;
        if f.status == 401 {
            let mut w = self.auth.lock().unwrap_or_else(PoisonError::into_inner);
            if w.started.elapsed() >= Duration::from_secs(60) {
                w.started = Instant::now();
                w.logged = 0;
            }
            if w.logged >= self.auth_per_minute {
                w.held_back += 1;
                return 1;
            }
            w.logged += 1;
            held_back = std::mem::take(&mut w.held_back);
        }
        LINE.with_borrow_mut(|line| {
            line.clear();
            match self.format {
                AccessLogFormat::Json => write_json(f, held_back, line),
                _ => write_text(f, held_back, line),
            }
            line.push(b'\n');
            let queued = self.queue(line);
            if line.capacity() > LINE_ROOM {
                *line = Vec::with_capacity(LINE_ROOM);
            }
            u64::from(!queued)
        })
    }

    /// Puts `line` in the queue; false when too much is waiting (it is dropped).
    fn queue(&self, line: &[u8]) -> bool {
        let mut state = self.lock();
        if state.lines.len() + line.len() > MAX_WAITING {
            drop(state);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        state.lines.extend_from_slice(line);
        if state.lines.len() >= WAKE_AT {
            self.shared.wake.notify_one();
        }
        true
    }

    /// Waits until every line logged so far is written (tests, shutdown).
    pub fn flush(&self) {
        let mut state = self.lock();
        if state.stop {
            return;
        }
        state.asked += 1;
        let ticket = state.asked;
        self.shared.wake.notify_one();
        while state.done < ticket && !state.stop {
            state = self
                .shared
                .flushed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Writes what is waiting and stops the writer.
    pub fn stop(&self) {
        self.lock().stop = true;
        self.shared.wake.notify_one();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write_loop(shared: &Shared, mut out: Box<dyn Write + Send>, on_quiet: Option<fn()>) {
    loop {
        let mut shrunk = false;
        let (mut batch, stop, ticket) = {
            let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.lines.is_empty() && state.asked == state.done && !state.stop {
                state = shared
                    .wake
                    .wait_timeout(state, EVERY)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            let state = &mut *state;
            if state.lines.is_empty() {
                shrunk = state.lines.capacity() > QUIET_ROOM || state.spare.capacity() > QUIET_ROOM;
                state.lines.shrink_to(QUIET_ROOM);
                state.spare.shrink_to(QUIET_ROOM);
            }
            std::mem::swap(&mut state.spare, &mut state.lines);
            (std::mem::take(&mut state.spare), state.stop, state.asked)
        };
        if !batch.is_empty() {
            // A failing log write is not worth failing requests for: the lines are lost.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
        }
        let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.spare = batch;
        state.done = ticket;
        shared.flushed.notify_all();
        if stop {
            return;
        }
        drop(state);
        if let Some(on_quiet) = on_quiet.filter(|_| shrunk) {
            on_quiet();
        }
    }
}

/// One line's fields, in the order they are written (JSON; the text form writes
/// the same fields in the same order, see [`write_text`]).
#[derive(Serialize)]
struct Line<'a> {
    ts: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    method: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_model: Option<&'a str>,
    status: u16,
    streamed: bool,
    attempts: u32,
    duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttfb_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttft_ms: Option<f64>,
    input_tokens: u64,
    output_tokens: u64,
    cached_tokens: u64,
    reasoning_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "is_zero")]
    auth_failures_not_logged: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Milliseconds with microseconds as the fraction.
fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1e3
}

fn write_json(f: &Finished<'_>, held_back: u64, out: &mut Vec<u8>) {
    let ts = rfc3339_millis(f.ts_ms);
    let line = Line {
        ts: std::str::from_utf8(&ts).unwrap_or_default(),
        request_id: f.request_id,
        key: f.key_id,
        method: f.method,
        path: f.path,
        operation: f.operation,
        caller: f.caller.map(gateway_protocol::ApiShape::as_str),
        provider: f.provider,
        model: f.model,
        requested_model: f.requested_model,
        status: f.status,
        streamed: f.streamed,
        attempts: f.attempts,
        duration_ms: millis(f.duration),
        ttfb_ms: f.ttfb.map(millis),
        ttft_ms: f.ttft.map(millis),
        input_tokens: f.usage.input_tokens,
        output_tokens: f.usage.output_tokens,
        cached_tokens: f.usage.cache_read_tokens,
        reasoning_tokens: f.usage.reasoning_tokens,
        cost_usd: f.cost_micros.map(|c| c as f64 / 1e6),
        refusal: f.refusal,
        error: f.error.map(super::names::kind_name),
        auth_failures_not_logged: held_back,
    };
    // Serializing borrowed strings and numbers into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &line);
}

/// `key=value` pairs, values quoted when they hold a space, a quote or `=`; the
/// fields and their order are the JSON form's. Written by hand: `format!` of the
/// numbers cost more than the rest of the line.
fn write_text(f: &Finished<'_>, held_back: u64, out: &mut Vec<u8>) {
    let mut t = Text(out);
    t.0.extend_from_slice(b"ts=");
    t.0.extend_from_slice(&rfc3339_millis(f.ts_ms));
    t.str(" request_id=", Some(f.request_id));
    t.str(" key=", f.key_id);
    t.str(" method=", Some(f.method));
    t.str(" path=", Some(f.path));
    t.str(" operation=", f.operation);
    t.str(" caller=", f.caller.map(gateway_protocol::ApiShape::as_str));
    t.str(" provider=", f.provider);
    t.str(" model=", f.model);
    t.str(" requested_model=", f.requested_model);
    t.int(" status=", u64::from(f.status));
    t.str(
        " streamed=",
        Some(if f.streamed { "true" } else { "false" }),
    );
    t.int(" attempts=", u64::from(f.attempts));
    t.millis(" duration_ms=", Some(f.duration));
    t.millis(" ttfb_ms=", f.ttfb);
    t.millis(" ttft_ms=", f.ttft);
    t.int(" input_tokens=", f.usage.input_tokens);
    t.int(" output_tokens=", f.usage.output_tokens);
    t.int(" cached_tokens=", f.usage.cache_read_tokens);
    t.int(" reasoning_tokens=", f.usage.reasoning_tokens);
    if let Some(micros) = f.cost_micros {
        t.0.extend_from_slice(b" cost_usd=");
        t.fixed(micros.unsigned_abs(), 6, micros < 0);
    }
    t.str(" refusal=", f.refusal);
    t.str(" error=", f.error.map(super::names::kind_name));
    if held_back > 0 {
        t.int(" auth_failures_not_logged=", held_back);
    }
}

/// A text line being written.
struct Text<'a>(&'a mut Vec<u8>);

impl Text<'_> {
    fn str(&mut self, field: &str, value: Option<&str>) {
        let Some(value) = value else { return };
        self.0.extend_from_slice(field.as_bytes());
        if needs_quotes(value) {
            // JSON's string quoting escapes quotes and control characters.
            let _ = serde_json::to_writer(&mut *self.0, value);
        } else {
            self.0.extend_from_slice(value.as_bytes());
        }
    }

    fn int(&mut self, field: &str, value: u64) {
        self.0.extend_from_slice(field.as_bytes());
        self.0
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    fn millis(&mut self, field: &str, value: Option<Duration>) {
        let Some(d) = value else { return };
        self.0.extend_from_slice(field.as_bytes());
        self.fixed(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), 3, false);
    }

    /// `n` with its last `places` digits as the fraction (`1234`, 3 → `1.234`).
    fn fixed(&mut self, n: u64, places: u32, negative: bool) {
        let scale = 10u64.pow(places);
        if negative {
            self.0.push(b'-');
        }
        self.0
            .extend_from_slice(itoa::Buffer::new().format(n / scale).as_bytes());
        self.0.push(b'.');
        let mut fraction = itoa::Buffer::new();
        let digits = fraction.format(n % scale);
        for _ in digits.len()..places as usize {
            self.0.push(b'0');
        }
        self.0.extend_from_slice(digits.as_bytes());
    }
}

/// Bytes that make a text value need quotes: controls, space, `"`, `=`, `\\`, and
/// everything past ASCII.
const QUOTED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b <= b' ' as usize
            || b == b'"' as usize
            || b == b'=' as usize
            || b == b'\\' as usize
            || b >= 0x7f;
        b += 1;
    }
    table
};

fn needs_quotes(s: &str) -> bool {
    s.is_empty() || s.bytes().any(|b| QUOTED[usize::from(b)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_are_quoted_only_when_they_must_be() {
        assert!(!needs_quotes("req_01"));
        assert!(needs_quotes("two words"));
        assert!(needs_quotes("a=b"));
        assert!(needs_quotes("say \"hi\""));
        assert!(needs_quotes(""));
    }

    #[test]
    fn fixed_point_numbers_keep_their_leading_zeros() {
        let mut out = Vec::new();
        let mut t = Text(&mut out);
        t.fixed(1_234, 3, false);
        t.0.push(b' ');
        t.fixed(5, 6, false);
        t.0.push(b' ');
        t.fixed(2_000_000, 6, true);
        assert_eq!(out, b"1.234 0.000005 -2.000000");
    }

    #[test]
    fn a_bursts_room_is_handed_back_once_nothing_waits() {
        let dir = std::env::temp_dir().join(format!("pb-access-room-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log");
        let config = AccessLogConfig {
            format: AccessLogFormat::Text,
            path: Some(path.clone()),
            ..AccessLogConfig::default()
        };
        static QUIET: AtomicU64 = AtomicU64::new(0);
        fn count_quiet() {
            QUIET.fetch_add(1, Ordering::SeqCst);
        }
        let log = AccessLog::start(&config, Some(count_quiet))
            .unwrap()
            .expect("on");
        let ids: Vec<String> = (0..5_000).map(|i| format!("req_{i:06}")).collect();
        for id in &ids {
            let line = Finished {
                request_id: id,
                status: 200,
                ..Finished::default()
            };
            assert_eq!(log.log(&line), 0);
        }
        log.flush();
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written.lines().count(), 5_000);
        // The burst went through both buffers; a take that then finds nothing
        // waiting hands their room back.
        let t0 = std::time::Instant::now();
        loop {
            let state = log.lock();
            if state.lines.capacity() <= QUIET_ROOM && state.spare.capacity() <= QUIET_ROOM {
                break;
            }
            drop(state);
            assert!(t0.elapsed() < Duration::from_secs(10), "the room was kept");
            std::thread::sleep(Duration::from_millis(10));
        }
        // ...and says it went quiet, for the allocator's caches to go back too.
        while QUIET.load(Ordering::SeqCst) == 0 {
            assert!(t0.elapsed() < Duration::from_secs(10), "no quiet call");
            std::thread::sleep(Duration::from_millis(10));
        }
        log.stop();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
