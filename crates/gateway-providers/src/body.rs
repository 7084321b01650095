//! Reply bodies as streams of chunks, with the idle and total time limits enforced
//! between chunks.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use gateway_protocol::{ErrorKind, GatewayError};
use tokio::time::Instant;

/// An upstream reply body: chunks as they arrive, or the error that ended it.
/// Dropping it cancels the upstream request.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, GatewayError>> + Send>>;

/// The largest error body read from an upstream.
pub(crate) const MAX_ERROR_BODY: usize = 1 << 20;

/// Where a body comes from, for messages.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// The upstream's host (never the full URL: it may carry a key).
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
            format!("upstream {} stalled mid-answer: {what}", self.host),
        )
    }

    fn transport(&self, err: &reqwest::Error) -> GatewayError {
        GatewayError::new(
            ErrorKind::Upstream,
            format!(
                "upstream {} broke off its answer: {}",
                self.host,
                crate::upstream::cause(err)
            ),
        )
    }
}

/// The body of `resp` as a [`BodyStream`] that fails with `UpstreamTimeout` when the
/// upstream is silent longer than `limits.idle` or the deadline passes, and with
/// `Upstream` when the connection breaks.
pub(crate) fn timed(resp: reqwest::Response, limits: Limits) -> BodyStream {
    let chunks = resp.bytes_stream().boxed();
    let stream = futures_util::stream::unfold(Some((chunks, limits)), |state| async move {
        let (mut chunks, limits) = state?;
        let idle_end = Instant::now() + limits.idle;
        let until = idle_end.min(limits.deadline);
        match tokio::time::timeout_at(until, chunks.next()).await {
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some((chunks, limits)))),
            Ok(Some(Err(err))) => Some((Err(limits.transport(&err)), None)),
            Ok(None) => None,
            Err(_) => {
                let total = limits.deadline <= idle_end;
                Some((Err(limits.timeout(total)), None))
            }
        }
    });
    Box::pin(stream)
}

/// Reads an error body whole, up to [`MAX_ERROR_BODY`] bytes, within the limits.
/// Whatever arrived is returned if the body breaks off or stalls.
pub(crate) async fn read_bounded(resp: reqwest::Response, limits: Limits) -> Vec<u8> {
    let mut body = timed(resp, limits);
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
