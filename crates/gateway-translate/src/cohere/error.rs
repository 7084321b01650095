//! Cohere's errors: `{"id": ..., "message": "..."}` with the kind in the HTTP status
//! (400 and 422 invalid request, 401 and 498 invalid key, 402 payment, 403, 404, 429
//! rate limit, 499 cancelled, 500, 501, 503, 504), and, mid-stream, a `message-end`
//! whose `finish_reason` is `ERROR` with the message in `error`.

use gateway_protocol::{ErrorKind, GatewayError};

use super::wire;
use crate::json;

/// The status and body of `err` as Cohere writes it.
pub fn encode(err: &GatewayError) -> (u16, Vec<u8>) {
    let body = wire::ErrorBody {
        id: None,
        message: Some(err.message.clone()),
    };
    (err.status, json::encode(&body))
}

/// An upstream Cohere error from its status and body. Never fails: a body that is not
/// Cohere's gives a message made from the status. 498 (Cohere's "invalid token") is an
/// authentication failure; a 400 about the prompt's length is an exceeded context.
pub fn decode(status: u16, body: &[u8]) -> GatewayError {
    let message = serde_json::from_slice::<wire::ErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .unwrap_or_else(|| {
            format!("Cohere upstream answered HTTP {status} without a readable error")
        });
    let lower = message.to_ascii_lowercase();
    let mut err = match status {
        498 => GatewayError::from_upstream(401, message).with_code("invalid_token"),
        499 => GatewayError::from_upstream(502, message).with_code("client_closed_request"),
        _ => GatewayError::from_upstream(status, message),
    };
    if status == 400 && (lower.contains("too many tokens") || lower.contains("context length")) {
        err.kind = ErrorKind::ContextLengthExceeded;
        err.status = ErrorKind::ContextLengthExceeded.status();
    }
    err
}

/// The gateway error of a stream's `message-end` with `finish_reason: ERROR`: the
/// generation failed upstream, and a retry may succeed.
pub fn stream_error(message: Option<&str>) -> GatewayError {
    let message = message
        .filter(|m| !m.is_empty())
        .unwrap_or("Cohere ended the generation with an error");
    GatewayError::from_upstream(502, message).with_code("ERROR")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        for (status, kind, out, retry) in [
            (400, ErrorKind::InvalidRequest, 400, false),
            (422, ErrorKind::InvalidRequest, 400, false),
            (401, ErrorKind::Authentication, 401, false),
            (498, ErrorKind::Authentication, 401, false),
            (402, ErrorKind::QuotaExceeded, 429, false),
            (403, ErrorKind::PermissionDenied, 403, false),
            (404, ErrorKind::NotFound, 404, false),
            (429, ErrorKind::RateLimited, 429, true),
            (500, ErrorKind::Upstream, 500, true),
            (503, ErrorKind::Overloaded, 503, true),
            (504, ErrorKind::UpstreamTimeout, 504, true),
        ] {
            let e = decode(status, br#"{"id":"x","message":"m"}"#);
            assert_eq!(
                (e.kind, e.status, e.retryable),
                (kind, out, retry),
                "{status}"
            );
            assert_eq!(e.message, "m");
        }
    }

    #[test]
    fn a_long_prompt_is_an_exceeded_context_and_junk_names_the_status() {
        let e = decode(
            400,
            br#"{"message":"too many tokens: size limit exceeded by 1200 tokens"}"#,
        );
        assert_eq!(e.kind, ErrorKind::ContextLengthExceeded);
        let e = decode(502, b"<html>bad gateway</html>");
        assert!(e.retryable && e.message.contains("502"), "{}", e.message);
    }
}
