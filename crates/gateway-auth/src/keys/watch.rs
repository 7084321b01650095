//! Catching up with key changes made by other processes (the CLI on the same file),
//! without ever making a request wait on a database writer.
//!
//! [`Watch`] reads through a connection of its own, never the store's writing one, so
//! a mutation stuck on another process's write lock (up to the busy timeout) does not
//! hold it up: in WAL mode readers never wait for writers, and its own busy timeout is
//! short. The [`Runner`] runs catch-ups on a thread of its own, one at a time: a
//! request for one while a run is under way is served by the next run, so a flood of
//! unknown keys costs one run at a time, not one per request. [`CatchUp`] is the
//! waiter's future; it needs no async runtime.

use std::collections::HashMap;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::db::KeyWatch;
use crate::cache::KeyCache;
use crate::error::AuthError;

/// The least time between the end of a catch-up and the start of the next: a flood
/// of unknown keys costs at most 20 catch-ups a second, and a key made elsewhere
/// waits at most this much more for its first answer.
pub const CATCH_UP_GAP: Duration = Duration::from_millis(50);

/// What the cache reflects, and the backend's watch that looks for others' changes.
/// Mutations lock it only after their commit, to patch the cache, so the cache is
/// only ever written under this lock.
#[derive(Debug)]
pub(super) struct Watch {
    /// `None` when nothing else can change the database.
    looker: Option<Box<dyn KeyWatch>>,
    /// The `meta.keys_version` the cache reflects.
    pub(super) seen_version: i64,
}

impl Watch {
    /// A watch through `looker`, whose cache reflects `seen_version`.
    pub(super) fn new(looker: Option<Box<dyn KeyWatch>>, seen_version: i64) -> Watch {
        Watch {
            looker,
            seen_version,
        }
    }

    /// Reloads `cache` when another process changed keys or projects since the last
    /// look; returns whether it did.
    pub(super) fn refresh(&mut self, cache: &KeyCache) -> Result<bool, AuthError> {
        let Some(looker) = &mut self.looker else {
            return Ok(false);
        };
        // `None`: nothing was committed elsewhere. A version equal to the one seen:
        // someone else's commit was not about keys (the usage writer's, mostly).
        let Some(version) = looker.version_if_changed()? else {
            return Ok(false);
        };
        if version == self.seen_version {
            return Ok(false);
        }
        match looker.cache_rows() {
            Ok(rows) => cache.reload(rows),
            Err(e) => {
                // Look again next time, so the failed reload is tried again.
                looker.forget();
                return Err(e);
            }
        }
        self.seen_version = version;
        Ok(true)
    }

    /// Makes the next [`Watch::refresh`] read the version whatever the cheap check
    /// says (a patch of the cache failed).
    pub(super) fn forget(&mut self) {
        if let Some(looker) = &mut self.looker {
            looker.forget();
        }
    }

    /// Whether other processes' changes can be looked for at all.
    pub(super) fn watches(&self) -> bool {
        self.looker.is_some()
    }
}

/// The watch and the cache it keeps current, shared by the store and its runner.
#[derive(Debug)]
pub(super) struct Watched {
    pub(super) watch: Mutex<Watch>,
    pub(super) cache: Arc<KeyCache>,
}

impl Watched {
    pub(super) fn lock(&self) -> MutexGuard<'_, Watch> {
        // A panic cannot leave the watch half-updated in a harmful way: at worst a
        // version is behind, and the next refresh reloads.
        self.watch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn refresh(&self) -> Result<bool, AuthError> {
        self.lock().refresh(&self.cache)
    }
}

/// Runs catch-ups on a thread of its own (started at the first request), one at a
/// time, for any number of waiters.
#[derive(Debug)]
pub(super) struct Runner {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    work: Condvar,
    watched: Arc<Watched>,
}

