//! The usage store: one [`UsageRecord`] per request in the append-only request log
//! (`request_rows`, its names stored once in `usage_names` and referred to by id; the
//! `requests` view shows them as the old text columns), and the `usage_hourly`
//! rollups every usage query reads.
//!
//! Writing ([`UsageWriter`]) is off the hot path: `record` puts the record on a queue
//! and returns; one writer thread with its own connection inserts batches (up to 2,000
//! records, or whatever arrived within 200 ms of a batch's first record) in one
//! transaction each (rows 32 to a statement), upserting the batch's rollups in the
//! same transaction, so rows and rollups never disagree. The writer sleeps through a batch window: a caller
//! wakes it only for a window's first record, a full batch, a flush or a shutdown.
//!
//! A batch that fails to commit (the database locked past the busy timeout, a full
//! disk, an I/O error) is kept and tried again with backoff (50 ms doubling to 5 s;
//! [`WriterStats::retried`]) while new records keep queueing behind it. The queue is
//! bounded in bytes (an estimate of each record's memory, logged bodies included;
//! 256 MiB by default, [`WriterConfig::max_queued_bytes`]): past it `record` drops
//! the record and counts it ([`WriterStats::dropped`]) with a warning in the log; the
//! gateway never waits on its own bookkeeping. Records are given up
//! ([`WriterStats::failed`]) in two cases only: a shutdown still failing after
//! [`WriterConfig::give_up_after`] (10 s), and a record the database refuses for good
//! (a value too big), found by trying a refused batch's records one by one.
//!
//! Durability: [`UsageWriter::flush`] and [`UsageWriter::shutdown`] return once
//! everything queued before them is committed, so a graceful shutdown loses nothing
//! unless the database stays unwritable past the deadline. A crash loses what was
//! still queued: at normal load the last batch window (200 ms of records); if the
//! disk was failing, up to the queue's bound. Committed batches survive a crash (WAL
//! with `synchronous = NORMAL` may lose the last commits on power loss, never
//! corrupt).
//!
//! Queries ([`query`]) read the rollups for totals and series, and `requests` for the
//! request log; retention ([`query::prune`]) deletes old `requests` rows only.
//!
//! Records hold no key material (the key's public id only) and bodies only when the
//! server set them, which it does for keys with `log_bodies`. Costs are micro-dollars
//! computed by the server from the catalogue; `None` means the model has no price and
//! stays NULL (rollups count such requests as `unpriced`), never 0.

mod batch;
mod inbox;
pub mod latency;
mod names;
pub mod query;
pub mod reader;
pub mod sink;
mod writer;

use gateway_protocol::Usage;

pub use query::{
    Bucket, GroupBy, LogPage, LogQuery, LoggedRequest, UsageFilter, UsageGroup, UsagePoint,
    UsageTotals, prune,
};
pub use reader::{Spent, SqliteReader, UsageReader, WindowSums};
pub use sink::{SinkError, SqliteSink, UsageSink};
pub use writer::{UsageWriter, WriterConfig, WriterStats, WriterThread};

/// The record's strings: names of 24 bytes or less (request ids, key ids, most
/// model, provider and shape names) are held inline, so building a record from the
/// gateway's `&str`s and dropping it after its commit allocate nothing for them
/// (eight heap strings were ~3k instructions of a record's ~13k).
pub use compact_str::CompactString;

/// One request as the request log stores it (the columns of `requests`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRecord {
    /// The gateway's request id (`x-request-id`).
    pub request_id: CompactString,
    /// When the request arrived, Unix ms (UTC); its rollup hour.
    pub ts_ms: i64,
    /// The key's public id.
    pub key_id: CompactString,
    /// The key's project, if any.
    pub project_id: Option<CompactString>,
    /// The model the caller asked for.
    pub requested_model: CompactString,
    /// The model that served (after routing); `None` when none was reached.
    pub routed_model: Option<CompactString>,
    /// The provider that served.
    pub provider: Option<CompactString>,
    /// The caller's API shape (`openai_chat`, `anthropic`, ...).
    pub caller_shape: CompactString,
    /// The upstream's API shape.
    pub upstream_shape: Option<CompactString>,
    /// Input tokens, cache reads and writes included.
    pub input_tokens: u64,
    /// Output tokens, reasoning included.
    pub output_tokens: u64,
    /// Input tokens read from the provider's prompt cache.
    pub cached_tokens: u64,
    /// Input tokens written to the provider's prompt cache.
    pub cache_write_tokens: u64,
    /// Output tokens spent on reasoning.
    pub reasoning_tokens: u64,
    /// Cost in micro-dollars; `None` when the model has no price.
    pub cost_micros: Option<i64>,
    /// Milliseconds to the first byte of the answer.
    pub ttfb_ms: Option<i64>,
    /// Milliseconds to the end of the answer.
    pub total_ms: i64,
    /// The HTTP status sent to the caller.
    pub status: u16,
    /// Whether the answer was streamed.
    pub streamed: bool,
    /// The error's kind, when the request failed (or its stream broke).
    pub error_kind: Option<CompactString>,
    /// The request body, only for keys with body logging on.
    pub request_body: Option<Vec<u8>>,
    /// The response body, only for keys with body logging on.
    pub response_body: Option<Vec<u8>>,
    /// Answered from the gateway's response cache: no upstream was asked, no tokens
    /// were spent, and the cost is 0.
    pub cache_hit: bool,
}

impl UsageRecord {
    /// Copies the token counts of `usage` (cache reads become `cached_tokens`).
    pub fn set_usage(&mut self, usage: &Usage) {
        self.input_tokens = usage.input_tokens;
        self.output_tokens = usage.output_tokens;
        self.cached_tokens = usage.cache_read_tokens;
        self.cache_write_tokens = usage.cache_write_tokens;
        self.reasoning_tokens = usage.reasoning_tokens;
    }

    /// Whether the request counts as an error in the rollups.
    pub fn is_error(&self) -> bool {
        self.status >= 400 || self.error_kind.is_some()
    }

    /// The model the rollups file it under: the routed one, else the requested one.
    pub fn rollup_model(&self) -> &str {
        self.routed_model
            .as_deref()
            .unwrap_or(&self.requested_model)
    }
}

/// Milliseconds in an hour: rollups are keyed by the hour's start.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// SQLite integers are i64; token counts beyond that are nonsense, kept at the maximum.
pub(crate) fn sql_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
