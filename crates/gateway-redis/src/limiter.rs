//! [`RedisLimiter`]: gateway-auth's [`Limiter`] with its counters in Redis.
//!
//! Admissions go through [`Limiter::admission`] as [`Admit::Later`]: one EVALSHA
//! (EVAL once after a NOSCRIPT) on a multiplexed tokio connection that reconnects by
//! itself, bounded by `timeout_ms`. Settling and releasing run the second script from
//! a spawned task (or, outside a runtime, on the blocking connection below); a failed
//! one is counted and logged, never retried, as a lost settle only misstates one
//! request's usage until its window ends. A request that reserved nothing (its key
//! and project have no tpm, quota or budget) is not settled on its own: what it spent
//! is gathered with others' and sent every few milliseconds ([`crate::tally`]).
//!
//! The synchronous methods of the trait — [`Limiter::admit`] (tools and tests; the
//! layer uses `admission`), [`Limiter::status`] and [`Limiter::usage`] (the admin
//! API) — block their thread for one round trip on a separate blocking connection,
//! with the same timeout. A blocking call cannot borrow the async connection without
//! a runtime of its own, and these are not on the request path. When Redis fails
//! them, `status` and `usage` report the local limiter's view.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gateway_auth::cache::now_ms;
use gateway_auth::{
    Actual, Admit, Estimate, LimitStatus, LimitUsage, Limiter, Limits, MemoryLimiter, Refused,
    Reservation, Scope, Subject, limits::Held,
};
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::config::{FailMode, RedisConfig};
use crate::error::{Error, StoreError};
use crate::keys::{SubjectKeys, Windows, amounts, limit_args};
use crate::reply::parse;
use crate::tally::{TALLY_EVERY, Tally};

/// At most one warning per this many ms while Redis is failing.
const WARN_EVERY_MS: i64 = 10_000;
/// After a failure, admissions skip Redis for this long (straight to [`FailMode`]),
/// so a Redis that hangs costs each request nothing rather than `timeout_ms`; the
/// first admission after it asks again.
const BACKOFF_MS: i64 = 250;
/// Settling is not on the answer's path: it may wait longer than an admission.
const SETTLE_TIMEOUT_MS: u64 = 1_000;

/// How often the limiter could not reach Redis, for the operator's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Admissions decided by the local limiter because Redis failed (fail open).
    pub fail_open: u64,
    /// Admissions refused with a 503 because Redis failed (fail closed).
    pub fail_closed: u64,
    /// Settles and releases that did not reach Redis.
    pub settle_failures: u64,
}

/// Rates, quotas and budgets in one Redis server, shared by every gateway instance
/// that points at it. Cheap to clone (one shared state).
#[derive(Debug, Clone)]
pub struct RedisLimiter {
    shared: Arc<Shared>,
}

struct Shared {
    config: RedisConfig,
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    blocking: Mutex<Option<redis::Connection>>,
    admit: Script,
    settle: Script,
    track: Script,
    /// Spending of subjects without quotas or budgets, sent every `tally_every`.
    tally: Mutex<Tally>,
    tally_every: Duration,
    local: MemoryLimiter,
    fail_open: AtomicU64,
    fail_closed: AtomicU64,
    settle_failures: AtomicU64,
    last_warning_ms: AtomicI64,
    /// Until when (Unix ms, wall clock) admissions skip Redis.
    down_until_ms: AtomicI64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("prefix", &self.config.prefix)
            .field("fail", &self.config.fail)
            .field("timeout_ms", &self.config.timeout_ms)
            .finish_non_exhaustive()
    }
}

/// One script call: its keys and arguments.
#[derive(Debug, Clone)]
struct Call {
    keys: Vec<String>,
    args: Vec<String>,
}

impl RedisLimiter {
    /// A limiter on `config.url`. Nothing is connected yet: the first admission
    /// connects (so a gateway starts while Redis is down, and [`FailMode`] applies).
    pub fn new(config: RedisConfig) -> Result<RedisLimiter, Error> {
        RedisLimiter::gathering_for(config, TALLY_EVERY)
    }

