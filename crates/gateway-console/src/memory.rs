//! Sessions held in this process's memory: the store of a single instance.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::session::{IdDigest, Pending, Policy, SessionRow, SessionStore};

#[derive(Debug)]
struct Entry {
    csrf: String,
    started_ms: i64,
    last_used_ms: i64,
}

/// Sessions in memory, forgotten at a restart.
#[derive(Debug, Default)]
pub struct MemorySessions {
    live: Mutex<HashMap<IdDigest, Entry>>,
}

impl MemorySessions {
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<IdDigest, Entry>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sessions held (ended ones not yet forgotten included).
    pub fn len(&self) -> usize {
        self.live().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert_now(&self, row: SessionRow, policy: Policy) {
        let now = row.started_ms;
        let mut live = self.live();
        if live.len() >= policy.max {
            live.retain(|_, s| policy.live(s.started_ms, s.last_used_ms, now));
        }
        while live.len() >= policy.max.max(1) {
            let oldest = live
                .iter()
                .min_by_key(|(_, s)| s.last_used_ms)
                .map(|(k, _)| *k);
            match oldest {
                Some(oldest) => live.remove(&oldest),
                None => break,
            };
        }
        live.insert(
            row.digest,
            Entry {
                csrf: row.csrf,
                started_ms: now,
                last_used_ms: now,
            },
        );
    }

    fn touch_now(&self, digest: IdDigest, now_ms: i64, policy: Policy) -> Option<String> {
        let mut live = self.live();
        let entry = live.get_mut(&digest)?;
        if !policy.live(entry.started_ms, entry.last_used_ms, now_ms) {
            live.remove(&digest);
            return None;
        }
        entry.last_used_ms = entry.last_used_ms.max(now_ms);
        Some(entry.csrf.clone())
    }
}

impl SessionStore for MemorySessions {
    fn insert(&self, row: SessionRow, policy: Policy) -> Pending<()> {
        self.insert_now(row, policy);
        Box::pin(std::future::ready(Ok(())))
    }

    fn touch(&self, digest: IdDigest, now_ms: i64, policy: Policy) -> Pending<Option<String>> {
        let token = self.touch_now(digest, now_ms, policy);
        Box::pin(std::future::ready(Ok(token)))
    }

    fn remove(&self, digest: IdDigest) -> Pending<bool> {
        let held = self.live().remove(&digest).is_some();
        Box::pin(std::future::ready(Ok(held)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::session::Sessions;

    const MIN: i64 = 60_000;

    fn store() -> (Arc<MemorySessions>, Sessions) {
        let mem = Arc::new(MemorySessions::default());
        let policy = Policy {
            idle: Duration::from_secs(10 * 60),
            lifetime: Duration::from_secs(60 * 60),
            max: 3,
        };
        (mem.clone(), Sessions::new(mem, policy))
    }

    #[tokio::test]
    async fn a_session_answers_with_its_csrf_token_until_logout() {
        let (_, s) = store();
        let a = s.start(0).await.unwrap();
        assert_eq!(s.touch(&a.id, MIN).await.unwrap(), Some(a.csrf.clone()));
        assert_ne!(a.id, a.csrf);
        assert!(s.end(&a.id).await.unwrap());
        assert_eq!(s.touch(&a.id, MIN).await.unwrap(), None);
        assert!(
            !s.end(&a.id).await.unwrap(),
            "a second logout finds nothing"
        );
    }

    #[tokio::test]
    async fn unknown_ids_and_the_csrf_token_are_not_sessions() {
        let (_, s) = store();
        let a = s.start(0).await.unwrap();
        assert_eq!(s.touch("nope", 1).await.unwrap(), None);
        assert_eq!(s.touch(&a.csrf, 1).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_idle_session_ends_and_use_keeps_it_alive() {
        let (mem, s) = store();
        let a = s.start(0).await.unwrap();
        let b = s.start(0).await.unwrap();
        // `a` is used every 9 minutes; `b` never.
        for n in 1..=5 {
            assert!(
                s.touch(&a.id, 9 * MIN * n).await.unwrap().is_some(),
                "use {n}"
            );
        }
        assert_eq!(s.touch(&b.id, 10 * MIN).await.unwrap(), None, "idle 10 min");
        assert_eq!(mem.len(), 1, "the ended session is forgotten");
    }

    #[tokio::test]
    async fn no_session_outlives_its_lifetime() {
        let (_, s) = store();
        let a = s.start(0).await.unwrap();
        let mut t = 0;
        while t + 5 * MIN < 60 * MIN {
            t += 5 * MIN;
            assert!(s.touch(&a.id, t).await.unwrap().is_some());
        }
        assert_eq!(s.touch(&a.id, 60 * MIN).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_full_store_drops_the_least_recently_used() {
        let (mem, s) = store();
        let a = s.start(0).await.unwrap();
        let b = s.start(MIN).await.unwrap();
        let c = s.start(2 * MIN).await.unwrap();
        assert!(s.touch(&a.id, 3 * MIN).await.unwrap().is_some());
        let d = s.start(4 * MIN).await.unwrap();
        assert_eq!(mem.len(), 3);
        assert_eq!(
            s.touch(&b.id, 4 * MIN).await.unwrap(),
            None,
            "b: least recent"
        );
        for live in [&a, &c, &d] {
            assert!(s.touch(&live.id, 4 * MIN).await.unwrap().is_some());
        }
    }
}
