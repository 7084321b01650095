//! Case by case, a RedisLimiter answers what gateway-auth's MemoryLimiter answers:
//! the same admissions and refusals (limit, scope, retry-after, remaining), the same
//! standing after each, the same usage after settling and releasing.

use gateway_auth::Limits;
use gateway_auth::limits::{Estimate, LimitKind, Scope};

use crate::support::{DAY, FEB_1, Twin, actual, costing, in_project, key, redis_url, tokens};

#[test]
fn seven_rpm_admit_seven_then_one_per_interval_as_in_memory() {
    let Some(url) = redis_url("seven_rpm") else {
        return;
    };
    let mut twin = Twin::new(&url);
    let k = key("k7");
    let limits = Limits {
        rpm: Some(7),
        rph: Some(10),
        ..Limits::default()
    };
    let admitted = (0..8)
        .filter(|_| {
            twin.admit(&k, &limits, None, Estimate::default(), FEB_1)
                .is_ok()
        })
        .count();
    assert_eq!(admitted, 7);
    let refused = twin
        .admit(&k, &limits, None, Estimate::default(), FEB_1)
        .unwrap_err();
    assert_eq!(
        (refused.limit, refused.retry_after_secs),
        (LimitKind::Rpm, Some(9))
    );
    // Every 3 s for 10 minutes: the minute refills, then the hour runs out.
    let mut more = 0;
    for step in 1..200 {
        if twin
            .admit(&k, &limits, None, Estimate::default(), FEB_1 + step * 3_000)
            .is_ok()
        {
            more += 1;
        }
    }
    // rph 10: 3 left of the hour's burst, and one more refilled after 6 minutes.
    assert_eq!(more, 4, "rph 10 caps the hour");
    twin.same_status(&k, &limits, None, FEB_1 + 600_000);
    twin.same_usage(Scope::Key, "k7", &limits, FEB_1 + 600_000);
}

#[test]
fn rpd_and_a_zero_limit_refuse_as_in_memory() {
    let Some(url) = redis_url("rpd_zero") else {
        return;
    };
    let mut twin = Twin::new(&url);
    let k = key("kd");
    let daily = Limits {
        rpd: Some(3),
        ..Limits::default()
    };
    for i in 0..5 {
        let _ = twin.admit(&k, &daily, None, Estimate::default(), FEB_1 + i);
    }
    let zero = Limits {
        rpm: Some(0),
        ..Limits::default()
    };
    let refused = twin
        .admit(&key("k0"), &zero, None, Estimate::default(), FEB_1)
        .unwrap_err();
    assert_eq!(refused.retry_after_secs, None);
}

#[test]
fn tpm_counts_estimated_tokens_and_settling_corrects_them() {
    let Some(url) = redis_url("tpm") else { return };
    let mut twin = Twin::new(&url);
    let k = key("kt");
    let limits = Limits {
        tpm: Some(1_000),
        ..Limits::default()
    };
    let a = twin
        .admit(&k, &limits, None, tokens(300, 300), FEB_1)
        .unwrap();
    let b = twin
        .admit(&k, &limits, None, tokens(200, 200), FEB_1)
        .unwrap();
    twin.admit(&k, &limits, None, tokens(1, 0), FEB_1)
        .unwrap_err();
    // Used less than estimated: the difference is free again at once.
    twin.settle(a, actual(100, 50, None), FEB_1 + 10);
    twin.admit(&k, &limits, None, tokens(400, 0), FEB_1 + 20)
        .unwrap();
    // Used more: the excess is owed.
    twin.settle(b, actual(600, 600, None), FEB_1 + 30);
    twin.admit(&k, &limits, None, tokens(1, 0), FEB_1 + 40)
        .unwrap_err();
    // Larger than the whole limit: passes only on a full cell, then owes its size.
    twin.admit(&k, &limits, None, tokens(5_000, 0), FEB_1 + 3 * 60_000)
        .unwrap();
    twin.admit(&k, &limits, None, tokens(1, 0), FEB_1 + 4 * 60_000)
        .unwrap_err();
    twin.same_status(&k, &limits, None, FEB_1 + 4 * 60_000);
    twin.same_usage(Scope::Key, "kt", &limits, FEB_1 + 4 * 60_000);
}

#[test]
fn token_quotas_admit_what_fits_and_roll_at_midnight_and_month_start() {
    let Some(url) = redis_url("quotas") else {
        return;
    };
    let mut twin = Twin::new(&url);
    let k = key("kq");
    let limits = Limits {
        daily_input_tokens: Some(1_000),
        daily_output_tokens: Some(500),
        monthly_input_tokens: Some(2_500),
        monthly_output_tokens: Some(10_000),
        ..Limits::default()
    };
    // Feb 29 2024 (a leap day) then March 1st.
    let leap_day = FEB_1 + 28 * DAY;
    let mut t = leap_day - 3 * DAY;
    for day in 0..5 {
        for i in 0..8 {
            let est = tokens(150 + i * 10, 70);
            if let Ok(ticket) = twin.admit(&k, &limits, None, est, t) {
                if i % 2 == 0 {
                    twin.settle(ticket, actual(100, 80, None), t + 1);
                }
            }
            t += 60_000;
        }
        twin.same_status(&k, &limits, None, t);
        twin.same_usage(Scope::Key, "kq", &limits, t);
        t = leap_day - 3 * DAY + (day + 1) * DAY;
    }
    // An estimate above the whole quota: waiting will not help.
    let refused = twin
        .admit(&key("kq2"), &limits, None, tokens(1_001, 0), t)
        .unwrap_err();
    assert_eq!(refused.retry_after_secs, None);
}

