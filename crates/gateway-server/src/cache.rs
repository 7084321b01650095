//! The response cache (exact match, issue 15): chat answers kept in canonical form
//! under a digest of the canonical request (`key`), served again in the caller's
//! shape — whole or as a stream, whichever shape or form first stored them.
//!
//! Off unless turned on: a key's policy `cache` decides first, then its route's
//! `cache`, then `[cache] enabled`. A hit is admitted like any request (its rate
//! limits count it), asks no upstream, and is recorded as a cache hit costing 0; a
//! miss is answered as usual and its answer kept when it ended normally. Kept:
//! whole answers and streams that ended with their stop (tool calls included);
//! never errors, streams that broke off, or requests bound to the caller's family
//! (`n`, `previous_response_id`, hosted tools: what the canonical answer cannot
//! hold or what the provider keeps state for).
//!
//! The caller steers one request with `cache-control`: `no-cache` skips the lookup
//! but keeps the fresh answer, `no-store` does neither. Answers say what happened in
//! `x-patchbay-cache`: `hit`, `miss`, or `bypass` (the cache applies but this request
//! was not looked up); nothing when the cache is off for the request.
//!
//! Backends: `memory::MemoryStore` (an LRU bounded in bytes, per process) or
//! Redis (`gateway_redis::RedisStore`, shared by the instances using it), where a
//! failure or a slow answer is a miss with a warning, never an error.

mod key;
mod memory;
pub(crate) mod record;
pub(crate) mod replay;
mod stored;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gateway_auth::Entry;
use gateway_protocol::{ChatRequest, ChatResponse, Part};
use http::{HeaderMap, HeaderName};

use crate::config::{CacheBackend, CacheConfig, CacheScope, Config, ConfigError};
use crate::routing::RoutePlan;

pub(crate) use key::Key;

/// What happened to a request at the cache: `hit`, `miss`, `bypass`.
pub const CACHE: HeaderName = HeaderName::from_static("x-patchbay-cache");

/// An answer kept: the canonical answer and who gave it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Stored {
    /// The provider that answered.
    pub provider: String,
    /// The upstream model that answered.
    pub model: String,
    /// The answer, tool names as the caller named them.
    pub response: ChatResponse,
}

impl Stored {
    /// About how many bytes the answer holds (the memory backend's measure).
    fn bytes(&self) -> u64 {
        let r = &self.response;
        let parts: usize = r
            .parts
            .iter()
            .map(|p| {
                64 + match p {
                    Part::Text { text, .. } => text.len(),
                    Part::ToolCall(c) => c.id.len() + c.name.len() + c.arguments.len(),
                    Part::Reasoning(x) => {
                        x.text.len()
                            + x.signature.as_ref().map_or(0, String::len)
                            + x.redacted.as_ref().map_or(0, String::len)
                    }
                    _ => 0,
                }
            })
            .sum();
        let fixed = 256 + self.provider.len() + self.model.len() + r.id.len() + r.model.len();
        (parts + fixed) as u64
    }
}

enum Backend {
    Memory(memory::MemoryStore),
    Redis(gateway_redis::RedisStore),
}

/// The response cache of one gateway.
pub struct ResponseCache {
    enabled: bool,
    ttl: Duration,
    max_entry_bytes: u64,
    scope: CacheScope,
    backend: Backend,
    /// Requests answered from the cache, asked upstream after a lookup, not looked up.
    outcomes: [AtomicU64; 3],
    /// Answers kept (written, for Redis).
    stored: AtomicU64,
}

/// What the cache did so far, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Requests answered from the cache.
    pub hits: u64,
    /// Requests looked up and not found.
    pub misses: u64,
    /// Requests the cache applied to but did not look up.
    pub bypasses: u64,
    /// Answers kept.
    pub stored: u64,
    /// Redis calls that failed or were skipped after a failure (Redis backend).
    pub failures: u64,
    /// Answers held and their bytes (memory backend).
    pub held: Option<(usize, u64)>,
}

/// `x-patchbay-cache` values, in the order of `ResponseCache::outcomes`.
pub(crate) const OUTCOMES: [&str; 3] = ["hit", "miss", "bypass"];

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("enabled", &self.enabled)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// The caller's `cache-control` for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Directive {
    /// Look for a kept answer.
    pub lookup: bool,
    /// Keep the answer.
    pub store: bool,
}

impl Directive {
    /// `no-store`: neither; `no-cache` (or `max-age=0`): keep but do not look up.
    pub(crate) fn of(headers: &HeaderMap) -> Directive {
        let mut d = Directive {
            lookup: true,
            store: true,
        };
        for value in headers.get_all(http::header::CACHE_CONTROL) {
            let Ok(text) = value.to_str() else { continue };
            for token in text.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("no-store") {
                    d = Directive {
                        lookup: false,
                        store: false,
                    };
                } else if token.eq_ignore_ascii_case("no-cache")
                    || token.eq_ignore_ascii_case("max-age=0")
                {
                    d.lookup = false;
                }
            }
        }
        d
    }
}

/// The cache's part in one chat request it applies to.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// The answer's key; `None`: a request the cache does not take.
    pub key: Option<Key>,
    /// The caller's directive.
    pub directive: Directive,
}

impl Pending {
    /// Whether to look the answer up.
    pub(crate) fn lookup(&self) -> Option<&Key> {
        self.key.as_ref().filter(|_| self.directive.lookup)
    }

