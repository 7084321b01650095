//! A key without quotas or budgets settles nothing on its own: what its requests
//! spent is gathered for a few milliseconds and sent in one call, and reading the
//! counters sends what is gathered first.

use std::time::Duration;

use gateway_auth::Limits;
use gateway_auth::limits::{Actual, LimitKind, Limiter, Scope};
use gateway_redis::FailMode;

use crate::support::{admit, costing, fresh_prefix, key, redis_url};

#[tokio::test]
async fn the_spending_of_a_rate_limited_key_is_gathered_then_sent_whole() {
    let Some(url) = redis_url("tally") else {
        return;
    };
    let prefix = fresh_prefix();
    // Gathered for a second: the 50 requests below fit in it on a busy machine.
    let limiter = gateway_redis::RedisLimiter::gathering_for(
        crate::support::config(&url, &prefix, FailMode::Closed),
        Duration::from_secs(1),
    )
    .unwrap();
    let limits = Limits {
        rpm: Some(10_000),
        ..Limits::default()
    };
    let now = gateway_auth::cache::now_ms();
    for _ in 0..50 {
        let r = admit(&limiter, &key("kt"), &limits, None, &costing(1_000), now)
            .await
            .unwrap();
        r.settle(
            &Actual {
                input_tokens: 3,
                output_tokens: 2,
                cost_micros: Some(700),
            },
            now,
        );
    }
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut total = || -> Option<i64> {
        redis::cmd("GET")
            .arg(format!("{prefix}k:kt:total"))
            .query(&mut conn)
            .unwrap()
    };
    assert_eq!(total(), None, "nothing is sent request by request");
    // Sent within the gathering time, all 50 at once.
    let mut waited = Duration::ZERO;
    while total().is_none() {
        assert!(waited < Duration::from_secs(5), "never sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += Duration::from_millis(10);
    }
    assert_eq!(total(), Some(50 * 700));

    // Gathered, then read: the read sends it first.
    let r = admit(&limiter, &key("kt"), &limits, None, &costing(1_000), now)
        .await
        .unwrap();
    r.settle(
        &Actual {
            input_tokens: 3,
            output_tokens: 2,
            cost_micros: Some(700),
        },
        now,
    );
    let read = tokio::task::spawn_blocking(move || limiter.usage(Scope::Key, "kt", &limits, now))
        .await
        .unwrap();
    let used = |kind| read.iter().find(|u| u.kind == kind).unwrap().used;
    assert_eq!(used(LimitKind::TotalUsd), 51 * 700);
    assert_eq!(used(LimitKind::DailyInputTokens), 51 * 3);
    assert_eq!(used(LimitKind::MonthlyOutputTokens), 51 * 2);
}
