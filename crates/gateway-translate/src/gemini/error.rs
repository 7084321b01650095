//! Gemini error envelopes (`{"error": {"code", "message", "status", "details"}}`,
//! PROTOCOLS §6.5, §8.14) ↔ [`GatewayError`].

use gateway_protocol::{ErrorKind, GatewayError};
use serde_json::{Value, json};

use super::wire_response::{ErrorBody, ErrorEnvelope};

/// The canonical status name Google uses for an HTTP status.
pub fn status_name(status: u16) -> &'static str {
    match status {
        400 | 413 | 422 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 | 529 => "UNAVAILABLE",
        504 | 408 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

/// The status and Gemini envelope for `err` (an Anthropic-style 529 becomes 503
/// `UNAVAILABLE`). `retry_after` goes in a `RetryInfo` detail, `code` in an
/// `ErrorInfo`, `param` in a `BadRequest` field violation.
pub fn encode(err: &GatewayError) -> (u16, Vec<u8>) {
    let status = if err.status == 529 { 503 } else { err.status };
    let body = ErrorEnvelope {
        error: body(err, status),
    };
    (status, crate::json::encode(&body))
}

/// The `error` object for `err` with HTTP `status` (also used for in-stream errors).
pub fn body(err: &GatewayError, status: u16) -> ErrorBody {
    let mut details = Vec::new();
    if let Some(code) = err
        .code
        .as_ref()
        .filter(|c| c.as_str() != status_name(status))
    {
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": code,
            "domain": "patchbay",
        }));
    }
    if let Some(param) = &err.param {
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": param, "description": err.message}],
        }));
    }
    if let Some(secs) = err.retry_after {
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": format!("{secs}s"),
        }));
    }
    ErrorBody {
        code: status,
        message: err.message.clone(),
        status: Some(status_name(status).to_owned()),
        details,
    }
}

/// Reads an upstream Gemini error body (HTTP `status`). Never fails: an unreadable
/// body gives a message from the status.
pub fn decode(status: u16, body: &[u8]) -> GatewayError {
    let parsed: Option<ErrorBody> = serde_json::from_slice::<Value>(body)
        .ok()
        .map(|v| match v {
            // Non-SSE streams wrap the error in the array: `[{"error": {...}}]`.
            Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
            other => other,
        })
        .and_then(|v| v.get("error").cloned())
        .and_then(|e| serde_json::from_value(e).ok());
    match parsed {
        Some(b) => from_body(status, &b),
        None => GatewayError::from_upstream(
            status,
            format!("the Gemini upstream answered HTTP {status} with an unreadable error body"),
        ),
    }
}

/// The canonical error of an `error` object received with HTTP `status` (a status of
/// 0 — e.g. mid-stream — means "use the body's code").
pub fn from_body(status: u16, b: &ErrorBody) -> GatewayError {
    let status = if status == 0 || (status == 200 && b.code >= 400) {
        if b.code >= 400 { b.code } else { 500 }
    } else {
        status
    };
    let message = if b.message.is_empty() {
        format!("the Gemini upstream failed with HTTP {status}")
    } else {
        b.message.clone()
    };
    let mut err = GatewayError::from_upstream(status, message);
    let reason = detail_str(&b.details, "ErrorInfo", "reason");
    let kind = match (b.status.as_deref(), reason.as_deref()) {
        (_, Some("API_KEY_INVALID")) => Some(ErrorKind::Authentication),
        (Some("UNAUTHENTICATED"), _) => Some(ErrorKind::Authentication),
        (Some("PERMISSION_DENIED"), _) => Some(ErrorKind::PermissionDenied),
        (Some("NOT_FOUND"), _) => Some(ErrorKind::NotFound),
        (Some("RESOURCE_EXHAUSTED"), _) => Some(ErrorKind::RateLimited),
        (Some("UNAVAILABLE"), _) => Some(ErrorKind::Overloaded),
        (Some("DEADLINE_EXCEEDED"), _) => Some(ErrorKind::UpstreamTimeout),
        (Some("INVALID_ARGUMENT"), _) if is_context_overflow(&b.message) => {
            Some(ErrorKind::ContextLengthExceeded)
        }
        _ => None,
    };
    if let Some(kind) = kind {
        err.kind = kind;
        err.retryable = kind.default_retryable();
        if kind == ErrorKind::Authentication {
            err.status = 401;
        }
        if matches!(kind, ErrorKind::RateLimited | ErrorKind::NotFound) {
            err.status = kind.status();
        }
    }
    err.code = reason.or_else(|| b.status.clone());
    err.param = b
        .details
        .iter()
        .filter(|d| type_is(d, "BadRequest"))
        .find_map(|d| d.pointer("/fieldViolations/0/field"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    err.retry_after =
        detail_str(&b.details, "RetryInfo", "retryDelay").and_then(|d| parse_delay(&d));
    err
}

fn type_is(detail: &Value, name: &str) -> bool {
    detail
        .get("@type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.rsplit('.').next() == Some(name))
}

fn detail_str(details: &[Value], type_name: &str, field: &str) -> Option<String> {
    details
        .iter()
        .filter(|d| type_is(d, type_name))
        .find_map(|d| d.get(field).and_then(Value::as_str))
        .map(str::to_owned)
}

fn is_context_overflow(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("token count") && m.contains("exceeds")
}

/// `"12s"`, `"1.5s"` → whole seconds, rounded up.
pub fn parse_delay(delay: &str) -> Option<u64> {
    let secs: f64 = delay.trim().strip_suffix('s')?.parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(secs.ceil().min(u64::MAX as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_round_up() {
        assert_eq!(parse_delay("12s"), Some(12));
        assert_eq!(parse_delay("1.2s"), Some(2));
        assert_eq!(parse_delay("soon"), None);
    }
}
