//! What the usage writer counts: its public [`WriterStats`], the atomic counters
//! behind them, and the memory estimate that bounds its queue.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::usage::UsageRecord;

/// What the writer has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Records committed.
    pub written: u64,
    /// Records refused by `record`: the queue was full (bytes or count) or the
    /// writer had stopped.
    pub dropped: u64,
    /// Failed commit attempts that were tried again (a record may be in several).
    pub retried: u64,
    /// Records given up: their batch still failed when a shutdown's deadline
    /// passed, or the database refused them for good (logged).
    pub failed: u64,
    /// `requests` rows deleted by retention.
    pub pruned: u64,
    /// Transactions committed (each a batch of records with their rollups).
    pub batches: u64,
    /// Records accepted and not yet committed or given up (the queue's depth).
    pub queued: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) written: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) retried: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) pruned: AtomicU64,
    pub(super) batches: AtomicU64,
    /// Records accepted and not yet committed or given up, and their bytes.
    pub(super) queued: AtomicUsize,
    pub(super) queued_bytes: AtomicUsize,
}

impl Counters {
    /// Forgets `batch` from the queue's bounds once committed or given up.
    pub(super) fn release(&self, batch: &[UsageRecord]) {
        let bytes: usize = batch.iter().map(footprint).sum();
        self.queued.fetch_sub(batch.len(), Ordering::Relaxed);
        self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// An estimate of the memory a queued record takes: the record in its queue slot,
/// twice (the queue is a vector, which may hold twice its records' room while it
/// grows), and what its strings (those too long to be held inline) and bodies hold
/// on the heap.
pub(super) fn footprint(r: &UsageRecord) -> usize {
    let strings = [
        &r.request_id,
        &r.key_id,
        &r.requested_model,
        &r.caller_shape,
    ]
    .into_iter()
    .chain(
        [
            &r.project_id,
            &r.routed_model,
            &r.provider,
            &r.upstream_shape,
            &r.error_kind,
        ]
        .into_iter()
        .flatten(),
    )
    .filter(|s| s.is_heap_allocated())
    .map(|s| s.capacity())
    .sum::<usize>();
    let bodies = [&r.request_body, &r.response_body]
        .into_iter()
        .flatten()
        .map(Vec::capacity)
        .sum::<usize>();
    2 * std::mem::size_of::<UsageRecord>() + strings + bodies
}

pub(super) fn stats(c: &Counters) -> WriterStats {
    WriterStats {
        written: c.written.load(Ordering::Relaxed),
        dropped: c.dropped.load(Ordering::Relaxed),
        retried: c.retried.load(Ordering::Relaxed),
        failed: c.failed.load(Ordering::Relaxed),
        pruned: c.pruned.load(Ordering::Relaxed),
        batches: c.batches.load(Ordering::Relaxed),
        queued: c.queued.load(Ordering::Relaxed) as u64,
    }
}
