//! The one error enum of the codecs, and how it becomes a [`GatewayError`].

use gateway_protocol::{ErrorKind, GatewayError};

/// What a codec can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The caller's body is malformed (bad JSON, wrong type, missing field, unknown role).
    #[error("invalid request at `{path}`: {message}")]
    InvalidRequest {
        /// JSON path of the offending field (`messages[2].content`), `.` for the root.
        path: String,
        /// What is wrong, in words that tell the caller how to fix it.
        message: String,
    },
    /// The request is valid in its own shape but asks for something the target shape
    /// cannot express without changing its meaning.
    #[error("`{path}` cannot be sent to a {target} upstream: {message}")]
    Untranslatable {
        /// JSON path of the field in the caller's body.
        path: String,
        /// The target shape's name.
        target: &'static str,
        /// Why, and what to do instead.
        message: String,
    },
    /// The upstream sent something that does not parse as its own shape.
    #[error("upstream sent an unreadable {what}: {message}")]
    UpstreamProtocol {
        /// What was being read (`response`, `stream event`, `error body`).
        what: &'static str,
        /// The parse failure.
        message: String,
    },
}

impl TranslateError {
    /// An invalid-request error at `path`.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        TranslateError::InvalidRequest {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An untranslatable-field error.
    pub fn untranslatable(
        path: impl Into<String>,
        target: &'static str,
        message: impl Into<String>,
    ) -> Self {
        TranslateError::Untranslatable {
            path: path.into(),
            target,
            message: message.into(),
        }
    }

    /// An unreadable upstream payload.
    pub fn upstream(what: &'static str, message: impl Into<String>) -> Self {
        TranslateError::UpstreamProtocol {
            what,
            message: message.into(),
        }
    }
}

impl From<TranslateError> for GatewayError {
    fn from(err: TranslateError) -> Self {
        match &err {
            TranslateError::InvalidRequest { path, .. }
            | TranslateError::Untranslatable { path, .. } => {
                GatewayError::invalid_request(path.clone(), err.to_string())
            }
            TranslateError::UpstreamProtocol { .. } => {
                GatewayError::new(ErrorKind::Upstream, err.to_string())
            }
        }
    }
}
