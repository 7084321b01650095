//! The crate's errors.

/// A limiter that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not a Redis URL.
    #[error("`[limits] redis`: {0} (expected redis://host:port)")]
    Url(#[source] redis::RedisError),
}

/// Why Redis gave no answer to one script call (then [`FailMode`](crate::FailMode)
/// decides).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Connecting or the call failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No answer within the configured time.
    #[error("redis did not answer within {0} ms")]
    Timeout(u64),
    /// Redis failed moments ago: not asked again until the back-off ends.
    #[error("redis failed less than {0} ms ago; not asked until then")]
    Backoff(i64),
    /// The script answered something it never answers (another program's keys under
    /// our prefix?).
    #[error("unexpected answer from the limits script: {0}")]
    Reply(String),
}
