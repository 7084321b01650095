//! [`CloseUnreadLayer`]: an answer sent before the request body was read says
//! `connection: close`. On HTTP/1.1 hyper drops such a connection (the unread body is
//! still on it), and a client that reused it would see a disconnect instead of the
//! answer. Answers given after the body was read whole carry [`BodyRead`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response, header};
use tower::{Layer, Service};

/// Marks an answer given after the request body was read whole.
#[derive(Debug, Clone, Copy)]
pub struct BodyRead;

/// Adds `connection: close` to answers that left the request body unread.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloseUnreadLayer;

impl<S> Layer<S> for CloseUnreadLayer {
    type Service = CloseUnread<S>;
    fn layer(&self, inner: S) -> CloseUnread<S> {
        CloseUnread { inner }
    }
}

/// The service [`CloseUnreadLayer`] makes.
#[derive(Debug, Clone)]
pub struct CloseUnread<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for CloseUnread<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = CloseUnreadFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let has_body = req.version() <= http::Version::HTTP_11
            && (req.headers().contains_key(header::TRANSFER_ENCODING)
                || req
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .is_some_and(|v| v.as_bytes() != b"0"));
        CloseUnreadFuture {
            inner: self.inner.call(req),
            has_body,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CloseUnread`].
    pub struct CloseUnreadFuture<F> {
        #[pin]
        inner: F,
        has_body: bool,
    }
}

impl<F, ResBody, E> Future for CloseUnreadFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut resp = std::task::ready!(this.inner.poll(cx))?;
        if *this.has_body && resp.extensions().get::<BodyRead>().is_none() {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{ServiceExt, service_fn};

    async fn status_of(content_length: &str, read: bool) -> Option<HeaderValue> {
        let svc = CloseUnreadLayer.layer(service_fn(move |_req: Request<()>| async move {
            let mut resp = Response::new(());
            if read {
                resp.extensions_mut().insert(BodyRead);
            }
            Ok::<_, Infallible>(resp)
        }));
        let req = Request::builder()
            .header("content-length", content_length)
            .body(())
            .unwrap();
        let resp = svc.oneshot(req).await.unwrap();
        resp.headers().get(header::CONNECTION).cloned()
    }

    #[tokio::test]
    async fn answers_before_the_body_is_read_close_the_connection() {
        assert_eq!(status_of("10", false).await.unwrap(), "close");
        assert_eq!(status_of("10", true).await, None);
        assert_eq!(status_of("0", false).await, None);
    }
}
