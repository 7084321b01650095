//! Usage on PostgreSQL: `gateway-auth`'s [`UsageSink`] (the writer's batches) and
//! [`UsageReader`] (the admin API's and the limiter's reads).
//!
//! A batch is two statements in one transaction, whatever its size: the rows go in
//! as arrays through `UNNEST`, and the batch's rollups, summed here first, are
//! upserted the same way. Rollup rows are upserted in a fixed order, so instances
//! writing the same hours at once wait for each other rather than deadlock.

use std::collections::BTreeMap;

use gateway_auth::AuthError;
use gateway_auth::limits::Scope;
use gateway_auth::usage::latency::{Latency, Percentiles};
use gateway_auth::usage::reader::{Spent, UsageReader, WindowSums};
use gateway_auth::usage::{
    Bucket, CompactString, GroupBy, LogPage, LogQuery, LoggedRequest, SinkError, UsageFilter,
    UsageGroup, UsagePoint, UsageRecord, UsageSink, UsageTotals,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::PgError;
use crate::pool::Postgres;

const HOUR_MS: i64 = 3_600_000;

/// Usage in a PostgreSQL database: the writer's sink and the readers' source.
#[derive(Debug, Clone)]
pub struct PgUsage {
    pg: Postgres,
}

impl PgUsage {
    /// Usage in `pg`.
    pub fn new(pg: Postgres) -> PgUsage {
        PgUsage { pg }
    }
}

/// Whether a failure may pass: anything but a value or constraint the server refuses
/// (SQLSTATE classes 22 and 23), which retrying cannot change.
fn sink_error(e: PgError) -> SinkError {
    let lasting = match &e {
        PgError::Db(err) => err
            .code()
            .is_some_and(|c| c.code().starts_with("22") || c.code().starts_with("23")),
        _ => false,
    };
    SinkError {
        lasting,
        error: e.into(),
    }
}

const INSERT_ROWS: &str = "INSERT INTO requests (request_id, ts_ms, key_id, project_id,
    requested_model, routed_model, provider, caller_shape, upstream_shape, input_tokens,
    output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost_micros,
    ttfb_ms, total_ms, status, streamed, error_kind, request_body, response_body, cache_hit)
    SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
    $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::BIGINT[], $11::BIGINT[],
    $12::BIGINT[], $13::BIGINT[], $14::BIGINT[], $15::BIGINT[], $16::BIGINT[],
    $17::BIGINT[], $18::INTEGER[], $19::BOOLEAN[], $20::TEXT[], $21::BYTEA[], $22::BYTEA[],
    $23::BOOLEAN[])";

const UPSERT_ROLLUPS: &str = "INSERT INTO usage_hourly AS u (hour_ms, key_id, project_id,
    model, provider, requests, errors, input_tokens, output_tokens, cached_tokens,
    reasoning_tokens, cost_micros, unpriced)
    SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
    $6::BIGINT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[], $11::BIGINT[],
    $12::BIGINT[], $13::BIGINT[])
    ON CONFLICT (hour_ms, key_id, project_id, model, provider) DO UPDATE SET
    requests = u.requests + excluded.requests, errors = u.errors + excluded.errors,
    input_tokens = u.input_tokens + excluded.input_tokens,
    output_tokens = u.output_tokens + excluded.output_tokens,
    cached_tokens = u.cached_tokens + excluded.cached_tokens,
    reasoning_tokens = u.reasoning_tokens + excluded.reasoning_tokens,
    cost_micros = u.cost_micros + excluded.cost_micros,
    unpriced = u.unpriced + excluded.unpriced";

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The batch's rows as one array per column.
#[derive(Default)]
struct Columns<'a> {
    request_id: Vec<&'a str>,
    ts: Vec<i64>,
    key: Vec<&'a str>,
    project: Vec<Option<&'a str>>,
    requested: Vec<&'a str>,
    routed: Vec<Option<&'a str>>,
    provider: Vec<Option<&'a str>>,
    caller: Vec<&'a str>,
    upstream: Vec<Option<&'a str>>,
    tokens: [Vec<i64>; 5],
    cost: Vec<Option<i64>>,
    ttfb: Vec<Option<i64>>,
    total: Vec<i64>,
    status: Vec<i32>,
    streamed: Vec<bool>,
    error: Vec<Option<&'a str>>,
    request_body: Vec<Option<&'a [u8]>>,
    response_body: Vec<Option<&'a [u8]>>,
    cache_hit: Vec<bool>,
}

