//! The usage writer: a bounded channel in front of one thread that owns a connection
//! and commits records in batches, with their rollups, one transaction per batch.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use super::{HOUR_MS, UsageRecord, query, sql_int};
use crate::error::AuthError;
use crate::migrate;

/// How the writer batches and prunes.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Records the channel holds before `record` starts dropping.
    pub capacity: usize,
    /// Most records per transaction.
    pub batch_max: usize,
    /// Longest a record waits for its batch to fill.
    pub batch_window: Duration,
    /// Delete `requests` rows older than this (rollups are kept); `None` keeps all.
    pub retention: Option<Duration>,
    /// How often retention runs (also once at start).
    pub prune_every: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            // ~5 s at 20,000 requests/s: room for a slow disk moment.
            capacity: 100_000,
            batch_max: 1_000,
            batch_window: Duration::from_millis(200),
            retention: None,
            prune_every: Duration::from_secs(3600),
        }
    }
}

/// What the writer has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Records committed.
    pub written: u64,
    /// Records refused because the channel was full or the writer had stopped.
    pub dropped: u64,
    /// Records lost because their batch failed to commit (logged).
    pub failed: u64,
    /// `requests` rows deleted by retention.
    pub pruned: u64,
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    pruned: AtomicU64,
}

enum Msg {
    Record(Box<UsageRecord>),
    /// Commit everything before this, then answer.
    Flush(SyncSender<()>),
    /// Commit everything before this, answer, and stop.
    Shutdown(SyncSender<()>),
}

/// The handle the server records through; cheap to clone, one per task if need be.
#[derive(Debug, Clone)]
pub struct UsageWriter {
    tx: SyncSender<Msg>,
    counters: Arc<Counters>,
}

/// The writer thread; [`WriterThread::join`] waits for it to end (after
/// [`UsageWriter::shutdown`], or once every handle is dropped and the queue written).
#[derive(Debug)]
pub struct WriterThread {
    handle: JoinHandle<()>,
    counters: Arc<Counters>,
}

impl WriterThread {
    /// Waits for the thread to end; its final counts.
    pub fn join(self) -> WriterStats {
        if self.handle.join().is_err() {
            tracing::error!("the usage writer thread panicked");
        }
        stats(&self.counters)
    }
}

fn stats(c: &Counters) -> WriterStats {
    WriterStats {
        written: c.written.load(Ordering::Relaxed),
        dropped: c.dropped.load(Ordering::Relaxed),
        failed: c.failed.load(Ordering::Relaxed),
        pruned: c.pruned.load(Ordering::Relaxed),
    }
}

impl UsageWriter {
    /// Opens (and migrates) the database at `path` and starts the writer on it.
    pub fn start(
        path: &Path,
        config: WriterConfig,
    ) -> Result<(UsageWriter, WriterThread), AuthError> {
        let conn = migrate::open(path)?;
        UsageWriter::start_with(conn, config)
    }

    /// Starts the writer on a connection it will own (already migrated).
    pub fn start_with(
        conn: Connection,
        config: WriterConfig,
    ) -> Result<(UsageWriter, WriterThread), AuthError> {
        let (tx, rx) = mpsc::sync_channel(config.capacity.max(1));
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            conn,
            config,
            counters: counters.clone(),
            last_prune: None,
        };
        let handle = std::thread::Builder::new()
            .name("usage-writer".into())
            .spawn(move || worker.run(rx))?;
        Ok((
            UsageWriter {
                tx,
                counters: counters.clone(),
            },
            WriterThread { handle, counters },
        ))
    }

    /// Queues `record` without ever blocking; false (and counted, and logged) when
    /// the queue is full or the writer has stopped.
    pub fn record(&self, record: UsageRecord) -> bool {
        match self.tx.try_send(Msg::Record(Box::new(record))) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let n = self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                // The first drop, then every 1,000th: a flood must not flood the log.
                if n % 1000 == 0 {
                    tracing::warn!(
                        dropped = n + 1,
                        "usage writer queue full or stopped: usage records dropped"
                    );
                }
                false
            }
        }
    }

    /// Waits until everything queued before this call is committed; false when the
    /// writer has stopped.
    pub fn flush(&self) -> bool {
        self.ask(Msg::Flush)
    }

    /// Commits everything queued before this call and stops the writer; later
    /// records are dropped. False when it had already stopped.
    pub fn shutdown(&self) -> bool {
        self.ask(Msg::Shutdown)
    }

    fn ask(&self, msg: fn(SyncSender<()>) -> Msg) -> bool {
        let (ack, done) = mpsc::sync_channel(1);
        // A blocking send: flushing waits for room like it waits for the commit.
        self.tx.send(msg(ack)).is_ok() && done.recv().is_ok()
    }

    /// The counts so far.
    pub fn stats(&self) -> WriterStats {
        stats(&self.counters)
    }
}

struct Worker {
    conn: Connection,
    config: WriterConfig,
    counters: Arc<Counters>,
    last_prune: Option<Instant>,
}

impl Worker {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut batch: Vec<UsageRecord> = Vec::with_capacity(self.config.batch_max);
        loop {
            self.maybe_prune();
            // Idle: wake up for retention now and then.
            let first = match rx.recv_timeout(self.config.prune_every) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let deadline = Instant::now() + self.config.batch_window;
            let mut next = Some(first);
            let mut reply = None;
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Record(r) => batch.push(*r),
                    Msg::Flush(ack) => {
                        reply = Some((ack, false));
                        break;
                    }
                    Msg::Shutdown(ack) => {
                        reply = Some((ack, true));
                        break;
                    }
                }
                if batch.len() >= self.config.batch_max {
                    break;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(msg) => next = Some(msg),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        // Every handle is gone: what was queued is all there is.
                        self.commit(&mut batch);
                        return;
                    }
                }
            }
            self.commit(&mut batch);
            match reply {
                Some((ack, true)) => {
                    // Records another thread queued before the shutdown arrived.
                    while let Ok(msg) = rx.try_recv() {
                        if let Msg::Record(r) = msg {
                            batch.push(*r);
                            if batch.len() >= self.config.batch_max {
                                self.commit(&mut batch);
                            }
                        }
                    }
                    self.commit(&mut batch);
                    let _ = ack.send(());
                    return;
                }
                Some((ack, false)) => {
                    // The asker may have given up waiting; nothing to do then.
                    let _ = ack.send(());
                }
                None => {}
            }
        }
    }

    fn commit(&mut self, batch: &mut Vec<UsageRecord>) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        match write_batch(&mut self.conn, batch) {
            Ok(()) => {
                self.counters.written.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.failed.fetch_add(n, Ordering::Relaxed);
                tracing::error!(records = n, error = %e, "usage batch lost: commit failed");
            }
        }
        batch.clear();
    }

    fn maybe_prune(&mut self) {
        let Some(retention) = self.config.retention else {
            return;
        };
        if self
            .last_prune
            .is_some_and(|t| t.elapsed() < self.config.prune_every)
        {
            return;
        }
        self.last_prune = Some(Instant::now());
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let cutoff =
            now_ms.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        match query::prune(&self.conn, cutoff) {
            Ok(n) => {
                self.counters.pruned.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(error = %e, "request log retention failed"),
        }
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
pub(crate) fn write_batch(conn: &mut Connection, batch: &[UsageRecord]) -> rusqlite::Result<()> {
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