    /// A limiter like [`RedisLimiter::new`]'s that gathers the spending of subjects
    /// without quotas or budgets for `every` before sending it (the default is 50 ms);
    /// tests on a busy machine give it longer.
    pub fn gathering_for(config: RedisConfig, every: Duration) -> Result<RedisLimiter, Error> {
        let client = redis::Client::open(config.url.as_str()).map_err(Error::Url)?;
        Ok(RedisLimiter {
            shared: Arc::new(Shared {
                config,
                client,
                conn: OnceCell::new(),
                blocking: Mutex::new(None),
                admit: Script::new(include_str!("lua/admit.lua")),
                settle: Script::new(include_str!("lua/settle.lua")),
                track: Script::new(include_str!("lua/track.lua")),
                tally: Mutex::new(Tally::default()),
                tally_every: every,
                local: MemoryLimiter::new(),
                fail_open: AtomicU64::new(0),
                fail_closed: AtomicU64::new(0),
                settle_failures: AtomicU64::new(0),
                last_warning_ms: AtomicI64::new(i64::MIN),
                down_until_ms: AtomicI64::new(i64::MIN),
            }),
        })
    }

    /// How often Redis failed so far.
    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        Stats {
            fail_open: s.fail_open.load(Ordering::Relaxed),
            fail_closed: s.fail_closed.load(Ordering::Relaxed),
            settle_failures: s.settle_failures.load(Ordering::Relaxed),
        }
    }

    /// The in-memory limiter that decides while Redis fails (fail open).
    pub fn local(&self) -> &MemoryLimiter {
        &self.shared.local
    }
}

/// What an admission needs once Redis answered.
struct Pending {
    subject: Subject,
    key: Limits,
    project: Option<Limits>,
    estimate: Estimate,
    now_ms: i64,
    win: Windows,
}

impl Shared {
    fn subjects(&self, subject: &Subject) -> Vec<SubjectKeys> {
        let prefix = &self.config.prefix;
        let mut out = vec![SubjectKeys::new(prefix, Scope::Key, &subject.key_id)];
        // A project's counters are kept even without limits, as in MemoryLimiter.
        if let Some(id) = &subject.project_id {
            out.push(SubjectKeys::new(prefix, Scope::Project, id));
        }
        out
    }

    fn admit_call(
        &self,
        mode: &str,
        subjects: &[(SubjectKeys, &Limits)],
        est: &Estimate,
        win: &Windows,
        now_ms: i64,
    ) -> Call {
        let mut keys = Vec::with_capacity(4 * subjects.len());
        let mut args = vec![
            mode.to_owned(),
            now_ms.to_string(),
            win.day_end_ms.to_string(),
            win.month_end_ms.to_string(),
        ];
        args.extend(amounts(est).map(|a| a.to_string()));
        for (s, limits) in subjects {
            keys.extend([s.rates(), s.day(win.day), s.month(win.month), s.total()]);
            args.extend(limit_args(limits).map(|a| a.to_string()));
        }
        Call { keys, args }
    }

