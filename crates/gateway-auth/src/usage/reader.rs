//! Reading usage back: totals and series from the rollups, the request log, latency
//! percentiles, and what each key and project spent in the quota windows (which
//! seeds the limiter at start). A trait, so the admin API, the console and the CLI
//! read SQLite ([`SqliteReader`]) and PostgreSQL (`gateway-postgres`) alike.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::latency::{self, Latency};
use super::query::{self, Bucket, GroupBy, LogPage, LogQuery, UsageFilter, UsageGroup, UsagePoint};
use crate::error::AuthError;
use crate::limits::Scope;
use crate::migrate;

/// What one key or project spent in the current quota windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSums {
    /// Input tokens today (UTC).
    pub day_input: u64,
    /// Output tokens today.
    pub day_output: u64,
    /// Micro-dollars today.
    pub day_micros: u64,
    /// Input tokens this month (UTC).
    pub month_input: u64,
    /// Output tokens this month.
    pub month_output: u64,
    /// Micro-dollars this month.
    pub month_micros: u64,
    /// Micro-dollars ever.
    pub total_micros: u64,
}

/// One key's or project's [`WindowSums`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spent {
    /// A key or a project.
    pub scope: Scope,
    /// Its public id.
    pub id: String,
    /// Its sums.
    pub sums: WindowSums,
}

/// A database usage is read from.
pub trait UsageReader: Send + Sync + std::fmt::Debug {
    /// Totals over `filter`, one per group (largest cost first), or one overall.
    fn totals(
        &self,
        filter: &UsageFilter,
        group: Option<GroupBy>,
    ) -> Result<Vec<UsageGroup>, AuthError>;

    /// A time series over `filter`, oldest first; empty buckets are absent.
    fn series(
        &self,
        filter: &UsageFilter,
        bucket: Bucket,
        group: Option<GroupBy>,
    ) -> Result<Vec<UsagePoint>, AuthError>;

    /// A page of the request log, newest first.
    fn request_log(&self, q: &LogQuery) -> Result<LogPage, AuthError>;

    /// Latency percentiles of the successful requests in `[from_ms, to_ms)`.
    fn latency(&self, from_ms: i64, to_ms: i64) -> Result<Latency, AuthError>;

    /// What every key and project spent since `day_start_ms` and `month_start_ms`,
    /// and ever.
    fn spent(&self, day_start_ms: i64, month_start_ms: i64) -> Result<Vec<Spent>, AuthError>;
}

/// Usage in a SQLite file, read through a connection opened per call (in WAL mode a
/// reader never waits for the writer).
#[derive(Debug, Clone)]
pub struct SqliteReader {
    path: PathBuf,
}

impl SqliteReader {
    /// Reads the database at `path`.
    pub fn new(path: &Path) -> SqliteReader {
        SqliteReader {
            path: path.to_path_buf(),
        }
    }

    fn open(&self) -> Result<Connection, AuthError> {
        migrate::open(&self.path)
    }
}

impl UsageReader for SqliteReader {
    fn totals(
        &self,
        filter: &UsageFilter,
        group: Option<GroupBy>,
    ) -> Result<Vec<UsageGroup>, AuthError> {
        query::totals(&self.open()?, filter, group)
    }

    fn series(
        &self,
        filter: &UsageFilter,
        bucket: Bucket,
        group: Option<GroupBy>,
    ) -> Result<Vec<UsagePoint>, AuthError> {
        query::series(&self.open()?, filter, bucket, group)
    }

    fn request_log(&self, q: &LogQuery) -> Result<LogPage, AuthError> {
        query::request_log(&self.open()?, q)
    }

    fn latency(&self, from_ms: i64, to_ms: i64) -> Result<Latency, AuthError> {
        latency::latency(&self.open()?, from_ms, to_ms)
    }

    fn spent(&self, day_start_ms: i64, month_start_ms: i64) -> Result<Vec<Spent>, AuthError> {
        spent(&self.open()?, day_start_ms, month_start_ms)
    }
}

/// [`UsageReader::spent`] on a SQLite connection.
pub fn spent(
    conn: &Connection,
    day_start_ms: i64,
    month_start_ms: i64,
) -> Result<Vec<Spent>, AuthError> {
    let mut all = Vec::new();
    for (column, scope) in [("key_id", Scope::Key), ("project_id", Scope::Project)] {
        let sql = format!(
            "SELECT {column},
                SUM(CASE WHEN hour_ms >= ?1 THEN input_tokens ELSE 0 END),
                SUM(CASE WHEN hour_ms >= ?1 THEN output_tokens ELSE 0 END),
                SUM(CASE WHEN hour_ms >= ?1 THEN cost_micros ELSE 0 END),
                SUM(CASE WHEN hour_ms >= ?2 THEN input_tokens ELSE 0 END),
                SUM(CASE WHEN hour_ms >= ?2 THEN output_tokens ELSE 0 END),
                SUM(CASE WHEN hour_ms >= ?2 THEN cost_micros ELSE 0 END),
                SUM(cost_micros)
             FROM usage_hourly WHERE {column} != '' GROUP BY {column}"
        );
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query([day_start_ms, month_start_ms])?;
        while let Some(row) = rows.next()? {
            let mut s = [0u64; 7];
            for (i, sum) in s.iter_mut().enumerate() {
                let v: Option<i64> = row.get(i + 1)?;
                *sum = v.map_or(0, |v| u64::try_from(v).unwrap_or(0));
            }
            all.push(Spent {
                scope,
                id: row.get(0)?,
                sums: WindowSums::from_array(s),
            });
        }
    }
    Ok(all)
}

impl WindowSums {
    /// From the seven sums in field order.
    pub fn from_array(s: [u64; 7]) -> WindowSums {
        WindowSums {
            day_input: s[0],
            day_output: s[1],
            day_micros: s[2],
            month_input: s[3],
            month_output: s[4],
            month_micros: s[5],
            total_micros: s[6],
        }
    }
}
