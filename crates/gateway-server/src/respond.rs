//! Building responses: bodies, the headers that say what happened, and errors in
//! the caller's envelope.
//!
//! Every answer to a request past the limiter says what happened to it ([`Report`]):
//! who served (`x-patchbay-provider`, `x-patchbay-model`, `x-patchbay-attempts`, also
//! on failures once routed), the `auto` rule that chose the model
//! (`x-patchbay-route-rule`), and where the key's limits stand
//! ([`rate_limits`]). The response cache's outcome (`x-patchbay-cache`) is set by
//! the chat path itself (`crate::cache`), which alone knows it.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::Stream;
use gateway_auth::{HeaderFamily, LimitStatus};
use gateway_protocol::{ApiShape, GatewayError};
use gateway_translate::codec;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};

/// Every response body.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A response on its way out.
pub type Answer = Response<Body>;

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The provider that answered.
pub const PROVIDER: HeaderName = HeaderName::from_static("x-patchbay-provider");
/// The upstream model that answered.
pub const MODEL: HeaderName = HeaderName::from_static("x-patchbay-model");
/// How many upstream tries it took.
pub const ATTEMPTS: HeaderName = HeaderName::from_static("x-patchbay-attempts");
/// Which rule of the `auto` model chose the model: `rules[<index>]`, `otherwise` or
/// `cheapest`.
pub const ROUTE_RULE: HeaderName = HeaderName::from_static("x-patchbay-route-rule");

/// Where an answer came from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Served<'a> {
    /// The provider's name.
    pub provider: &'a str,
    /// The upstream model.
    pub model: &'a str,
    /// Upstream tries made.
    pub attempts: u32,
    /// Further headers (what the gateway changed).
    pub notes: &'a [(&'static str, String)],
}

/// A body of bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

/// A whole JSON answer.
pub fn whole(body: Vec<u8>, served: Served<'_>) -> Answer {
    let mut resp = json(StatusCode::OK, body);
    mark(&mut resp, &served);
    resp
}

/// A streamed answer.
pub fn stream(
    body: impl Stream<Item = Result<http_body::Frame<Bytes>, Infallible>> + Send + 'static,
    content_type: &'static str,
    served: Served<'_>,
) -> Answer {
    let mut resp = Response::new(StreamBody::new(body).boxed_unsync());
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    mark(&mut resp, &served);
    resp
}

/// The `content-type` of a stream to a caller of `shape`.
pub fn stream_content_type(shape: ApiShape, json_array: bool) -> &'static str {
    match shape {
        ApiShape::Gemini if json_array => "application/json",
        ApiShape::Ollama => "application/x-ndjson",
        _ => "text/event-stream",
    }
}

/// A JSON body with a status.
pub fn json(status: StatusCode, body: Vec<u8>) -> Answer {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// `err` in the envelope of `shape`, with its status, `retry-after`, and
/// `x-should-retry: false` on 401/403 so SDKs stop at once.
pub fn error(shape: ApiShape, err: &GatewayError) -> Answer {
    let (status, body) = codec::encode_error(shape, err);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json(status, body);
    // What went wrong, for the metrics and the access log.
    resp.extensions_mut().insert(err.kind);
    let h = resp.headers_mut();
    if matches!(status.as_u16(), 401 | 403) {
        h.insert(
            HeaderName::from_static("x-should-retry"),
            HeaderValue::from_static("false"),
        );
    }
    if let Some(secs) = err.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// Adds the headers saying who served (none for a provider or model left empty: a
/// local answer).
pub fn mark(resp: &mut Answer, served: &Served<'_>) {
    let h = resp.headers_mut();
    let named = |s: &str| (!s.is_empty()).then(|| HeaderValue::from_str(s).ok())?;
    if let Some(v) = named(served.provider) {
        h.insert(PROVIDER, v);
    }
    if let Some(v) = named(served.model) {
        h.insert(MODEL, v);
    }
    if served.attempts > 0 {
        h.insert(ATTEMPTS, count(served.attempts));
    }
    for (name, value) in served.notes {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
}

/// A count as a header value; the usual ones without an allocation.
fn count(n: u32) -> HeaderValue {
    const SMALL: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    match SMALL.get(n as usize) {
        Some(digit) => HeaderValue::from_static(digit),
        None => HeaderValue::from(n),
    }
}

/// What every answer to a request past the limiter says beyond who served, whole,
/// streamed (headers go before the body) or failed.
#[derive(Debug, Clone)]
pub struct Report {
    shape: ApiShape,
    limits: Option<LimitStatus>,
    routed: bool,
    auto_rule: Option<String>,
}

impl Report {
    /// The report of a request from a caller of `shape` (its error envelope's shape),
    /// admitted with `limits` standing as given (`None`: no limits were checked).
    pub fn new(shape: ApiShape, limits: Option<LimitStatus>) -> Self {
        Report {
            shape,
            limits,
            routed: false,
            auto_rule: None,
        }
    }

    /// The request was routed by `plan`: its answer says how many upstream tries it
    /// took, even none, and which `auto` rule chose the model.
    pub fn routed(&mut self, plan: &crate::routing::RoutePlan) {
        self.routed = true;
        self.auto_rule.clone_from(&plan.auto_rule);
    }

    /// Adds the report's headers to `resp`.
    pub fn apply(&self, resp: &mut Answer) {
        if let Some(limits) = &self.limits {
            rate_limits(resp, self.shape, limits);
        }
        let h = resp.headers_mut();
        if self.routed && !h.contains_key(ATTEMPTS) {
            h.insert(ATTEMPTS, HeaderValue::from(0u32));
        }
        if let Some(v) = self
            .auto_rule
            .as_deref()
            .and_then(|r| HeaderValue::from_str(r).ok())
        {
            h.insert(ROUTE_RULE, v);
        }
    }
}

/// The rate-limit headers SDKs of `shape` read: Anthropic's `anthropic-ratelimit-*`
/// for Anthropic callers; OpenAI's `x-ratelimit-*` for OpenAI Chat, Responses and
/// embeddings callers, and for Gemini and Ollama callers, whose APIs define none.
pub fn header_family(shape: ApiShape) -> HeaderFamily {
    match shape {
        ApiShape::Anthropic => HeaderFamily::Anthropic,
        _ => HeaderFamily::OpenAi,
    }
}

/// Sets the rate-limit headers of `status` in `shape`'s family: the tightest request
/// limit and the tightest token limits of the key and its project (see
/// [`gateway_auth::RateStatus::tighter`]). A key with no request or token limit gets
/// none: there is nothing to report.
pub fn rate_limits(resp: &mut Answer, shape: ApiShape, status: &LimitStatus) {
    status.write(header_family(shape), resp.headers_mut());
}
