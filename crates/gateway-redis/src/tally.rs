//! Spending of subjects without quotas or budgets, gathered before it goes to Redis.
//!
//! Such a subject reserves nothing at admission and its counters only track what was
//! spent (so a limit set later sees it). Nothing is decided on them, so their
//! settles need not reach Redis one by one: the sums of a few milliseconds go in one
//! script call. A key sending thousands of requests a second costs Redis one call per
//! [`TALLY_EVERY`] for its tracking instead of one per request. Reads of the
//! counters (`status`, `usage`) send what is gathered first; a crash loses at most
//! the last [`TALLY_EVERY`] of tracking, never a limit's count.

use std::collections::HashMap;
use std::time::Duration;

use crate::keys::{SubjectKeys, Windows};

/// How long spending is gathered before it is sent.
pub(crate) const TALLY_EVERY: Duration = Duration::from_millis(50);

/// One subject's spending in one day and month, not yet sent.
#[derive(Debug, Clone)]
struct Entry {
    month_key: String,
    total_key: String,
    /// How long the day and month counters are kept, from the settle's clock (the
    /// gateway's time decides, as in the other scripts).
    day_ttl_ms: i64,
    month_ttl_ms: i64,
    amounts: [i64; 3],
}

/// Windows are kept an hour after they end.
const GRACE_MS: i64 = 3_600_000;

/// The spending gathered since the last send, by day counter key (a subject and a
/// day: a request settled after midnight goes to the new day's entry).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    entries: HashMap<String, Entry>,
    /// A send is scheduled (or running): the next addition need not schedule one.
    pub(crate) scheduled: bool,
}

impl Tally {
    /// Adds `amounts` (input, output, money) to `subject`'s counters of `now`'s day
    /// and month, settled at `now_ms`.
    pub(crate) fn add(
        &mut self,
        subject: &SubjectKeys,
        now: &Windows,
        now_ms: i64,
        amounts: [i64; 3],
    ) {
        if amounts.iter().all(|a| *a == 0) {
            return;
        }
        let entry = self
            .entries
            .entry(subject.day(now.day))
            .or_insert_with(|| Entry {
                month_key: subject.month(now.month),
                total_key: subject.total(),
                day_ttl_ms: 0,
                month_ttl_ms: 0,
                amounts: [0; 3],
            });
        entry.day_ttl_ms = entry
            .day_ttl_ms
            .max(now.day_end_ms.saturating_sub(now_ms) + GRACE_MS);
        entry.month_ttl_ms = entry
            .month_ttl_ms
            .max(now.month_end_ms.saturating_sub(now_ms) + GRACE_MS);
        for (sum, a) in entry.amounts.iter_mut().zip(amounts) {
            *sum = sum.saturating_add(a);
        }
    }

    /// Whether nothing is gathered.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The track script's keys and arguments for everything gathered, which is
    /// taken out.
    pub(crate) fn take(&mut self) -> (Vec<String>, Vec<String>) {
        let mut keys = Vec::with_capacity(3 * self.entries.len());
        let mut args = Vec::with_capacity(5 * self.entries.len());
        for (day_key, e) in self.entries.drain() {
            keys.extend([day_key, e.month_key, e.total_key]);
            args.extend([e.day_ttl_ms.to_string(), e.month_ttl_ms.to_string()]);
            args.extend(e.amounts.map(|a| a.to_string()));
        }
        (keys, args)
    }
}
