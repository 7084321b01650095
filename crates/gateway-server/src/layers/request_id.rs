//! The request's id, outermost: a caller's `x-request-id` is kept when it is one
//! short, plain value (it goes into logs, headers and the usage table), else the app
//! makes one. It is put in the request (header and [`RequestId`] extension, which
//! the layers below read) and on every answer that has none.
//!
//! One layer for what tower-http's `SetRequestId` and `PropagateRequestId` did in
//! two, with a request filter before them: one header lookup instead of four, no
//! copy of the id into the answer's extensions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_http::request_id::RequestId;

use crate::app::App;
use crate::respond::REQUEST_ID;

/// Adds [`RequestIds`].
#[derive(Clone)]
pub struct RequestIdLayer {
    app: Arc<App>,
}

impl RequestIdLayer {
    /// Ids the app makes (`App::request_id`).
    pub fn new(app: Arc<App>) -> Self {
        RequestIdLayer { app }
    }
}

impl<S> tower::Layer<S> for RequestIdLayer {
    type Service = RequestIds<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIds {
            inner,
            app: self.app.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct RequestIds<S> {
    inner: S,
    app: Arc<App>,
}

impl<S, B, RB> tower::Service<Request<B>> for RequestIds<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = IdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let id = match callers_id(&req) {
            Some(id) => id,
            None => {
                let made = HeaderValue::from_bytes(&self.app.request_id())
                    .expect("req_ and hex digits are a valid header value");
                // Replaces any unusable ones the caller sent.
                req.headers_mut().insert(REQUEST_ID, made.clone());
                made
            }
        };
        req.extensions_mut().insert(RequestId::new(id.clone()));
        IdFuture {
            inner: self.inner.call(req),
            id: Some(id),
        }
    }
}

/// The caller's id, when it sent exactly one usable value.
fn callers_id<B>(req: &Request<B>) -> Option<HeaderValue> {
    let mut ids = req.headers().get_all(&REQUEST_ID).iter();
    let id = ids.next()?;
    let b = id.as_bytes();
    let usable = !b.is_empty() && b.len() <= 128 && b.iter().all(u8::is_ascii_graphic);
    (usable && ids.next().is_none()).then(|| id.clone())
}

pin_project! {
    /// The inner answer, given the id unless it carries one.
    pub struct IdFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, RB, E> Future for IdFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut resp = ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            if let http::header::Entry::Vacant(slot) = resp.headers_mut().entry(REQUEST_ID) {
                slot.insert(id);
            }
        }
        Poll::Ready(Ok(resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_ids(ids: &[&[u8]]) -> Request<()> {
        let mut req = Request::new(());
        for id in ids {
            req.headers_mut()
                .append(REQUEST_ID, HeaderValue::from_bytes(id).unwrap());
        }
        req
    }

    #[test]
    fn one_short_plain_id_is_the_callers() {
        assert_eq!(
            callers_id(&with_ids(&[b"trace-4f2a"])).unwrap(),
            "trace-4f2a"
        );
        assert!(callers_id(&with_ids(&[])).is_none());
        assert!(callers_id(&with_ids(&[b"a", b"b"])).is_none(), "two values");
        assert!(callers_id(&with_ids(&[&[b'x'; 129]])).is_none(), "too long");
        assert!(
            callers_id(&with_ids(&[b"has space"])).is_none(),
            "not plain"
        );
    }
}
