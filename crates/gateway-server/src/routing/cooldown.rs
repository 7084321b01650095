//! Cool-down of failing targets: each failure in a row doubles the time a target is
//! tried last, up to a cap; a success forgets its failures. The table is bounded: with
//! glob routes the upstream model is the caller's choice, so callers could otherwise
//! grow it with names that never succeed.

use foldhash::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Target;

/// Shared record of failing targets. Cheap to consult; one short lock per call.
#[derive(Debug)]
pub struct Cooldown {
    base: Duration,
    cap: Duration,
    max_entries: usize,
    state: Mutex<HashMap<Target, Entry>>,
}

/// Targets the table remembers at most.
const MAX_ENTRIES: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    until: Instant,
}

impl Default for Cooldown {
    /// 5 s after the first failure, doubling up to 5 min.
    fn default() -> Self {
        Cooldown::new(Duration::from_secs(5), Duration::from_secs(300))
    }
}

impl Cooldown {
    /// Cool-downs of `base` after one failure, doubling per further failure, at most `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Cooldown {
            base,
            cap,
            max_entries: MAX_ENTRIES,
            state: Mutex::new(HashMap::default()),
        }
    }

    /// The same, remembering at most `max_entries` targets.
    pub fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries.max(1);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Target, Entry>> {
        // The map stays consistent even if a holder panicked: take it back.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many targets are cooling down at `now`, by provider (a gauge of the
    /// metrics).
    pub fn active_by_provider(&self, now: Instant) -> HashMap<String, usize> {
        let mut by_provider = HashMap::default();
        for (target, entry) in self.lock().iter() {
            if entry.until > now {
                *by_provider.entry(target.provider.clone()).or_insert(0) += 1;
            }
        }
        by_provider
    }

    /// Records a (retryable) failure of `target` at `now`; returns how long it cools.
    pub fn record_failure(&self, target: &Target, now: Instant) -> Duration {
        let mut state = self.lock();
        let failures = state
            .get(target)
            .map_or(0, |e| e.failures)
            .saturating_add(1);
        let factor = 1u32.checked_shl(failures - 1).unwrap_or(u32::MAX);
        let wait = self.base.saturating_mul(factor).min(self.cap);
        if failures == 1 && state.len() >= self.max_entries {
            // Full: forget targets whose cool-down is long over (their failure count
            // would have been forgiven soon anyway), then, if still full, the one
            // that stops cooling first.
            let cap = self.cap;
            state.retain(|_, e| e.until + cap > now);
            if state.len() >= self.max_entries {
                let first = state
                    .iter()
                    .min_by_key(|(_, e)| e.until)
                    .map(|(t, _)| t.clone());
                if let Some(t) = first {
                    state.remove(&t);
                }
            }
        }
        state.insert(
            target.clone(),
            Entry {
                failures,
                until: now + wait,
            },
        );
        wait
    }

    /// Records a success of `target`: it no longer cools.
    pub fn record_success(&self, target: &Target) {
        let mut state = self.lock();
        // The usual case, nothing cooling, costs no hashing.
        if !state.is_empty() {
            state.remove(target);
        }
    }

    /// Whether `target` is cooling at `now`.
    pub fn is_cooling(&self, target: &Target, now: Instant) -> bool {
        self.lock().get(target).is_some_and(|e| e.until > now)
    }

    /// How long `target` still cools at `now`, if it does.
    pub fn remaining(&self, target: &Target, now: Instant) -> Option<Duration> {
        self.lock()
            .get(target)
            .and_then(|e| e.until.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    /// Every target cooling at `now`: how much longer, and its failures in a row
    /// (the operator's routing table).
    pub fn cooling(&self, now: Instant) -> Vec<(Target, Duration, u32)> {
        let mut list: Vec<_> = self
            .lock()
            .iter()
            .filter(|(_, e)| e.until > now)
            .map(|(t, e)| (t.clone(), e.until - now, e.failures))
            .collect();
        list.sort();
        list
    }

    /// Moves cooling targets to the end of `attempts`, keeping the relative order of
    /// both groups. Nothing is dropped: when all targets cool, all are still tried.
    pub fn reorder(&self, attempts: &mut Vec<Target>, now: Instant) {
        let state = self.lock();
        if state.is_empty() {
            return;
        }
        let cooling = |t: &Target| state.get(t).is_some_and(|e| e.until > now);
        if !attempts.iter().any(cooling) {
            return;
        }
        let (warm, cold): (Vec<Target>, Vec<Target>) =
            attempts.drain(..).partition(|t| !cooling(t));
        attempts.extend(warm);
        attempts.extend(cold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str) -> Target {
        Target::new(p, "m")
    }

    #[test]
    fn failures_double_up_to_the_cap_and_success_resets() {
        let c = Cooldown::new(Duration::from_secs(1), Duration::from_secs(5));
        let now = Instant::now();
        let waits: Vec<u64> = (0..5)
            .map(|_| c.record_failure(&t("a"), now).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        assert!(c.is_cooling(&t("a"), now + Duration::from_secs(4)));
        assert!(!c.is_cooling(&t("a"), now + Duration::from_secs(5)));
        c.record_success(&t("a"));
        assert!(!c.is_cooling(&t("a"), now));
        assert_eq!(c.record_failure(&t("a"), now).as_secs(), 1);
    }

    #[test]
    fn caller_chosen_names_cannot_grow_the_table_without_bound() {
        let c =
            Cooldown::new(Duration::from_secs(1), Duration::from_secs(60)).with_max_entries(100);
        let start = Instant::now();
        let mut now = start;
        for i in 0..10_000 {
            now = start + Duration::from_millis(i);
            c.record_failure(&Target::new("openai", format!("made-up-{i}")), now);
        }
        assert_eq!(c.lock().len(), 100);
        // The newest failure is remembered; known targets keep counting.
        assert!(c.is_cooling(&Target::new("openai", "made-up-9999"), now));
        let known = Target::new("openai", "made-up-9998");
        assert_eq!(c.record_failure(&known, now), Duration::from_secs(2));
    }

    #[test]
    fn many_failures_do_not_overflow() {
        let c = Cooldown::new(Duration::from_secs(1), Duration::from_secs(60));
        let now = Instant::now();
        for _ in 0..100 {
            c.record_failure(&t("a"), now);
        }
        assert_eq!(c.record_failure(&t("a"), now), Duration::from_secs(60));
    }

    #[test]
    fn cooling_targets_move_last_but_stay() {
        let c = Cooldown::default();
        let now = Instant::now();
        c.record_failure(&t("a"), now);
        c.record_failure(&t("c"), now);
        let mut attempts = vec![t("a"), t("b"), t("c"), t("d")];
        c.reorder(&mut attempts, now);
        assert_eq!(attempts, [t("b"), t("d"), t("a"), t("c")]);

        let mut all_cold = vec![t("c"), t("a")];
        c.reorder(&mut all_cold, now);
        assert_eq!(all_cold, [t("c"), t("a")]);

        let later = now + Duration::from_secs(3600);
        let mut attempts = vec![t("a"), t("b")];
        c.reorder(&mut attempts, later);
        assert_eq!(attempts, [t("a"), t("b")]);
    }
}