    async fn run_async(
        &self,
        script: &Script,
        call: &Call,
        timeout_ms: u64,
    ) -> Result<Vec<i64>, StoreError> {
        let work = async {
            let conn = self
                .conn
                .get_or_try_init(|| {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Duration::from_millis(timeout_ms.max(1)))
                        .set_number_of_retries(1);
                    ConnectionManager::new_with_config(self.client.clone(), config)
                })
                .await?;
            let mut conn = conn.clone();
            let mut invocation = script.prepare_invoke();
            for key in &call.keys {
                invocation.key(key);
            }
            for arg in &call.args {
                invocation.arg(arg);
            }
            Ok::<_, StoreError>(invocation.invoke_async::<Vec<i64>>(&mut conn).await?)
        };
        tokio::time::timeout(Duration::from_millis(timeout_ms), work)
            .await
            .unwrap_or(Err(StoreError::Timeout(timeout_ms)))
    }

    fn run_blocking(
        &self,
        script: &Script,
        call: &Call,
        timeout_ms: u64,
    ) -> Result<Vec<i64>, StoreError> {
        let timeout = Duration::from_millis(timeout_ms.max(1));
        let mut slot = self.blocking.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = match slot.as_mut() {
            Some(conn) => conn,
            None => {
                let conn = self.client.get_connection_with_timeout(timeout)?;
                conn.set_read_timeout(Some(timeout))?;
                conn.set_write_timeout(Some(timeout))?;
                slot.insert(conn)
            }
        };
        let mut invocation = script.prepare_invoke();
        for key in &call.keys {
            invocation.key(key);
        }
        for arg in &call.args {
            invocation.arg(arg);
        }
        let answer = invocation.invoke::<Vec<i64>>(conn);
        if answer.is_err() {
            // A timed-out connection may still deliver the late answer: start afresh.
            *slot = None;
        }
        Ok(answer?)
    }

    /// Sends the gathered spending in `tally_every` from a spawned task, or now
    /// outside a runtime.
    fn schedule_tally(self: &Arc<Self>) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let shared = Arc::clone(self);
                runtime.spawn(async move {
                    tokio::time::sleep(shared.tally_every).await;
                    let call = shared.take_tally();
                    if let Some(call) = call {
                        if let Err(err) = shared
                            .run_async(&shared.track, &call, SETTLE_TIMEOUT_MS)
                            .await
                        {
                            shared.settle_failed(&err);
                        }
                    }
                });
            }
            Err(_) => self.send_tally_blocking(),
        }
    }

    /// The gathered spending as one call, taken out; `None` when there is none.
    fn take_tally(&self) -> Option<Call> {
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        tally.scheduled = false;
        if tally.is_empty() {
            return None;
        }
        let (keys, args) = tally.take();
        Some(Call { keys, args })
    }

    /// Sends the gathered spending now (before the counters are read).
    fn send_tally_blocking(&self) {
        if let Some(call) = self.take_tally() {
            if let Err(err) = self.run_blocking(&self.track, &call, SETTLE_TIMEOUT_MS) {
                self.settle_failed(&err);
            }
        }
    }

    /// Turns the admission script's answer into a reservation or a refusal.
    fn decide(
        self: &Arc<Self>,
        reply: &[i64],
        p: &Pending,
    ) -> Result<Result<Reservation, Refused>, StoreError> {
        let unlimited = Limits::default();
        let project_limits = p.project.as_ref().unwrap_or(&unlimited);
        let subjects = self.subjects(&p.subject);
        let limits_of = |i: usize| if i == 0 { &p.key } else { project_limits };
        let standings = match parse(reply, subjects.len())? {
            Ok(standings) => standings,
            Err(at) => {
                let limits = if at.scope() == Scope::Key {
                    &p.key
                } else {
                    project_limits
                };
                return Ok(Err(at.refused(limits, &p.estimate, &p.win, p.now_ms)));
            }
        };
        let mut status = LimitStatus::at(p.now_ms);
        for (i, standing) in standings.iter().enumerate().rev() {
            standing.note(limits_of(i), &p.win, p.now_ms, &mut status);
        }
        let flags = |l: &Limits| Flags {
            tpm: l.tpm.is_some(),
            counted: l.reserves_spending(),
        };
        let flags = [flags(&p.key), flags(project_limits)];
        let hold = Hold {
            shared: Arc::clone(self),
            subjects: subjects.into_iter().zip(flags).collect(),
            estimate: p.estimate,
            win: p.win,
        };
        Ok(Ok(Reservation::new(Box::new(hold)).with_status(status)))
    }

    /// `Err` while a recent failure keeps admissions off Redis.
    fn backing_off(&self) -> Result<(), StoreError> {
        let until = self.down_until_ms.load(Ordering::Relaxed);
        if now_ms() < until {
            Err(StoreError::Backoff(BACKOFF_MS))
        } else {
            Ok(())
        }
    }

    /// What an admission that Redis failed answers, per [`FailMode`].
    fn fall_back(&self, err: &StoreError, p: &Pending) -> Result<Reservation, Refused> {
        if !matches!(err, StoreError::Backoff(_)) {
            self.down_until_ms
                .store(now_ms().saturating_add(BACKOFF_MS), Ordering::Relaxed);
        }
        self.warn(err);
        match self.config.fail {
            FailMode::Closed => {
                self.fail_closed.fetch_add(1, Ordering::Relaxed);
                Err(Refused::unavailable(1))
            }
            FailMode::Open => {
                self.fail_open.fetch_add(1, Ordering::Relaxed);
                self.local.admit(
                    &p.subject,
                    &p.key,
                    p.project.as_ref(),
                    &p.estimate,
                    p.now_ms,
                )
            }
        }
    }

    fn warn(&self, err: &StoreError) {
        let now = now_ms();
        let last = self.last_warning_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_MS
            && self
                .last_warning_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let mode = match self.config.fail {
                FailMode::Closed => "refusing requests (fail = \"closed\")",
                FailMode::Open => "admitting on this instance's own limiter (fail = \"open\")",
            };
            tracing::warn!(error = %err, "the Redis limiter failed; {mode}");
        }
    }

    fn settle_failed(&self, err: &StoreError) {
        self.settle_failures.fetch_add(1, Ordering::Relaxed);
        self.warn(err);
    }
}

