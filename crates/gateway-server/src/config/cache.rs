//! `[cache]`: the response cache (exact match). Off unless `enabled`, a route's
//! `cache = true` or a key's policy `cache: true` turns it on; kept in this process
//! (an LRU bounded in bytes) or in Redis, shared by every instance naming it.

use serde::Deserialize;

use super::{Config, Problem};

/// Where cached answers are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheBackend {
    /// In this process: an LRU bounded by `max_bytes`.
    #[default]
    Memory,
    /// In Redis (`redis`, else `[limits] redis`), shared by the instances using it.
    Redis,
}

/// Whose requests share cached answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheScope {
    /// Each key its own answers.
    #[default]
    Key,
    /// The keys of one project share answers (a key without a project keeps its own).
    Project,
}

/// `[cache]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Cache every route's chat answers (a route's or a key's `cache` overrides).
    pub enabled: bool,
    /// How long an answer is served from the cache, in seconds.
    pub ttl_secs: u64,
    /// The memory backend's bound: least recently used answers are evicted past it.
    pub max_bytes: u64,
    /// The largest answer kept (its size as stored); larger ones are not cached.
    pub max_entry_bytes: u64,
    /// `"memory"` or `"redis"`.
    pub backend: CacheBackend,
    /// `redis://host:port[/db]` for the Redis backend; unset: `[limits] redis`.
    pub redis: Option<String>,
    /// How long a Redis lookup or write may take, in ms; past it, a miss.
    pub timeout_ms: u64,
    /// Prepended to the cache's Redis keys.
    pub prefix: String,
    /// `"key"` (the default) or `"project"`.
    pub scope: CacheScope,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: false,
            ttl_secs: 300,
            max_bytes: 64 << 20,
            max_entry_bytes: 1 << 20,
            backend: CacheBackend::Memory,
            redis: None,
            timeout_ms: 50,
            prefix: "patchbay:cache:".to_owned(),
            scope: CacheScope::Key,
        }
    }
}

impl CacheConfig {
    /// The Redis URL the Redis backend uses: its own, else the limiter's.
    pub fn redis_url<'a>(&'a self, config: &'a Config) -> Option<&'a str> {
        self.redis.as_deref().or(config.limits.redis.as_deref())
    }
}

/// The `[cache]` problems of `config`.
pub(super) fn check(config: &Config, problems: &mut Vec<Problem>) {
    let cache = &config.cache;
    if cache.ttl_secs == 0 {
        problems.push(Problem::new("cache.ttl_secs", "must be at least 1"));
    }
    if cache.timeout_ms == 0 {
        problems.push(Problem::new(
            "cache.timeout_ms",
            "must be at least 1 (ms to wait for Redis before answering a miss)",
        ));
    }
    if cache.max_entry_bytes > cache.max_bytes && cache.backend == CacheBackend::Memory {
        problems.push(Problem::new(
            "cache.max_entry_bytes",
            "must not exceed `max_bytes` (an answer larger than the whole cache is never kept)",
        ));
    }
    match (cache.backend, cache.redis_url(config)) {
        (CacheBackend::Redis, None) => problems.push(Problem::new(
            "cache.backend",
            "\"redis\" needs `[cache] redis = \"redis://host:port\"` (or `[limits] redis`)",
        )),
        (_, Some(url)) if cache.redis.is_some() => {
            if let Err(e) = gateway_redis::RedisStore::new(url, "", 1) {
                problems.push(Problem::new("cache.redis", e.to_string()));
            }
        }
        _ => {}
    }
}
