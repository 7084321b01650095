//! Where the usage writer commits its batches: a trait, so one writer (its queue,
//! batching, retries and give-up rules) serves SQLite ([`SqliteSink`]) and PostgreSQL
//! (`gateway-postgres`) alike.

use rusqlite::Connection;

use super::batch::{transient, write_batch};
use super::names::Names;
use super::{UsageRecord, query};
use crate::error::AuthError;

/// Why a batch was not committed, and whether trying again may help.
#[derive(Debug)]
pub struct SinkError {
    /// Refused for good (a value too big, a constraint): retrying will not help,
    /// so the writer tries the batch's records one by one and gives up those refused
    /// again. Otherwise (busy, a full disk, a server down) it retries with backoff.
    pub lasting: bool,
    /// What failed.
    pub error: AuthError,
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// A database the usage writer commits to. Called from the writer's own thread only.
pub trait UsageSink: Send {
    /// Writes `batch`'s request-log rows and adds them to their hourly rollups, in
    /// one transaction: all of it or none.
    fn write(&mut self, batch: &[UsageRecord]) -> Result<(), SinkError>;

    /// Deletes request-log rows older than `before_ms` (rollups are kept); returns
    /// how many.
    fn prune(&mut self, before_ms: i64) -> Result<u64, AuthError>;

    /// Hands back what the sink caches for speed, the writer having gone quiet
    /// after a burst. Nothing by default.
    fn release_memory(&mut self) {}
}

/// The usage tables of a SQLite database, through a connection of the writer's own.
pub struct SqliteSink {
    conn: Connection,
    /// The ids of the names `conn` has in `usage_names`.
    names: Names,
}

impl SqliteSink {
    /// Over `conn`, already migrated.
    pub fn new(conn: Connection) -> SqliteSink {
        // A batch may use twelve inserts (six sizes, lean and whole), the span
        // insert, the rollup upsert and the name look-ups: more than the default 16
        // would push some out and prepare them again every batch.
        conn.set_prepared_statement_cache_capacity(32);
        SqliteSink {
            conn,
            names: Names::default(),
        }
    }
}

impl UsageSink for SqliteSink {
    fn write(&mut self, batch: &[UsageRecord]) -> Result<(), SinkError> {
        write_batch(&mut self.conn, &mut self.names, batch).map_err(|e| SinkError {
            lasting: !transient(&e),
            error: e.into(),
        })
    }

    fn prune(&mut self, before_ms: i64) -> Result<u64, AuthError> {
        query::prune(&self.conn, before_ms)
    }

    /// The connection's page cache (up to ~2 MB) is freed; the next batch reads the
    /// pages it needs again, from the system's file cache.
    fn release_memory(&mut self) {
        // Only memory is at stake: a failure leaves the cache as it was.
        let _ = self.conn.execute_batch("PRAGMA shrink_memory");
    }
}
