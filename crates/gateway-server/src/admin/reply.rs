//! Admin answers: JSON bodies and the error envelope
//! `{"error": {"message", "type", "param"}}`.

use gateway_auth::AuthError;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::respond::{self, Answer};

/// A refused or failed admin request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    /// `invalid_request_error`, `authentication_error`, `not_found_error`, ...
    pub kind: &'static str,
    pub message: String,
    /// The offending field or query parameter.
    pub param: Option<String>,
    /// `Allow` of a 405.
    pub allow: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            param: None,
            allow: None,
        }
    }

    /// A 400 naming `param` (`None`: the body as a whole).
    pub fn invalid(param: Option<&str>, message: impl Into<String>) -> ApiError {
        let mut err = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            message.into(),
        );
        err.param = param.map(str::to_owned);
        err
    }

    /// A 401.
    pub fn unauthenticated(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "authentication_error", message)
    }

    /// A 500 that says what failed without internals a caller could act on.
    pub fn internal(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            format!("internal error: {what}"),
        )
    }

    pub fn answer(&self) -> Answer {
        let body = json!({
            "error": {"message": self.message, "type": self.kind, "param": self.param}
        });
        let mut resp = respond::json(self.status, body.to_string().into_bytes());
        let h = resp.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"patchbay-admin\""),
            );
        }
        if let Some(v) = self
            .allow
            .as_deref()
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            h.insert(header::ALLOW, v);
        }
        resp
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> ApiError {
        match err {
            AuthError::Invalid { field, message } => {
                let param = (field != ".").then_some(field.as_str());
                let text = match param {
                    Some(f) => format!("{f}: {message}"),
                    None => format!("the body is not valid JSON: {message}"),
                };
                ApiError::invalid(param, text)
            }
            err @ AuthError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found_error", err.to_string())
            }
            other => {
                tracing::error!(err = %other, "admin request failed");
                ApiError::internal(other)
            }
        }
    }
}

/// A JSON answer with `status`.
pub(crate) fn json_answer(status: StatusCode, value: &Value) -> Answer {
    respond::json(status, value.to_string().into_bytes())
}

/// A 200 JSON answer.
pub(crate) fn ok(value: &Value) -> Answer {
    json_answer(StatusCode::OK, value)
}

/// Runs blocking database work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("a database task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_errors_become_400_naming_the_field_or_404() {
        let err = ApiError::from(AuthError::Invalid {
            field: "policy.limits.rmp".into(),
            message: "unknown field".into(),
        });
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.param.as_deref(), Some("policy.limits.rmp"));
        let err = ApiError::from(AuthError::Invalid {
            field: ".".into(),
            message: "EOF".into(),
        });
        assert_eq!(err.param, None);
        let err = ApiError::from(AuthError::NotFound {
            what: "key",
            id: "x".into(),
        });
        assert_eq!(err.status, StatusCode::NOT_FOUND);
        assert_eq!(err.kind, "not_found_error");
    }
}
