//! Even shares of connections for the per-thread layout.
//!
//! Every thread accepts from the one listening socket, and an HTTP/1.1 connection
//! stays on the thread that accepted it. Left alone, the first thread to wake takes a
//! burst of connections whole (a client or load balancer opening its pool at once):
//! measured with 32 connections opened together against two threads, one thread held
//! nearly all of them and the other idled. So a thread holding more connections than
//! the thread with the fewest (by more than [`SLACK`]) steps back from accepting for
//! a moment, and the others, woken by the same connection, take it. It steps back at
//! most [`MAX_DEFER`]: a thread too busy to accept does not leave connections waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How many more connections a thread may hold than the least loaded before it
/// steps back.
const SLACK: usize = 1;
/// One step back.
const DEFER_STEP: Duration = Duration::from_millis(1);
/// The longest a thread steps back before it accepts anyway.
const MAX_DEFER: Duration = Duration::from_millis(10);

/// One thread's place among the threads sharing a listening socket.
#[derive(Clone)]
pub(crate) struct Seat {
    open: Arc<[AtomicUsize]>,
    me: usize,
}

/// A connection counted for its thread until dropped.
pub(crate) struct Held {
    seat: Seat,
}

impl Seat {
    /// One seat for each of `threads` threads.
    pub(crate) fn table(threads: usize) -> Vec<Seat> {
        let open: Arc<[AtomicUsize]> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
        (0..threads)
            .map(|me| Seat {
                open: open.clone(),
                me,
            })
            .collect()
    }

    /// Whether this thread holds more than its share.
    fn over(&self) -> bool {
        let mine = self.open[self.me].load(Ordering::Relaxed);
        let fewest = self
            .open
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != self.me)
            .map(|(_, n)| n.load(Ordering::Relaxed))
            .min();
        fewest.is_some_and(|fewest| mine > fewest + SLACK)
    }

    /// Returns when this thread may accept: at once unless it holds more than its
    /// share, and after [`MAX_DEFER`] at the latest.
    pub(crate) async fn turn(&self) {
        let mut waited = Duration::ZERO;
        while waited < MAX_DEFER && self.over() {
            tokio::time::sleep(DEFER_STEP).await;
            waited += DEFER_STEP;
        }
    }

    /// Counts an accepted connection for this thread.
    pub(crate) fn hold(&self) -> Held {
        self.open[self.me].fetch_add(1, Ordering::Relaxed);
        Held { seat: self.clone() }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.seat.open[self.seat.me].fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_over_its_share_steps_back_and_one_at_it_does_not() {
        let seats = Seat::table(3);
        let first: Vec<Held> = (0..2).map(|_| seats[0].hold()).collect();
        assert!(seats[0].over(), "2 against 0 and 0");
        assert!(!seats[1].over() && !seats[2].over());
        let _second = seats[1].hold();
        assert!(seats[0].over(), "the fewest still hold 0");
        let _third = seats[2].hold();
        assert!(!seats[0].over(), "2 against 1 is within the slack");
        drop(first);
        assert!(!seats[0].over());
        assert_eq!(
            seats[0].open[0].load(Ordering::Relaxed),
            0,
            "dropped, uncounted"
        );
    }

    #[test]
    fn one_thread_never_steps_back() {
        let seats = Seat::table(1);
        let _held: Vec<Held> = (0..5).map(|_| seats[0].hold()).collect();
        assert!(!seats[0].over());
    }

    #[tokio::test]
    async fn stepping_back_ends_after_the_longest_deferral() {
        let seats = Seat::table(2);
        let _held: Vec<Held> = (0..3).map(|_| seats[0].hold()).collect();
        let started = std::time::Instant::now();
        seats[0].turn().await;
        let waited = started.elapsed();
        assert!(waited >= MAX_DEFER, "stepped back: {waited:?}");
        assert!(
            waited < Duration::from_secs(5),
            "then accepted anyway: {waited:?}"
        );
        let started = std::time::Instant::now();
        seats[1].turn().await;
        assert!(
            started.elapsed() < MAX_DEFER,
            "the least loaded never waits"
        );
    }
}
