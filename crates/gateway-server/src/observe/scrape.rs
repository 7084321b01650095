//! `GET /metrics`: the Prometheus exposition, behind credentials. On the admin
//! listener the admin token or the scrape credentials (`[metrics] username` /
//! `password` as basic auth, or `token` as a bearer token) open it; on the main
//! listener (`[metrics] main_listener`), the scrape credentials only.
//!
//! Credentials are compared as SHA-256 digests, so the comparison's time says
//! nothing about the secret.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine;
use gateway_auth::admin_token::AdminToken;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use sha2::{Digest, Sha256};
use tower::{Layer, Service};

use crate::app::App;
use crate::config::MetricsConfig;
use crate::respond::{self, Answer};

/// The path Prometheus scrapes.
pub const PATH: &str = "/metrics";

/// The scrape credentials of `[metrics]`, as digests.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScrapeAccess {
    /// SHA-256 of `user:password`.
    basic: Option<[u8; 32]>,
    /// SHA-256 of the bearer token.
    token: Option<[u8; 32]>,
    /// Served on the main listener too.
    pub(crate) on_main: bool,
}

fn digest(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

impl ScrapeAccess {
    pub(crate) fn new(config: &MetricsConfig) -> ScrapeAccess {
        let basic = match (&config.username, &config.password) {
            (Some(user), Some(password)) => Some(digest(format!("{user}:{password}").as_bytes())),
            _ => None,
        };
        ScrapeAccess {
            basic,
            token: config.token.as_deref().map(|t| digest(t.as_bytes())),
            on_main: config.enabled && config.main_listener,
        }
    }

    /// Whether `req` presents the scrape credentials, or (when `admin` is given)
    /// the admin token.
    fn allows<B>(&self, req: &Request<B>, admin: Option<&AdminToken>) -> bool {
        let Some(auth) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let (scheme, value) = auth.split_once(' ').unwrap_or((auth, ""));
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return self.token == Some(digest(value.as_bytes()))
                || admin.is_some_and(|t| t.verify(value));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let Ok(pair) = base64::engine::general_purpose::STANDARD.decode(value) else {
                return false;
            };
            return self.basic.is_some() && self.basic == Some(digest(&pair));
        }
        false
    }
}

/// The answer to a scrape: the exposition, 401 without the right credentials, 405
/// for other methods, 404 when metrics are off.
pub(crate) fn answer<B>(app: &App, req: &Request<B>, admin: Option<&AdminToken>) -> Answer {
    let Some(metrics) = app.observer.metrics() else {
        return message(
            StatusCode::NOT_FOUND,
            "metrics are off ([metrics] enabled = false)",
        );
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = message(StatusCode::METHOD_NOT_ALLOWED, "/metrics takes GET");
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    if !app.observer.scrape.allows(req, admin) {
        let mut resp = message(
            StatusCode::UNAUTHORIZED,
            "/metrics needs the scrape credentials of [metrics] (basic auth or a bearer token)",
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"patchbay metrics\""),
        );
        return resp;
    }
    let mut resp = Response::new(respond::full(metrics.render(app)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

fn message(status: StatusCode, text: &str) -> Answer {
    let body = serde_json::json!({ "error": { "message": text, "type": "metrics_error" } });
    respond::json(status, body.to_string().into_bytes())
}

/// Answers `/metrics` on the admin listener before its token check (which knows
/// bearer admin tokens only).
#[derive(Debug, Clone)]
pub(crate) struct ScrapeLayer {
    app: Arc<App>,
    admin: Arc<AdminToken>,
}

impl ScrapeLayer {
    pub(crate) fn new(app: Arc<App>, admin: Arc<AdminToken>) -> ScrapeLayer {
        ScrapeLayer { app, admin }
    }
}

impl<S> Layer<S> for ScrapeLayer {
    type Service = Scrape<S>;
    fn layer(&self, inner: S) -> Scrape<S> {
        Scrape {
            inner,
            app: self.app.clone(),
            admin: self.admin.clone(),
        }
    }
}

/// The service [`ScrapeLayer`] makes.
#[derive(Debug, Clone)]
pub(crate) struct Scrape<S> {
    inner: S,
    app: Arc<App>,
    admin: Arc<AdminToken>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<B>> for Scrape<S>
where
    S: Service<Request<B>, Response = Answer>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Answer;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if req.uri().path() == PATH {
            let resp = answer(&self.app, &req, Some(&self.admin));
            return Box::pin(std::future::ready(Ok(resp)));
        }
        Box::pin(self.inner.call(req))
    }
}
