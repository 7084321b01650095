//! `[limits]`: where keys' rates, quotas and budgets are kept. Unset, in this
//! process (exact for one instance); with `redis`, in that Redis server, shared and
//! exact across every instance pointing at it (gateway-redis).

use serde::Deserialize;

pub use gateway_redis::FailMode;

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// `redis://host:port[/db]`: keep limits in Redis; unset: in this process.
    pub redis: Option<String>,
    /// When Redis does not answer in time: `"closed"` refuses with a 503 in the
    /// caller's envelope (the default), `"open"` admits on this instance's own
    /// limiter with a warning.
    pub fail: FailMode,
    /// How long an admission waits for Redis, in ms.
    pub timeout_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            redis: None,
            fail: FailMode::default(),
            timeout_ms: 50,
        }
    }
}

impl LimitsConfig {
    /// The shared limiter's settings, when `redis` is set.
    pub fn redis_config(&self) -> Option<gateway_redis::RedisConfig> {
        let url = self.redis.as_ref()?;
        Some(gateway_redis::RedisConfig {
            fail: self.fail,
            timeout_ms: self.timeout_ms,
            ..gateway_redis::RedisConfig::new(url.clone())
        })
    }
}
