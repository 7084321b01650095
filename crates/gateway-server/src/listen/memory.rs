//! Handing freed memory back to the system while the gateway is quiet.
//!
//! mimalloc (the binary's allocator) returns freed pages to the system lazily, from
//! later calls into it, and keeps per thread the blocks other threads freed until the
//! owning thread collects them. A gateway that goes quiet after a burst (a thousand
//! streams ending together) makes no such calls, so without a nudge its resident
//! memory would stay near the burst's peak until traffic returns. Once a second a
//! nudge allocates and frees one large, untouched block (no page faults; a syscall
//! pair at most with other allocators), then calls the release hook the binary set
//! with [`set_release_hook`]: the library does not know the allocator; the binary does
//! (`patchbay` sets mimalloc's `mi_collect`).
//!
//! The gateway's own threads that are not runtimes (the usage writer, the access
//! log's writer) sleep once a burst is over, so no nudge runs on them. They call
//! [`release_thoroughly`] as they go quiet after having grown their buffers: the
//! allocator's per-thread caches of a sleeping thread are otherwise kept for good.

use std::sync::OnceLock;
use std::time::Duration;

/// How often a runtime nudges its allocator.
const EVERY: Duration = Duration::from_secs(1);
/// Large enough to take pages of its own in any allocator.
const BLOCK: usize = 8 << 20;

static RELEASE: OnceLock<fn(Release)> = OnceLock::new();

/// How thoroughly the calling thread's freed memory is handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The once-a-second nudge of a runtime thread: cheap, whatever the load.
    Routine,
    /// A thread about to sleep after a burst: everything it keeps cached goes back
    /// now, since nothing will run on it to do so later.
    Thorough,
}

/// Sets what hands freed memory back to the system: the nudge calls it once a
/// second with [`Release::Routine`], a quiet thread with [`Release::Thorough`]. The
/// first call wins; it must be callable from any thread.
pub fn set_release_hook(release: fn(Release)) {
    let _ = RELEASE.set(release);
}

/// Hands the calling thread's freed memory back to the system, thoroughly; for a
/// thread that is about to sleep after a burst. Nothing without a hook.
pub fn release_thoroughly() {
    if let Some(release) = RELEASE.get() {
        release(Release::Thorough);
    }
}

/// Runs on a runtime until aborted.
pub(crate) async fn return_freed_memory() {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        drop(std::hint::black_box(Vec::<u8>::with_capacity(BLOCK)));
        if let Some(release) = RELEASE.get() {
            release(Release::Routine);
        }
    }
}
