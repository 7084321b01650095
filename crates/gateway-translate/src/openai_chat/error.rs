//! OpenAI error envelopes `{"error": {message, type, param, code}}` (PROTOCOLS §2.6,
//! §8.14), shared by Chat Completions, Embeddings and Models.

use gateway_protocol::{ErrorKind, GatewayError};
use serde_json::Value;

use super::wire;

/// `type` and default `code` for a kind.
fn type_and_code(kind: ErrorKind) -> (&'static str, Option<&'static str>) {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge => ("invalid_request_error", None),
        ErrorKind::Authentication => ("invalid_request_error", Some("invalid_api_key")),
        ErrorKind::PermissionDenied => ("permission_error", None),
        ErrorKind::NotFound => ("invalid_request_error", Some("model_not_found")),
        ErrorKind::ContextLengthExceeded => {
            ("invalid_request_error", Some("context_length_exceeded"))
        }
        ErrorKind::RateLimited => ("rate_limit_exceeded", Some("rate_limit_exceeded")),
        ErrorKind::QuotaExceeded => ("insufficient_quota", Some("insufficient_quota")),
        ErrorKind::Upstream | ErrorKind::Internal => ("server_error", None),
        ErrorKind::UpstreamTimeout => ("server_error", Some("timeout")),
        ErrorKind::Overloaded => ("server_error", Some("overloaded")),
    }
}

/// The error object for `err` (body of the envelope and of the mid-stream frame).
pub(crate) fn object(err: &GatewayError) -> wire::ErrorObject {
    let (kind, code) = type_and_code(err.kind);
    wire::ErrorObject {
        message: err.message.clone(),
        kind: Some(kind.to_owned()),
        param: err.param.clone(),
        code: err.code.clone().or(code.map(str::to_owned)),
    }
}

/// Status and body for a Chat caller. Anthropic's 529 is sent as 503 (§8.14).
pub fn encode(err: &GatewayError) -> (u16, Vec<u8>) {
    let status = match err.status {
        529 => 503,
        s if (400..600).contains(&s) => s,
        _ => err.kind.status(),
    };
    let body = wire::ErrorEnvelope { error: object(err) };
    (status, crate::json::encode(&body))
}

/// An upstream OpenAI(-compatible) error body → `GatewayError`. Never fails: an
/// unreadable body gives a message from the status.
pub fn decode(status: u16, body: &[u8]) -> GatewayError {
    let value: Option<Value> = serde_json::from_slice(body).ok();
    let obj = value.as_ref().and_then(|v| match v.get("error") {
        Some(Value::Object(_)) => {
            serde_json::from_value::<wire::ErrorObject>(v["error"].clone()).ok()
        }
        Some(Value::String(s)) => Some(wire::ErrorObject {
            message: s.clone(),
            ..wire::ErrorObject::default()
        }),
        _ => v
            .get("message")
            .or_else(|| v.get("detail"))
            .and_then(Value::as_str)
            .map(|m| wire::ErrorObject {
                message: m.to_owned(),
                ..wire::ErrorObject::default()
            }),
    });
    match obj {
        Some(o) => from_object(status, &o),
        None => GatewayError::from_upstream(status, format!("upstream returned HTTP {status}")),
    }
}

/// An error object with a known (or, mid-stream, guessed) status → `GatewayError`.
pub(crate) fn from_object(status: u16, o: &wire::ErrorObject) -> GatewayError {
    let message = if o.message.is_empty() {
        format!("upstream returned HTTP {status}")
    } else {
        o.message.clone()
    };
    let mut err = GatewayError::from_upstream(status, message);
    let refined = [o.code.as_deref(), o.kind.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|t| match t {
            "insufficient_quota" => Some(ErrorKind::QuotaExceeded),
            "context_length_exceeded" => Some(ErrorKind::ContextLengthExceeded),
            "invalid_api_key" | "authentication_error" => Some(ErrorKind::Authentication),
            "model_not_found" => Some(ErrorKind::NotFound),
            "rate_limit_exceeded" => Some(ErrorKind::RateLimited),
            _ => None,
        });
    if let Some(kind) = refined {
        err.kind = kind;
        err.status = kind.status();
        err.retryable = kind.default_retryable();
    }
    err.code = o.code.clone();
    err.param = o.param.clone();
    err
}

/// The status a mid-stream error object implies (there is no HTTP status then).
pub(crate) fn stream_status(o: &wire::ErrorObject) -> u16 {
    match o.kind.as_deref().or(o.code.as_deref()) {
        Some("invalid_request_error") => 400,
        Some("authentication_error") => 401,
        Some("permission_error") => 403,
        Some("not_found_error") => 404,
        Some(
            "rate_limit_exceeded"
            | "rate_limit_error"
            | "insufficient_quota"
            | "requests"
            | "tokens",
        ) => 429,
        Some("overloaded_error" | "overloaded") => 503,
        Some("timeout" | "timeout_error") => 504,
        Some("server_error" | "api_error") => 500,
        _ => 502,
    }
}
