//! The key check and the limiter as tower layers, usable in front of any
//! `Service<http::Request<B>>` — the gateway's stack, an axum router, a plain
//! `service_fn`.
//!
//! - [`KeyLayer`] reads the presented key ([`KeySources`]), asks an
//!   [`Authenticate`] (the gateway's [`Keys`](crate::Keys), or an
//!   [`AdminToken`](crate::AdminToken)) and puts the identity in the request's
//!   extensions, or answers with the [`Reject`]er's refusal.
//! - [`LimitLayer`] admits a request whose extensions hold an `Arc<Entry>` (put there
//!   by the key layer) against its key's and project's rates, quotas and budgets,
//!   reserving the [`Estimate`](crate::Estimate) found in the extensions (none: rates
//!   only). The reservation travels in the extensions as an [`Admission`]; the inner
//!   service takes it to settle with the real usage, or it is settled at the estimate
//!   when the request is dropped. It also says where the limits stood once the
//!   request was counted ([`Admission::status`]), for the answer's rate-limit headers
//!   ([`LimitStatus::write`](crate::LimitStatus::write)): this layer leaves the answer
//!   alone, since which header family a caller reads is the service's to know.
//!
//! Both answer refusals through a [`Reject`], so every refusal is in the caller's own
//! envelope: the gateway renders it per API shape, [`JsonReject`] is a plain JSON one.

mod key;
mod limit;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};

use crate::cache::Refusal;
use crate::identity::refusal_message;
use crate::limits::Refused;

pub use key::{Authenticate, KeyCheck, KeyCheckFuture, KeyLayer, Operator};
pub use limit::{Admission, Exempt, Limit, LimitFuture, LimitLayer};

pub use crate::identity::KeySources;

/// Why a layer refused a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// No key was presented.
    MissingKey,
    /// The key is unknown, disabled, revoked or expired.
    KeyRefused(Refusal),
    /// A rate, quota or budget of the key or its project refused it.
    Limited(Box<Refused>),
}

impl Rejection {
    /// The HTTP status: 401 for keys, 429 for limits, 503 when the limits could not
    /// be checked ([`Refused::unavailable`]).
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::MissingKey | Rejection::KeyRefused(_) => StatusCode::UNAUTHORIZED,
            Rejection::Limited(r) if r.unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::Limited(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// A message for the caller (public ids only, never a secret).
    pub fn message(&self) -> String {
        match self {
            Rejection::MissingKey => "no API key: send your key as `Authorization: Bearer <key>` (or `x-api-key`, `x-goog-api-key`, `api-key`)".to_owned(),
            Rejection::KeyRefused(r) => refusal_message(r),
            Rejection::Limited(r) => r.to_string(),
        }
    }

    /// Headers the refusal carries: `retry-after` and `x-ratelimit-*` for limits.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Rejection::Limited(r) => r.headers(),
            _ => Vec::new(),
        }
    }
}

/// Turns a refusal into the response the caller gets.
pub trait Reject<ResBody> {
    /// The answer to `req`, refused for `why`. The request's extensions hold what
    /// outer layers learnt (the caller's API shape, the identity).
    fn reject<B>(&self, req: &Request<B>, why: Rejection) -> Response<ResBody>;
}

/// Refusals as `{"error": {"message", "type"}}` with the right status and headers,
/// for any response body that can be made from bytes (axum's, `Full<Bytes>`, ...).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonReject;

impl<ResBody: From<Bytes>> Reject<ResBody> for JsonReject {
    fn reject<B>(&self, _req: &Request<B>, why: Rejection) -> Response<ResBody> {
        let kind = match &why {
            Rejection::Limited(r) if r.unavailable => "api_error",
            Rejection::Limited(_) => "rate_limit_error",
            _ => "authentication_error",
        };
        let body = serde_json::json!({"error": {"message": why.message(), "type": kind}});
        let mut resp = Response::new(ResBody::from(Bytes::from(body.to_string())));
        *resp.status_mut() = why.status();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in why.headers() {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(HeaderName::from_static(name), v);
            }
        }
        resp
    }
}
