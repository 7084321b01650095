//! The test Redis, limiters on it under a prefix of their own, and a twin that
//! makes every call on a MemoryLimiter and a RedisLimiter and asserts they answer
//! alike.

use std::sync::atomic::{AtomicU64, Ordering};

use gateway_auth::limits::{Actual, Estimate, Limiter, MemoryLimiter, Refused, Scope};
use gateway_auth::{LimitStatus, Limits, Reservation, Subject};
use gateway_redis::{FailMode, RedisConfig, RedisLimiter};

/// 2024-02-01T00:00:00Z.
pub const FEB_1: i64 = 1_706_745_600_000;
pub const DAY: i64 = 86_400_000;

/// The test Redis's URL, or `None` (after saying so) when none is configured.
pub fn redis_url(test: &str) -> Option<String> {
    match std::env::var("PATCHBAY_TEST_REDIS") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("PATCHBAY_REQUIRE_SERVICES").is_none(),
                "PATCHBAY_REQUIRE_SERVICES is set but PATCHBAY_TEST_REDIS is not: eval \"$(scripts/services start)\""
            );
            eprintln!(
                "{test}: skipped, PATCHBAY_TEST_REDIS is not set (eval \"$(scripts/services start)\")"
            );
            None
        }
    }
}

/// A prefix no other test (or earlier run) uses.
pub fn fresh_prefix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "patchbay-test:{}:{nanos}:{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Tests that change the shared server for everyone (`SCRIPT FLUSH`) hold this
/// for writing; the many-admission exactness tests hold it for reading, so a flush
/// never lands in the middle of them.
pub static SERVER_WIDE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

pub fn limiter(url: &str, prefix: &str, fail: FailMode) -> RedisLimiter {
    RedisLimiter::new(config(url, prefix, fail)).unwrap()
}

pub fn config(url: &str, prefix: &str, fail: FailMode) -> RedisConfig {
    RedisConfig {
        url: url.to_owned(),
        fail,
        // Generous: the machine running the tests is shared and busy.
        timeout_ms: 2_000,
        prefix: prefix.to_owned(),
    }
}

pub fn key(id: &str) -> Subject {
    Subject {
        key_id: id.into(),
        project_id: None,
    }
}

pub fn in_project(id: &str, project: &str) -> Subject {
    Subject {
        key_id: id.into(),
        project_id: Some(project.into()),
    }
}

pub fn tokens(input: u64, output: u64) -> Estimate {
    Estimate {
        input_tokens: input,
        output_tokens: output,
        cost_micros: None,
    }
}

pub fn costing(micros: i64) -> Estimate {
    Estimate {
        cost_micros: Some(micros),
        ..Estimate::default()
    }
}

pub fn actual(input: u64, output: u64, cost_micros: Option<i64>) -> Actual {
    Actual {
        input_tokens: input,
        output_tokens: output,
        cost_micros,
    }
}

/// Admits through the async path, as the layer does.
pub async fn admit(
    limiter: &RedisLimiter,
    subject: &Subject,
    key: &Limits,
    project: Option<&Limits>,
    estimate: &Estimate,
    now_ms: i64,
) -> Result<Reservation, Refused> {
    match limiter.admission(subject, key, project, estimate, now_ms) {
        gateway_auth::limits::Admit::Now(decided) => decided,
        gateway_auth::limits::Admit::Later(decided) => decided.await,
    }
}

/// One MemoryLimiter and one RedisLimiter given the same calls. Admissions run on
/// the async path; settles and releases happen outside the runtime, so the
/// Redis one runs on the blocking connection and has landed when the call returns
/// (the spawned path is exercised by the `exact` tests).
pub struct Twin {
    pub memory: MemoryLimiter,
    pub redis: RedisLimiter,
    runtime: tokio::runtime::Runtime,
    held: Vec<Option<(Reservation, Reservation)>>,
}

/// An admitted request of a [`Twin`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket(usize);

impl Twin {
    pub fn new(url: &str) -> Twin {
        Twin {
            memory: MemoryLimiter::new(),
            redis: limiter(url, &fresh_prefix(), FailMode::Closed),
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
            held: Vec::new(),
        }
    }

    /// Admits on both; asserts the same refusal, or the same status after the
    /// reservation.
    pub fn admit(
        &mut self,
        subject: &Subject,
        key: &Limits,
        project: Option<&Limits>,
        estimate: Estimate,
        now_ms: i64,
    ) -> Result<Ticket, Refused> {
        let m = self.memory.admit(subject, key, project, &estimate, now_ms);
        let r = self
            .runtime
            .block_on(admit(&self.redis, subject, key, project, &estimate, now_ms));
        match (m, r) {
            (Ok(m), Ok(r)) => {
                assert_eq!(
                    m.status(),
                    r.status(),
                    "statuses after admitting at {now_ms}"
                );
                self.held.push(Some((m, r)));
                Ok(Ticket(self.held.len() - 1))
            }
            (Err(m), Err(r)) => {
                assert_eq!(m, r, "refusals at {now_ms}");
                Err(r)
            }
            (m, r) => panic!("memory {m:?}, redis {r:?} at {now_ms}"),
        }
    }

    pub fn settle(&mut self, ticket: Ticket, actual: Actual, now_ms: i64) {
        let (m, r) = self.held[ticket.0].take().unwrap();
        m.settle(&actual, now_ms);
        r.settle(&actual, now_ms);
    }

    pub fn release(&mut self, ticket: Ticket) {
        drop(self.held[ticket.0].take().unwrap());
    }

    /// Asserts both report the same standing of the subject's limits.
    pub fn same_status(
        &self,
        subject: &Subject,
        key: &Limits,
        project: Option<&Limits>,
        now_ms: i64,
    ) -> LimitStatus {
        let m = self.memory.status(subject, key, project, now_ms);
        let r = self.redis.status(subject, key, project, now_ms);
        assert_eq!(m, r, "status at {now_ms}");
        r
    }

    /// Asserts both report the same usage of every limit.
    pub fn same_usage(&self, scope: Scope, id: &str, limits: &Limits, now_ms: i64) {
        let m = self.memory.usage(scope, id, limits, now_ms);
        let r = self.redis.usage(scope, id, limits, now_ms);
        assert_eq!(m, r, "usage of {scope:?} {id} at {now_ms}");
    }
}
