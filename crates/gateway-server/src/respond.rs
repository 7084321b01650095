//! Building responses: bodies, the headers that say what happened, and errors in
//! the caller's envelope.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::Stream;
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

/// Where an answer came from.
#[derive(Debug, Clone, Default)]
pub struct Served {
    /// The provider's name.
    pub provider: String,
    /// The upstream model.
    pub model: String,
    /// Upstream tries made.
    pub attempts: u32,
    /// Further headers (what the gateway changed).
    pub notes: Vec<(&'static str, String)>,
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
pub fn whole(body: Vec<u8>, served: Served) -> Answer {
    let mut resp = json(StatusCode::OK, body);
    mark(&mut resp, &served);
    resp
}

/// A streamed answer.
pub fn stream(
    body: impl Stream<Item = Result<http_body::Frame<Bytes>, Infallible>> + Send + 'static,
    content_type: &'static str,
    served: Served,
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

/// Adds the headers saying who served.
pub fn mark(resp: &mut Answer, served: &Served) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&served.provider) {
        h.insert(PROVIDER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&served.model) {
        h.insert(MODEL, v);
    }
    if served.attempts > 0 {
        h.insert(ATTEMPTS, HeaderValue::from(served.attempts));
    }
    for (name, value) in &served.notes {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
}
