//! Answers the console gives itself: files, JSON, and errors in the admin API's
//! envelope `{"error": {"message", "type", "param"}}`.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use crate::Answer;

/// An answer of `status` with `body` of `content_type`.
pub(crate) fn bytes(status: StatusCode, content_type: &'static str, body: Bytes) -> Answer {
    let mut resp = http::Response::new(Full::new(body).boxed_unsync());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A JSON answer.
pub(crate) fn json(status: StatusCode, value: &Value) -> Answer {
    bytes(
        status,
        "application/json",
        Bytes::from(value.to_string().into_bytes()),
    )
}

/// An error in the admin envelope.
pub(crate) fn error(status: StatusCode, kind: &str, message: &str) -> Answer {
    json(
        status,
        &json!({ "error": { "message": message, "type": kind, "param": null } }),
    )
}

/// 401: no live session, or a wrong token.
pub(crate) fn unauthenticated(message: &str) -> Answer {
    error(StatusCode::UNAUTHORIZED, "authentication_error", message)
}

/// 403: a change without the right CSRF token, or from another origin.
pub(crate) fn forbidden(message: &str) -> Answer {
    error(StatusCode::FORBIDDEN, "permission_error", message)
}

/// 503: the session store could not answer (a shared database is down).
pub(crate) fn store_down(err: &crate::ConsoleError) -> Answer {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "api_error",
        &format!(
            "the console's sessions cannot be checked now ({err}); the admin token still works"
        ),
    )
}
