//! The console's session stores, memory and PostgreSQL, held to the same rules: a
//! session answers with its CSRF token until logout, idle time and lifetime end it,
//! a full store drops the least recently used, and (PostgreSQL) two instances on one
//! database see each other's sessions. PostgreSQL runs when `PATCHBAY_TEST_POSTGRES`
//! is given (required when `PATCHBAY_REQUIRE_SERVICES` is set, as in CI).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gateway_console::{MemorySessions, Policy, SessionStore, Sessions};
use gateway_postgres::{PgSessions, Postgres, PostgresOptions};
use gateway_server::admin::sessions::Shared;

const MIN: i64 = 60_000;

fn policy() -> Policy {
    Policy {
        idle: Duration::from_secs(10 * 60),
        lifetime: Duration::from_secs(60 * 60),
        max: 3,
    }
}

/// A fresh PostgreSQL schema, when the test server is given: how to connect to it.
fn fresh_schema() -> Option<(String, PostgresOptions)> {
    let Ok(url) = std::env::var("PATCHBAY_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("PATCHBAY_REQUIRE_SERVICES").is_none(),
            "PATCHBAY_REQUIRE_SERVICES is set but PATCHBAY_TEST_POSTGRES is not"
        );
        eprintln!("PostgreSQL: skipped, PATCHBAY_TEST_POSTGRES is not set");
        return None;
    };
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let schema = format!(
        "console_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let options = PostgresOptions {
        schema: Some(schema),
        ..PostgresOptions::default()
    };
    Some((url, options))
}

/// A fresh PostgreSQL schema's database, when the test server is given.
fn postgres() -> Option<Postgres> {
    let (url, options) = fresh_schema()?;
    Some(Postgres::connect(&url, &options).expect("the test server takes connections"))
}

/// Every store this run can test, each fresh.
fn stores() -> Vec<(&'static str, Arc<dyn SessionStore>)> {
    let mut all: Vec<(&'static str, Arc<dyn SessionStore>)> =
        vec![("memory", Arc::new(MemorySessions::default()))];
    if let Some(pg) = postgres() {
        all.push(("postgres", Arc::new(Shared(PgSessions::new(pg)))));
    }
    all
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_session_answers_with_its_csrf_token_until_logout() {
    for (name, store) in stores() {
        let s = Sessions::new(store, policy());
        block_on(async {
            let a = s.start(0).await.unwrap();
            assert_eq!(
                s.touch(&a.id, MIN).await.unwrap(),
                Some(a.csrf.clone()),
                "{name}"
            );
            assert_eq!(s.touch("unknown", MIN).await.unwrap(), None, "{name}");
            assert_eq!(s.touch(&a.csrf, MIN).await.unwrap(), None, "{name}");
            assert!(s.end(&a.id).await.unwrap(), "{name}");
            assert_eq!(s.touch(&a.id, MIN).await.unwrap(), None, "{name}");
            assert!(!s.end(&a.id).await.unwrap(), "{name}: a second logout");
        });
    }
}

#[test]
fn idle_time_and_lifetime_end_sessions() {
    for (name, store) in stores() {
        let s = Sessions::new(store, policy());
        block_on(async {
            let a = s.start(0).await.unwrap();
            let b = s.start(0).await.unwrap();
            // `a` is used every 9 minutes; `b` never.
            for n in 1..=6 {
                assert!(
                    s.touch(&a.id, 9 * MIN * n).await.unwrap().is_some(),
                    "{name} {n}"
                );
            }
            assert_eq!(
                s.touch(&b.id, 10 * MIN).await.unwrap(),
                None,
                "{name}: idle"
            );
            assert!(s.touch(&a.id, 59 * MIN).await.unwrap().is_some(), "{name}");
            assert_eq!(
                s.touch(&a.id, 60 * MIN).await.unwrap(),
                None,
                "{name}: lifetime"
            );
        });
    }
}

#[test]
fn a_full_store_drops_the_least_recently_used() {
    for (name, store) in stores() {
        let s = Sessions::new(store, policy());
        block_on(async {
            let a = s.start(0).await.unwrap();
            let b = s.start(MIN).await.unwrap();
            let c = s.start(2 * MIN).await.unwrap();
            assert!(s.touch(&a.id, 3 * MIN).await.unwrap().is_some());
            let d = s.start(4 * MIN).await.unwrap();
            assert_eq!(s.touch(&b.id, 4 * MIN).await.unwrap(), None, "{name}: b");
            for live in [&a, &c, &d] {
                assert!(
                    s.touch(&live.id, 4 * MIN).await.unwrap().is_some(),
                    "{name}"
                );
            }
        });
    }
}

#[test]
fn instances_on_one_database_share_sessions() {
    let Some((url, options)) = fresh_schema() else {
        return;
    };
    // Two instances: each its own pool and runtime on the same database.
    let connect = || {
        let pg = Postgres::connect(&url, &options).unwrap();
        Sessions::new(Arc::new(Shared(PgSessions::new(pg))), policy())
    };
    let (one, two) = (connect(), connect());
    block_on(async {
        let a = one.start(0).await.unwrap();
        assert_eq!(two.touch(&a.id, MIN).await.unwrap(), Some(a.csrf.clone()));
        // Use through the second instance keeps it alive on the first.
        assert!(two.touch(&a.id, 9 * MIN).await.unwrap().is_some());
        assert!(one.touch(&a.id, 18 * MIN).await.unwrap().is_some());
        assert!(two.end(&a.id).await.unwrap());
        assert_eq!(one.touch(&a.id, 19 * MIN).await.unwrap(), None);
    });
}
