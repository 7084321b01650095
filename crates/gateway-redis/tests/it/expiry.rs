//! Redis does not grow forever: rate cells expire once full again, day and month
//! counters an hour after their window ends; only the lifetime spend stays. And the
//! scripts survive a server that forgot them (SCRIPT FLUSH, a restart).

use gateway_auth::Limits;
use gateway_auth::limits::Estimate;
use gateway_redis::FailMode;

use crate::support::{admit, costing, fresh_prefix, key, limiter, redis_url};

const HOUR: i64 = 3_600_000;

#[tokio::test]
async fn every_key_but_the_lifetime_spend_expires() {
    let Some(url) = redis_url("expiry") else {
        return;
    };
    let prefix = fresh_prefix();
    let limiter = limiter(&url, &prefix, FailMode::Closed);
    let limits = Limits {
        rpm: Some(60),
        daily_usd: Some(1.0),
        ..Limits::default()
    };
    // 2024-02-10T12:00:00Z: the day ends in 12 h, the month in 19.5 days.
    let now = 1_707_566_400_000;
    let reservation = admit(&limiter, &key("kx"), &limits, None, &costing(1_000), now)
        .await
        .unwrap();
    std::mem::forget(reservation);
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut ttl = |suffix: &str| -> i64 {
        redis::cmd("PTTL")
            .arg(format!("{prefix}k:kx:{suffix}"))
            .query(&mut conn)
            .unwrap()
    };
    let day = now / 86_400_000;
    let rate = ttl("rate");
    // Full again after 1 s, kept one more minute.
    assert!(rate > 0 && rate <= 61_000, "rate cell ttl {rate}");
    let d = ttl(&format!("d:{day}"));
    assert!(d > 12 * HOUR && d <= 13 * HOUR, "day ttl {d}");
    // Months are numbered year × 12 + month - 1.
    let m = ttl(&format!("m:{}", 2024 * 12 + 1));
    let month_left = 1_709_251_200_000 - now + HOUR;
    assert!(m > month_left - 60_000 && m <= month_left, "month ttl {m}");
    assert_eq!(ttl("total"), -1, "the lifetime spend has no end");
}

#[tokio::test]
async fn a_server_that_forgot_the_scripts_is_sent_them_again() {
    let _alone = crate::support::SERVER_WIDE.write().await;
    let Some(url) = redis_url("noscript") else {
        return;
    };
    let limiter = limiter(&url, &fresh_prefix(), FailMode::Closed);
    let limits = Limits {
        rpm: Some(2),
        ..Limits::default()
    };
    let now = gateway_auth::cache::now_ms();
    let first = admit(
        &limiter,
        &key("kn"),
        &limits,
        None,
        &Estimate::default(),
        now,
    )
    .await;
    assert!(first.is_ok());
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut conn).unwrap();
    let second = admit(
        &limiter,
        &key("kn"),
        &limits,
        None,
        &Estimate::default(),
        now,
    )
    .await;
    assert!(second.is_ok());
    let third = admit(
        &limiter,
        &key("kn"),
        &limits,
        None,
        &Estimate::default(),
        now,
    )
    .await;
    assert!(
        !third.unwrap_err().unavailable,
        "refused by rpm, not by the store"
    );
}
