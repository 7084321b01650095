//! Anthropic error envelopes (PROTOCOLS §5.5, §8.14):
//! `{"type":"error","error":{"type":"…","message":"…"}}`; overloaded is HTTP 529.

use gateway_protocol::{ErrorKind, GatewayError};

use super::wire;
use crate::json;

/// Anthropic's `error.type` for a canonical error.
pub fn error_type(err: &GatewayError) -> &'static str {
    match err.kind {
        ErrorKind::InvalidRequest | ErrorKind::ContextLengthExceeded => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::PermissionDenied => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::PayloadTooLarge => "request_too_large",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::QuotaExceeded if err.status == 402 => "billing_error",
        ErrorKind::QuotaExceeded => "rate_limit_error",
        ErrorKind::Upstream | ErrorKind::Internal => "api_error",
        ErrorKind::UpstreamTimeout => "timeout_error",
        ErrorKind::Overloaded => "overloaded_error",
    }
}

/// The status an Anthropic caller sees (529 for overloaded, so the SDK raises
/// `OverloadedError`).
pub fn status(err: &GatewayError) -> u16 {
    if err.kind == ErrorKind::Overloaded {
        529
    } else {
        err.status
    }
}

/// The envelope body (also the payload of a mid-stream `event: error`).
pub fn body(err: &GatewayError) -> Vec<u8> {
    json::encode(&wire::ErrorEnvelope {
        kind: "error".into(),
        error: wire::ErrorBody {
            kind: error_type(err).into(),
            message: err.message.clone(),
        },
    })
}

/// Status and body for an Anthropic caller.
pub fn encode(err: &GatewayError) -> (u16, Vec<u8>) {
    (status(err), body(err))
}

/// The kind an Anthropic `error.type` names.
pub fn kind_from_type(kind: &str) -> Option<ErrorKind> {
    Some(match kind {
        "invalid_request_error" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        "permission_error" => ErrorKind::PermissionDenied,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::PayloadTooLarge,
        "rate_limit_error" => ErrorKind::RateLimited,
        "billing_error" => ErrorKind::QuotaExceeded,
        "api_error" => ErrorKind::Upstream,
        "timeout_error" => ErrorKind::UpstreamTimeout,
        "overloaded_error" => ErrorKind::Overloaded,
        _ => return None,
    })
}

/// The HTTP status Anthropic uses for an `error.type` (for mid-stream errors, which
/// arrive without one).
pub fn status_for_type(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    }
}

/// Maps an upstream error (status + body) to a [`GatewayError`]. Never fails: an
/// unreadable body gives a message from the status.
pub fn decode(status: u16, body: &[u8]) -> GatewayError {
    match serde_json::from_slice::<wire::ErrorEnvelope>(body) {
        Ok(env) => from_parts(status, &env.error.kind, &env.error.message),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = if text.is_empty() || text.len() > 500 {
                format!("upstream answered HTTP {status}")
            } else {
                format!("upstream answered HTTP {status}: {text}")
            };
            GatewayError::from_upstream(status, message)
        }
    }
}

/// A [`GatewayError`] from an Anthropic error type and message.
pub(crate) fn from_parts(status: u16, kind: &str, message: &str) -> GatewayError {
    let message = if message.is_empty() {
        format!("upstream {kind} (HTTP {status})")
    } else {
        message.to_owned()
    };
    let mut err = GatewayError::from_upstream(status, message);
    let refined = match kind_from_type(kind) {
        Some(ErrorKind::InvalidRequest)
            if err.message.contains("prompt is too long")
                || err.message.contains("context window") =>
        {
            Some(ErrorKind::ContextLengthExceeded)
        }
        other => other,
    };
    if let Some(k) = refined {
        if k != err.kind {
            err.kind = k;
            err.retryable = k.default_retryable() || (500..600).contains(&status);
            if k == ErrorKind::Overloaded {
                err.status = 503;
            }
        }
        if k == ErrorKind::QuotaExceeded && status == 402 {
            // Anthropic's billing_error: keep 402 so the caller sees a billing failure.
            err.status = 402;
        }
        if k == ErrorKind::ContextLengthExceeded {
            err.code = Some("context_length_exceeded".into());
        }
    }
    err
}