    /// Whether to keep the answer.
    pub(crate) fn store(&self) -> Option<Key> {
        self.key.filter(|_| self.directive.store)
    }

    /// `x-patchbay-cache` for an answer not served from the cache.
    pub(crate) fn outcome(&self) -> &'static str {
        if self.lookup().is_some() {
            "miss"
        } else {
            "bypass"
        }
    }
}

impl ResponseCache {
    /// The cache `[cache]` of `config` describes (connected at first use).
    pub fn from_config(config: &Config) -> Result<ResponseCache, ConfigError> {
        let c: &CacheConfig = &config.cache;
        let backend = match c.backend {
            CacheBackend::Memory => Backend::Memory(memory::MemoryStore::new(c.max_bytes)),
            CacheBackend::Redis => {
                let url = c.redis_url(config).ok_or_else(|| {
                    ConfigError::invalid("cache.backend", "\"redis\" needs `[cache] redis`")
                })?;
                Backend::Redis(
                    gateway_redis::RedisStore::new(url, c.prefix.clone(), c.timeout_ms)
                        .map_err(|e| ConfigError::invalid("cache.redis", e.to_string()))?,
                )
            }
        };
        Ok(ResponseCache {
            enabled: c.enabled,
            ttl: Duration::from_secs(c.ttl_secs.max(1)),
            max_entry_bytes: c.max_entry_bytes,
            scope: c.scope,
            backend,
            outcomes: Default::default(),
            stored: AtomicU64::new(0),
        })
    }

    /// The cache's part in `req` (decoded, policy applied, routed by `plan`) of
    /// `entry`'s, when the cache applies to it.
    pub(crate) fn pending(
        &self,
        entry: &Entry,
        plan: &RoutePlan,
        req: &ChatRequest,
        headers: &HeaderMap,
    ) -> Option<Pending> {
        if !entry.policy.cache.or(plan.cache).unwrap_or(self.enabled) {
            return None;
        }
        let directive = Directive::of(headers);
        // Fields only the caller's family honours: several choices, server-side
        // conversation state, hosted tools. The canonical answer cannot stand for
        // them.
        let key = (req.extensions.binding.is_empty() && (directive.lookup || directive.store))
            .then(|| key::of(req, plan, &self.scope_of(entry)));
        Some(Pending { key, directive })
    }

    fn scope_of(&self, entry: &Entry) -> String {
        match (&self.scope, &entry.subject.project_id) {
            (CacheScope::Project, Some(project)) => format!("project:{project}"),
            _ => format!("key:{}", entry.subject.key_id),
        }
    }

    /// Counts a request's outcome (one of [`OUTCOMES`]).
    pub(crate) fn count(&self, outcome: &str) {
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            self.outcomes[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// What the cache did so far.
    pub fn stats(&self) -> CacheStats {
        let [hits, misses, bypasses] = self.outcomes.each_ref().map(|n| n.load(Ordering::Relaxed));
        CacheStats {
            hits,
            misses,
            bypasses,
            stored: self.stored.load(Ordering::Relaxed),
            failures: match &self.backend {
                Backend::Redis(r) => r.failures(),
                Backend::Memory(_) => 0,
            },
            held: self.memory_size(),
        }
    }

    /// The answer kept under `key`, if any. A Redis failure is a miss.
    pub(crate) async fn get(&self, key: &Key) -> Option<Arc<Stored>> {
        match &self.backend {
            Backend::Memory(m) => m.get(key, Instant::now()),
            Backend::Redis(r) => {
                let bytes = r.get(&key.hex()).await.ok()??;
                stored::decode(&bytes).map(Arc::new)
            }
        }
    }

    /// Keeps `value` under `key` (Redis: written by a task of its own, the answer
    /// does not wait). Answers larger than `max_entry_bytes` are not kept.
    pub(crate) fn put(self: &Arc<Self>, key: Key, value: Stored) {
        match &self.backend {
            Backend::Memory(m) => {
                let bytes = value.bytes();
                if bytes <= self.max_entry_bytes && m.put(key, Arc::new(value), bytes, self.ttl) {
                    self.stored.fetch_add(1, Ordering::Relaxed);
                }
            }
            Backend::Redis(_) => {
                let Some(bytes) = stored::encode(&value) else {
                    return;
                };
                if bytes.len() as u64 > self.max_entry_bytes {
                    return;
                }
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                let cache = Arc::clone(self);
                let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
                runtime.spawn(async move {
                    if let Backend::Redis(r) = &cache.backend {
                        // A failure was counted and logged; the answer is simply not kept.
                        if r.set(&key.hex(), &bytes, ttl_ms).await.is_ok() {
                            cache.stored.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        }
    }

    /// Answers held and their bytes (memory backend; Redis: `None`).
    pub fn memory_size(&self) -> Option<(usize, u64)> {
        match &self.backend {
            Backend::Memory(m) => Some(m.size()),
            Backend::Redis(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_no_cache_skips_the_lookup_and_no_store_everything() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::CACHE_CONTROL, v.parse().unwrap());
            Directive::of(&h)
        };
        let both = Directive {
            lookup: true,
            store: true,
        };
        assert_eq!(Directive::of(&HeaderMap::new()), both);
        assert_eq!(
            with("No-Cache"),
            Directive {
                lookup: false,
                store: true
            }
        );
        assert_eq!(
            with("max-age=0, no-store"),
            Directive {
                lookup: false,
                store: false
            }
        );
        assert_eq!(with("private"), both);
    }
}
