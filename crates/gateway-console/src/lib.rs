//! The operator console: the web pages the admin listener serves at `/` (the JSON
//! API stays under `/admin/`), and the login that lets a browser use that API.
//!
//! Everything is embedded in the binary ([`assets`]): hand-written HTML, CSS and
//! JavaScript modules, no build step, no request to any other host. A browser logs in
//! with the admin token (`POST /console/login`) and gets a server-side session
//! ([`session`]) in an `HttpOnly; SameSite=Strict` cookie ([`cookie`]); the admin API
//! then accepts that cookie instead of the bearer token, and every change made with
//! it must carry the session's CSRF token in `x-csrf-token` ([`csrf`]). Every answer
//! carries a strict Content-Security-Policy and the other security headers
//! ([`headers`]).
//!
//! The crate knows nothing of the gateway: the admin listener hands it a way to check
//! the admin token and two services ([`Console::gate`]): the admin API behind its
//! bearer-token check, and the same API without it, for requests whose session was
//! checked here.

pub mod assets;
pub mod cookie;
pub mod csrf;
mod gate;
mod handler;
pub mod headers;
mod memory;
mod random;
mod reply;
pub mod session;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;

pub use gate::Gate;
pub use session::{MemorySessions, Policy, SessionRow, SessionStore, Sessions};

/// The body of every answer: the same type as the admin API's.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;
/// An answer.
pub type Answer = http::Response<Body>;

/// What can go wrong in the console itself.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The OS random source failed: no session can be made safely.
    #[error("random source: {0}")]
    Random(getrandom::Error),
    /// The session store could not be reached or refused the change.
    #[error("session store: {0}")]
    Store(String),
}

/// Checks a presented admin token.
pub type TokenCheck = dyn Fn(&str) -> bool + Send + Sync;

/// The console of one admin listener: its sessions, whether it is reached over TLS,
/// and how to check the admin token.
pub struct Console {
    sessions: Sessions,
    tls: bool,
    check: Box<TokenCheck>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// A console with default session lifetimes, in memory ([`Sessions::default`]). `tls`: the
    /// listener serves HTTPS (the cookie is `Secure`, HSTS is sent); `check` says
    /// whether a presented token is the admin token.
    pub fn new(tls: bool, check: impl Fn(&str) -> bool + Send + Sync + 'static) -> Console {
        Console::with_sessions(tls, check, Sessions::default())
    }

    /// A console with the given session store.
    pub fn with_sessions(
        tls: bool,
        check: impl Fn(&str) -> bool + Send + Sync + 'static,
        sessions: Sessions,
    ) -> Console {
        Console {
            sessions,
            tls,
            check: Box::new(check),
        }
    }

    /// The sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Whether the listener serves HTTPS.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The admin listener's service: the console's pages and login for paths outside
    /// `/admin/`; for `/admin/` paths, `keyed` (the API behind its bearer-token check)
    /// unless the request comes with a session cookie and no `Authorization`, in
    /// which case the session (and, for a change, the CSRF token) is checked here and
    /// `direct` (the API without the token check) answers.
    pub fn gate<K, D>(self: Arc<Self>, keyed: K, direct: D) -> Gate<K, D> {
        Gate::new(self, keyed, direct)
    }
}
