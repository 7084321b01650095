//! The usage writer's queue: a vector behind a mutex that callers push onto and the
//! writer thread takes whole, and a condition variable the writer sleeps on.
//!
//! Why not a channel: a channel wakes its receiver for every message, and the writer
//! waits on it between records, so each record cost a futex wake on the caller's
//! thread and a context switch on the writer's, several times the SQLite work at a
//! gateway's pace (see the paced figure of the usage bench). Here the caller wakes the
//! writer only when it has to know: the first record after it went idle (which opens
//! a batch window), a batch's worth of records, a flush, a shutdown, or the last
//! handle gone. Records arriving inside a window, or while a batch commits, are just
//! pushed; the writer takes them all when the window ends.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use std::sync::mpsc::SyncSender;

use super::UsageRecord;

// Records are queued by value: a box would be an allocation per record, and a
// flush or shutdown is rare.
#[allow(clippy::large_enum_variant)]
pub(super) enum Msg {
    Record(UsageRecord),
    /// Commit everything before this, then answer whether that worked.
    Flush(SyncSender<bool>),
    /// Commit everything before this, answer, and stop.
    Shutdown(SyncSender<bool>),
}

/// What the writer thread is doing, so a caller knows whether to wake it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for anything: the next message wakes it.
    Idle,
    /// A batch window is open: woken when a batch's worth of records is queued, or
    /// for a flush, a shutdown or the last handle gone.
    Collecting,
    /// Committing, or waiting to retry a failed commit: woken only for a shutdown or
    /// the last handle gone (it looks at the queue when it is done).
    Busy,
}

pub(super) struct Inbox {
    pub(super) msgs: Vec<Msg>,
    /// Records among `msgs`.
    pub(super) records: usize,
    /// When the first of them came: a record's batch window counts from its arrival,
    /// not from when the writer, maybe busy committing, gets to it.
    pub(super) first_at: Option<Instant>,
    /// A flush or shutdown is among `msgs`.
    pub(super) control: bool,
    /// A shutdown has been asked for (and may already have been taken).
    pub(super) shutdown: bool,
    /// Every handle is gone: nothing more will come.
    pub(super) closed: bool,
    /// The writer has stopped: messages are refused.
    pub(super) stopped: bool,
    pub(super) phase: Phase,
    /// While collecting: the record count that rings (a batch's worth, less what
    /// the writer holds from its last take).
    pub(super) ring_at: usize,
    /// Times the writer was woken by a caller (tests: not once per record).
    pub(super) wakeups: u64,
    /// Records' room the writer kept, in its vectors and this one, when it last went
    /// idle (tests: a burst's room is handed back).
    pub(super) retained: usize,
}

/// The inbox and the writer's bell.
pub(super) struct Queue {
    inbox: Mutex<Inbox>,
    bell: Condvar,
    /// Records that make a batch: past it a collecting writer is woken.
    batch_max: usize,
}

impl Queue {
    pub(super) fn new(batch_max: usize) -> Queue {
        Queue {
            inbox: Mutex::new(Inbox {
                msgs: Vec::new(),
                records: 0,
                first_at: None,
                control: false,
                shutdown: false,
                closed: false,
                stopped: false,
                phase: Phase::Busy,
                ring_at: batch_max.max(1),
                wakeups: 0,
                retained: 0,
            }),
            bell: Condvar::new(),
            batch_max: batch_max.max(1),
        }
    }

    /// The inbox, locked. A panic while it was held (none can happen in the few
    /// lines that hold it) leaves nothing half done, so a poisoned lock is used as is.
    pub(super) fn lock(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `msg`, waking the writer if it has to know; false (and `msg` dropped)
    /// when the writer has stopped.
    pub(super) fn push(&self, msg: Msg) -> bool {
        let mut inbox = self.lock();
        if inbox.stopped {
            return false;
        }
        let wake = match &msg {
            Msg::Record(_) => {
                if inbox.records == 0 {
                    inbox.first_at = Some(Instant::now());
                }
                inbox.records += 1;
                match inbox.phase {
                    Phase::Idle => true,
                    // Once, when the batch fills.
                    Phase::Collecting => inbox.records == inbox.ring_at,
                    Phase::Busy => false,
                }
            }
            Msg::Flush(_) => {
                inbox.control = true;
                inbox.phase != Phase::Busy
            }
            Msg::Shutdown(_) => {
                inbox.control = true;
                inbox.shutdown = true;
                true
            }
        };
        inbox.msgs.push(msg);
        if wake {
            self.ring(inbox);
        }
        true
    }

    /// The last handle is gone: the writer writes what is queued and stops.
    pub(super) fn close(&self) {
        let mut inbox = self.lock();
        inbox.closed = true;
        self.ring(inbox);
    }

    fn ring(&self, mut inbox: MutexGuard<'_, Inbox>) {
        inbox.wakeups += 1;
        drop(inbox);
        self.bell.notify_one();
    }

    /// Sleeps until `until` or a ring, whichever first (a ring may be spurious: the
    /// caller looks at the inbox again).
    pub(super) fn sleep<'a>(
        &'a self,
        inbox: MutexGuard<'a, Inbox>,
        until: Instant,
    ) -> MutexGuard<'a, Inbox> {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return inbox;
        }
        self.sleep_for(inbox, left)
    }

    fn sleep_for<'a>(
        &'a self,
        inbox: MutexGuard<'a, Inbox>,
        left: Duration,
    ) -> MutexGuard<'a, Inbox> {
        match self.bell.wait_timeout(inbox, left) {
            Ok((inbox, _)) => inbox,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    /// Whether a collecting writer holding `carried` records has enough to stop
    /// waiting for its window.
    pub(super) fn batch_ready(&self, inbox: &Inbox, carried: usize) -> bool {
        inbox.records + carried >= self.batch_max || inbox.control || inbox.closed
    }
}

impl Inbox {
    /// Takes every queued message, leaving `spare` (empty) in their place.
    pub(super) fn take(&mut self, spare: &mut Vec<Msg>) {
        debug_assert!(spare.is_empty());
        std::mem::swap(&mut self.msgs, spare);
        self.records = 0;
        self.first_at = None;
        self.control = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_counts_from_its_first_records_arrival() {
        let queue = Queue::new(10);
        let before = Instant::now();
        // The writer is busy committing: records are queued without a wake-up, and
        // the first one's arrival is kept for the window that takes them.
        assert!(queue.push(Msg::Record(UsageRecord::default())));
        let first = queue.lock().first_at.expect("the first record is timed");
        assert!(first >= before && first <= Instant::now());
        std::thread::sleep(Duration::from_millis(5));
        assert!(queue.push(Msg::Record(UsageRecord::default())));
        assert_eq!(queue.lock().first_at, Some(first), "later records keep it");
        let mut taken = Vec::new();
        queue.lock().take(&mut taken);
        assert_eq!(taken.len(), 2);
        assert_eq!(queue.lock().first_at, None, "the next window starts afresh");
    }
}
