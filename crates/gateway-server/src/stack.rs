//! The request path as one tower stack, and the gateway as a `tower::Service` that
//! any hyper server or axum router can mount.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use gateway_auth::{KeyLayer, KeySources, LimitLayer};
use http::{Request, Response};
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

use crate::app::App;
use crate::config::{Config, ConfigError};
use crate::layers::classify::{ClassifyLayer, panic_answer};
use crate::layers::close::CloseUnreadLayer;
use crate::layers::observe::ObserveLayer;
use crate::layers::operation::Operation;
use crate::layers::prepare::PrepareLayer;
use crate::layers::reject::Envelope;
use crate::layers::request_id::RequestIdLayer;
use crate::layers::shed::ShedLayer;

/// Builds the gateway's request path for `app`, outermost layer first:
///
/// 1. **request id** (`layers::request_id`): a caller's `x-request-id` is kept (when
///    it is one value of at most 128 visible ASCII characters: it is logged and
///    stored), else one is made; everything below (logs, usage records, panic
///    messages) names it.
/// 2. **its answer** (the same layer): every answer carries the id back.
/// 3. **observe**: notes the arrival (time, method, path) for everything below, and
///    reports to the metrics and the access log the answers no account reports
///    (401, 400, 404, shed 503s, model lists) — outside classify, so it sees the
///    final status of every answer, tower-http's re-rendered ones included. With
///    debug logging on, one `DEBUG` span per request (method and path: never the
///    query, which can hold a key) and a `DEBUG` line per answer (status, latency).
/// 4. **classify**: which API, so which error envelope; health, readiness, unknown
///    paths answered here without a key; tower-http's own answers below (panics,
///    declared-too-large bodies) re-rendered in the caller's envelope.
/// 5. **close unread**: an answer that leaves the body unread says
///    `connection: close` (HTTP/1.1 cannot reuse that connection).
/// 6. **shed**: past `server.max_in_flight` requests (streams until their last
///    byte), a 503 with `retry-after` in the caller's envelope at once; health
///    checks, answered above, are never shed.
/// 7. **catch panic** (tower-http): a panic below is a 500, not a dropped
///    connection; sits inside classify so the 500 is in the caller's envelope.
/// 8. **body limit** (tower-http): `server.max_body_bytes`, before authentication so
///    an oversized body costs nothing, checked on `content-length` and while reading.
/// 9. **key** (gateway-auth): who is calling; 401 in the caller's envelope before
///    the body is read.
/// 10. **prepare**: the body read, decoded, the key's policy applied, routed and
///     estimated — after the key, so strangers cost no decoding; before the limiter,
///     which reserves the estimate.
/// 11. **limit** (gateway-auth): rates, quotas, budgets; 429 with `retry-after` and
///     `x-ratelimit-*`, recorded; the reservation handed inward, with where the
///     key's limits stand after it.
/// 12. **operation**: the attempt loop (retries, fallbacks, cool-downs) and the
///     answer, whole or streamed, with the result headers (provider, model,
///     attempts, the `auto` rule, the remaining limits in the caller's SDK family);
///     the usage record, metrics and access log line when it ends.
pub fn gateway_stack<B>(
    app: Arc<App>,
) -> impl Service<
    Request<B>,
    Response = Response<impl HttpBody<Data = Bytes, Error = BoxError> + Send + 'static>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ Sync
+ 'static
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let limit = usize::try_from(app.max_body_bytes).unwrap_or(usize::MAX);
    let envelope = Envelope::new(app.clone());
    ServiceBuilder::new()
        .layer(RequestIdLayer::new(app.clone()))
        .layer(ObserveLayer::new(app.clone()))
        .layer(ClassifyLayer::new(app.clone()))
        .layer(CloseUnreadLayer)
        .layer(ShedLayer::new(app.in_flight.clone()))
        .layer(CatchPanicLayer::custom(panic_answer))
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(KeyLayer::new(
            app.keys().clone(),
            KeySources::AnyShape,
            envelope.clone(),
        ))
        .layer(PrepareLayer::new(app.clone()))
        .layer(LimitLayer::new(app.limiter.clone(), envelope))
        .service(Operation::new(app))
}

/// A request body of any kind, boxed (what [`Gateway`] takes).
pub type GatewayBody = UnsyncBoxBody<Bytes, BoxError>;

/// The body of the gateway's answers, boxed.
pub type OuterBody = UnsyncBoxBody<Bytes, BoxError>;

/// The whole gateway as one `tower::Service`: every API shape, keys, limits, usage.
/// Mount it under any prefix of an axum router (`Router::nest_service`), or serve it
/// with hyper. Cloning is cheap (shared state).
#[derive(Clone)]
pub struct Gateway {
    app: Arc<App>,
    inner: BoxCloneSyncService<Request<GatewayBody>, Response<OuterBody>, Infallible>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("app", &self.app).finish()
    }
}

impl Gateway {
    /// A gateway built from a validated configuration (its providers, routes, keys,
    /// and the database at `[storage] path`).
    pub fn from_config(config: &Config) -> Result<Gateway, ConfigError> {
        Ok(Gateway::new(Arc::new(App::from_config(config)?)))
    }

    /// A gateway over already-built state.
    pub fn new(app: Arc<App>) -> Gateway {
        let inner = gateway_stack::<GatewayBody>(app.clone())
            .map_response(|resp| resp.map(|b| b.map_err(Into::into).boxed_unsync()));
        Gateway {
            app,
            inner: BoxCloneSyncService::new(inner),
        }
    }

    /// The shared state (key store, usage writer flush, draining).
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }
}

impl<B> Service<Request<B>> for Gateway
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<OuterBody>;
    type Error = Infallible;
    type Future =
        <BoxCloneSyncService<Request<GatewayBody>, Response<OuterBody>, Infallible> as Service<
            Request<GatewayBody>,
        >>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.inner
            .call(req.map(|b| b.map_err(Into::into).boxed_unsync()))
    }
}
