//! Latency percentiles over a time range, from the request log (the rollups keep no
//! durations): the total time of successful requests, and the time to the first byte
//! of successful streamed ones (the first token, near enough: the first event a
//! stream sends carries it). Nearest rank: p50 is the value at rank ⌈0.5·n⌉ of the n
//! durations in ascending order, p95 at ⌈0.95·n⌉. Only the rows still in the log
//! count: retention prunes older ones.

use rusqlite::{Connection, params};

use crate::error::AuthError;

/// Percentiles of one duration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Durations measured.
    pub samples: u64,
    /// Median, ms; `None` without samples.
    pub p50_ms: Option<i64>,
    /// 95th percentile, ms; `None` without samples.
    pub p95_ms: Option<i64>,
}

/// Latency over a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Request to the end of the answer, successful requests.
    pub total: Percentiles,
    /// Request to the first byte of the answer, successful streamed requests.
    pub first_token: Percentiles,
}

/// Successful: a status below 400 and no error kind (a broken stream has one).
const OK: &str = "status < 400 AND error_ref IS NULL";

/// Latency percentiles of the requests logged in `from_ms..to_ms` (Unix ms, `to`
/// exclusive).
pub fn latency(conn: &Connection, from_ms: i64, to_ms: i64) -> Result<Latency, AuthError> {
    Ok(Latency {
        total: percentiles(conn, "total_ms", OK, from_ms, to_ms)?,
        first_token: percentiles(
            conn,
            "ttfb_ms",
            &format!("{OK} AND streamed = 1 AND ttfb_ms IS NOT NULL"),
            from_ms,
            to_ms,
        )?,
    })
}

fn percentiles(
    conn: &Connection,
    column: &str,
    condition: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Percentiles, AuthError> {
    let range = format!("FROM request_rows WHERE ts_ms >= ?1 AND ts_ms < ?2 AND {condition}");
    let n: i64 = conn.query_row(
        &format!("SELECT COUNT(*) {range}"),
        params![from_ms, to_ms],
        |row| row.get(0),
    )?;
    let samples = u64::try_from(n).unwrap_or(0);
    if samples == 0 {
        return Ok(Percentiles::default());
    }
    let at = |percent: i64| -> Result<Option<i64>, AuthError> {
        // Nearest rank, 1-based: ⌈percent·n/100⌉; as an offset, one less.
        let offset = (percent * n + 99) / 100 - 1;
        let sql = format!("SELECT {column} {range} ORDER BY {column} LIMIT 1 OFFSET ?3");
        Ok(Some(conn.query_row(
            &sql,
            params![from_ms, to_ms, offset],
            |row| row.get(0),
        )?))
    };
    Ok(Percentiles {
        samples,
        p50_ms: at(50)?,
        p95_ms: at(95)?,
    })
}
