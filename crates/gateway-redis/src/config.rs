//! `[limits] redis = ...`: where the shared limiter lives and what to do without it.

use serde::Deserialize;

/// What an admission does when Redis does not answer in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Refuse with a 503 and `retry-after`: no request passes unchecked (the default,
    /// since exact shared budgets are why Redis is configured).
    #[default]
    Closed,
    /// Admit against this instance's own in-memory limiter (limits then hold per
    /// instance, not across them), with a warning and a counter.
    Open,
}

/// The shared limiter's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port[/db]` (or `redis://:password@host...`).
    pub url: String,
    /// What an admission does when Redis is unreachable or slow.
    #[serde(default)]
    pub fail: FailMode,
    /// How long an admission waits for Redis before [`FailMode`] applies, in ms.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Prepended to every Redis key, so several gateways (or other users) can share
    /// one server.
    #[serde(default = "default_prefix")]
    pub prefix: String,
}

fn default_timeout_ms() -> u64 {
    50
}

fn default_prefix() -> String {
    "patchbay:limits:".to_owned()
}

impl RedisConfig {
    /// `url` with the default failure mode, timeout and prefix.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            fail: FailMode::default(),
            timeout_ms: default_timeout_ms(),
            prefix: default_prefix(),
        }
    }
}
