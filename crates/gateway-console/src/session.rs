//! Console sessions, held in memory: a login makes one (a random 256-bit id for the
//! cookie and a CSRF token for the page), each use extends it, and it ends at logout,
//! after [`Sessions::idle`] without use, or [`Sessions::lifetime`] after the login,
//! whichever comes first. Only the SHA-256 of each id is kept, so a memory dump holds
//! no usable cookie. A restart logs everyone out.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::ConsoleError;
use crate::random;

/// Default: a session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(2 * 60 * 60);
/// Default: no session outlives this, used or not.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Default: sessions held at once; a login past it ends the least recently used.
pub const MAX_SESSIONS: usize = 1024;

type IdDigest = [u8; 32];

#[derive(Debug)]
struct Session {
    csrf: String,
    started: Instant,
    last_used: Instant,
}

/// A new session: the cookie's value and the page's CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The session id (the cookie's value).
    pub id: String,
    /// The CSRF token the page sends in `x-csrf-token`.
    pub csrf: String,
}

/// The live sessions.
#[derive(Debug)]
pub struct Sessions {
    live: Mutex<HashMap<IdDigest, Session>>,
    idle: Duration,
    lifetime: Duration,
    max: usize,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new(IDLE, LIFETIME, MAX_SESSIONS)
    }
}

fn digest(id: &str) -> IdDigest {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// A store whose sessions end after `idle` unused or `lifetime` in all, holding
    /// at most `max` (at least one).
    pub fn new(idle: Duration, lifetime: Duration, max: usize) -> Sessions {
        Sessions {
            live: Mutex::new(HashMap::new()),
            idle,
            lifetime,
            max: max.max(1),
        }
    }

    /// How long an unused session lasts.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// How long any session lasts at most.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn expired(&self, s: &Session, now: Instant) -> bool {
        now.saturating_duration_since(s.last_used) >= self.idle
            || now.saturating_duration_since(s.started) >= self.lifetime
    }

    /// Starts a session at `now`.
    pub fn start(&self, now: Instant) -> Result<Started, ConsoleError> {
        let started = Started {
            id: random::token()?,
            csrf: random::token()?,
        };
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if live.len() >= self.max {
            live.retain(|_, s| !self.expired(s, now));
        }
        if live.len() >= self.max {
            let oldest = live
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                live.remove(&oldest);
            }
        }
        live.insert(
            digest(&started.id),
            Session {
                csrf: started.csrf.clone(),
                started: now,
                last_used: now,
            },
        );
        Ok(started)
    }

    /// The CSRF token of the live session `id`, marking it used at `now`; `None`
    /// for an unknown or ended session (an ended one is forgotten).
    pub fn touch(&self, id: &str, now: Instant) -> Option<String> {
        let key = digest(id);
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let session = live.get_mut(&key)?;
        if self.expired(session, now) {
            live.remove(&key);
            return None;
        }
        session.last_used = now;
        Some(session.csrf.clone())
    }

    /// Ends session `id` (logout); whether it was live.
    pub fn end(&self, id: &str) -> bool {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.remove(&digest(id)).is_some()
    }

    /// Sessions held (ended ones not yet forgotten included).
    pub fn len(&self) -> usize {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn store() -> Sessions {
        Sessions::new(10 * MIN, 60 * MIN, 3)
    }

    #[test]
    fn a_session_answers_with_its_csrf_token_until_logout() {
        let s = store();
        let t0 = Instant::now();
        let a = s.start(t0).unwrap();
        assert_eq!(s.touch(&a.id, t0 + MIN).as_deref(), Some(a.csrf.as_str()));
        assert_ne!(a.id, a.csrf);
        assert!(s.end(&a.id));
        assert_eq!(s.touch(&a.id, t0 + MIN), None);
        assert!(!s.end(&a.id), "a second logout finds nothing");
    }

    #[test]
    fn unknown_ids_and_the_csrf_token_are_not_sessions() {
        let s = store();
        let a = s.start(Instant::now()).unwrap();
        assert_eq!(s.touch("nope", Instant::now()), None);
        assert_eq!(s.touch(&a.csrf, Instant::now()), None);
    }

    #[test]
    fn an_idle_session_ends_and_use_keeps_it_alive() {
        let s = store();
        let t0 = Instant::now();
        let a = s.start(t0).unwrap();
        let b = s.start(t0).unwrap();
        // `a` is used every 9 minutes; `b` never.
        for n in 1..=5 {
            assert!(s.touch(&a.id, t0 + 9 * MIN * n).is_some(), "use {n}");
        }
        assert_eq!(s.touch(&b.id, t0 + 10 * MIN), None, "idle for 10 minutes");
        assert_eq!(s.len(), 1, "the ended session is forgotten");
    }

    #[test]
    fn no_session_outlives_its_lifetime() {
        let s = store();
        let t0 = Instant::now();
        let a = s.start(t0).unwrap();
        let mut t = t0;
        while t + 5 * MIN < t0 + 60 * MIN {
            t += 5 * MIN;
            assert!(s.touch(&a.id, t).is_some());
        }
        assert_eq!(s.touch(&a.id, t0 + 60 * MIN), None);
    }

    #[test]
    fn a_full_store_drops_the_least_recently_used() {
        let s = store();
        let t0 = Instant::now();
        let a = s.start(t0).unwrap();
        let b = s.start(t0 + MIN).unwrap();
        let c = s.start(t0 + 2 * MIN).unwrap();
        assert!(s.touch(&a.id, t0 + 3 * MIN).is_some());
        let d = s.start(t0 + 4 * MIN).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            s.touch(&b.id, t0 + 4 * MIN),
            None,
            "b was least recently used"
        );
        for live in [&a, &c, &d] {
            assert!(s.touch(&live.id, t0 + 4 * MIN).is_some());
        }
    }
}