impl<'a> Columns<'a> {
    fn of(batch: &'a [UsageRecord]) -> Columns<'a> {
        let mut c = Columns::default();
        for r in batch {
            c.request_id.push(&r.request_id);
            c.ts.push(r.ts_ms);
            c.key.push(&r.key_id);
            c.project.push(r.project_id.as_deref());
            c.requested.push(&r.requested_model);
            c.routed.push(r.routed_model.as_deref());
            c.provider.push(r.provider.as_deref());
            c.caller.push(&r.caller_shape);
            c.upstream.push(r.upstream_shape.as_deref());
            let tokens = [
                r.input_tokens,
                r.output_tokens,
                r.cached_tokens,
                r.cache_write_tokens,
                r.reasoning_tokens,
            ];
            for (column, v) in c.tokens.iter_mut().zip(tokens) {
                column.push(int(v));
            }
            c.cost.push(r.cost_micros);
            c.ttfb.push(r.ttfb_ms);
            c.total.push(r.total_ms);
            c.status.push(i32::from(r.status));
            c.streamed.push(r.streamed);
            c.error.push(r.error_kind.as_deref());
            c.request_body.push(r.request_body.as_deref());
            c.response_body.push(r.response_body.as_deref());
            c.cache_hit.push(r.cache_hit);
        }
        c
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 23] {
        [
            &self.request_id,
            &self.ts,
            &self.key,
            &self.project,
            &self.requested,
            &self.routed,
            &self.provider,
            &self.caller,
            &self.upstream,
            &self.tokens[0],
            &self.tokens[1],
            &self.tokens[2],
            &self.tokens[3],
            &self.tokens[4],
            &self.cost,
            &self.ttfb,
            &self.total,
            &self.status,
            &self.streamed,
            &self.error,
            &self.request_body,
            &self.response_body,
            &self.cache_hit,
        ]
    }
}

/// A rollup row's identity: hour, key, project (`""`: none), model, provider.
type RollupKey<'a> = (i64, &'a str, &'a str, &'a str, &'a str);

/// The batch's rollups, summed, in key order (the order rows are locked in).
fn rollups(batch: &[UsageRecord]) -> BTreeMap<RollupKey<'_>, [i64; 8]> {
    let mut all: BTreeMap<RollupKey<'_>, [i64; 8]> = BTreeMap::new();
    for r in batch {
        let key = (
            r.ts_ms.div_euclid(HOUR_MS) * HOUR_MS,
            r.key_id.as_str(),
            r.project_id.as_deref().unwrap_or(""),
            r.rollup_model(),
            r.provider.as_deref().unwrap_or(""),
        );
        let s = all.entry(key).or_default();
        s[0] += 1;
        s[1] += i64::from(r.is_error());
        s[2] += int(r.input_tokens);
        s[3] += int(r.output_tokens);
        s[4] += int(r.cached_tokens);
        s[5] += int(r.reasoning_tokens);
        s[6] += r.cost_micros.unwrap_or(0);
        s[7] += i64::from(r.cost_micros.is_none());
    }
    all
}

