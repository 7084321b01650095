//! [`ShedLayer`]: past `server.max_in_flight` requests at once (streams count until
//! their last byte), a new request is answered 503 with `retry-after` in its own
//! API's envelope at once. Queueing without bound would only turn an overload into
//! timeouts for everyone, and memory for the gateway. It sits below classify, so
//! health checks and unknown paths are answered whatever the load.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::future::{Either, Ready, ready as ready_future};
use gateway_protocol::{ApiShape, ErrorKind, GatewayError};
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::Either as EitherBody;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::ingress::Endpoint;
use crate::respond;

/// The count of requests being answered, and the most allowed.
#[derive(Debug, Clone)]
pub struct InFlight {
    count: Arc<AtomicUsize>,
    max: usize,
}

impl InFlight {
    /// At most `max` at once.
    pub fn new(max: usize) -> InFlight {
        InFlight {
            count: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Requests being answered now.
    pub fn current(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// One more, unless that would pass the limit.
    fn enter(&self) -> Option<Slot> {
        let before = self.count.fetch_add(1, Ordering::AcqRel);
        if before >= self.max {
            self.count.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(Arc::clone(&self.count)))
    }
}

/// One request counted in flight until dropped (with its answer's body).
#[derive(Debug)]
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Sheds requests past the in-flight limit.
#[derive(Debug, Clone)]
pub struct ShedLayer {
    in_flight: InFlight,
}

impl ShedLayer {
    /// Counts in `in_flight`.
    pub fn new(in_flight: InFlight) -> Self {
        ShedLayer { in_flight }
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;
    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            in_flight: self.in_flight.clone(),
        }
    }
}

/// The service [`ShedLayer`] makes.
#[derive(Debug, Clone)]
pub struct Shed<S> {
    inner: S,
    in_flight: InFlight,
}

/// An answer's body: the inner one, counted, or a refusal.
pub type ShedBody<B> = EitherBody<Counted<B>, respond::Body>;

impl<S, B, ResBody> Service<Request<B>> for Shed<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ShedBody<ResBody>>;
    type Error = S::Error;
    type Future = Either<Ready<Result<Self::Response, S::Error>>, ShedFuture<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let Some(slot) = self.in_flight.enter() else {
            let shape = req
                .extensions()
                .get::<Endpoint>()
                .map_or(ApiShape::OpenAiChat, Endpoint::error_shape);
            let answer = respond::error(shape, &overloaded(self.in_flight.max));
            return Either::Left(ready_future(Ok(answer.map(EitherBody::Right))));
        };
        Either::Right(ShedFuture {
            inner: self.inner.call(req),
            slot: Some(slot),
        })
    }
}

fn overloaded(max: usize) -> GatewayError {
    GatewayError::new(
        ErrorKind::Overloaded,
        format!("the gateway is answering {max} requests, its limit; retry shortly"),
    )
    .with_code("overloaded")
    .with_retry_after(1)
}

pin_project! {
    /// The future of [`Shed`]: the slot moves into the answer's body.
    pub struct ShedFuture<F> {
        #[pin]
        inner: F,
        slot: Option<Slot>,
    }
}

impl<F, ResBody, E> Future for ShedFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ShedBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let resp = ready!(this.inner.poll(cx))?;
        let slot = this.slot.take();
        Poll::Ready(Ok(
            resp.map(|inner| EitherBody::Left(Counted { inner, _slot: slot }))
        ))
    }
}

pin_project! {
    /// A body that keeps its request counted in flight until it is dropped.
    pub struct Counted<B> {
        #[pin]
        inner: B,
        _slot: Option<Slot>,
    }
}

impl<B: HttpBody<Data = Bytes>> HttpBody for Counted<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use std::convert::Infallible;
    use tower::{ServiceExt, service_fn};

    #[tokio::test]
    async fn past_the_limit_a_request_gets_a_503_in_its_envelope_until_a_body_is_dropped() {
        let in_flight = InFlight::new(1);
        let svc = ShedLayer::new(in_flight.clone()).layer(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
        let anthropic = || {
            let mut req = Request::new(());
            let endpoint = crate::ingress::classify(
                &http::Method::POST,
                "/v1/messages",
                None,
                &http::HeaderMap::new(),
            );
            req.extensions_mut().insert(endpoint);
            req
        };
        let held = svc.clone().oneshot(anthropic()).await.unwrap();
        assert_eq!(in_flight.current(), 1);
        let refused = svc.clone().oneshot(anthropic()).await.unwrap();
        assert_eq!(refused.status(), 529, "Anthropic's overloaded status");
        assert_eq!(refused.headers()["retry-after"], "1");
        let body = refused.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["type"], "error", "Anthropic's envelope: {json}");
        assert_eq!(in_flight.current(), 1, "a refusal is not counted");
        drop(held);
        assert_eq!(in_flight.current(), 0);
        let again = svc.oneshot(anthropic()).await.unwrap();
        assert_eq!(again.status(), 200);
    }
}
