//! Reading usage: totals and time series from the hourly rollups (fast at any number
//! of requests), pages of the request log, and retention of the raw rows.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::{CompactString, HOUR_MS, UsageRecord};
use crate::error::AuthError;

/// Sums over rollup rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageTotals {
    /// Requests.
    pub requests: u64,
    /// Requests that failed (status ≥ 400 or an error kind).
    pub errors: u64,
    /// Input tokens (cached included).
    pub input_tokens: u64,
    /// Output tokens (reasoning included).
    pub output_tokens: u64,
    /// Input tokens read from the provider's cache.
    pub cached_tokens: u64,
    /// Output tokens spent on reasoning.
    pub reasoning_tokens: u64,
    /// Cost of the priced requests, micro-dollars.
    pub cost_micros: i64,
    /// Requests whose cost is unknown (not in `cost_micros`).
    pub unpriced: u64,
}

impl UsageTotals {
    /// The priced cost in US dollars.
    pub fn cost_usd(&self) -> f64 {
        crate::limits::micros_to_usd(self.cost_micros)
    }
}

/// What to group rollups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// The key's public id.
    Key,
    /// The project's public id (`""` for keys without one).
    Project,
    /// The routed model (else the requested one).
    Model,
    /// The provider (`""` when none was reached).
    Provider,
    /// The UTC day, as its start in Unix ms.
    Day,
}

impl GroupBy {
    /// The rollup column (or expression) the group is, in SQL both SQLite and
    /// PostgreSQL read.
    pub fn column(self) -> &'static str {
        match self {
            GroupBy::Key => "key_id",
            GroupBy::Project => "project_id",
            GroupBy::Model => "model",
            GroupBy::Provider => "provider",
            GroupBy::Day => "CAST((hour_ms / 86400000) * 86400000 AS TEXT)",
        }
    }
}

/// The buckets of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// One point per hour.
    Hour,
    /// One point per UTC day.
    Day,
}

/// Which rollups to read. Times are Unix ms; rollups are hourly, so the range is
/// taken in whole hours: the hour containing `from_ms` up to (excluding) the hour
/// starting at or after `to_ms`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageFilter {
    /// Start, inclusive.
    pub from_ms: i64,
    /// End, exclusive.
    pub to_ms: i64,
    /// Only this key.
    pub key_id: Option<String>,
    /// Only this project.
    pub project_id: Option<String>,
    /// Only this (routed) model.
    pub model: Option<String>,
    /// Only this provider.
    pub provider: Option<String>,
}

/// Totals of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageGroup {
    /// The group's value (key id, model, ..., or the day's start as a number); `""`
    /// when not grouped.
    pub group: String,
    /// Its totals.
    pub totals: UsageTotals,
}

/// One point of a time series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePoint {
    /// The bucket's start, Unix ms.
    pub bucket_ms: i64,
    /// The group's value; `""` when not grouped.
    pub group: String,
    /// Its totals.
    pub totals: UsageTotals,
}

const SUMS: &str = "SUM(requests), SUM(errors), SUM(input_tokens), SUM(output_tokens),
    SUM(cached_tokens), SUM(reasoning_tokens), SUM(cost_micros), SUM(unpriced)";

fn where_clause(f: &UsageFilter) -> (String, Vec<Value>) {
    let mut sql = String::from(" WHERE hour_ms >= ? AND hour_ms < ?");
    let mut args = vec![
        Value::Integer(f.from_ms.div_euclid(HOUR_MS) * HOUR_MS),
        Value::Integer(f.to_ms),
    ];
    for (column, value) in [
        ("key_id", &f.key_id),
        ("project_id", &f.project_id),
        ("model", &f.model),
        ("provider", &f.provider),
    ] {
        if let Some(v) = value {
            sql.push_str(&format!(" AND {column} = ?"));
            args.push(Value::Text(v.clone()));
        }
    }
    (sql, args)
}

