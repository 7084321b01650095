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
//!
//! A runtime's nudge asks for [`Release::Burst`] once, when the runtime's live tasks
//! (connections, streams, upstream connections) fell to half their peak: a burst
//! has ended. mimalloc's routine collect leaves pages it has marked for a delayed
//! purge, and other threads' frees not yet taken in; after a thousand streams
//! close, the forced one hands back about another megabyte.

use std::sync::OnceLock;
use std::time::Duration;

/// How often a runtime nudges its allocator.
const EVERY: Duration = Duration::from_secs(1);
/// Large enough to take pages of its own in any allocator.
const BLOCK: usize = 8 << 20;
/// How far a runtime's live tasks must fall from their peak (besides halving) for
/// the nudge to count a burst as over: the ebb and flow of a few dozen connections
/// is no burst.
const BURST: usize = 64;

static RELEASE: OnceLock<fn(Release)> = OnceLock::new();

/// How thoroughly the calling thread's freed memory is handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The once-a-second nudge of a runtime thread: cheap, whatever the load.
    Routine,
    /// A runtime whose burst just ended: everything its thread's allocator keeps
    /// cached goes back now. Requests may still run on the thread, so no more than
    /// that (about a millisecond, once per burst).
    Burst,
    /// A thread about to sleep after a burst: as [`Release::Burst`], and the C
    /// library's heap is trimmed too (SQLite allocates from it, and the usage writer
    /// has just had SQLite free its page cache).
    Thorough,
}

/// Sets what hands freed memory back to the system: the nudge calls it once a
/// second with [`Release::Routine`] ([`Release::Burst`] at the end of a burst), a
/// quiet thread with [`Release::Thorough`]. The first call wins; it must be
/// callable from any thread.
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
    let metrics = tokio::runtime::Handle::current().metrics();
    let mut bursts = Bursts::default();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        drop(std::hint::black_box(Vec::<u8>::with_capacity(BLOCK)));
        let how = bursts.release_for(metrics.num_alive_tasks());
        if let Some(release) = RELEASE.get() {
            release(how);
        }
    }
}

/// Tells a runtime's nudge when a burst is over, from the runtime's live tasks read
/// at each tick.
#[derive(Debug, Default)]
struct Bursts {
    /// The most live tasks seen since the last burst ended.
    peak: usize,
}

impl Bursts {
    fn release_for(&mut self, alive: usize) -> Release {
        self.peak = self.peak.max(alive);
        if alive <= self.peak / 2 && self.peak - alive >= BURST {
            self.peak = alive;
            Release::Burst
        } else {
            Release::Routine
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn releases(alive: &[usize]) -> Vec<Release> {
        let mut bursts = Bursts::default();
        alive.iter().map(|&n| bursts.release_for(n)).collect()
    }

    #[test]
    fn a_burst_is_over_once_live_tasks_fall_to_half_their_peak() {
        use Release::{Burst as B, Routine as R};
        assert_eq!(
            releases(&[5, 1_005, 1_003, 700, 600, 40]),
            [R, R, R, R, R, B]
        );
        // Once only: the peak starts again from where the burst ended.
        assert_eq!(releases(&[1_000, 10, 8, 2, 0]), [R, B, R, R, R]);
        // Then the next burst is counted from there.
        assert_eq!(releases(&[1_000, 10, 300, 100]), [R, B, R, B]);
    }

    #[test]
    fn steady_load_and_small_swings_are_no_burst() {
        assert!(
            releases(&[200, 210, 190, 205, 180, 200])
                .iter()
                .all(|r| *r == Release::Routine)
        );
        // Halved, but by fewer tasks than a burst.
        assert!(
            releases(&[60, 2, 50, 0])
                .iter()
                .all(|r| *r == Release::Routine)
        );
    }
}
