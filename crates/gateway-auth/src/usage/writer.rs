//! The usage writer: a queue bounded in bytes in front of one thread that owns a
//! connection and commits records in batches, with their rollups, one transaction per
//! batch. A batch that fails to commit (a database locked past its busy timeout, a
//! full disk) is kept and tried again, with backoff, while new records keep queueing.
//! The queue ([`super::inbox`]) wakes the thread once per batch, not per record.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::UsageRecord;
use super::inbox::{Msg, Phase, Queue};
use super::sink::{SqliteSink, UsageSink};
use crate::error::AuthError;
use crate::migrate;
pub use counters::WriterStats;
use counters::{Counters, footprint, stats};

/// How the writer queues, batches, retries and prunes.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Most memory the records waiting to be committed may take (an estimate: their
    /// bodies, strings and fixed size); past it `record` drops new ones.
    pub max_queued_bytes: usize,
    /// Most records waiting to be committed, whatever their size.
    pub capacity: usize,
    /// Most records per transaction.
    pub batch_max: usize,
    /// Longest a record waits for its batch to fill.
    pub batch_window: Duration,
    /// The first wait before a failed batch is tried again; it doubles per failure...
    pub retry_min: Duration,
    /// ...up to this.
    pub retry_max: Duration,
    /// How long `flush` and `shutdown` wait for failing batches: past it `shutdown`
    /// gives them up (counted as failed) and `flush` returns false (they stay queued).
    pub give_up_after: Duration,
    /// Delete `requests` rows older than this (rollups are kept); `None` keeps all.
    pub retention: Option<Duration>,
    /// How often retention runs (also once at start).
    pub prune_every: Duration,
    /// Called on the writer's thread when it goes idle after a burst, once it has
    /// handed back the room the burst grew: a sleeping thread's allocator caches
    /// are otherwise kept (the gateway passes its allocator's release).
    pub on_quiet: Option<fn()>,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            // ~300,000 plain records (~850 bytes each, queue slot counted twice): ~15 s
            // of a stuck disk at 20,000 requests/s, or 30 answers logged whole at the
            // 4 MiB cap each.
            max_queued_bytes: 256 << 20,
            // A backstop only: the byte bound comes first for any real record.
            capacity: 1_000_000,
            // A commit's cost per record falls with its size (each touched page is
            // written once per commit: 4,000 costs ~1 µs of CPU less per record than
            // 1,000), but a larger commit takes longer, and records arriving during
            // it are durable only after the next one: at 2,000 a kill -9 under load
            // still loses no more than the last window (docs/BENCHMARKS.md).
            batch_max: 2_000,
            batch_window: Duration::from_millis(200),
            retry_min: Duration::from_millis(50),
            retry_max: Duration::from_secs(5),
            give_up_after: Duration::from_secs(10),
            retention: None,
            prune_every: Duration::from_secs(3600),
            on_quiet: None,
        }
    }
}

/// Records' room each of the writer's three vectors (the inbox, the messages taken
/// from it, the open batch) keeps once it goes idle; more is handed back then.
const QUIET_ROOM: usize = 64;

/// The handle the server records through; cheap to clone, one per task if need be.
#[derive(Clone)]
pub struct UsageWriter {
    handle: Arc<Handle>,
}

/// What the clones of a [`UsageWriter`] share; dropping the last tells the writer
/// that nothing more will come.
struct Handle {
    queue: Arc<Queue>,
    counters: Arc<Counters>,
    max_queued_bytes: usize,
    capacity: usize,
    give_up_after: Duration,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.queue.close();
    }
}

impl std::fmt::Debug for UsageWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageWriter")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
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

impl UsageWriter {
    /// Opens (and migrates) the database at `path` and starts the writer on it.
    pub fn start(
        path: &Path,
        config: WriterConfig,
    ) -> Result<(UsageWriter, WriterThread), AuthError> {
        let conn = migrate::open(path)?;
        UsageWriter::start_with(conn, config)
    }

    /// Starts the writer on a SQLite connection it will own (already migrated).
    pub fn start_with(
        conn: Connection,
        config: WriterConfig,
    ) -> Result<(UsageWriter, WriterThread), AuthError> {
        UsageWriter::start_on(Box::new(SqliteSink::new(conn)), config)
    }

