//! The client-facing error: what went wrong, who is to blame, whether a retry helps.

use std::fmt;

/// What kind of failure, independent of any API shape. Each shape's codec renders a
/// kind in its own envelope; [`ErrorKind::status`] is the HTTP status every shape
/// starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed or asks for something impossible.
    InvalidRequest,
    /// No or bad credentials.
    Authentication,
    /// The key may not do this.
    PermissionDenied,
    /// No such model or route.
    NotFound,
    /// The request body is too large.
    PayloadTooLarge,
    /// Too many requests; retry later.
    RateLimited,
    /// A quota or budget is spent.
    QuotaExceeded,
    /// The prompt does not fit the model's context window.
    ContextLengthExceeded,
    /// The upstream failed or sent something unreadable.
    Upstream,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The upstream is overloaded (Anthropic 529, HTTP 503).
    Overloaded,
    /// The gateway itself failed.
    Internal,
}

impl ErrorKind {
    /// The HTTP status for this kind.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::ContextLengthExceeded => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::RateLimited | ErrorKind::QuotaExceeded => 429,
            ErrorKind::Upstream => 502,
            ErrorKind::UpstreamTimeout => 504,
            ErrorKind::Overloaded => 503,
            ErrorKind::Internal => 500,
        }
    }

    /// The kind an upstream HTTP status means.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            400 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            413 => ErrorKind::PayloadTooLarge,
            429 => ErrorKind::RateLimited,
            408 | 504 => ErrorKind::UpstreamTimeout,
            503 | 529 => ErrorKind::Overloaded,
            402 => ErrorKind::QuotaExceeded,
            _ => ErrorKind::Upstream,
        }
    }

    /// Who is usually to blame for this kind.
    pub fn default_blame(self) -> Blame {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::Authentication
            | ErrorKind::PermissionDenied
            | ErrorKind::NotFound
            | ErrorKind::PayloadTooLarge
            | ErrorKind::RateLimited
            | ErrorKind::QuotaExceeded
            | ErrorKind::ContextLengthExceeded => Blame::Client,
            ErrorKind::Upstream | ErrorKind::UpstreamTimeout | ErrorKind::Overloaded => {
                Blame::Upstream
            }
            ErrorKind::Internal => Blame::Gateway,
        }
    }

    /// Whether trying again (later, or elsewhere) can help.
    pub fn default_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::Upstream
                | ErrorKind::UpstreamTimeout
                | ErrorKind::Overloaded
        )
    }
}

/// Who caused a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Blame {
    /// The caller's request or key.
    Client,
    /// The provider.
    Upstream,
    /// Patchbay itself.
    Gateway,
}

/// An error as the caller will see it, in whatever shape it speaks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct GatewayError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// HTTP status to answer with (the kind's status unless an upstream said otherwise).
    pub status: u16,
    /// Who is to blame.
    pub blame: Blame,
    /// Whether a retry can help.
    pub retryable: bool,
    /// A message telling the caller how to fix it. Never contains secrets.
    pub message: String,
    /// The offending field's path, when one is to blame (`messages[2].content`).
    pub param: Option<String>,
    /// A machine-readable code (`context_length_exceeded`, `invalid_api_key`, ...).
    pub code: Option<String>,
    /// Seconds the caller should wait before retrying.
    pub retry_after: Option<u64>,
    /// The HTTP status the upstream answered with, when this is its error answer
    /// (`status` may differ: a 529 is answered as 503). For traces and logs.
    pub upstream_status: Option<u16>,
}

impl GatewayError {
    /// An error of `kind` with its default status, blame and retryability.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        GatewayError {
            kind,
            status: kind.status(),
            blame: kind.default_blame(),
            retryable: kind.default_retryable(),
            message: message.into(),
            param: None,
            code: None,
            retry_after: None,
            upstream_status: None,
        }
    }

    /// An invalid-request error naming the field at fault.
    pub fn invalid_request(param: impl Into<String>, message: impl Into<String>) -> Self {
        GatewayError::new(ErrorKind::InvalidRequest, message).with_param(param)
    }

    /// An upstream error as reported with HTTP `status`.
    pub fn from_upstream(status: u16, message: impl Into<String>) -> Self {
        let kind = ErrorKind::from_status(status);
        let mut err = GatewayError::new(kind, message);
        err.blame = Blame::Upstream;
        if (500..600).contains(&status) {
            err.status = if status == 529 { 503 } else { status };
            err.retryable = true;
        }
        err
    }

    /// Sets the field path.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// Sets the machine-readable code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the retry delay in seconds.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Sets the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.param {
            Some(p) => write!(f, "{} (at `{p}`)", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_529_is_overloaded_and_retryable_with_503() {
        let e = GatewayError::from_upstream(529, "busy");
        assert_eq!(e.kind, ErrorKind::Overloaded);
        assert_eq!(e.status, 503);
        assert!(e.retryable);
        assert_eq!(e.blame, Blame::Upstream);
    }

    #[test]
    fn upstream_400_blames_upstream_and_is_final() {
        let e = GatewayError::from_upstream(400, "bad");
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert_eq!(e.status, 400);
        assert!(!e.retryable);
    }

    #[test]
    fn display_names_the_field() {
        let e = GatewayError::invalid_request("messages[1].role", "unknown role `robot`");
        assert_eq!(
            e.to_string(),
            "unknown role `robot` (at `messages[1].role`)"
        );
    }
}
