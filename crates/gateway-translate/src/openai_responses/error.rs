//! Errors in OpenAI's envelope `{"error":{message,type,param,code}}` (HTTP), and the
//! codes of in-stream `error` events and `response.failed` snapshots.

use gateway_protocol::{Blame, ErrorKind, GatewayError};
use serde_json::Value;

use super::wire;
use crate::json;

/// The status and body of `err` for a Responses caller.
pub fn encode(err: &GatewayError) -> (u16, Vec<u8>) {
    let (kind, code) = type_and_code(err);
    let body = wire::ErrorEnvelope {
        error: wire::ErrorBody {
            message: err.message.clone(),
            kind: Some(kind.to_owned()),
            param: err.param.clone(),
            code: code.map(Value::String),
        },
    };
    (err.status, json::encode(&body))
}

/// OpenAI's `type` for a kind, and the code to send (the error's own, else a default).
pub(crate) fn type_and_code(err: &GatewayError) -> (&'static str, Option<String>) {
    let (kind, default_code) = match err.kind {
        ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge => ("invalid_request_error", None),
        ErrorKind::Authentication => ("invalid_request_error", Some("invalid_api_key")),
        ErrorKind::PermissionDenied => ("permission_error", None),
        ErrorKind::NotFound => ("invalid_request_error", Some("not_found")),
        ErrorKind::ContextLengthExceeded => {
            ("invalid_request_error", Some("context_length_exceeded"))
        }
        ErrorKind::RateLimited => ("rate_limit_exceeded", Some("rate_limit_exceeded")),
        ErrorKind::QuotaExceeded => ("insufficient_quota", Some("insufficient_quota")),
        ErrorKind::Upstream | ErrorKind::Internal => ("server_error", Some("server_error")),
        ErrorKind::UpstreamTimeout => ("server_error", Some("timeout")),
        ErrorKind::Overloaded => ("server_error", Some("server_is_overloaded")),
    };
    (
        kind,
        err.code.clone().or_else(|| default_code.map(str::to_owned)),
    )
}

/// An upstream error body with HTTP `status` → [`GatewayError`]. Never fails.
pub fn decode(status: u16, body: &[u8]) -> GatewayError {
    let parsed: Option<wire::ErrorEnvelope> = serde_json::from_slice(body).ok();
    let Some(env) = parsed else {
        return GatewayError::from_upstream(status, format!("upstream returned HTTP {status}"));
    };
    let e = env.error;
    let message = if e.message.is_empty() {
        format!("upstream returned HTTP {status}")
    } else {
        e.message
    };
    let code = e.code.as_ref().and_then(code_text);
    let mut err = GatewayError::from_upstream(status, message);
    if let Some(kind) = refine(code.as_deref(), e.kind.as_deref()) {
        set_kind(&mut err, kind);
    }
    err.code = code;
    err.param = e.param;
    err
}

/// A mid-stream failure (`error` event or `response.failed`) → [`GatewayError`]; the
/// kind comes from the code, the status from the kind.
pub(crate) fn from_stream(
    code: Option<&str>,
    message: &str,
    param: Option<String>,
) -> GatewayError {
    let kind = refine(code, None).unwrap_or(ErrorKind::Upstream);
    let message = if message.is_empty() {
        "upstream reported an error".to_owned()
    } else {
        message.to_owned()
    };
    let mut err = GatewayError::from_upstream(kind.status(), message);
    set_kind(&mut err, kind);
    err.code = code.map(str::to_owned);
    err.param = param;
    err
}

/// The kind named by a code or type, if it says more than the status.
fn refine(code: Option<&str>, kind: Option<&str>) -> Option<ErrorKind> {
    let by = |s: &str| -> Option<ErrorKind> {
        Some(match s {
            "insufficient_quota" | "billing_hard_limit_reached" => ErrorKind::QuotaExceeded,
            "context_length_exceeded" | "string_above_max_length" => {
                ErrorKind::ContextLengthExceeded
            }
            "invalid_api_key" | "authentication_error" => ErrorKind::Authentication,
            "rate_limit_exceeded" | "rate_limit_error" | "tokens" | "requests" => {
                ErrorKind::RateLimited
            }
            "model_not_found" | "not_found" => ErrorKind::NotFound,
            "permission_error" => ErrorKind::PermissionDenied,
            "server_is_overloaded" | "overloaded" | "slow_down" => ErrorKind::Overloaded,
            "timeout" => ErrorKind::UpstreamTimeout,
            "server_error" | "internal_error" => ErrorKind::Upstream,
            "invalid_prompt" | "invalid_request_error" | "vector_store_timeout" => {
                ErrorKind::InvalidRequest
            }
            _ if s.starts_with("invalid_image") => ErrorKind::InvalidRequest,
            _ => return None,
        })
    };
    code.and_then(by).or_else(|| {
        // The type only refines what the status cannot say.
        kind.and_then(by)
            .filter(|k| matches!(k, ErrorKind::QuotaExceeded | ErrorKind::Authentication))
    })
}

/// Changes the kind; retryability follows the kind, the upstream stays to blame.
fn set_kind(err: &mut GatewayError, kind: ErrorKind) {
    if err.kind == kind {
        return;
    }
    err.kind = kind;
    err.retryable = kind.default_retryable();
    err.blame = Blame::Upstream;
    if kind == ErrorKind::Authentication && err.status == 400 {
        err.status = 401;
    }
}

fn code_text(code: &Value) -> Option<String> {
    match code {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
