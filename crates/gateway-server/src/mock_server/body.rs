//! The mock server's response body: a whole answer, or stream chunks written one
//! frame each as they are produced.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use gateway_protocol::GatewayError;
use gateway_providers::BodyStream;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// How long a cut waits before breaking the connection, so that the chunks before
/// it leave the server's buffers (hyper drops unflushed bytes when a body fails).
const CUT_PAUSE: Duration = Duration::from_millis(20);

/// A response body.
pub(crate) enum MockBody {
    /// A whole body (taken on the first poll), sent with `content-length`.
    Full(Option<Bytes>),
    /// Chunks as they come. An `Err` item aborts the connection (HTTP/1) or resets
    /// the stream (HTTP/2) instead of ending the body, as a broken upstream would.
    Stream(BodyStream),
    /// The stream was cut: the error is surfaced once the pause is over.
    Cutting(Pin<Box<Sleep>>, Option<GatewayError>),
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = GatewayError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, GatewayError>>> {
        let this = self.get_mut();
        loop {
            return match this {
                MockBody::Full(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
                MockBody::Stream(chunks) => match ready!(chunks.as_mut().poll_next(cx)) {
                    Some(Err(err)) => {
                        *this =
                            MockBody::Cutting(Box::pin(tokio::time::sleep(CUT_PAUSE)), Some(err));
                        continue;
                    }
                    item => Poll::Ready(item.map(|chunk| chunk.map(Frame::data))),
                },
                MockBody::Cutting(pause, err) => {
                    ready!(pause.as_mut().poll(cx));
                    Poll::Ready(err.take().map(Err))
                }
            };
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, MockBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MockBody::Full(body) => {
                SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64))
            }
            MockBody::Stream(_) | MockBody::Cutting(..) => SizeHint::default(),
        }
    }
}