impl RedisLimiter {
    fn pending(
        &self,
        subject: &Subject,
        key: &Limits,
        project: Option<&Limits>,
        estimate: &Estimate,
        now_ms: i64,
    ) -> (Pending, Call) {
        let win = Windows::at(now_ms);
        let unlimited = Limits::default();
        let subjects = self.shared.subjects(subject);
        let with_limits: Vec<_> = subjects
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    s,
                    if i == 0 {
                        key
                    } else {
                        project.unwrap_or(&unlimited)
                    },
                )
            })
            .collect();
        let call = self
            .shared
            .admit_call("admit", &with_limits, estimate, &win, now_ms);
        let pending = Pending {
            subject: subject.clone(),
            key: key.clone(),
            project: project.cloned(),
            estimate: *estimate,
            now_ms,
            win,
        };
        (pending, call)
    }

    /// Where one subject stands, read by the script without reserving anything.
    fn peek(
        &self,
        keys: SubjectKeys,
        limits: &Limits,
        now_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        // What was spent and is still gathered counts too.
        self.shared.send_tally_blocking();
        let win = Windows::at(now_ms);
        let call = self.shared.admit_call(
            "peek",
            &[(keys, limits)],
            &Estimate::default(),
            &win,
            now_ms,
        );
        let s = &self.shared;
        s.run_blocking(&s.admit, &call, s.config.timeout_ms)
    }
}

impl Limiter for RedisLimiter {
    fn admit(
        &self,
        subject: &Subject,
        key: &Limits,
        project: Option<&Limits>,
        estimate: &Estimate,
        now_ms: i64,
    ) -> Result<Reservation, Refused> {
        let (pending, call) = self.pending(subject, key, project, estimate, now_ms);
        let s = &self.shared;
        let decided = s
            .backing_off()
            .and_then(|()| s.run_blocking(&s.admit, &call, s.config.timeout_ms))
            .and_then(|reply| s.decide(&reply, &pending));
        decided.unwrap_or_else(|err| s.fall_back(&err, &pending))
    }

    fn admission(
        &self,
        subject: &Subject,
        key: &Limits,
        project: Option<&Limits>,
        estimate: &Estimate,
        now_ms: i64,
    ) -> Admit {
        let (pending, call) = self.pending(subject, key, project, estimate, now_ms);
        if let Err(err) = self.shared.backing_off() {
            return Admit::Now(self.shared.fall_back(&err, &pending));
        }
        let shared = Arc::clone(&self.shared);
        Admit::Later(Box::pin(async move {
            let decided = match shared
                .run_async(&shared.admit, &call, shared.config.timeout_ms)
                .await
            {
                Ok(reply) => shared.decide(&reply, &pending),
                Err(err) => Err(err),
            };
            decided.unwrap_or_else(|err| shared.fall_back(&err, &pending))
        }))
    }

    fn status(
        &self,
        subject: &Subject,
        key: &Limits,
        project: Option<&Limits>,
        now_ms: i64,
    ) -> LimitStatus {
        let win = Windows::at(now_ms);
        let mut status = LimitStatus::at(now_ms);
        let mut look = |keys: SubjectKeys, limits: &Limits| -> Result<(), StoreError> {
            let reply = self.peek(keys, limits, now_ms)?;
            let standings =
                parse(&reply, 1)?.map_err(|_| StoreError::Reply("a refusal to a peek".into()))?;
            standings[0].note(limits, &win, now_ms, &mut status);
            Ok(())
        };
        let prefix = &self.shared.config.prefix;
        let mut read = look(SubjectKeys::new(prefix, Scope::Key, &subject.key_id), key);
        if let (Ok(()), Some(id), Some(limits)) = (&read, &subject.project_id, project) {
            read = look(SubjectKeys::new(prefix, Scope::Project, id), limits);
        }
        match read {
            Ok(()) => status,
            Err(err) => {
                self.shared.warn(&err);
                self.shared.local.status(subject, key, project, now_ms)
            }
        }
    }

