//! One connection's life under its deadlines: what it is doing is counted as it
//! happens (requests begun, answers not yet done, answer bytes waiting for the
//! caller), and a watchdog beside the connection closes it when it breaks a rule.
//!
//! The rules, each against a caller that holds a socket without using it:
//! - a request's head must arrive within `header_timeout` of the connection's start
//!   (silence before the protocol is known, a partial or a lone HTTP/2 preface, a
//!   partial first head);
//! - an HTTP/1.1 connection's next head must arrive within `header_timeout` of its
//!   last answer (an idle keep-alive, a slow or partial head): the watchdog, not
//!   hyper, keeps this deadline, so no timer is armed and dropped per request;
//! - an HTTP/2 connection with nothing in flight is closed after `idle_timeout`;
//! - a caller that takes none of an answer's waiting bytes for `send_timeout` loses
//!   the connection, which drops the answer and so releases the upstream.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Instant;

/// What a connection has done so far, updated by its requests and answers.
#[derive(Debug)]
pub(crate) struct Activity {
    born: Instant,
    /// Requests handed to the service.
    started: AtomicU64,
    /// Requests whose answer (body included) is not finished.
    open: AtomicUsize,
    /// Milliseconds after `born` when `open` last fell to zero.
    quiet_since_ms: AtomicU64,
    /// Answers whose last body frame was handed out and not yet followed by a poll.
    waiting: AtomicUsize,
    /// Body polls so far: the caller's side is moving while this changes.
    polls: AtomicU64,
    /// The connection speaks HTTP/2 (known from its first request).
    http2: AtomicBool,
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            born: Instant::now(),
            started: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            quiet_since_ms: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            polls: AtomicU64::new(0),
            http2: AtomicBool::new(false),
        })
    }

    fn begin(self: &Arc<Self>, http2: bool) -> Open {
        if http2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        self.started.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::AcqRel);
        Open {
            activity: Arc::clone(self),
            handed_out: false,
        }
    }
}

/// One request counted as open until its answer is done (or dropped).
#[derive(Debug)]
struct Open {
    activity: Arc<Activity>,
    handed_out: bool,
}

impl Open {
    fn polled(&mut self) {
        self.activity.polls.fetch_add(1, Ordering::Relaxed);
        if std::mem::take(&mut self.handed_out) {
            self.activity.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn handed_out(&mut self) {
        self.handed_out = true;
        self.activity.waiting.fetch_add(1, Ordering::AcqRel);
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if self.handed_out {
            self.activity.waiting.fetch_sub(1, Ordering::AcqRel);
        }
        let a = &self.activity;
        let quiet = u64::try_from(a.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        a.quiet_since_ms.store(quiet, Ordering::Relaxed);
        a.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The service of one connection: counts its requests and answers in [`Activity`].
#[derive(Debug, Clone)]
pub(crate) struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub(crate) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

impl<S, B, RB> tower::Service<Request<B>> for Tracked<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<TrackedBody<RB>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let open = self.activity.begin(req.version() == http::Version::HTTP_2);
        TrackedFuture {
            inner: self.inner.call(req),
            open: Some(open),
        }
    }
}

pin_project! {
    /// The answer's future; the request stays open through it and its body.
    pub(crate) struct TrackedFuture<F> {
        #[pin]
        inner: F,
        open: Option<Open>,
    }
}

impl<F, RB, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = Result<Response<TrackedBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let resp = ready!(this.inner.poll(cx))?;
        let open = this.open.take();
        Poll::Ready(Ok(resp.map(|inner| TrackedBody { inner, open })))
    }
}

pin_project! {
    /// An answer's body, watched for a caller that stops taking it.
    pub(crate) struct TrackedBody<B> {
        #[pin]
        inner: B,
        open: Option<Open>,
    }
}

impl<B> HttpBody for TrackedBody<B>
where
    B: HttpBody<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        if let Some(open) = this.open.as_mut() {
            open.polled();
        }
        let frame = ready!(this.inner.poll_frame(cx));
        match (&frame, this.open.as_mut()) {
            (Some(Ok(f)), Some(open)) if f.is_data() => open.handed_out(),
            // Done: the request no longer counts as open.
            (None | Some(Err(_)), _) => *this.open = None,
            _ => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What the watchdog decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing wrong; look again at this instant.
    Wait(Instant),
    /// Nothing in flight for too long: close politely (GOAWAY; an HTTP/1.1
    /// connection waiting for a head is closed at once).
    Quiet,
    /// A rule was broken with something held: close now.
    Drop(&'static str),
}

/// The connection's deadlines, as the watchdog reads them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    pub header: Duration,
    pub idle: Duration,
    pub send: Duration,
}

/// The watchdog's memory between two looks: the poll count it saw and since when.
#[derive(Debug)]
pub(crate) struct Watch {
    deadlines: Deadlines,
    polls_seen: u64,
    polls_since: Instant,
}

impl Watch {
    pub(crate) fn new(deadlines: Deadlines) -> Watch {
        Watch {
            deadlines,
            polls_seen: 0,
            polls_since: Instant::now(),
        }
    }

