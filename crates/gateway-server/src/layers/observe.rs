//! [`ObserveLayer`]: notes each request's arrival (the `Arrival` inner layers
//! and the request's account read) and reports the answers that have no account —
//! refused keys, bad requests, unknown paths, shed requests, model lists — to the
//! metrics and the access log as they leave. Answers with an account are reported
//! by it when it closes (for a stream, at its last byte).
//!
//! With debug logging on, it also opens each request's `request` span (method and
//! path: never the query, which can hold a key) around the work below, and logs
//! each answer's status and latency. tower-http's trace layer did that on every
//! request, logging on or off: two clock reads, a classifier and a body wrapper.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use gateway_auth::Entry;
use gateway_protocol::ErrorKind;
use http::{Request, Response};
use tower::{Layer, Service};

use crate::app::App;
use crate::observe::{Accounted, Arrival, Finished, RequestKind, names};

/// Reports requests to the app's observer.
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    app: Arc<App>,
}

impl ObserveLayer {
    /// Observation for `app`.
    pub fn new(app: Arc<App>) -> Self {
        ObserveLayer { app }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            app: self.app.clone(),
        }
    }
}

/// The service [`ObserveLayer`] makes.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    app: Arc<App>,
}

impl<S, B, ResBody> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let span = tracing::enabled!(tracing::Level::DEBUG).then(
            || tracing::debug_span!("request", method = %req.method(), path = %req.uri().path()),
        );
        let arrival = Arrival::now(&self.app.observer, &req);
        let request_id = req
            .extensions()
            .get::<tower_http::request_id::RequestId>()
            .map(|id| id.header_value().clone());
        req.extensions_mut().insert(arrival.clone());
        let inner = {
            let _entered = span.as_ref().map(tracing::Span::enter);
            self.inner.call(req)
        };
        Observed {
            inner,
            span,
            report: Some(Report {
                app: self.app.clone(),
                arrival,
                request_id,
            }),
        }
    }
}

/// What the layer needs to report an answer without an account.
struct Report {
    app: Arc<App>,
    arrival: Arrival,
    request_id: Option<http::HeaderValue>,
}

pin_project_lite::pin_project! {
    /// The future of [`Observe`].
    pub struct Observed<F> {
        #[pin]
        inner: F,
        // Only with debug logging on.
        span: Option<tracing::Span>,
        report: Option<Report>,
    }
}

impl<F, ResBody, E> Future for Observed<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.span.as_ref().map(tracing::Span::enter);
            ready!(this.inner.poll(cx))
        };
        if let (Ok(resp), Some(report)) = (&result, this.report.take()) {
            if let Some(span) = this.span.as_ref() {
                tracing::debug!(
                    parent: span,
                    status = resp.status().as_u16(),
                    latency_ms = report.arrival.0.at.elapsed().as_secs_f64() * 1e3,
                    "answered"
                );
            }
            report.answered(resp);
        }
        Poll::Ready(result)
    }
}

impl Report {
    fn answered<B>(self, resp: &Response<B>) {
        let ext = resp.extensions();
        if ext.get::<Accounted>().is_some() {
            return;
        }
        let classified = ext.get::<RequestKind>();
        if classified.is_some_and(|c| c.probe) {
            return;
        }
        let entry = ext.get::<Arc<Entry>>();
        let error = ext.get::<ErrorKind>().copied();
        let status = resp.status().as_u16();
        let arrival = &self.arrival.0;
        let f = Finished {
            ts_ms: arrival.ts_ms,
            request_id: self
                .request_id
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
            key_id: entry.map(|e| e.subject.key_id.as_str()),
            method: arrival.method.as_str(),
            path: arrival.uri.path(),
            operation: classified.and_then(|c| c.operation),
            caller: classified.map(|c| c.shape),
            status,
            duration: arrival.at.elapsed(),
            // No upstream was asked: an error here is the gateway refusing.
            refusal: names::refusal_reason(None, error, status),
            error,
            trace: self.arrival.trace(),
            ..Finished::default()
        };
        self.app.observer.finished(&f);
    }
}
