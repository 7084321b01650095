//! Exact across instances: three RedisLimiters, each with its own connection (as
//! three gateway processes would have), admitting concurrently against one key.

use std::sync::Arc;

use gateway_auth::Limits;
use gateway_auth::limits::{Estimate, Limiter, Scope};
use gateway_redis::{FailMode, RedisLimiter};

use crate::support::{actual, admit, fresh_prefix, in_project, key, limiter, redis_url};

fn three(url: &str) -> Vec<Arc<RedisLimiter>> {
    let prefix = fresh_prefix();
    (0..3)
        .map(|_| Arc::new(limiter(url, &prefix, FailMode::Closed)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_admissions_over_three_limiters_admit_exactly_sixty_rpm() {
    let _shared = crate::support::SERVER_WIDE.read().await;
    let Some(url) = redis_url("sixty_rpm") else {
        return;
    };
    let limiters = three(&url);
    let limits = Limits {
        rpm: Some(60),
        ..Limits::default()
    };
    let now = gateway_auth::cache::now_ms();
    let mut tasks = Vec::new();
    for i in 0..500 {
        let limiter = Arc::clone(&limiters[i % 3]);
        let limits = limits.clone();
        tasks.push(tokio::spawn(async move {
            // Everyone at the same instant: no refill can sneak in. An admission the
            // store did not answer (a busy test machine past the timeout, then the
            // limiter's back-off) is asked again at the same instant: what is under
            // test is the count, and a refused admission reserved nothing.
            let mut tries = 0;
            loop {
                let answer = admit(
                    &limiter,
                    &key("hot"),
                    &limits,
                    None,
                    &Estimate::default(),
                    now,
                )
                .await
                .map(|r| r.status().requests.unwrap().remaining);
                match answer {
                    Err(r) if r.unavailable && tries < 20 => {
                        tries += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    }
                    other => break other,
                }
            }
        }));
    }
    let mut admitted = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(remaining) => admitted.push(remaining),
            Err(r) => {
                assert!(!r.unavailable, "Redis answered every admission");
                assert_eq!(r.retry_after_secs, Some(1));
                refused += 1;
            }
        }
    }
    assert_eq!((admitted.len(), refused), (60, 440));
    // Each admission saw a different remaining count: 59 down to 0.
    admitted.sort_unstable();
    assert_eq!(admitted, (0..60).collect::<Vec<u64>>());
    for l in &limiters {
        assert_eq!(l.stats().settle_failures, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_budget_is_never_exceeded_across_limiters() {
    let _shared = crate::support::SERVER_WIDE.read().await;
    let Some(url) = redis_url("budget") else {
        return;
    };
    let limiters = three(&url);
    let key_limits = Limits::default();
    let project = Limits {
        total_usd: Some(1.0),
        ..Limits::default()
    };
    let now = gateway_auth::cache::now_ms();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let limiter = Arc::clone(&limiters[i % 3]);
        let (key_limits, project) = (key_limits.clone(), project.clone());
        tasks.push(tokio::spawn(async move {
            let subject = in_project(&format!("k{}", i % 7), "shared");
            let estimate = Estimate {
                cost_micros: Some(30_000),
                ..Estimate::default()
            };
            let Ok(reservation) = admit(
                &limiter,
                &subject,
                &key_limits,
                Some(&project),
                &estimate,
                now,
            )
            .await
            else {
                return 0;
            };
            // Used less than reserved: settled from a task spawned on this runtime.
            let spent = 20_000 + (i as i64 % 3) * 5_000;
            reservation.settle(&actual(10, 10, Some(spent)), now + 1);
            spent
        }));
    }
    let mut charged = 0;
    for task in tasks {
        charged += task.await.unwrap();
    }
    // Settles are spawned: wait until every one has landed.
    let spent = |l: &RedisLimiter| {
        l.usage(Scope::Project, "shared", &project, now + 2)
            .into_iter()
            .find(|u| u.kind == gateway_auth::limits::LimitKind::TotalUsd)
            .unwrap()
            .used
    };
    let mut seen = 0;
    for _ in 0..200 {
        seen = spent(&limiters[0]);
        if seen == charged as u64 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        seen, charged as u64,
        "every settle landed, on every instance's view"
    );
    assert!(
        charged <= 1_000_000,
        "charged {charged} against a 1,000,000 budget"
    );
    // At most one reservation short of the budget: nothing more would have fit.
    assert!(
        charged > 1_000_000 - 30_000 - 25_000 * 40,
        "charged {charged}"
    );
    assert_eq!(spent(&limiters[2]), seen);
    for l in &limiters {
        assert_eq!(l.stats().settle_failures, 0);
    }
}