    /// Starts the writer on `sink` (SQLite, PostgreSQL), which its thread will own.
    pub fn start_on(
        sink: Box<dyn UsageSink>,
        config: WriterConfig,
    ) -> Result<(UsageWriter, WriterThread), AuthError> {
        // Unbounded as a vector: bounded by what `record` lets in.
        let queue = Arc::new(Queue::new(config.batch_max));
        let counters = Arc::new(Counters::default());
        let writer = UsageWriter {
            handle: Arc::new(Handle {
                queue: queue.clone(),
                counters: counters.clone(),
                max_queued_bytes: config.max_queued_bytes,
                capacity: config.capacity,
                give_up_after: config.give_up_after,
            }),
        };
        let worker = Worker {
            sink,
            config,
            counters: counters.clone(),
            queue: queue.clone(),
            taken: Vec::new(),
            window: None,
            last_prune: None,
            give_up_at: None,
            failed_at_answer: 0,
        };
        let handle = std::thread::Builder::new()
            .name("usage-writer".into())
            .spawn(move || {
                let _stopped = StopOnExit(queue);
                worker.run();
            })?;
        Ok((writer, WriterThread { handle, counters }))
    }

    /// Queues `record` without ever blocking; false (and counted, and logged) when
    /// the queue is full, in bytes or in records, or the writer has stopped.
    pub fn record(&self, record: UsageRecord) -> bool {
        let h = &*self.handle;
        let size = footprint(&record);
        let c = &h.counters;
        let bytes = c.queued_bytes.fetch_add(size, Ordering::Relaxed);
        let count = c.queued.fetch_add(1, Ordering::Relaxed);
        let room = bytes.saturating_add(size) <= h.max_queued_bytes && count < h.capacity;
        if room && h.queue.push(Msg::Record(record)) {
            return true;
        }
        c.queued_bytes.fetch_sub(size, Ordering::Relaxed);
        c.queued.fetch_sub(1, Ordering::Relaxed);
        let n = c.dropped.fetch_add(1, Ordering::Relaxed);
        // The first drop, then every 1,000th: a flood must not flood the log.
        if n % 1000 == 0 {
            tracing::warn!(
                dropped = n + 1,
                "usage writer queue full or stopped: usage records dropped"
            );
        }
        false
    }

    /// Waits until everything queued before this call is committed: true once it
    /// is; false when the writer has stopped, or when failing commits kept it from
    /// finishing within `give_up_after` (the records stay queued and are retried).
    pub fn flush(&self) -> bool {
        let (ack, done) = mpsc::sync_channel(1);
        self.handle.queue.push(Msg::Flush(ack))
            && done
                .recv_timeout(self.handle.give_up_after)
                .unwrap_or(false)
    }

    /// Commits everything queued before this call and stops the writer; later
    /// records are dropped. Failing commits are retried until `give_up_after`, then
    /// given up (counted as failed). True when everything was committed; false when
    /// something was given up or the writer had already stopped.
    pub fn shutdown(&self) -> bool {
        let (ack, done) = mpsc::sync_channel(1);
        // The writer answers by the deadline (plus one attempt's busy timeout).
        self.handle.queue.push(Msg::Shutdown(ack)) && done.recv().unwrap_or(false)
    }

    /// The counts so far.
    pub fn stats(&self) -> WriterStats {
        stats(&self.handle.counters)
    }
}

/// Marks the queue stopped when the writer thread ends, however it ends: callers'
/// records are refused from then on, and a flush still queued (a panic) is
/// answered "no" by its dropped answer channel.
struct StopOnExit(Arc<Queue>);

impl Drop for StopOnExit {
    fn drop(&mut self) {
        let mut inbox = self.0.lock();
        inbox.stopped = true;
        inbox.msgs.clear();
    }
}

/// What one wait for messages brought.
enum Taken {
    /// Messages, now in `Worker::taken`; whether their window is over (else it
    /// ended early, a batch's worth being queued).
    Some { window_over: bool },
    /// Nothing within `prune_every`.
    Nothing,
    /// Every handle is gone and nothing is queued.
    Closed,
}

struct Worker {
    sink: Box<dyn UsageSink>,
    config: WriterConfig,
    counters: Arc<Counters>,
    queue: Arc<Queue>,
    /// The messages taken from the queue, being handled; empty (with its capacity)
    /// between takes.
    taken: Vec<Msg>,
    /// When the open batch window ends: the records in the batch (short of a full
    /// one) are committed by then.
    window: Option<Instant>,
    last_prune: Option<Instant>,
    /// Set once the writer is stopping (a shutdown, or every handle gone): failing
    /// batches are given up past it.
    give_up_at: Option<Instant>,
    /// `failed` when the last flush was answered.
    failed_at_answer: u64,
}

