//! One batch of usage records in one transaction: the `requests` rows and the
//! `usage_hourly` rollups they add to, so rows and rollups never disagree.

use std::collections::HashMap;

use rusqlite::{Connection, ErrorCode, params};

use super::{HOUR_MS, UsageRecord, sql_int};

/// Whether a failed commit may work later: the database busy or locked past the
/// busy timeout, a full disk, an I/O error, a read-only file an operator can fix.
/// What the database refuses for good (a value too big, a constraint) will not.
pub(super) fn transient(err: &rusqlite::Error) -> bool {
    match err.sqlite_error_code() {
        Some(code) => !matches!(
            code,
            ErrorCode::TooBig | ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch
        ),
        // Not SQLite's: a value that could not be bound; it will not bind later.
        None => false,
    }
}

/// A rollup row's identity: hour, key, project (`''`: none), model, provider (`''`).
type RollupKey<'a> = (i64, &'a str, &'a str, &'a str, &'a str);

#[derive(Default)]
struct Rollup {
    requests: i64,
    errors: i64,
    input: i64,
    output: i64,
    cached: i64,
    reasoning: i64,
    cost: i64,
    unpriced: i64,
}

const INSERT: &str = "INSERT INTO requests (request_id, ts_ms, key_id, project_id,
    requested_model, routed_model, provider, caller_shape, upstream_shape, input_tokens,
    output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost_micros,
    ttfb_ms, total_ms, status, streamed, error_kind, request_body, response_body)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
    ?18, ?19, ?20, ?21, ?22)";

const UPSERT: &str = "INSERT INTO usage_hourly (hour_ms, key_id, project_id, model,
    provider, requests, errors, input_tokens, output_tokens, cached_tokens,
    reasoning_tokens, cost_micros, unpriced)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
    ON CONFLICT (hour_ms, key_id, project_id, model, provider) DO UPDATE SET
    requests = requests + excluded.requests, errors = errors + excluded.errors,
    input_tokens = input_tokens + excluded.input_tokens,
    output_tokens = output_tokens + excluded.output_tokens,
    cached_tokens = cached_tokens + excluded.cached_tokens,
    reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
    cost_micros = cost_micros + excluded.cost_micros,
    unpriced = unpriced + excluded.unpriced";

/// Inserts `batch` and upserts its rollups in one transaction.
pub(super) fn write_batch(conn: &mut Connection, batch: &[UsageRecord]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let mut rollups: HashMap<RollupKey<'_>, Rollup> = HashMap::new();
    {
        let mut insert = tx.prepare_cached(INSERT)?;
        for r in batch {
            insert.execute(params![
                r.request_id,
                r.ts_ms,
                r.key_id,
                r.project_id,
                r.requested_model,
                r.routed_model,
                r.provider,
                r.caller_shape,
                r.upstream_shape,
                sql_int(r.input_tokens),
                sql_int(r.output_tokens),
                sql_int(r.cached_tokens),
                sql_int(r.cache_write_tokens),
                sql_int(r.reasoning_tokens),
                r.cost_micros,
                r.ttfb_ms,
                r.total_ms,
                r.status,
                r.streamed,
                r.error_kind,
                r.request_body,
                r.response_body,
            ])?;
            let key = (
                r.ts_ms.div_euclid(HOUR_MS) * HOUR_MS,
                r.key_id.as_str(),
                r.project_id.as_deref().unwrap_or(""),
                r.rollup_model(),
                r.provider.as_deref().unwrap_or(""),
            );
            let e = rollups.entry(key).or_default();
            e.requests += 1;
            e.errors += i64::from(r.is_error());
            e.input = e.input.saturating_add(sql_int(r.input_tokens));
            e.output = e.output.saturating_add(sql_int(r.output_tokens));
            e.cached = e.cached.saturating_add(sql_int(r.cached_tokens));
            e.reasoning = e.reasoning.saturating_add(sql_int(r.reasoning_tokens));
            match r.cost_micros {
                Some(c) => e.cost = e.cost.saturating_add(c),
                None => e.unpriced += 1,
            }
        }
    }
    {
        let mut upsert = tx.prepare_cached(UPSERT)?;
        for ((hour, key, project, model, provider), r) in &rollups {
            upsert.execute(params![
                hour,
                key,
                project,
                model,
                provider,
                r.requests,
                r.errors,
                r.input,
                r.output,
                r.cached,
                r.reasoning,
                r.cost,
                r.unpriced
            ])?;
        }
    }
    tx.commit()
}
