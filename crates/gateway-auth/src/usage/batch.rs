//! One batch of usage records in one transaction: the `requests` rows, the key
//! spans the request log finds a key's rows by, and the `usage_hourly` rollups they
//! add to, so rows and rollups never disagree.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use rusqlite::{CachedStatement, Connection, ErrorCode, Statement, params};

use super::names::Names;
use super::{CompactString, HOUR_MS, UsageRecord, sql_int};

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

/// A rollup row's identity, as name ids: hour, key, project (0: none), model,
/// provider (0: none). Ids hash faster than the names; a project or provider `""`
/// and none are two identities of one rollup row, which the upsert adds up.
type RollupKey = (i64, i64, i64, i64, i64);

/// The rollups of a batch, by identity.
type Rollups = HashMap<RollupKey, Rollup, BuildHasherDefault<IdHasher>>;

/// Hashes rollup identities: ids the writer's database gave out in sequence, and
/// hours, none of which a caller chooses, so a multiply-rotate does (SipHash cost
/// a third of the map's work).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[derive(Default)]
struct Rollup {
    /// A record of the batch with this identity: the names to upsert under.
    first: usize,
    requests: i64,
    errors: i64,
    input: i64,
    output: i64,
    cached: i64,
    reasoning: i64,
    cost: i64,
    unpriced: i64,
}

/// Where one key's rows of a batch are: a `request_key_spans` row.
struct Span {
    first_id: i64,
    last_id: i64,
    min_ts: i64,
    max_ts: i64,
}

/// The spans of a batch, by key id.
type Spans = HashMap<i64, Span, BuildHasherDefault<IdHasher>>;

/// Widens `key`'s span to take the row `id`, which arrived at `ts`.
fn add_to_span(spans: &mut Spans, key: i64, id: i64, ts: i64) {
    spans
        .entry(key)
        .and_modify(|s| {
            s.first_id = s.first_id.min(id);
            s.last_id = s.last_id.max(id);
            s.min_ts = s.min_ts.min(ts);
            s.max_ts = s.max_ts.max(ts);
        })
        .or_insert(Span {
            first_id: id,
            last_id: id,
            min_ts: ts,
            max_ts: ts,
        });
}

const INSERT_SPAN: &str = "INSERT INTO request_key_spans (key_ref, first_id, last_id, min_ts,
    max_ts) VALUES (?1, ?2, ?3, ?4, ?5)";

/// The columns of `request_rows` a record fills, in binding order: first those every
/// record has, then those most leave at their defaults (no cache writes, no error, no
/// bodies, not a cache hit), which a lean statement leaves out.
const COLUMNS: &str = "request_id, ts_ms, key_ref, project_ref, requested_ref, routed_ref,
    provider_ref, caller_shape_ref, upstream_shape_ref, input_tokens, output_tokens,
    cached_tokens, reasoning_tokens, cost_micros, ttfb_ms, total_ms, status, streamed,
    cache_write_tokens, error_ref, request_body, response_body, cache_hit";
const PER_ROW: usize = 23;
/// The columns of a lean row, a prefix of [`COLUMNS`]: each value bound costs about
/// as much as the VM's work to store it, so five fewer is ~5% of a record.
const PER_LEAN_ROW: usize = 18;

/// Rows per statement, largest first: a batch goes in chunks of 32 rows, and what is
/// left (under 32) in at most five statements of 16, 8, 4, 2 and 1. A statement's
/// start and end (cursors opened, the table's end sought, the statement reset) cost
/// about as much as a row.
const CHUNKS: [usize; 6] = [32, 16, 8, 4, 2, 1];

/// Whether `r` has only defaults in the columns a lean row leaves out.
fn lean(r: &UsageRecord) -> bool {
    r.cache_write_tokens == 0
        && r.error_kind.is_none()
        && r.request_body.is_none()
        && r.response_body.is_none()
        && !r.cache_hit
}

/// `INSERT INTO request_rows` of `rows` rows of `per_row` columns. `OR ROLLBACK`: a
/// statement that may fail half done needs a statement journal to undo its half,
/// which SQLite spills to a temporary file (a write per page touched, ~2 system calls
/// a record). A batch that fails is given up whole anyway, so the whole transaction
/// is what to undo.
fn insert_sql(rows: usize, per_row: usize) -> String {
    let columns = COLUMNS
        .split(',')
        .take(per_row)
        .collect::<Vec<_>>()
        .join(",");
    let one = format!("({})", vec!["?"; per_row].join(", "));
    format!(
        "INSERT OR ROLLBACK INTO request_rows ({columns}) VALUES {}",
        vec![one; rows].join(", ")
    )
}