impl Worker {
    fn run(mut self) {
        // Grown as records come and handed back when the writer goes idle: a burst's
        // room (up to `batch_max` records, ~0.7 MB at the default) stays resident
        // once touched, so it is not kept for a quiet gateway.
        let mut batch: Vec<UsageRecord> = Vec::new();
        loop {
            self.maybe_prune();
            let window_over = match self.take(&mut batch) {
                Taken::Some { window_over } => window_over,
                Taken::Nothing => continue,
                Taken::Closed => return,
            };
            if let Some(ack) = self.handle_taken(&mut batch, window_over) {
                // Shutting down: what other threads queued before it arrived too.
                while self.take_rest() {
                    if let Some(again) = self.handle_taken(&mut batch, true) {
                        self.answer(&again);
                    }
                }
                let _ = ack.send(self.counters.failed.load(Ordering::Relaxed) == 0);
                return;
            }
        }
    }

    /// Waits for messages and takes them. The first to come opens a batch window,
    /// which ends when it has passed, when a batch's worth of records is queued
    /// (`batch`, left from the last take, included), or at a flush, a shutdown or
    /// the last handle's going; then the writer takes everything queued.
    fn take(&mut self, batch: &mut Vec<UsageRecord>) -> Taken {
        let carried = batch.len();
        let queue = self.queue.clone();
        let mut inbox = queue.lock();
        if self.window.is_none() && inbox.msgs.is_empty() {
            inbox.phase = Phase::Idle;
            // Nothing is open (no window, so `batch` is empty): the room a burst
            // grew goes back to the allocator.
            let grown = [
                inbox.msgs.capacity(),
                self.taken.capacity(),
                batch.capacity(),
            ]
            .into_iter()
            .any(|c| c > QUIET_ROOM);
            for msgs in [&mut inbox.msgs, &mut self.taken] {
                msgs.shrink_to(QUIET_ROOM);
            }
            batch.shrink_to(QUIET_ROOM);
            inbox.retained = inbox.msgs.capacity() + self.taken.capacity() + batch.capacity();
            if grown {
                // Not under the lock: a record may come meanwhile, and the wait
                // below looks before it sleeps.
                drop(inbox);
                self.sink.release_memory();
                if let Some(on_quiet) = self.config.on_quiet {
                    on_quiet();
                }
                inbox = queue.lock();
            }
            // Idle: wake up for retention now and then.
            let until = Instant::now() + self.config.prune_every;
            while inbox.msgs.is_empty() && !inbox.closed && Instant::now() < until {
                inbox = queue.sleep(inbox, until);
            }
            if inbox.msgs.is_empty() {
                inbox.phase = Phase::Busy;
                return if inbox.closed {
                    inbox.stopped = true;
                    Taken::Closed
                } else {
                    Taken::Nothing
                };
            }
        }
        let opened = inbox.first_at.unwrap_or_else(Instant::now);
        let deadline = *self
            .window
            .get_or_insert_with(|| opened + self.config.batch_window);
        inbox.phase = Phase::Collecting;
        inbox.ring_at = self.config.batch_max.saturating_sub(carried).max(1);
        while !queue.batch_ready(&inbox, carried) && Instant::now() < deadline {
            inbox = queue.sleep(inbox, deadline);
        }
        let window_over = inbox.control || inbox.closed || Instant::now() >= deadline;
        inbox.phase = Phase::Busy;
        inbox.take(&mut self.taken);
        if inbox.closed {
            // Every handle is gone: what was queued is all there is.
            drop(inbox);
            self.stopping();
        }
        Taken::Some { window_over }
    }

    /// At shutdown: takes what is still queued, without waiting; false (and the
    /// queue stopped, refusing more) once there is nothing.
    fn take_rest(&mut self) -> bool {
        let mut inbox = self.queue.lock();
        if inbox.msgs.is_empty() {
            inbox.stopped = true;
            return false;
        }
        inbox.take(&mut self.taken);
        true
    }