impl UsageSink for PgUsage {
    fn write(&mut self, batch: &[UsageRecord]) -> Result<(), SinkError> {
        let columns = Columns::of(batch);
        let sums = rollups(batch);
        let mut keys: [Vec<&str>; 4] = Default::default();
        let mut hours = Vec::with_capacity(sums.len());
        let mut values: [Vec<i64>; 8] = Default::default();
        for ((hour, key, project, model, provider), s) in &sums {
            hours.push(*hour);
            for (column, v) in keys.iter_mut().zip([*key, *project, *model, *provider]) {
                column.push(v);
            }
            for (column, v) in values.iter_mut().zip(s) {
                column.push(*v);
            }
        }
        let mut rollup_params: Vec<&(dyn ToSql + Sync)> = vec![&hours];
        rollup_params.extend(keys.iter().map(|k| k as &(dyn ToSql + Sync)));
        rollup_params.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
        let pg = &self.pg;
        pg.block_on(async {
            let mut client = pg.client().await?;
            let tx = client.transaction().await?;
            tx.execute(INSERT_ROWS, &columns.params()).await?;
            tx.execute(UPSERT_ROLLUPS, &rollup_params).await?;
            tx.commit().await?;
            Ok::<_, PgError>(())
        })
        .map_err(sink_error)
    }

    fn prune(&mut self, before_ms: i64) -> Result<u64, AuthError> {
        let pg = &self.pg;
        pg.block_on(async {
            let client = pg.client().await?;
            let mut total = 0;
            // In chunks, so no one transaction holds many row locks for long.
            loop {
                let n = client
                    .execute(
                        "DELETE FROM requests WHERE id IN \
                         (SELECT id FROM requests WHERE ts_ms < $1 LIMIT 10000)",
                        &[&before_ms],
                    )
                    .await?;
                total += n;
                if n < 10_000 {
                    return Ok::<_, PgError>(total);
                }
            }
        })
        .map_err(Into::into)
    }
}

const SUMS: &str = "SUM(requests)::BIGINT, SUM(errors)::BIGINT, SUM(input_tokens)::BIGINT,
    SUM(output_tokens)::BIGINT, SUM(cached_tokens)::BIGINT, SUM(reasoning_tokens)::BIGINT,
    SUM(cost_micros)::BIGINT, SUM(unpriced)::BIGINT";