fn totals_at(row: &Row<'_>, first: usize) -> rusqlite::Result<UsageTotals> {
    let n = |i: usize| -> rusqlite::Result<u64> {
        let v: Option<i64> = row.get(first + i)?;
        Ok(v.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    };
    Ok(UsageTotals {
        requests: n(0)?,
        errors: n(1)?,
        input_tokens: n(2)?,
        output_tokens: n(3)?,
        cached_tokens: n(4)?,
        reasoning_tokens: n(5)?,
        cost_micros: row.get::<_, Option<i64>>(first + 6)?.unwrap_or(0),
        unpriced: n(7)?,
    })
}

/// Totals over `filter`, one per group (largest cost first), or one overall when
/// `group` is `None` (empty when nothing matched).
pub fn totals(
    conn: &Connection,
    filter: &UsageFilter,
    group: Option<GroupBy>,
) -> Result<Vec<UsageGroup>, AuthError> {
    let (wh, args) = where_clause(filter);
    let column = group.map_or("''", GroupBy::column);
    let sql = format!(
        "SELECT {column} AS g, {SUMS} FROM usage_hourly{wh} GROUP BY g
         HAVING SUM(requests) > 0 ORDER BY SUM(cost_micros) DESC, g"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |row| {
        Ok(UsageGroup {
            group: row.get(0)?,
            totals: totals_at(row, 1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A time series over `filter`: one point per bucket (and group), oldest first.
/// Buckets with no requests are absent.
pub fn series(
    conn: &Connection,
    filter: &UsageFilter,
    bucket: Bucket,
    group: Option<GroupBy>,
) -> Result<Vec<UsagePoint>, AuthError> {
    let (wh, args) = where_clause(filter);
    let b = match bucket {
        Bucket::Hour => "hour_ms",
        Bucket::Day => "(hour_ms / 86400000) * 86400000",
    };
    let column = group.map_or("''", GroupBy::column);
    let sql = format!(
        "SELECT {b} AS b, {column} AS g, {SUMS} FROM usage_hourly{wh}
         GROUP BY b, g ORDER BY b, g"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |row| {
        Ok(UsagePoint {
            bucket_ms: row.get(0)?,
            group: row.get(1)?,
            totals: totals_at(row, 2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Which request-log entries to read, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    /// Only this key.
    pub key_id: Option<String>,
    /// Only requests that asked for or were routed to this model.
    pub model: Option<String>,
    /// Only this status.
    pub status: Option<u16>,
    /// Only failed requests.
    pub errors_only: bool,
    /// From (inclusive), Unix ms.
    pub from_ms: Option<i64>,
    /// To (exclusive), Unix ms.
    pub to_ms: Option<i64>,
    /// The cursor: entries older than this id (the previous page's `next`).
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: usize,
}

impl Default for LogQuery {
    fn default() -> Self {
        LogQuery {
            key_id: None,
            model: None,
            status: None,
            errors_only: false,
            from_ms: None,
            to_ms: None,
            before_id: None,
            limit: 50,
        }
    }
}

/// One request-log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The row's id (the paging cursor).
    pub id: i64,
    /// The record.
    pub record: UsageRecord,
}

/// One page of the request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    /// Newest first.
    pub entries: Vec<LoggedRequest>,
    /// Pass as `before_id` for the next page; `None` on the last page.
    pub next: Option<i64>,
}

/// A page of the request log, newest first, paged by id (stable while rows arrive).
pub fn request_log(conn: &Connection, q: &LogQuery) -> Result<LogPage, AuthError> {
    // One more than asked says whether there is a next page.
    let limit = q.limit.max(1);
    let below = q.before_id.unwrap_or(i64::MAX);
    let mut entries = match &q.key_id {
        None => log_rows(conn, q, None, below, limit + 1)?,
        Some(key) => key_log_rows(conn, q, key, below, limit + 1)?,
    };
    let next = if entries.len() > limit {
        entries.truncate(limit);
        entries.last().map(|e| e.id)
    } else {
        None
    };
    Ok(LogPage { entries, next })
}

/// A key's rows, newest first: its spans (a row per key and writer batch) are walked
/// newest first and only the rows inside them are read, until `want` rows are found.
/// Each span read is below the last, so a row is never read twice.
fn key_log_rows(
    conn: &Connection,
    q: &LogQuery,
    key: &str,
    mut below: i64,
    want: usize,
) -> Result<Vec<LoggedRequest>, AuthError> {
    let key_ref: Option<i64> = conn
        .query_row("SELECT id FROM usage_names WHERE name = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(key_ref) = key_ref else {
        return Ok(Vec::new());
    };
    let mut spans = conn.prepare(
        "SELECT first_id, last_id FROM request_key_spans
         WHERE key_ref = ?1 AND first_id < ?2 AND max_ts >= ?3 AND min_ts < ?4
         ORDER BY last_id DESC",
    )?;
    let mut spans = spans.query(params![
        key_ref,
        below,
        q.from_ms.unwrap_or(i64::MIN),
        q.to_ms.unwrap_or(i64::MAX)
    ])?;
    let mut found = Vec::new();
    while found.len() < want {
        let Some(span) = spans.next()? else { break };
        let (first, last): (i64, i64) = (span.get(0)?, span.get(1)?);
        let within = Within {
            key_ref,
            first,
            last: last.min(below.saturating_sub(1)),
        };
        if within.first > within.last {
            continue;
        }
        found.extend(log_rows(conn, q, Some(within), below, want - found.len())?);
        below = within.first;
    }
    Ok(found)
}

/// One span of one key's rows: ids `first..=last` with `key_ref`.
#[derive(Clone, Copy)]
struct Within {
    key_ref: i64,
    first: i64,
    last: i64,
}

/// Up to `want` rows below id `below` that pass `q`'s filters other than the key,
/// newest first; only those inside `within`, when given.
fn log_rows(
    conn: &Connection,
    q: &LogQuery,
    within: Option<Within>,
    below: i64,
    want: usize,
) -> Result<Vec<LoggedRequest>, AuthError> {
    // The page's rows are found first, so names are looked up for them only; a
    // filter's name becomes its id once (no such name: NULL, which matches nothing).
    let mut sql = String::from("SELECT * FROM request_rows WHERE id < ?");
    let mut args: Vec<Value> = vec![Value::Integer(below)];
    let mut cond = |clause: &str, v: Value| {
        sql.push_str(clause);
        args.push(v);
    };
    if let Some(w) = within {
        cond(" AND id >= ?", Value::Integer(w.first));
        cond(" AND id <= ?", Value::Integer(w.last));
        cond(" AND key_ref = ?", Value::Integer(w.key_ref));
    }
    if let Some(m) = &q.model {
        cond(
            " AND (requested_ref = (SELECT id FROM usage_names WHERE name = ?)",
            Value::Text(m.clone()),
        );
        cond(
            " OR routed_ref = (SELECT id FROM usage_names WHERE name = ?))",
            Value::Text(m.clone()),
        );
    }
    if let Some(s) = q.status {
        cond(" AND status = ?", Value::Integer(s.into()));
    }
    if let Some(t) = q.from_ms {
        cond(" AND ts_ms >= ?", Value::Integer(t));
    }
    if let Some(t) = q.to_ms {
        cond(" AND ts_ms < ?", Value::Integer(t));
    }
    if q.errors_only {
        sql.push_str(" AND (status >= 400 OR error_ref IS NOT NULL)");
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    args.push(Value::Integer(i64::try_from(want).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT r.id, r.request_id, r.ts_ms,
         (SELECT name FROM usage_names WHERE id = r.key_ref),
         (SELECT name FROM usage_names WHERE id = r.project_ref),
         (SELECT name FROM usage_names WHERE id = r.requested_ref),
         (SELECT name FROM usage_names WHERE id = r.routed_ref),
         (SELECT name FROM usage_names WHERE id = r.provider_ref),
         (SELECT name FROM usage_names WHERE id = r.caller_shape_ref),
         (SELECT name FROM usage_names WHERE id = r.upstream_shape_ref),
         input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
         cost_micros, ttfb_ms, total_ms, status, streamed,
         (SELECT name FROM usage_names WHERE id = r.error_ref),
         request_body, response_body, cache_hit FROM ({sql}) r ORDER BY r.id DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), logged)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn logged(row: &Row<'_>) -> rusqlite::Result<LoggedRequest> {
    let n = |i: usize| -> rusqlite::Result<u64> {
        Ok(u64::try_from(row.get::<_, i64>(i)?).unwrap_or(0))
    };
    let text =
        |i: usize| -> rusqlite::Result<CompactString> { Ok(row.get_ref(i)?.as_str()?.into()) };
    let maybe = |i: usize| -> rusqlite::Result<Option<CompactString>> {
        Ok(row.get_ref(i)?.as_str_or_null()?.map(CompactString::from))
    };
    Ok(LoggedRequest {
        id: row.get(0)?,
        record: UsageRecord {
            request_id: text(1)?,
            ts_ms: row.get(2)?,
            key_id: text(3)?,
            project_id: maybe(4)?,
            requested_model: text(5)?,
            routed_model: maybe(6)?,
            provider: maybe(7)?,
            caller_shape: text(8)?,
            upstream_shape: maybe(9)?,
            input_tokens: n(10)?,
            output_tokens: n(11)?,
            cached_tokens: n(12)?,
            cache_write_tokens: n(13)?,
            reasoning_tokens: n(14)?,
            cost_micros: row.get(15)?,
            ttfb_ms: row.get(16)?,
            total_ms: row.get(17)?,
            status: row.get(18)?,
            streamed: row.get(19)?,
            error_kind: maybe(20)?,
            request_body: row.get(21)?,
            response_body: row.get(22)?,
            cache_hit: row.get(23)?,
        },
    })
}

/// Deletes request-log rows older than `before_ms` (Unix ms), in chunks so the writer
/// is never locked out for long; rollups are kept. Returns the rows deleted.
pub fn prune(conn: &Connection, before_ms: i64) -> Result<u64, AuthError> {
    let mut stmt = conn.prepare_cached(
        "DELETE FROM request_rows WHERE id IN
         (SELECT id FROM request_rows WHERE ts_ms < ?1 LIMIT 10000)",
    )?;
    let mut total = 0u64;
    loop {
        let n = stmt.execute([before_ms])?;
        total += n as u64;
        if n < 10_000 {
            break;
        }
    }
    // Spans wholly below the oldest row left (all of them when none is left): a new
    // row's id may come back only once the rows above it are gone.
    conn.execute(
        "DELETE FROM request_key_spans WHERE last_id <
         COALESCE((SELECT MIN(id) FROM request_rows), 9223372036854775807)",
        [],
    )?;
    Ok(total)
}