#[derive(Debug, Default)]
struct State {
    /// Runs started so far; run `n` is the `n`th.
    started: u64,
    /// The last run finished.
    finished: u64,
    /// The highest run a waiter waits for.
    wanted: u64,
    /// Waiters by id: the run each waits for, and its waker.
    wakers: HashMap<u64, (u64, Waker)>,
    next_waiter: u64,
    thread: bool,
    stopped: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self) {
        let mut state = self.lock();
        let mut last_end: Option<Instant> = None;
        loop {
            while state.wanted <= state.started && !state.stopped {
                state = self
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            // Requests made during the gap join the run that follows it.
            while let Some(left) = last_end
                .map(|t| CATCH_UP_GAP.saturating_sub(t.elapsed()))
                .filter(|left| !left.is_zero() && !state.stopped)
            {
                state = self
                    .work
                    .wait_timeout(state, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if state.stopped {
                return;
            }
            state.started += 1;
            let run = state.started;
            drop(state);
            // A panic must not leave its waiters waiting: it ends the run like an error.
            let refreshed = catch_unwind(AssertUnwindSafe(|| self.watched.refresh()));
            match refreshed {
                Ok(Ok(true)) => tracing::info!("keys reloaded from the database"),
                Ok(Ok(false)) => {}
                Ok(Err(err)) => tracing::warn!(%err, "reloading keys failed; will retry"),
                Err(_) => tracing::error!("reloading keys panicked; will retry"),
            }
            last_end = Some(Instant::now());
            state = self.lock();
            state.finished = run;
            let mut due = Vec::new();
            state.wakers.retain(|_, (target, waker)| {
                let done = *target <= run;
                if done {
                    due.push(waker.clone());
                }
                !done
            });
            // Woken without the lock: a waker may poll its future at once.
            drop(state);
            due.into_iter().for_each(Waker::wake);
            state = self.lock();
        }
    }
}

impl Runner {
    pub(super) fn new(watched: Arc<Watched>) -> Runner {
        Runner {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                watched,
            }),
        }
    }

    /// A function that asks for a catch-up without waiting for it, for a database's
    /// change notices; it does nothing once the store is gone.
    pub(super) fn nudger(&self) -> Arc<dyn Fn() + Send + Sync> {
        let shared = Arc::downgrade(&self.shared);
        Arc::new(move || {
            if let Some(shared) = shared.upgrade() {
                drop(request(&shared));
            }
        })
    }

    /// How many catch-ups have started.
    pub(super) fn runs(&self) -> u64 {
        self.shared.lock().started
    }

    /// Asks for a catch-up that starts after this call (one under way may have
    /// looked too early) and returns its wait.
    pub(super) fn request(&self) -> CatchUp {
        request(&self.shared)
    }
}

/// Asks `shared`'s runner for a catch-up that starts after this call (one under way
/// may have looked too early) and returns its wait.
fn request(shared: &Arc<Shared>) -> CatchUp {
    let mut state = shared.lock();
    let target = state.started + 1;
    state.wanted = state.wanted.max(target);
    if !state.thread && !state.stopped {
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("key-catch-up".into())
            .spawn(move || shared.run());
        if let Err(err) = spawned {
            // This wait ends at once (the key is refused as unknown); the next
            // request tries to start the thread again.
            tracing::error!(%err, "the key catch-up thread could not start");
            return CatchUp {
                shared: None,
                target,
                id: 0,
            };
        }
        state.thread = true;
    }
    shared.work.notify_one();
    let id = state.next_waiter;
    state.next_waiter += 1;
    CatchUp {
        shared: Some(Arc::clone(shared)),
        target,
        id,
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.stopped = true;
        let wakers: Vec<Waker> = state.wakers.drain().map(|(_, (_, w))| w).collect();
        drop(state);
        self.shared.work.notify_one();
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// The wait for a catch-up with other processes' key changes (see
/// [`KeyStore::catch_up`](crate::KeyStore::catch_up)); resolves once a run that started
/// after it was asked for has ended (or the store is gone). Dropping it gives up the
/// wait, not the run.
#[derive(Debug)]
#[must_use = "a catch-up is waited for by awaiting it"]
pub struct CatchUp {
    /// `None` once resolved.
    shared: Option<Arc<Shared>>,
    target: u64,
    id: u64,
}

impl Future for CatchUp {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(shared) = &self.shared else {
            return Poll::Ready(());
        };
        let mut state = shared.lock();
        if state.finished >= self.target || state.stopped {
            state.wakers.remove(&self.id);
            drop(state);
            self.shared = None;
            return Poll::Ready(());
        }
        match state.wakers.get_mut(&self.id) {
            Some((_, w)) => w.clone_from(cx.waker()),
            None => {
                state
                    .wakers
                    .insert(self.id, (self.target, cx.waker().clone()));
            }
        }
        Poll::Pending
    }
}

impl Drop for CatchUp {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.lock().wakers.remove(&self.id);
        }
    }
}
