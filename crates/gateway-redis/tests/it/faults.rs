//! Redis down: fail closed refuses with a 503-kind refusal; fail open admits on the
//! local limiter, counts it, and keeps enforcing the limits locally.

use gateway_auth::Limits;
use gateway_auth::layer::Rejection;
use gateway_auth::limits::{Admit, Estimate, Limiter, Scope};
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

#[tokio::test]
async fn after_a_failure_admissions_skip_redis_for_a_moment() {
    let limiter = down(FailMode::Closed);
    let (subject, estimate) = (key("k"), Estimate::default());
    assert!(matches!(
        limiter.admission(&subject, &limits(), None, &estimate, FEB_1),
        Admit::Later(_)
    ));
    let _ = admit(&limiter, &subject, &limits(), None, &estimate, FEB_1).await;
    // Answered at once, without waiting on a Redis that just failed.
    match limiter.admission(&subject, &limits(), None, &estimate, FEB_1) {
        Admit::Now(Err(refused)) => assert!(refused.unavailable),
        other => panic!("{other:?}"),
    }
    // The first admission was dropped unanswered: two were refused.
    assert_eq!(limiter.stats().fail_closed, 2);
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

/// A redis-server of this test's own, on a port it picked.
struct OwnServer {
    child: std::process::Child,
}

impl OwnServer {
    fn start(port: u16) -> OwnServer {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--unixsocket", ""])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Owned at once, so a failed start is still killed and reaped.
        let server = OwnServer { child };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("redis-server on {port} did not start");
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_restarted_redis_is_reconnected_to() {
    // Needs the redis-server binary: where the test Redis is configured, it is there.
    if crate::support::redis_url("restart").is_none() {
        return;
    }
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let server = OwnServer::start(port);
    let limiter = RedisLimiter::new(RedisConfig {
        timeout_ms: 500,
        ..RedisConfig::new(format!("redis://127.0.0.1:{port}"))
    })
    .unwrap();
    let limits = Limits {
        rpm: Some(1_000),
        ..Limits::default()
    };
    let now = gateway_auth::cache::now_ms();
    let (subject, estimate) = (key("k"), Estimate::default());
    let admit_one = || admit(&limiter, &subject, &limits, None, &estimate, now);
    assert!(admit_one().await.is_ok());
    drop(server);
    assert!(admit_one().await.unwrap_err().unavailable, "down: closed");
    let _server = OwnServer::start(port);
    let mut recovered = false;
    for _ in 0..50 {
        if admit_one().await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "admissions pass again once Redis is back");
    assert!(limiter.stats().fail_closed >= 1);
}
