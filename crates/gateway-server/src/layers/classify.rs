//! [`ClassifyLayer`]: which API a request speaks and so which envelope its errors
//! take. Requests that need no key (health, readiness, unknown paths, WebSocket
//! upgrades when the transport is off) are answered here; the rest go inward with their [`Endpoint`] in the
//! extensions. Answers that tower-http's layers make themselves (a caught panic, a
//! body declared too large) are put in the caller's envelope on the way out.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use gateway_protocol::{ApiShape, ErrorKind, GatewayError};
use gateway_translate::ollama;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Either;
use tower::{Layer, Service};

use crate::app::App;
use crate::ingress::{self, Endpoint};
use crate::layers::cors::Allow;
use crate::observe::{Accounted, RequestKind};
use crate::respond::{self, Answer};

/// The body of an answer leaving the stack: the inner layers' (`Left`), or one this
/// layer made (`Right`).
pub type Outer<B> = Either<B, respond::Body>;

/// Marks the answer tower-http's catch-panic layer makes, so that it is rendered in
/// the caller's envelope here.
#[derive(Debug, Clone, Copy)]
pub struct Panicked;

/// The catch-panic layer's answer: a bare 500, marked [`Panicked`].
pub fn panic_answer(
    _panic: Box<dyn std::any::Any + Send>,
) -> Response<http_body_util::Full<Bytes>> {
    let mut resp = Response::new(http_body_util::Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    resp.extensions_mut().insert(Panicked);
    resp
}

/// Classifies requests and answers the key-less ones.
#[derive(Debug, Clone)]
pub struct ClassifyLayer {
    app: Arc<App>,
}

impl ClassifyLayer {
    /// Classification for `app` (whose draining flag `/readyz` reports).
    pub fn new(app: Arc<App>) -> Self {
        ClassifyLayer { app }
    }
}

impl<S> Layer<S> for ClassifyLayer {
    type Service = Classify<S>;
    fn layer(&self, inner: S) -> Classify<S> {
        Classify {
            inner,
            app: self.app.clone(),
        }
    }
}

/// The service [`ClassifyLayer`] makes.
#[derive(Debug, Clone)]
pub struct Classify<S> {
    inner: S,
    app: Arc<App>,
}

impl<S, B, ResBody> Service<Request<B>> for Classify<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<Outer<ResBody>>;
    type Error = S::Error;
    type Future = Classified<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let endpoint = ingress::classify(
            req.method(),
            req.uri().path(),
            req.uri().query(),
            req.headers(),
        );
        let kind = RequestKind {
            operation: endpoint.operation(),
            shape: endpoint.error_shape(),
            probe: matches!(
                endpoint,
                Endpoint::Root | Endpoint::Health | Endpoint::Ready
            ) || req.uri().path() == crate::observe::scrape::PATH
                && self.app.observer.scrape.on_main,
        };
        let cors = self.app.cors.allow(req.headers());
        let keyless = match self.app.cors.preflight(req.method(), req.headers()) {
            Some(preflight) => Some(preflight),
            None => keyless_answer(&self.app, &endpoint, &req),
        };
        if let Some(mut answer) = keyless {
            answer.extensions_mut().insert(kind);
            return Classified {
                kind,
                answer: Some(answer),
                inner: None,
                shape: endpoint.error_shape(),
                request_id: None,
                limit: 0,
                cors,
            };
        }
        let shape = endpoint.error_shape();
        // Set by tower-http's request-id layer outside (an extension: no header lookup).
        let request_id = req
            .extensions()
            .get::<tower_http::request_id::RequestId>()
            .map(|id| id.header_value().clone());
        req.extensions_mut().insert(endpoint);
        Classified {
            kind,
            answer: None,
            inner: Some(self.inner.call(req)),
            shape,
            request_id,
            limit: self.app.max_body_bytes,
            cors,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Classify`]: an answer made here, or the inner one's.
    pub struct Classified<F> {
        kind: RequestKind,
        answer: Option<Answer>,
        #[pin]
        inner: Option<F>,
        shape: ApiShape,
        request_id: Option<HeaderValue>,
        limit: u64,
        // The CORS headers the answer carries, if any.
        cors: Option<Allow>,
    }
}

impl<F, E, ResBody> Future for Classified<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<Outer<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(mut answer) = this.answer.take() {
            if let Some(allow) = this.cors.take() {
                allow.decorate(answer.headers_mut());
            }
            return Poll::Ready(Ok(answer.map(Either::Right)));
        }
        let Some(inner) = this.inner.as_pin_mut() else {
            panic!("Classified polled after completion");
        };
        let resp = std::task::ready!(inner.poll(cx))?;
        let mut resp = in_envelope(resp, *this.limit, *this.shape, this.request_id.as_ref());
        // An account reports its own request; a third extension would make the map
        // grow (rehash) on every answer.
        if resp.extensions().get::<Accounted>().is_none() {
            resp.extensions_mut().insert(*this.kind);
        }
        if let Some(allow) = this.cors.take() {
            allow.decorate(resp.headers_mut());
        }
        Poll::Ready(Ok(resp))
    }
}

/// tower-http's own answers, in the caller's envelope; the rest as they are.
fn in_envelope<B>(
    resp: Response<B>,
    limit: u64,
    shape: ApiShape,
    request_id: Option<&HeaderValue>,
) -> Response<Outer<B>> {
    let err = if resp.extensions().get::<Panicked>().is_some() {
        let id = request_id
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown");
        tracing::error!(request_id = id, "a request handler panicked");
        GatewayError::new(
            ErrorKind::Internal,
            format!("internal error (request {id})"),
        )
    } else if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json(&resp) {
        // The body limit refused a declared `content-length` before reading.
        too_large(limit)
    } else {
        return resp.map(Either::Left);
    };
    let mut answer = respond::error(shape, &err);
    if let Some(close) = resp.headers().get(header::CONNECTION) {
        answer
            .headers_mut()
            .insert(header::CONNECTION, close.clone());
    }
    answer.map(Either::Right)
}

/// The 413 of a body over `server.max_body_bytes`.
pub fn too_large(limit: u64) -> GatewayError {
    GatewayError::new(
        ErrorKind::PayloadTooLarge,
        format!(
            "the request body is larger than the gateway's limit of {limit} bytes (server.max_body_bytes)"
        ),
    )
}

/// Whether an answer is JSON (the gateway's own) rather than tower-http's text.
pub fn is_json<B>(resp: &Response<B>) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
}

/// The Ollama version `/api/version` reports: the Ollama API level the gateway's
/// `/api/*` routes follow (clients compare it with the versions that brought the
/// features they use, such as tools and `think`).
pub const OLLAMA_API_VERSION: &str = "0.13.0";

/// The answer to a request that needs no key, if it is one.
fn keyless_answer<B>(app: &App, endpoint: &Endpoint, req: &Request<B>) -> Option<Answer> {
    let shape = endpoint.error_shape();
    if app.observer.scrape.on_main && req.uri().path() == crate::observe::scrape::PATH {
        return Some(crate::observe::scrape::answer(app, req, None));
    }
    let answer = match endpoint {
        Endpoint::Root | Endpoint::Health => plain(StatusCode::OK, "ok"),
        Endpoint::Ready if app.is_draining() => plain(StatusCode::SERVICE_UNAVAILABLE, "draining"),
        Endpoint::Ready => plain(StatusCode::OK, "ready"),
        Endpoint::ResponsesSocket if !app.sockets.enabled() => {
            // 426 would invite a retry with an upgrade; a plain refusal makes clients
            // (Codex) fall back to HTTP at once.
            let mut resp = respond::error(
                ApiShape::OpenAiResponses,
                &GatewayError::new(
                    ErrorKind::NotFound,
                    "WebSocket transport is not offered here ([responses] websocket = false); use POST /v1/responses",
                ),
            );
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            resp
        }
        Endpoint::OllamaVersion => respond::json(
            StatusCode::OK,
            ollama::models::encode_version(OLLAMA_API_VERSION),
        ),
        Endpoint::OllamaRunning => respond::json(StatusCode::OK, ollama::models::encode_running()),
        Endpoint::NotFound { .. } => respond::error(
            shape,
            &GatewayError::new(
                ErrorKind::NotFound,
                format!("no route for {} {}", req.method(), req.uri().path()),
            ),
        ),
        Endpoint::MethodNotAllowed { allow, .. } => {
            let mut resp = respond::error(
                shape,
                &GatewayError::new(
                    ErrorKind::InvalidRequest,
                    format!("{} takes {allow}", req.uri().path()),
                )
                .with_status(405),
            );
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            resp
        }
        _ => return None,
    };
    Some(answer)
}

fn plain(status: StatusCode, text: &'static str) -> Answer {
    let mut resp = Response::new(respond::full(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use gateway_translate::codec;
    use http_body_util::BodyExt;
    use tower::{ServiceBuilder, ServiceExt, service_fn};
    use tower_http::catch_panic::CatchPanicLayer;

    #[tokio::test]
    async fn a_panic_below_is_a_500_in_the_callers_envelope() {
        let app = Arc::new(App::with_keys(&Config::default_mock_with_key("k"), None).unwrap());
        let svc = ServiceBuilder::new()
            .layer(ClassifyLayer::new(app))
            .layer(CatchPanicLayer::custom(panic_answer))
            .service(service_fn(|_req: Request<()>| async {
                if true {
                    panic!("boom");
                }
                Ok::<_, std::convert::Infallible>(Response::new(respond::empty()))
            }));
        let mut req = Request::post("/v1/messages").body(()).unwrap();
        let id = tower_http::request_id::RequestId::new(HeaderValue::from_static("req_panicky"));
        req.extensions_mut().insert(id);
        let resp = svc.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let err = codec::decode_error(ApiShape::Anthropic, 500, &bytes);
        assert!(err.message.contains("req_panicky"), "{}", err.message);
        let envelope: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(envelope["type"], "error", "Anthropic's envelope");
    }
}