#[test]
fn dollar_budgets_admit_what_fits_and_unpriced_requests_need_something_left() {
    let Some(url) = redis_url("budgets") else {
        return;
    };
    let mut twin = Twin::new(&url);
    let k = key("kb");
    let limits = Limits {
        daily_usd: Some(1.0),
        monthly_usd: Some(2.5),
        total_usd: Some(3.0),
        ..Limits::default()
    };
    let mut t = FEB_1 + 27 * DAY;
    for _ in 0..4 {
        for _ in 0..12 {
            let _ = twin.admit(&k, &limits, None, costing(120_000), t);
            t += 1_000;
        }
        let _ = twin.admit(&k, &limits, None, Estimate::default(), t);
        twin.same_usage(Scope::Key, "kb", &limits, t);
        t += DAY;
    }
    let refused = twin
        .admit(&k, &limits, None, Estimate::default(), t)
        .unwrap_err();
    assert_eq!(refused.limit, LimitKind::TotalUsd);
    assert_eq!(
        refused.retry_after_secs, None,
        "a lifetime budget never refills"
    );
}

#[test]
fn key_and_project_are_checked_together_all_or_nothing() {
    let Some(url) = redis_url("project") else {
        return;
    };
    let mut twin = Twin::new(&url);
    let project = Limits {
        rpm: Some(5),
        daily_usd: Some(1.0),
        tpm: Some(10_000),
        ..Limits::default()
    };
    let tight_key = Limits {
        rpm: Some(2),
        ..Limits::default()
    };
    let (a, b) = (in_project("ka", "p1"), in_project("kb", "p1"));
    for i in 0..6 {
        let est = Estimate {
            cost_micros: Some(150_000),
            ..tokens(100, 100)
        };
        let _ = twin.admit(&a, &tight_key, Some(&project), est, FEB_1 + i);
        let _ = twin.admit(&b, &Limits::default(), Some(&project), est, FEB_1 + i);
    }
    // The key refused first reserved nothing in the project, and the project's
    // refusal nothing on the key.
    twin.same_usage(Scope::Project, "p1", &project, FEB_1 + 10);
    twin.same_usage(Scope::Key, "ka", &tight_key, FEB_1 + 10);
    twin.same_usage(Scope::Key, "kb", &Limits::default(), FEB_1 + 10);
    twin.same_status(&a, &tight_key, Some(&project), FEB_1 + 10);
    // Spending in the project without project limits still counts.
    let c = in_project("kc", "p2");
    let ticket = twin
        .admit(&c, &Limits::default(), None, costing(70_000), FEB_1)
        .unwrap();
    twin.settle(ticket, actual(1, 1, Some(90_000)), FEB_1 + 5);
    twin.same_usage(Scope::Project, "p2", &project, FEB_1 + 10);
}

#[test]
fn settle_below_and_above_the_estimate_and_release() {
    let Some(url) = redis_url("settle") else {
        return;
    };
    let mut twin = Twin::new(&url);
    let k = in_project("ks", "ps");
    let limits = Limits {
        daily_input_tokens: Some(10_000),
        daily_usd: Some(1.0),
        total_usd: Some(5.0),
        ..Limits::default()
    };
    let est = Estimate {
        cost_micros: Some(400_000),
        ..tokens(1_000, 500)
    };
    let a = twin.admit(&k, &limits, Some(&limits), est, FEB_1).unwrap();
    let b = twin.admit(&k, &limits, Some(&limits), est, FEB_1).unwrap();
    twin.admit(&k, &limits, Some(&limits), est, FEB_1)
        .unwrap_err();
    twin.settle(a, actual(200, 100, Some(100_000)), FEB_1 + 1);
    twin.admit(&k, &limits, Some(&limits), est, FEB_1 + 2)
        .unwrap();
    twin.release(b);
    twin.same_usage(Scope::Key, "ks", &limits, FEB_1 + 3);
    let c = twin
        .admit(&k, &limits, Some(&limits), est, FEB_1 + 3)
        .unwrap();
    twin.settle(c, actual(3_000, 900, Some(700_000)), FEB_1 + 4);
    twin.same_usage(Scope::Key, "ks", &limits, FEB_1 + 5);
    twin.same_usage(Scope::Project, "ps", &limits, FEB_1 + 5);
    // Reserved before midnight, settled after: the new day is charged.
    let late = twin
        .admit(&key("kl"), &limits, None, est, FEB_1 + DAY - 1)
        .unwrap();
    twin.settle(late, actual(10, 10, Some(50_000)), FEB_1 + DAY + 1);
    twin.same_usage(Scope::Key, "kl", &limits, FEB_1 + DAY + 2);
    twin.same_usage(Scope::Key, "kl", &limits, FEB_1 + DAY - 1);
}

#[test]
fn a_changed_limit_keeps_the_spent_share() {
    let Some(url) = redis_url("rescale") else {
        return;
    };
    let mut twin = Twin::new(&url);
    let k = key("kr");
    let sixty = Limits {
        rpm: Some(60),
        ..Limits::default()
    };
    for _ in 0..30 {
        twin.admit(&k, &sixty, None, Estimate::default(), FEB_1)
            .unwrap();
    }
    let lower = Limits {
        rpm: Some(40),
        ..Limits::default()
    };
    let higher = Limits {
        rpm: Some(120),
        ..Limits::default()
    };
    twin.same_status(&k, &lower, None, FEB_1);
    twin.same_status(&k, &higher, None, FEB_1 + 500);
    for i in 0..30 {
        let _ = twin.admit(&k, &lower, None, Estimate::default(), FEB_1 + i * 1_000);
    }
    twin.same_usage(Scope::Key, "kr", &lower, FEB_1 + 30_000);
}
