//! Handing freed memory back to the system on a worker that went quiet.
//!
//! mimalloc (the binary's allocator) returns freed pages to the system lazily: a page
//! freed now is released by a later page free on the same thread, at least a second
//! on. A worker thread that goes quiet after a burst (a thousand streams ending
//! together) frees no more pages, so without a nudge its resident memory would stay
//! at the burst's peak until traffic returns. Once a second each worker allocates and
//! frees one large block, never touched (no page faults; a syscall pair at most with
//! other allocators), which is such a page free.

use std::time::Duration;

/// How often a worker nudges its allocator.
const EVERY: Duration = Duration::from_secs(1);
/// Large enough to take pages of its own in any allocator.
const BLOCK: usize = 8 << 20;

/// Runs on a worker's runtime until aborted.
pub(crate) async fn return_freed_memory() {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        drop(std::hint::black_box(Vec::<u8>::with_capacity(BLOCK)));
    }
}