/// A query's SQL and its parameters, numbered as they are pushed.
#[derive(Default)]
struct Query {
    sql: String,
    args: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Query {
    /// Appends `clause`, whose `$` stands for the next parameter, and `value`.
    fn cond(&mut self, clause: &str, value: impl ToSql + Sync + Send + 'static) {
        self.args.push(Box::new(value));
        self.sql
            .push_str(&clause.replace('$', &format!("${}", self.args.len())));
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

fn filtered(f: &UsageFilter) -> Query {
    let mut q = Query::default();
    q.sql.push_str(" WHERE TRUE");
    q.cond(" AND hour_ms >= $", f.from_ms.div_euclid(HOUR_MS) * HOUR_MS);
    q.cond(" AND hour_ms < $", f.to_ms);
    for (column, value) in [
        ("key_id", &f.key_id),
        ("project_id", &f.project_id),
        ("model", &f.model),
        ("provider", &f.provider),
    ] {
        if let Some(v) = value {
            q.cond(&format!(" AND {column} = $"), v.clone());
        }
    }
    q
}

fn totals_at(row: &Row, first: usize) -> UsageTotals {
    let n = |i: usize| -> u64 {
        let v: Option<i64> = row.get(first + i);
        v.map_or(0, |v| u64::try_from(v).unwrap_or(0))
    };
    UsageTotals {
        requests: n(0),
        errors: n(1),
        input_tokens: n(2),
        output_tokens: n(3),
        cached_tokens: n(4),
        reasoning_tokens: n(5),
        cost_micros: row.get::<_, Option<i64>>(first + 6).unwrap_or(0),
        unpriced: n(7),
    }
}

impl PgUsage {
    fn rows(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, AuthError> {
        let pg = &self.pg;
        Ok(pg.block_on(async {
            let client = pg.client().await?;
            Ok::<_, PgError>(client.query(sql, params).await?)
        })?)
    }
}

impl UsageReader for PgUsage {
    fn totals(
        &self,
        filter: &UsageFilter,
        group: Option<GroupBy>,
    ) -> Result<Vec<UsageGroup>, AuthError> {
        let q = filtered(filter);
        let column = group.map_or("''", GroupBy::column);
        let sql = format!(
            "SELECT {column} AS g, {SUMS} FROM usage_hourly{} GROUP BY g
             HAVING SUM(requests) > 0 ORDER BY SUM(cost_micros) DESC, g",
            q.sql
        );
        let rows = self.rows(&sql, &q.params())?;
        Ok(rows
            .iter()
            .map(|row| UsageGroup {
                group: row.get(0),
                totals: totals_at(row, 1),
            })
            .collect())
    }

    fn series(
        &self,
        filter: &UsageFilter,
        bucket: Bucket,
        group: Option<GroupBy>,
    ) -> Result<Vec<UsagePoint>, AuthError> {
        let q = filtered(filter);
        let b = match bucket {
            Bucket::Hour => "hour_ms",
            Bucket::Day => "(hour_ms / 86400000) * 86400000",
        };
        let column = group.map_or("''", GroupBy::column);
        let sql = format!(
            "SELECT {b} AS b, {column} AS g, {SUMS} FROM usage_hourly{}
             GROUP BY b, g ORDER BY b, g",
            q.sql
        );
        let rows = self.rows(&sql, &q.params())?;
        Ok(rows
            .iter()
            .map(|row| UsagePoint {
                bucket_ms: row.get(0),
                group: row.get(1),
                totals: totals_at(row, 2),
            })
            .collect())
    }

    fn request_log(&self, lq: &LogQuery) -> Result<LogPage, AuthError> {
        let mut q = Query::default();
        q.sql.push_str(
            "SELECT id, request_id, ts_ms, key_id, project_id, requested_model, routed_model,
             provider, caller_shape, upstream_shape, input_tokens, output_tokens,
             cached_tokens, cache_write_tokens, reasoning_tokens, cost_micros, ttfb_ms,
             total_ms, status, streamed, error_kind, request_body, response_body, cache_hit
             FROM requests WHERE TRUE",
        );
        if let Some(k) = &lq.key_id {
            q.cond(" AND key_id = $", k.clone());
        }
        if let Some(m) = &lq.model {
            q.cond(" AND (requested_model = $", m.clone());
            q.cond(" OR routed_model = $)", m.clone());
        }
        if let Some(s) = lq.status {
            q.cond(" AND status = $", i32::from(s));
        }
        if let Some(t) = lq.from_ms {
            q.cond(" AND ts_ms >= $", t);
        }
        if let Some(t) = lq.to_ms {
            q.cond(" AND ts_ms < $", t);
        }
        if let Some(id) = lq.before_id {
            q.cond(" AND id < $", id);
        }
        if lq.errors_only {
            q.sql
                .push_str(" AND (status >= 400 OR error_kind IS NOT NULL)");
        }
        // One more than asked says whether there is a next page.
        let limit = lq.limit.max(1);
        q.sql
            .push_str(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
        let rows = self.rows(&q.sql, &q.params())?;
        let mut entries: Vec<LoggedRequest> = rows.iter().map(logged).collect();
        let next = if entries.len() > limit {
            entries.truncate(limit);
            entries.last().map(|e| e.id)
        } else {
            None
        };
        Ok(LogPage { entries, next })
    }

    fn latency(&self, from_ms: i64, to_ms: i64) -> Result<Latency, AuthError> {
        const OK: &str = "status < 400 AND error_kind IS NULL";
        let total = self.percentiles("total_ms", OK, from_ms, to_ms)?;
        let first_token = self.percentiles(
            "ttfb_ms",
            &format!("{OK} AND streamed AND ttfb_ms IS NOT NULL"),
            from_ms,
            to_ms,
        )?;
        Ok(Latency { total, first_token })
    }

    fn spent(&self, day_start_ms: i64, month_start_ms: i64) -> Result<Vec<Spent>, AuthError> {
        let mut all = Vec::new();
        for (column, scope) in [("key_id", Scope::Key), ("project_id", Scope::Project)] {
            let sql = format!(
                "SELECT {column},
                    SUM(CASE WHEN hour_ms >= $1 THEN input_tokens ELSE 0 END)::BIGINT,
                    SUM(CASE WHEN hour_ms >= $1 THEN output_tokens ELSE 0 END)::BIGINT,
                    SUM(CASE WHEN hour_ms >= $1 THEN cost_micros ELSE 0 END)::BIGINT,
                    SUM(CASE WHEN hour_ms >= $2 THEN input_tokens ELSE 0 END)::BIGINT,
                    SUM(CASE WHEN hour_ms >= $2 THEN output_tokens ELSE 0 END)::BIGINT,
                    SUM(CASE WHEN hour_ms >= $2 THEN cost_micros ELSE 0 END)::BIGINT,
                    SUM(cost_micros)::BIGINT
                 FROM usage_hourly WHERE {column} != '' GROUP BY {column}"
            );
            for row in self.rows(&sql, &[&day_start_ms, &month_start_ms])? {
                let mut s = [0u64; 7];
                for (i, sum) in s.iter_mut().enumerate() {
                    let v: Option<i64> = row.get(i + 1);
                    *sum = v.map_or(0, |v| u64::try_from(v).unwrap_or(0));
                }
                all.push(Spent {
                    scope,
                    id: row.get(0),
                    sums: WindowSums::from_array(s),
                });
            }
        }
        Ok(all)
    }
}

impl PgUsage {
    /// Nearest-rank p50 and p95 of `column` over the newest samples in the range
    /// (`percentile_disc` is nearest-rank), as the SQLite reader computes them.
    fn percentiles(
        &self,
        column: &str,
        condition: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Percentiles, AuthError> {
        let max = gateway_auth::usage::latency::MAX_SAMPLES;
        let sql = format!(
            "SELECT COUNT(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY v),
                 percentile_disc(0.95) WITHIN GROUP (ORDER BY v)
             FROM (SELECT {column} AS v FROM requests
                   WHERE ts_ms >= $1 AND ts_ms < $2 AND {condition}
                   ORDER BY ts_ms DESC LIMIT {max}) s"
        );
        let rows = self.rows(&sql, &[&from_ms, &to_ms])?;
        let Some(row) = rows.first() else {
            return Ok(Percentiles::default());
        };
        let samples = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        if samples == 0 {
            return Ok(Percentiles::default());
        }
        Ok(Percentiles {
            samples,
            p50_ms: row.get(1),
            p95_ms: row.get(2),
        })
    }
}

fn logged(row: &Row) -> LoggedRequest {
    let n = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
    let text = |i: usize| CompactString::from(row.get::<_, &str>(i));
    let maybe = |i: usize| row.get::<_, Option<&str>>(i).map(CompactString::from);
    LoggedRequest {
        id: row.get(0),
        record: UsageRecord {
            request_id: text(1),
            ts_ms: row.get(2),
            key_id: text(3),
            project_id: maybe(4),
            requested_model: text(5),
            routed_model: maybe(6),
            provider: maybe(7),
            caller_shape: text(8),
            upstream_shape: maybe(9),
            input_tokens: n(10),
            output_tokens: n(11),
            cached_tokens: n(12),
            cache_write_tokens: n(13),
            reasoning_tokens: n(14),
            cost_micros: row.get(15),
            ttfb_ms: row.get(16),
            total_ms: row.get(17),
            status: u16::try_from(row.get::<_, i32>(18)).unwrap_or(0),
            streamed: row.get(19),
            error_kind: maybe(20),
            request_body: row.get(21),
            response_body: row.get(22),
            cache_hit: row.get(23),
        },
    }
}