/// The insert of `CHUNKS[which]` rows, lean or whole.
fn insert_of(which: usize, lean: bool) -> &'static str {
    static SQL: [[OnceLock<String>; CHUNKS.len()]; 2] =
        [const { [const { OnceLock::new() }; CHUNKS.len()] }; 2];
    let per_row = if lean { PER_LEAN_ROW } else { PER_ROW };
    SQL[usize::from(lean)][which].get_or_init(|| insert_sql(CHUNKS[which], per_row))
}

/// Binds `r`'s columns from parameter `first` on: the lean ones, then (unless
/// `lean`) the rest.
fn bind_row(
    stmt: &mut Statement<'_>,
    first: usize,
    r: &UsageRecord,
    refs: &Refs,
    lean: bool,
) -> rusqlite::Result<()> {
    // Each value bound by its own type: binding through `&dyn ToSql` cost a third
    // more per row.
    let at = |column: usize| first + column;
    stmt.raw_bind_parameter(at(1), r.request_id.as_str())?;
    stmt.raw_bind_parameter(at(2), r.ts_ms)?;
    stmt.raw_bind_parameter(at(3), refs.key)?;
    stmt.raw_bind_parameter(at(4), refs.project)?;
    stmt.raw_bind_parameter(at(5), refs.requested)?;
    stmt.raw_bind_parameter(at(6), refs.routed)?;
    stmt.raw_bind_parameter(at(7), refs.provider)?;
    stmt.raw_bind_parameter(at(8), refs.caller_shape)?;
    stmt.raw_bind_parameter(at(9), refs.upstream_shape)?;
    stmt.raw_bind_parameter(at(10), sql_int(r.input_tokens))?;
    stmt.raw_bind_parameter(at(11), sql_int(r.output_tokens))?;
    stmt.raw_bind_parameter(at(12), sql_int(r.cached_tokens))?;
    stmt.raw_bind_parameter(at(13), sql_int(r.reasoning_tokens))?;
    stmt.raw_bind_parameter(at(14), r.cost_micros)?;
    stmt.raw_bind_parameter(at(15), r.ttfb_ms)?;
    stmt.raw_bind_parameter(at(16), r.total_ms)?;
    stmt.raw_bind_parameter(at(17), r.status)?;
    stmt.raw_bind_parameter(at(18), r.streamed)?;
    if !lean {
        stmt.raw_bind_parameter(at(19), sql_int(r.cache_write_tokens))?;
        stmt.raw_bind_parameter(at(20), refs.error_kind)?;
        stmt.raw_bind_parameter(at(21), &r.request_body)?;
        stmt.raw_bind_parameter(at(22), &r.response_body)?;
        stmt.raw_bind_parameter(at(23), r.cache_hit)?;
    }
    Ok(())
}

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

/// A record's names as ids.
#[derive(Clone, Copy)]
struct Refs {
    key: i64,
    project: Option<i64>,
    requested: i64,
    routed: Option<i64>,
    provider: Option<i64>,
    caller_shape: i64,
    upstream_shape: Option<i64>,
    error_kind: Option<i64>,
}

impl Refs {
    /// The ids of `r`'s names: a name the record before had is not looked up again
    /// (most are: a batch's records share their shapes, provider and models).
    fn of(
        r: &UsageRecord,
        prev: Option<&(&UsageRecord, Refs)>,
        names: &mut Names,
        conn: &Connection,
    ) -> rusqlite::Result<Refs> {
        let Some(&(p, same)) = prev else {
            return Ok(Refs {
                key: names.id(conn, &r.key_id)?,
                project: names.id_of(conn, r.project_id.as_deref())?,
                requested: names.id(conn, &r.requested_model)?,
                routed: names.id_of(conn, r.routed_model.as_deref())?,
                provider: names.id_of(conn, r.provider.as_deref())?,
                caller_shape: names.id(conn, &r.caller_shape)?,
                upstream_shape: names.id_of(conn, r.upstream_shape.as_deref())?,
                error_kind: names.id_of(conn, r.error_kind.as_deref())?,
            });
        };
        let mut one = |name: &str, was: &str, id: i64| {
            if name == was {
                Ok(id)
            } else {
                names.id(conn, name)
            }
        };
        let key = one(&r.key_id, &p.key_id, same.key)?;
        let requested = one(&r.requested_model, &p.requested_model, same.requested)?;
        let caller_shape = one(&r.caller_shape, &p.caller_shape, same.caller_shape)?;
        let mut maybe =
            |name: &Option<CompactString>, was: &Option<CompactString>, id: Option<i64>| {
                if name == was {
                    Ok(id)
                } else {
                    names.id_of(conn, name.as_deref())
                }
            };
        Ok(Refs {
            key,
            project: maybe(&r.project_id, &p.project_id, same.project)?,
            requested,
            routed: maybe(&r.routed_model, &p.routed_model, same.routed)?,
            provider: maybe(&r.provider, &p.provider, same.provider)?,
            caller_shape,
            upstream_shape: maybe(&r.upstream_shape, &p.upstream_shape, same.upstream_shape)?,
            error_kind: maybe(&r.error_kind, &p.error_kind, same.error_kind)?,
        })
    }
}

