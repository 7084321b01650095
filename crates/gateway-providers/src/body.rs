//! Reply bodies as streams of chunks, with the idle and total time limits enforced
//! between chunks.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use gateway_protocol::{ErrorKind, GatewayError};
use hyper::body::{Body, Incoming};
use tokio::time::{Instant, Sleep};

use crate::plain::Lease;

/// An upstream reply body: chunks as they arrive, or the error that ended it.
/// Dropping it cancels the upstream request.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, GatewayError>> + Send>>;

/// The largest error body read from an upstream.
pub(crate) const MAX_ERROR_BODY: usize = 1 << 20;

/// Where a body comes from, for messages.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// The provider's configured name: what callers are told.
    pub provider: Arc<str>,
    /// The upstream's host, for the operator's log only (never the full URL: it may
    /// carry a key).
    pub host: Arc<str>,
    /// Longest silence between chunks.
    pub idle: Duration,
    /// When the whole call must be over.
    pub deadline: Instant,
}

impl Limits {
    fn timeout(&self, total: bool) -> GatewayError {
        let what = if total {
            "the call's total time limit (timeouts.total_ms) passed"
        } else {
            "no data arrived within timeouts.idle_ms"
        };
        GatewayError::new(
            ErrorKind::UpstreamTimeout,
            format!("provider `{}` stalled mid-answer: {what}", self.provider),
        )
    }

    fn transport(&self, err: &hyper::Error) -> GatewayError {
        tracing::warn!(
            provider = %self.provider,
            host = %self.host,
            error = %crate::upstream::chain(err),
            "upstream broke off its answer"
        );
        GatewayError::new(
            ErrorKind::Upstream,
            format!(
                "provider `{}` broke off its answer: {}",
                self.provider,
                crate::upstream::Transport::of(err).describe()
            ),
        )
    }
}

/// `body` as a [`BodyStream`] that fails with `UpstreamTimeout` when the upstream is
/// silent longer than `limits.idle` or the deadline passes, and with `Upstream` when
/// the connection breaks. Trailer frames are skipped. Dropping the stream drops the
/// body, which makes hyper abandon the request (HTTP/1 closes the connection, HTTP/2
/// resets the stream). A plain-HTTP connection's `lease` is released when the body
/// ends whole, and dropped (closing the connection) when it does not.
pub(crate) fn timed(body: Incoming, lease: Option<Lease>, limits: Limits) -> BodyStream {
    Box::pin(Timed {
        body: Some(body),
        lease,
        sleep: Box::pin(tokio::time::sleep_until(limits.deadline)),
        idle_end: limits.deadline,
        armed: false,
        limits,
    })
}

/// The stream behind [`timed`]. One timer per body, re-armed per chunk: cheaper than
/// a fresh `timeout_at` per chunk.
struct Timed {
    /// The body until it ends, breaks or times out; dropped then, so a stalled
    /// upstream's connection is closed at once, not when the consumer lets go.
    body: Option<Incoming>,
    /// The connection, until the body has ended.
    lease: Option<Lease>,
    sleep: Pin<Box<Sleep>>,
    /// When the current wait for a chunk stops being patient.
    idle_end: Instant,
    /// Whether `sleep` is set for the current wait. The idle clock starts when the
    /// consumer asks for a chunk that is not there yet, not when the last one was
    /// handed over, so a slow consumer never counts against the upstream.
    armed: bool,
    limits: Limits,
}

impl Timed {
    fn release(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.release();
        }
    }
}

impl Stream for Timed {
    type Item = Result<Bytes, GatewayError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(body) = this.body.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        this.armed = false;
                        if body.is_end_stream() {
                            // The last chunk: the connection is free now, not when
                            // the consumer asks once more.
                            this.body = None;
                            this.release();
                        }
                        return Poll::Ready(Some(Ok(data)));
                    }
                    // A trailers frame: nothing to forward, keep waiting.
                }
                Poll::Ready(Some(Err(err))) => {
                    this.body = None;
                    this.lease = None;
                    return Poll::Ready(Some(Err(this.limits.transport(&err))));
                }
                Poll::Ready(None) => {
                    this.body = None;
                    this.release();
                    return Poll::Ready(None);
                }
                Poll::Pending => break,
            }
        }
        if !this.armed {
            // The first wait of this call: chunks already buffered never touch the timer.
            this.idle_end = Instant::now() + this.limits.idle;
            this.sleep
                .as_mut()
                .reset(this.idle_end.min(this.limits.deadline));
            this.armed = true;
        }
        match this.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.body = None;
                this.lease = None;
                let total = this.limits.deadline <= this.idle_end;
                Poll::Ready(Some(Err(this.limits.timeout(total))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Reads an error body whole, up to [`MAX_ERROR_BODY`] bytes, within the limits.
/// Whatever arrived is returned if the body breaks off or stalls.
pub(crate) async fn read_bounded(body: Incoming, lease: Option<Lease>, limits: Limits) -> Vec<u8> {
    let mut body = timed(body, lease, limits);
    let mut out = Vec::new();
    while let Some(Ok(chunk)) = body.next().await {
        let room = MAX_ERROR_BODY - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    out
}