    fn usage(&self, scope: Scope, id: &str, limits: &Limits, now_ms: i64) -> Vec<LimitUsage> {
        let win = Windows::at(now_ms);
        let keys = SubjectKeys::new(&self.shared.config.prefix, scope, id);
        let read = self.peek(keys, limits, now_ms).and_then(|reply| {
            let standings =
                parse(&reply, 1)?.map_err(|_| StoreError::Reply("a refusal to a peek".into()))?;
            Ok(standings[0].usage(limits, &win, now_ms))
        });
        read.unwrap_or_else(|err| {
            self.shared.warn(&err);
            self.shared.local.usage(scope, id, limits, now_ms)
        })
    }
}

/// What a subject's limits were when it was admitted, for its settle.
#[derive(Clone, Copy)]
struct Flags {
    /// A tpm limit: its rate cell took the estimate.
    tpm: bool,
    /// A quota or budget: its counters took the estimate (else they only track).
    counted: bool,
}

/// What one admitted request holds: enough to find and correct its counters.
struct Hold {
    shared: Arc<Shared>,
    /// Each subject's keys, and its limits' flags when admitted.
    subjects: Vec<(SubjectKeys, Flags)>,
    estimate: Estimate,
    win: Windows,
}

impl Hold {
    fn send(self, mode: &str, actual: Option<&Actual>, now_ms: i64) {
        let now = Windows::at(now_ms);
        let actual = actual.map_or([0; 3], |a| {
            amounts(&Estimate {
                input_tokens: a.input_tokens,
                output_tokens: a.output_tokens,
                cost_micros: a.cost_micros,
            })
        });
        // Nothing reserved anywhere (no tpm, no quota, no budget): there is nothing
        // to give back, and what was spent only tracks, so it is gathered and sent
        // with others' (a release has nothing to send at all).
        if self.subjects.iter().all(|(_, f)| !f.tpm && !f.counted) {
            if mode == "settle" {
                let shared = Arc::clone(&self.shared);
                let mut tally = shared.tally.lock().unwrap_or_else(PoisonError::into_inner);
                for (subject, _) in &self.subjects {
                    tally.add(subject, &now, now_ms, actual);
                }
                if !tally.is_empty() && !tally.scheduled {
                    tally.scheduled = true;
                    drop(tally);
                    shared.schedule_tally();
                }
            }
            return;
        }
        let mut args = vec![
            mode.to_owned(),
            now_ms.to_string(),
            now.day_end_ms.to_string(),
            now.month_end_ms.to_string(),
        ];
        args.extend(amounts(&self.estimate).map(|a| a.to_string()));
        args.extend(actual.map(|a| a.to_string()));
        let mut keys = Vec::with_capacity(6 * self.subjects.len());
        for (s, flags) in &self.subjects {
            keys.extend([
                s.rates(),
                s.day(self.win.day),
                s.month(self.win.month),
                s.total(),
                s.day(now.day),
                s.month(now.month),
            ]);
            let flag = |on: bool| if on { "1" } else { "0" }.to_owned();
            args.extend([flag(flags.tpm), flag(flags.counted)]);
        }
        let call = Call { keys, args };
        let shared = self.shared;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(err) = shared
                        .run_async(&shared.settle, &call, SETTLE_TIMEOUT_MS)
                        .await
                    {
                        shared.settle_failed(&err);
                    }
                });
            }
            Err(_) => {
                if let Err(err) = shared.run_blocking(&shared.settle, &call, SETTLE_TIMEOUT_MS) {
                    shared.settle_failed(&err);
                }
            }
        }
    }
}

impl Held for Hold {
    fn settle(self: Box<Self>, actual: &Actual, now_ms: i64) {
        self.send("settle", Some(actual), now_ms);
    }

    fn release(self: Box<Self>) {
        self.send("release", None, now_ms());
    }
}
