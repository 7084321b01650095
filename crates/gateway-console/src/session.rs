//! Console sessions: a login makes one (a random 256-bit id for the cookie and a CSRF
//! token for the page), each use extends it, and it ends at logout, after
//! [`Policy::idle`] without use, or [`Policy::lifetime`] after the login, whichever
//! comes first. Only the SHA-256 of each id is kept, so neither a memory dump nor a
//! database row holds a usable cookie.
//!
//! Where sessions live is a [`SessionStore`]: in memory ([`MemorySessions`], the
//! default: a restart logs everyone out), or in a database every instance behind a
//! load balancer reaches, so a browser's requests may land on any of them. Times are
//! wall-clock milliseconds, the one clock several machines share.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::ConsoleError;
use crate::random;

pub use crate::memory::MemorySessions;

/// Default: a session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(2 * 60 * 60);
/// Default: no session outlives this, used or not.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Default: sessions held at once; a login past it ends the least recently used.
pub const MAX_SESSIONS: usize = 1024;

/// The SHA-256 of a session id: what a store keeps instead of the id.
pub type IdDigest = [u8; 32];

/// A store's answer, to be awaited.
pub type Pending<T> = Pin<Box<dyn Future<Output = Result<T, ConsoleError>> + Send>>;

/// How long sessions last and how many are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A session unused this long ends.
    pub idle: Duration,
    /// No session outlives this.
    pub lifetime: Duration,
    /// Sessions held at most (at least one); a login past it ends the least recently
    /// used.
    pub max: usize,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            idle: IDLE,
            lifetime: LIFETIME,
            max: MAX_SESSIONS,
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Policy {
    /// Whether a session started at `started_ms` and last used at `last_used_ms` is
    /// still live at `now_ms`.
    pub fn live(&self, started_ms: i64, last_used_ms: i64, now_ms: i64) -> bool {
        now_ms.saturating_sub(last_used_ms) < millis(self.idle)
            && now_ms.saturating_sub(started_ms) < millis(self.lifetime)
    }

    /// The idle time in milliseconds.
    pub fn idle_ms(&self) -> i64 {
        millis(self.idle)
    }

    /// The lifetime in milliseconds.
    pub fn lifetime_ms(&self) -> i64 {
        millis(self.lifetime)
    }
}

/// A new session as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The SHA-256 of the session id.
    pub digest: IdDigest,
    /// The page's CSRF token.
    pub csrf: String,
    /// When it started (and was last used), in milliseconds since the Unix epoch.
    pub started_ms: i64,
}

/// Where sessions are kept.
pub trait SessionStore: Send + Sync + 'static {
    /// Keeps a new session; first forgets the ended ones, and past `policy.max` the
    /// least recently used.
    fn insert(&self, row: SessionRow, policy: Policy) -> Pending<()>;
    /// The CSRF token of the session `digest` if it is live at `now_ms`, marking it
    /// used then; `None` for an unknown or ended session (an ended one is forgotten).
    fn touch(&self, digest: IdDigest, now_ms: i64, policy: Policy) -> Pending<Option<String>>;
    /// Forgets session `digest`; whether it was held.
    fn remove(&self, digest: IdDigest) -> Pending<bool>;
}

/// A new session: the cookie's value and the page's CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The session id (the cookie's value).
    pub id: String,
    /// The CSRF token the page sends in `x-csrf-token`.
    pub csrf: String,
}

/// The console's sessions: a store and the policy it keeps them by.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    policy: Policy,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new(Arc::new(MemorySessions::default()), Policy::default())
    }
}

/// The SHA-256 of session id `id`.
pub fn digest(id: &str) -> IdDigest {
    Sha256::digest(id.as_bytes()).into()
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

impl Sessions {
    /// Sessions kept in `store` by `policy`.
    pub fn new(store: Arc<dyn SessionStore>, mut policy: Policy) -> Sessions {
        policy.max = policy.max.max(1);
        Sessions { store, policy }
    }

    /// How long an unused session lasts.
    pub fn idle(&self) -> Duration {
        self.policy.idle
    }

    /// How long any session lasts at most.
    pub fn lifetime(&self) -> Duration {
        self.policy.lifetime
    }

    /// Starts a session at `now_ms`.
    pub async fn start(&self, now_ms: i64) -> Result<Started, ConsoleError> {
        let started = Started {
            id: random::token()?,
            csrf: random::token()?,
        };
        let row = SessionRow {
            digest: digest(&started.id),
            csrf: started.csrf.clone(),
            started_ms: now_ms,
        };
        self.store.insert(row, self.policy).await?;
        Ok(started)
    }

    /// The CSRF token of the live session `id`, marking it used at `now_ms`; `None`
    /// for an unknown or ended session.
    pub async fn touch(&self, id: &str, now_ms: i64) -> Result<Option<String>, ConsoleError> {
        self.store.touch(digest(id), now_ms, self.policy).await
    }

    /// Ends session `id` (logout); whether it was held.
    pub async fn end(&self, id: &str) -> Result<bool, ConsoleError> {
        self.store.remove(digest(id)).await
    }
}
