//! Redis down: fail closed refuses with a 503-kind refusal; fail open admits on the
//! local limiter, counts it, and keeps enforcing the limits locally.

use gateway_auth::Limits;
use gateway_auth::layer::Rejection;
use gateway_auth::limits::{Estimate, Limiter, Scope};
use gateway_redis::{FailMode, RedisConfig, RedisLimiter, Stats};

use crate::support::{FEB_1, admit, key};

/// A port nothing listens on (connections are refused at once).
fn down(fail: FailMode) -> RedisLimiter {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    RedisLimiter::new(RedisConfig {
        fail,
        timeout_ms: 200,
        ..RedisConfig::new(format!("redis://127.0.0.1:{port}"))
    })
    .unwrap()
}

fn limits() -> Limits {
    Limits {
        rpm: Some(1),
        ..Limits::default()
    }
}

#[tokio::test]
async fn fail_closed_refuses_with_a_503_and_counts() {
    let limiter = down(FailMode::Closed);
    let refused = admit(
        &limiter,
        &key("k"),
        &limits(),
        None,
        &Estimate::default(),
        FEB_1,
    )
    .await
    .unwrap_err();
    assert!(refused.unavailable);
    assert_eq!(refused.retry_after_secs, Some(1));
    let rejection = Rejection::Limited(Box::new(refused));
    assert_eq!(rejection.status(), 503);
    assert_eq!(
        limiter.stats(),
        Stats {
            fail_closed: 1,
            ..Stats::default()
        }
    );
}

#[tokio::test]
async fn fail_open_admits_on_the_local_limiter_and_counts() {
    let limiter = down(FailMode::Open);
    let first = admit(
        &limiter,
        &key("k"),
        &limits(),
        None,
        &Estimate::default(),
        FEB_1,
    )
    .await;
    assert!(first.is_ok());
    // The local limiter still enforces rpm 1 on this instance.
    let second = admit(
        &limiter,
        &key("k"),
        &limits(),
        None,
        &Estimate::default(),
        FEB_1,
    )
    .await;
    assert!(!second.unwrap_err().unavailable);
    assert_eq!(limiter.stats().fail_open, 2);
    let usage = limiter.usage(Scope::Key, "k", &limits(), FEB_1);
    assert_eq!(usage[0].used, 1, "the operator sees the local count");
}

#[test]
fn the_blocking_admit_fails_the_same_way() {
    let closed = down(FailMode::Closed);
    let refused = closed
        .admit(&key("k"), &limits(), None, &Estimate::default(), FEB_1)
        .unwrap_err();
    assert!(refused.unavailable);
    let open = down(FailMode::Open);
    assert!(
        open.admit(&key("k"), &limits(), None, &Estimate::default(), FEB_1)
            .is_ok()
    );
}
