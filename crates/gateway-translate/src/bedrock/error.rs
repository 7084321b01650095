//! Bedrock's errors: `{"message": "..."}` with the kind in the `x-amzn-errortype`
//! header (`ThrottlingException:http://internal.amazon.com/...`), and the same kinds
//! as `exception` messages in a stream (`throttlingException`).

use gateway_protocol::{Blame, ErrorKind, GatewayError};

use super::wire;
use crate::json;

/// The AWS error type a gateway error is reported as (the Bedrock-shaped mock writes
/// it in `x-amzn-errortype`).
pub fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::ContextLengthExceeded => "ValidationException",
        ErrorKind::PayloadTooLarge => "ValidationException",
        ErrorKind::Authentication => "UnrecognizedClientException",
        ErrorKind::PermissionDenied => "AccessDeniedException",
        ErrorKind::NotFound => "ResourceNotFoundException",
        ErrorKind::RateLimited => "ThrottlingException",
        ErrorKind::QuotaExceeded => "ServiceQuotaExceededException",
        ErrorKind::Upstream | ErrorKind::Internal => "InternalServerException",
        ErrorKind::UpstreamTimeout => "ModelTimeoutException",
        ErrorKind::Overloaded => "ServiceUnavailableException",
    }
}

/// The status and body of `err` as Bedrock writes it.
pub fn encode(err: &GatewayError) -> (u16, Vec<u8>) {
    let body = wire::ErrorBody {
        message: Some(err.message.clone()),
        kind: None,
    };
    (err.status, json::encode(&body))
}

/// An upstream Bedrock error from its status and body alone (the kind read from a
/// `__type` in the body when there is one). [`decode_typed`] also reads the header.
pub fn decode(status: u16, body: &[u8]) -> GatewayError {
    decode_typed(status, None, body)
}

/// An upstream Bedrock error: the kind from `x-amzn-errortype` (`error_type`), else
/// the body's `__type`, else the status. Never fails: a body that is not Bedrock's
/// gives a message made from the status.
pub fn decode_typed(status: u16, error_type: Option<&str>, body: &[u8]) -> GatewayError {
    let parsed: Option<wire::ErrorBody> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|b| b.message.clone())
        .unwrap_or_else(|| {
            format!("Bedrock upstream answered HTTP {status} without a readable error")
        });
    let kind_name = error_type
        .or(parsed.as_ref().and_then(|b| b.kind.as_deref()))
        .map(short_type);
    from_type(status, kind_name, message)
}

/// `ThrottlingException` of `ThrottlingException:http://...` or of a namespaced
/// `com.amazon.bedrock#ThrottlingException`.
fn short_type(raw: &str) -> &str {
    let head = raw.split(':').next().unwrap_or(raw);
    head.rsplit('#').next().unwrap_or(head)
}

/// The gateway error of an AWS error type, case-insensitively (stream exceptions
/// spell them `throttlingException`). Unknown types follow the status.
pub fn from_type(status: u16, error_type: Option<&str>, message: String) -> GatewayError {
    let lower = error_type.map(str::to_ascii_lowercase);
    let kind = match lower.as_deref() {
        Some("throttlingexception" | "toomanyrequestsexception") => Some(ErrorKind::RateLimited),
        Some("servicequotaexceededexception") => Some(ErrorKind::QuotaExceeded),
        Some("validationexception") => {
            let m = message.to_ascii_lowercase();
            if m.contains("too long") || m.contains("too many tokens") || m.contains("context") {
                Some(ErrorKind::ContextLengthExceeded)
            } else {
                Some(ErrorKind::InvalidRequest)
            }
        }
        Some("accessdeniedexception") => Some(ErrorKind::PermissionDenied),
        Some(
            "unrecognizedclientexception"
            | "invalidsignatureexception"
            | "expiredtokenexception"
            | "incompletesignature"
            | "missingauthenticationtokenexception"
            | "signaturedoesnotmatch",
        ) => Some(ErrorKind::Authentication),
        Some("resourcenotfoundexception") => Some(ErrorKind::NotFound),
        Some("modelnotreadyexception" | "serviceunavailableexception") => {
            Some(ErrorKind::Overloaded)
        }
        Some("modeltimeoutexception") => Some(ErrorKind::UpstreamTimeout),
        Some("internalserverexception" | "modelerrorexception" | "modelstreamerrorexception") => {
            Some(ErrorKind::Upstream)
        }
        _ => None,
    };
    let mut err = match kind {
        Some(kind) => {
            let mut e = GatewayError::new(kind, message);
            e.blame = if kind.default_blame() == Blame::Client {
                Blame::Client
            } else {
                Blame::Upstream
            };
            e
        }
        None => GatewayError::from_upstream(status, message),
    };
    if let Some(t) = error_type {
        err.code = Some(t.to_owned());
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_names_the_kind() {
        let e = decode_typed(
            400,
            Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            br#"{"message":"Too many requests, please wait before trying again."}"#,
        );
        assert_eq!(
            (e.kind, e.status, e.retryable),
            (ErrorKind::RateLimited, 429, true)
        );
        assert_eq!(
            e.message,
            "Too many requests, please wait before trying again."
        );
        assert_eq!(e.code.as_deref(), Some("ThrottlingException"));
    }

    #[test]
    fn kinds_map_to_statuses() {
        for (t, status, retry) in [
            ("ValidationException", 400, false),
            ("AccessDeniedException", 403, false),
            ("ResourceNotFoundException", 404, false),
            ("ModelNotReadyException", 503, true),
            ("ServiceUnavailableException", 503, true),
            ("InternalServerException", 502, true),
            ("UnrecognizedClientException", 401, false),
            ("modelStreamErrorException", 502, true),
        ] {
            let e = decode_typed(500, Some(t), br#"{"message":"m"}"#);
            assert_eq!((e.status, e.retryable), (status, retry), "{t}");
        }
    }

    #[test]
    fn a_body_type_or_the_status_serves_without_the_header() {
        let e = decode(400, br#"{"__type":"com.amazon.bedrock#ValidationException","message":"Input is too long for requested model."}"#);
        assert_eq!(e.kind, ErrorKind::ContextLengthExceeded);
        let e = decode(503, b"<html>busy</html>");
        assert_eq!((e.status, e.retryable), (503, true));
        assert!(e.message.contains("503"), "{}", e.message);
    }
}