    /// Looks at `activity` at `now`.
    pub(crate) fn look(&mut self, activity: &Activity, now: Instant) -> Verdict {
        let d = self.deadlines;
        if activity.started.load(Ordering::Relaxed) == 0 {
            let due = activity.born + d.header;
            return if now >= due {
                Verdict::Drop("no request within the header timeout")
            } else {
                Verdict::Wait(due)
            };
        }
        let polls = activity.polls.load(Ordering::Relaxed);
        if polls != self.polls_seen {
            self.polls_seen = polls;
            self.polls_since = now;
        }
        if activity.open.load(Ordering::Acquire) == 0 {
            let quiet = activity.quiet_since_ms.load(Ordering::Relaxed);
            // HTTP/1.1 between requests is waiting for a head: the header deadline.
            let patience = if activity.http2.load(Ordering::Relaxed) {
                d.idle
            } else {
                d.header.min(d.idle)
            };
            let due = activity.born + Duration::from_millis(quiet) + patience;
            return if now >= due {
                Verdict::Quiet
            } else {
                Verdict::Wait(due)
            };
        }
        if activity.waiting.load(Ordering::Acquire) > 0 && now >= self.polls_since + d.send {
            return Verdict::Drop("the caller took no answer bytes within the send timeout");
        }
        // In flight: look again often enough to catch a stall within a quarter more
        // than the send timeout, and a keep-alive's header deadline once it is quiet.
        Verdict::Wait(now + (d.send / 4).min(d.header))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deadlines() -> Deadlines {
        Deadlines {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            send: Duration::from_secs(20),
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_connection_without_a_request_is_dropped_at_the_header_deadline() {
        let a = Activity::new();
        let mut w = Watch::new(deadlines());
        assert_eq!(w.look(&a, a.born), Verdict::Wait(a.born + secs(10)));
        assert!(matches!(w.look(&a, a.born + secs(10)), Verdict::Drop(_)));
    }

    #[test]
    fn a_quiet_http2_connection_is_closed_after_the_idle_timeout_from_its_last_answer() {
        let a = Activity::new();
        let mut w = Watch::new(deadlines());
        drop(a.begin(true));
        assert!(
            matches!(w.look(&a, a.born + secs(30)), Verdict::Wait(at) if at >= a.born + secs(60))
        );
        assert_eq!(w.look(&a, a.born + secs(61)), Verdict::Quiet);
    }

    #[test]
    fn an_http1_connection_gets_the_header_timeout_for_its_next_head() {
        let a = Activity::new();
        let mut w = Watch::new(deadlines());
        let open = a.begin(false);
        // In flight, looks come at least every header timeout.
        assert!(matches!(w.look(&a, a.born), Verdict::Wait(at) if at <= a.born + secs(5)));
        drop(open);
        let quiet = a.born + Duration::from_millis(a.quiet_since_ms.load(Ordering::Relaxed));
        assert_eq!(w.look(&a, quiet + secs(9)), Verdict::Wait(quiet + secs(10)));
        assert_eq!(w.look(&a, quiet + secs(10)), Verdict::Quiet);
    }

    #[test]
    fn bytes_left_untaken_past_the_send_timeout_drop_the_connection() {
        let a = Activity::new();
        let mut open = a.begin(false);
        open.polled();
        open.handed_out();
        let t0 = Instant::now();
        let mut w = Watch::new(deadlines());
        assert!(matches!(w.look(&a, t0), Verdict::Wait(_)));
        assert!(matches!(w.look(&a, t0 + secs(19)), Verdict::Wait(_)));
        assert!(matches!(w.look(&a, t0 + secs(20)), Verdict::Drop(_)));
        // Taken at last: the clock starts again.
        open.polled();
        assert!(matches!(w.look(&a, t0 + secs(21)), Verdict::Wait(_)));
    }

    #[test]
    fn waiting_on_the_upstream_is_not_a_stall() {
        let a = Activity::new();
        let mut w = Watch::new(deadlines());
        let mut open = a.begin(false);
        // Polled, nothing came back yet: the upstream is thinking.
        open.polled();
        let t0 = Instant::now();
        assert!(matches!(w.look(&a, t0 + secs(300)), Verdict::Wait(_)));
        drop(open);
        assert_eq!(a.waiting.load(Ordering::Relaxed), 0);
        assert_eq!(a.open.load(Ordering::Relaxed), 0);
    }
}
