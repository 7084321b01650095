//! [`RedisStore`]: bytes kept under a key for a while (`SET PX` / `GET`), shared by
//! every gateway instance on one Redis server — the response cache's shared backend
//! (issue 15).
//!
//! The store never fails a request: every call is bounded by `timeout_ms` and
//! answers a [`StoreError`] the caller treats as a miss (or a skipped write). After a
//! failure the store is not asked again for a short back-off, so a Redis that hangs
//! costs requests nothing rather than `timeout_ms` each; failures are counted and
//! logged at most every 10 s.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use gateway_auth::cache::now_ms;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::error::{Error, StoreError};

/// At most one warning per this many ms while Redis is failing.
const WARN_EVERY_MS: i64 = 10_000;
/// After a failure, calls skip Redis for this long.
const BACKOFF_MS: i64 = 250;

/// Values with a time to live in one Redis server. Connected at the first call, so a
/// gateway starts while Redis is down.
pub struct RedisStore {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    prefix: String,
    timeout_ms: u64,
    failures: AtomicU64,
    last_warning_ms: AtomicI64,
    down_until_ms: AtomicI64,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on `url` whose keys begin with `prefix`; each call waits at most
    /// `timeout_ms`.
    pub fn new(url: &str, prefix: impl Into<String>, timeout_ms: u64) -> Result<Self, Error> {
        Ok(RedisStore {
            client: redis::Client::open(url).map_err(Error::Url)?,
            conn: OnceCell::new(),
            prefix: prefix.into(),
            timeout_ms: timeout_ms.max(1),
            failures: AtomicU64::new(0),
            last_warning_ms: AtomicI64::new(i64::MIN),
            down_until_ms: AtomicI64::new(i64::MIN),
        })
    }

    /// Calls that failed (or were skipped during a back-off) so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The value under `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let full = format!("{}{key}", self.prefix);
        self.run(|mut conn| async move {
            redis::cmd("GET")
                .arg(&full)
                .query_async::<Option<Vec<u8>>>(&mut conn)
                .await
        })
        .await
    }

    /// Keeps `value` under `key` for `ttl_ms` milliseconds.
    pub async fn set(&self, key: &str, value: &[u8], ttl_ms: u64) -> Result<(), StoreError> {
        let full = format!("{}{key}", self.prefix);
        self.run(|mut conn| async move {
            redis::cmd("SET")
                .arg(&full)
                .arg(value)
                .arg("PX")
                .arg(ttl_ms.max(1))
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    async fn run<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, redis::RedisError>>,
    {
        if now_ms() < self.down_until_ms.load(Ordering::Relaxed) {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::Backoff(BACKOFF_MS));
        }
        let work = async {
            let conn = self
                .conn
                .get_or_try_init(|| {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Duration::from_millis(self.timeout_ms))
                        .set_number_of_retries(1);
                    ConnectionManager::new_with_config(self.client.clone(), config)
                })
                .await?;
            Ok::<_, StoreError>(call(conn.clone()).await?)
        };
        let result = tokio::time::timeout(Duration::from_millis(self.timeout_ms), work)
            .await
            .unwrap_or(Err(StoreError::Timeout(self.timeout_ms)));
        if let Err(err) = &result {
            self.failed(err);
        }
        result
    }

    fn failed(&self, err: &StoreError) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        self.down_until_ms
            .store(now.saturating_add(BACKOFF_MS), Ordering::Relaxed);
        let last = self.last_warning_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_MS
            && self
                .last_warning_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %err, "redis store failed; answering as a miss");
        }
    }
}