    /// Commits the records taken, in order, answering the flushes among them; the
    /// answer channel of the first shutdown among them, to answer once everything
    /// is written. Records short of a full batch wait in `batch` for the rest of
    /// their window unless it is over.
    fn handle_taken(
        &mut self,
        batch: &mut Vec<UsageRecord>,
        window_over: bool,
    ) -> Option<SyncSender<bool>> {
        let mut msgs = std::mem::take(&mut self.taken);
        let mut shutdown = None;
        for msg in msgs.drain(..) {
            match msg {
                Msg::Record(r) => {
                    batch.push(r);
                    if batch.len() >= self.config.batch_max {
                        self.commit(batch);
                    }
                }
                Msg::Flush(ack) => {
                    self.commit(batch);
                    self.answer(&ack);
                }
                Msg::Shutdown(ack) => {
                    self.stopping();
                    self.commit(batch);
                    match shutdown {
                        None => shutdown = Some(ack),
                        Some(_) => self.answer(&ack),
                    }
                }
            }
        }
        if window_over {
            self.commit(batch);
        }
        if batch.is_empty() {
            self.window = None;
        }
        // A backlog's worth of room is not kept while busy either.
        if msgs.capacity() > 4 * self.config.batch_max {
            msgs = Vec::new();
        }
        self.taken = msgs;
        shutdown
    }

    /// Answers a flush: true when no record was given up since the last answer.
    fn answer(&mut self, ack: &SyncSender<bool>) {
        let failed = self.counters.failed.load(Ordering::Relaxed);
        let _ = ack.send(failed == self.failed_at_answer);
        self.failed_at_answer = failed;
    }

    fn stopping(&mut self) {
        let deadline = Instant::now() + self.config.give_up_after;
        self.give_up_at.get_or_insert(deadline);
    }

    /// Commits `batch` and empties it, trying a failed commit again with backoff
    /// until it works or, once stopping, the deadline passes.
    fn commit(&mut self, batch: &mut Vec<UsageRecord>) {
        let mut delay = self.config.retry_min;
        while !batch.is_empty() {
            let n = batch.len();
            let Err(err) = self.sink.write(batch) else {
                self.counters.written.fetch_add(n as u64, Ordering::Relaxed);
                self.counters.batches.fetch_add(1, Ordering::Relaxed);
                self.counters.release(batch);
                batch.clear();
                return;
            };
            let lasting = err.lasting;
            // A record the database refuses for good must not hold the rest back:
            // each is tried alone, and only those refused again are given up.
            if lasting && n > 1 {
                self.one_by_one(batch);
                if batch.len() < n {
                    continue;
                }
            }
            let past = self.give_up_at.is_some_and(|t| Instant::now() >= t);
            if (lasting && n == 1) || past {
                let why = if past {
                    "still failing at shutdown"
                } else {
                    "refused by the database"
                };
                tracing::error!(records = n, error = %err, "usage records lost: {why}");
                self.counters.failed.fetch_add(n as u64, Ordering::Relaxed);
                self.counters.release(batch);
                batch.clear();
                return;
            }
            self.counters.retried.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                records = n,
                error = %err,
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "usage batch not committed; will retry"
            );
            self.wait(delay);
            delay = (delay * 2).min(self.config.retry_max);
        }
    }

    /// Writes the records of `batch` one per transaction, until one fails for a
    /// reason that may pass (it and the rest stay in `batch`).
    fn one_by_one(&mut self, batch: &mut Vec<UsageRecord>) {
        let mut done = 0;
        for r in batch.iter() {
            match self.sink.write(std::slice::from_ref(r)) {
                Ok(()) => {
                    self.counters.written.fetch_add(1, Ordering::Relaxed);
                    self.counters.batches.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if !e.lasting => break,
                Err(e) => {
                    tracing::error!(request_id = %r.request_id, error = %e, "usage record lost: refused by the database");
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            done += 1;
        }
        let handled: Vec<UsageRecord> = batch.drain(..done).collect();
        self.counters.release(&handled);
    }

    /// Sleeps `delay` before a retry (less if the give-up deadline comes first). New
    /// records stay queued meanwhile; a shutdown, or the last handle's going, starts
    /// the give-up deadline.
    fn wait(&mut self, delay: Duration) {
        let mut until = Instant::now() + delay;
        let queue = self.queue.clone();
        let mut inbox = queue.lock();
        loop {
            if inbox.shutdown || inbox.closed {
                self.stopping();
            }
            if let Some(t) = self.give_up_at {
                until = until.min(t);
            }
            if Instant::now() >= until {
                return;
            }
            inbox = queue.sleep(inbox, until);
        }
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
        match self.sink.prune(cutoff) {
            Ok(n) => {
                self.counters.pruned.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(error = %e, "request log retention failed"),
        }
    }
}

mod counters;
#[cfg(test)]
mod tests;
