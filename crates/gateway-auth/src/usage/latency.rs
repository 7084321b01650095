//! Latency percentiles over a time range, from the request log (the rollups keep no
//! durations): the total time of successful requests, and the time to the first byte
//! of successful streamed ones (the first token, near enough: the first event a
//! stream sends carries it). Nearest rank: p50 is the value at rank ⌈0.5·n⌉ of the n
//! durations in ascending order, p95 at ⌈0.95·n⌉. Only the rows still in the log
//! count: retention prunes older ones. A range with more than [`MAX_SAMPLES`]
//! matching requests is measured over its latest ones, so the sort a console page
//! asks for stays bounded in memory and time whatever the log holds.

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

/// The most requests one percentile is taken over (the latest of the range).
pub const MAX_SAMPLES: i64 = 100_000;

/// Successful: a status below 400 and no error kind (a broken stream has one).
const OK: &str = "status < 400 AND error_ref IS NULL";

/// Latency percentiles of the requests logged in `from_ms..to_ms` (Unix ms, `to`
/// exclusive).
pub fn latency(conn: &Connection, from_ms: i64, to_ms: i64) -> Result<Latency, AuthError> {
    latency_of_latest(conn, from_ms, to_ms, MAX_SAMPLES)
}

/// [`latency`] over at most the latest `max_samples` matching requests of the range.
pub fn latency_of_latest(
    conn: &Connection,
    from_ms: i64,
    to_ms: i64,
    max_samples: i64,
) -> Result<Latency, AuthError> {
    let range = (from_ms, to_ms, max_samples);
    Ok(Latency {
        total: percentiles(conn, "total_ms", OK, range)?,
        first_token: percentiles(
            conn,
            "ttfb_ms",
            &format!("{OK} AND streamed = 1 AND ttfb_ms IS NOT NULL"),
            range,
        )?,
    })
}

fn percentiles(
    conn: &Connection,
    column: &str,
    condition: &str,
    (from_ms, to_ms, max_samples): (i64, i64, i64),
) -> Result<Percentiles, AuthError> {
    let range = format!(
        "FROM (SELECT {column} AS v FROM request_rows \
         WHERE ts_ms >= ?1 AND ts_ms < ?2 AND {condition} \
         ORDER BY ts_ms DESC LIMIT {max_samples})"
    );
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
        let sql = format!("SELECT v {range} ORDER BY v LIMIT 1 OFFSET ?3");
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