/// Adds record `i` of the batch, `r`, to its rollup.
fn add_up(rollups: &mut Rollups, i: usize, r: &UsageRecord, refs: &Refs) {
    let key = (
        r.ts_ms.div_euclid(HOUR_MS) * HOUR_MS,
        refs.key,
        refs.project.unwrap_or(0),
        refs.routed.unwrap_or(refs.requested),
        refs.provider.unwrap_or(0),
    );
    let e = rollups.entry(key).or_insert_with(|| Rollup {
        first: i,
        ..Rollup::default()
    });
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

/// Inserts `batch` and upserts its rollups in one transaction; `names` learns the
/// names the transaction added only if it commits.
pub(super) fn write_batch(
    conn: &mut Connection,
    names: &mut Names,
    batch: &[UsageRecord],
) -> rusqlite::Result<()> {
    let written = write(conn, names, batch);
    match written {
        Ok(()) => names.committed(),
        Err(_) => names.rolled_back(),
    }
    written
}

fn write(conn: &mut Connection, names: &mut Names, batch: &[UsageRecord]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let mut rollups = Rollups::default();
    let mut spans = Spans::default();
    {
        // Statements are prepared as the batch first needs them: most batches use
        // only the lean ones.
        let mut inserts: [[Option<CachedStatement<'_>>; CHUNKS.len()]; 2] = Default::default();
        let mut prev: Option<(&UsageRecord, Refs)> = None;
        let mut start = 0;
        while start < batch.len() {
            let which = CHUNKS
                .iter()
                .position(|&rows| rows <= batch.len() - start)
                .unwrap_or(CHUNKS.len() - 1);
            let rows = CHUNKS[which];
            let chunk = &batch[start..start + rows];
            let lean = chunk.iter().all(lean);
            let insert = match &mut inserts[usize::from(lean)][which] {
                Some(stmt) => stmt,
                slot => slot.insert(tx.prepare_cached(insert_of(which, lean))?),
            };
            let per_row = if lean { PER_LEAN_ROW } else { PER_ROW };
            let mut keys = [0i64; CHUNKS[0]];
            for (at, r) in chunk.iter().enumerate() {
                let refs = Refs::of(r, prev.as_ref(), names, &tx)?;
                bind_row(insert, at * per_row, r, &refs, lean)?;
                add_up(&mut rollups, start + at, r, &refs);
                keys[at] = refs.key;
                prev = Some((r, refs));
            }
            insert.raw_execute()?;
            // The rows of one statement take consecutive ids, the last one's being
            // the connection's last insert: nothing else writes in this transaction.
            let first_id = tx.last_insert_rowid() - rows as i64 + 1;
            for (at, r) in chunk.iter().enumerate() {
                add_to_span(&mut spans, keys[at], first_id + at as i64, r.ts_ms);
            }
            start += rows;
        }
        let mut insert_span = tx.prepare_cached(INSERT_SPAN)?;
        for (key, s) in &spans {
            insert_span.execute(params![key, s.first_id, s.last_id, s.min_ts, s.max_ts])?;
        }
    }
    {
        let mut upsert = tx.prepare_cached(UPSERT)?;
        for ((hour, ..), r) in &rollups {
            let named = &batch[r.first];
            upsert.execute(params![
                hour,
                named.key_id.as_str(),
                named.project_id.as_deref().unwrap_or(""),
                named.rollup_model(),
                named.provider.as_deref().unwrap_or(""),
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

#[cfg(test)]
mod tests;
