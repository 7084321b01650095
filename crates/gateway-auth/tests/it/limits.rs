//! The limiter under concurrency: every limit admits exactly its value out of 500
//! simultaneous requests, key and project alike, all or nothing; reservations settle
//! and release; windows roll at UTC midnight and on the first of the month.
// Helpers outside #[test] fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::sync::{Barrier, Mutex};

use gateway_auth::limits::{Actual, Estimate, LimitKind, Limiter, MemoryLimiter, Refused, Scope};
use gateway_auth::{Limits, Reservation, Subject};

/// 2024-02-01T00:00:00Z.
const FEB_1: i64 = 1_706_745_600_000;
const DAY: i64 = 86_400_000;

fn key(id: &str) -> Subject {
    Subject {
        key_id: id.into(),
        project_id: None,
    }
}

fn in_project(id: &str, project: &str) -> Subject {
    Subject {
        key_id: id.into(),
        project_id: Some(project.into()),
    }
}

fn tokens(input: u64, output: u64) -> Estimate {
    Estimate {
        input_tokens: input,
        output_tokens: output,
        cost_micros: None,
    }
}

fn costing(micros: i64) -> Estimate {
    Estimate {
        cost_micros: Some(micros),
        ..Estimate::default()
    }
}

/// 500 admits from 10 threads released together, at one instant. Returns the
/// reservations (kept alive: dropping them would release their hold) and refusals.
fn storm(
    limiter: &MemoryLimiter,
    subjects: &[Subject],
    key_limits: &Limits,
    project_limits: Option<&Limits>,
    estimate: Estimate,
    now_ms: i64,
) -> (Vec<Reservation>, Vec<Refused>) {
    const THREADS: usize = 10;
    let barrier = Barrier::new(THREADS);
    let admitted = Mutex::new(Vec::new());
    let refused = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (barrier, admitted, refused) = (&barrier, &admitted, &refused);
            s.spawn(move || {
                barrier.wait();
                for i in 0..500 / THREADS {
                    let subject = &subjects[(t + i) % subjects.len()];
                    match limiter.admit(subject, key_limits, project_limits, &estimate, now_ms) {
                        Ok(r) => admitted.lock().unwrap().push(r),
                        Err(e) => refused.lock().unwrap().push(e),
                    }
                }
            });
        }
    });
    (
        admitted.into_inner().unwrap(),
        refused.into_inner().unwrap(),
    )
}

fn admitted_of_500(limits: Limits, estimate: Estimate) -> (usize, Vec<Refused>) {
    let limiter = MemoryLimiter::new();
    let (ok, refused) = storm(&limiter, &[key("k")], &limits, None, estimate, FEB_1);
    (ok.len(), refused)
}

#[test]
fn each_rate_admits_exactly_its_limit_of_500_concurrent_requests() {
    let cases = [
        (
            Limits {
                rpm: Some(60),
                ..Limits::default()
            },
            LimitKind::Rpm,
        ),
        (
            Limits {
                rph: Some(77),
                ..Limits::default()
            },
            LimitKind::Rph,
        ),
        (
            Limits {
                rpd: Some(123),
                ..Limits::default()
            },
            LimitKind::Rpd,
        ),
    ];
    for (limits, kind) in cases {
        let want = limits.rpm.or(limits.rph).or(limits.rpd).unwrap() as usize;
        let (n, refused) = admitted_of_500(limits, Estimate::default());
        assert_eq!(n, want, "{kind:?}");
        assert_eq!(refused.len(), 500 - want);
        let r = &refused[0];
        assert_eq!((r.limit, r.scope, r.remaining), (kind, Scope::Key, 0));
        assert_eq!(r.limit_value, want as u64);
        assert!(r.retry_after_secs.unwrap() >= 1);
    }
}

#[test]
fn a_60_rpm_refusal_says_retry_after_one_second() {
    let (_, refused) = admitted_of_500(
        Limits {
            rpm: Some(60),
            ..Limits::default()
        },
        Estimate::default(),
    );
    assert_eq!(refused[0].retry_after_secs, Some(1));
}

#[test]
fn tpm_admits_exactly_the_token_estimates_that_fit() {
    let limits = Limits {
        tpm: Some(10_000),
        ..Limits::default()
    };
    let (n, refused) = admitted_of_500(limits, tokens(60, 40));
    assert_eq!(n, 100);
    assert_eq!(refused[0].limit, LimitKind::Tpm);
}

#[test]
fn token_quotas_admit_exactly_what_fits() {
    let daily_in = Limits {
        daily_input_tokens: Some(5_000),
        ..Limits::default()
    };
    assert_eq!(admitted_of_500(daily_in, tokens(100, 1)).0, 50);
    let daily_out = Limits {
        daily_output_tokens: Some(3_000),
        ..Limits::default()
    };
    assert_eq!(admitted_of_500(daily_out, tokens(1, 100)).0, 30);
    let monthly_in = Limits {
        monthly_input_tokens: Some(7_000),
        ..Limits::default()
    };
    assert_eq!(admitted_of_500(monthly_in, tokens(100, 0)).0, 70);
    let monthly_out = Limits {
        monthly_output_tokens: Some(9_999),
        ..Limits::default()
    };
    let (n, refused) = admitted_of_500(monthly_out, tokens(0, 100));
    assert_eq!(n, 99);
    let r = &refused[0];
    assert_eq!((r.limit, r.remaining), (LimitKind::MonthlyOutputTokens, 99));
    // February 2024 has 29 days; the test's clock stands at its start.
    assert_eq!(r.retry_after_secs, Some(29 * 86_400));
}

#[test]
fn dollar_budgets_admit_exactly_what_fits() {
    for (limits, kind) in [
        (
            Limits {
                daily_usd: Some(1.0),
                ..Limits::default()
            },
            LimitKind::DailyUsd,
        ),
        (
            Limits {
                monthly_usd: Some(1.0),
                ..Limits::default()
            },
            LimitKind::MonthlyUsd,
        ),
        (
            Limits {
                total_usd: Some(1.0),
                ..Limits::default()
            },
            LimitKind::TotalUsd,
        ),
    ] {
        let (n, refused) = admitted_of_500(limits, costing(10_000));
        assert_eq!(n, 100, "{kind:?}");
        assert_eq!(refused[0].limit, kind);
        assert_eq!(refused[0].limit_value, 1_000_000);
    }
}

#[test]
fn a_project_limit_is_shared_by_its_keys() {
    let limiter = MemoryLimiter::new();
    let project = Limits {
        rpm: Some(60),
        daily_usd: Some(10.0),
        ..Limits::default()
    };
    let subjects = [in_project("a", "p"), in_project("b", "p")];
    let (ok, refused) = storm(
        &limiter,
        &subjects,
        &Limits::default(),
        Some(&project),
        costing(1),
        FEB_1,
    );
    assert_eq!(ok.len(), 60);
    assert!(refused.iter().all(|r| r.scope == Scope::Project));
    // The keys share the project's 60; another key outside it is not affected.
    let other = limiter.admit(&key("c"), &Limits::default(), None, &costing(1), FEB_1);
    assert!(other.is_ok());
}

#[test]
fn key_and_project_limits_both_apply() {
    let limiter = MemoryLimiter::new();
    let key_limits = Limits {
        rpm: Some(3),
        ..Limits::default()
    };
    let project = Limits {
        rpm: Some(5),
        ..Limits::default()
    };
    let (a, b) = (in_project("a", "p"), in_project("b", "p"));
    let e = Estimate::default();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(
            limiter
                .admit(&a, &key_limits, Some(&project), &e, FEB_1)
                .unwrap(),
        );
    }
    let r = limiter
        .admit(&a, &key_limits, Some(&project), &e, FEB_1)
        .unwrap_err();
    assert_eq!((r.scope, r.limit), (Scope::Key, LimitKind::Rpm));
    for _ in 0..2 {
        held.push(
            limiter
                .admit(&b, &key_limits, Some(&project), &e, FEB_1)
                .unwrap(),
        );
    }
    let r = limiter
        .admit(&b, &key_limits, Some(&project), &e, FEB_1)
        .unwrap_err();
    assert_eq!((r.scope, r.limit), (Scope::Project, LimitKind::Rpm));
}

#[test]
fn a_refusal_reserves_nothing_anywhere() {
    let limiter = MemoryLimiter::new();
    let key_limits = Limits {
        rpm: Some(2),
        daily_input_tokens: Some(1_000),
        ..Limits::default()
    };
    let project = Limits {
        rpm: Some(1),
        ..Limits::default()
    };
    let s = in_project("k", "p");
    let _first = limiter
        .admit(&s, &key_limits, Some(&project), &tokens(500, 0), FEB_1)
        .unwrap();
    let r = limiter
        .admit(&s, &key_limits, Some(&project), &tokens(500, 0), FEB_1)
        .unwrap_err();
    assert_eq!(r.scope, Scope::Project);
    // The key's second request slot and its last 500 tokens are still there.
    let alone = key("k");
    let _second = limiter
        .admit(&alone, &key_limits, None, &tokens(500, 0), FEB_1)
        .unwrap();
    let r = limiter
        .admit(&alone, &key_limits, None, &tokens(0, 0), FEB_1)
        .unwrap_err();
    assert_eq!(r.limit, LimitKind::Rpm);
}

#[test]
fn settling_gives_back_what_the_estimate_overstated() {
    let limiter = MemoryLimiter::new();
    let limits = Limits {
        tpm: Some(1_000),
        daily_output_tokens: Some(1_000),
        daily_usd: Some(1.0),
        ..Limits::default()
    };
    let s = key("k");
    let est = Estimate {
        input_tokens: 0,
        output_tokens: 1_000,
        cost_micros: Some(1_000_000),
    };
    let r = limiter.admit(&s, &limits, None, &est, FEB_1).unwrap();
    let refused = limiter
        .admit(&s, &limits, None, &tokens(0, 1), FEB_1)
        .unwrap_err();
    assert_eq!(refused.limit, LimitKind::Tpm);
    r.settle(
        &Actual {
            input_tokens: 0,
            output_tokens: 10,
            cost_micros: Some(10_000),
        },
        FEB_1,
    );
    // 990 tokens and $0.99 are back, for tpm, the daily quota and the budget.
    let est = Estimate {
        input_tokens: 0,
        output_tokens: 990,
        cost_micros: Some(990_000),
    };
    let r = limiter.admit(&s, &limits, None, &est, FEB_1).unwrap();
    r.settle(
        &Actual {
            output_tokens: 990,
            cost_micros: Some(990_000),
            ..Actual::default()
        },
        FEB_1,
    );
    // A minute later tpm is whole again, but the day's tokens are spent.
    let refused = limiter
        .admit(&s, &limits, None, &tokens(0, 1), FEB_1 + 60_000)
        .unwrap_err();
    assert_eq!(refused.limit, LimitKind::DailyOutputTokens);
}

#[test]
fn settling_above_the_estimate_charges_the_excess() {
    let limiter = MemoryLimiter::new();
    let limits = Limits {
        daily_usd: Some(1.0),
        ..Limits::default()
    };
    let s = key("k");
    let r = limiter
        .admit(&s, &limits, None, &costing(1), FEB_1)
        .unwrap();
    r.settle(
        &Actual {
            cost_micros: Some(1_200_000),
            ..Actual::default()
        },
        FEB_1,
    );
    // Overspent by one late answer, but no further: even an unpriced request waits.
    let refused = limiter
        .admit(&s, &limits, None, &costing(0), FEB_1)
        .unwrap_err();
    assert_eq!((refused.limit, refused.remaining), (LimitKind::DailyUsd, 0));
    let unpriced = Estimate::default();
    assert!(limiter.admit(&s, &limits, None, &unpriced, FEB_1).is_err());
}

#[test]
fn dropping_a_reservation_releases_it() {
    let limiter = MemoryLimiter::new();
    let limits = Limits {
        tpm: Some(100),
        monthly_input_tokens: Some(100),
        total_usd: Some(0.5),
        ..Limits::default()
    };
    let s = key("k");
    let est = Estimate {
        input_tokens: 100,
        output_tokens: 0,
        cost_micros: Some(500_000),
    };
    let r = limiter.admit(&s, &limits, None, &est, FEB_1).unwrap();
    assert!(limiter.admit(&s, &limits, None, &est, FEB_1).is_err());
    drop(r);
    let r = limiter.admit(&s, &limits, None, &est, FEB_1).unwrap();
    r.settle(
        &Actual {
            input_tokens: 100,
            output_tokens: 0,
            cost_micros: Some(500_000),
        },
        FEB_1,
    );
    let refused = limiter
        .admit(&s, &limits, None, &est, FEB_1 + 60_000)
        .unwrap_err();
    assert_eq!(refused.limit, LimitKind::MonthlyInputTokens);
}

#[test]
fn quotas_roll_over_at_utc_midnight_and_month_start() {
    let limiter = MemoryLimiter::new();
    let limits = Limits {
        daily_usd: Some(1.0),
        monthly_input_tokens: Some(1_000),
        ..Limits::default()
    };
    let s = key("k");
    let last_second_of_jan = FEB_1 - 1_000;
    // Day budget spent on Jan 30.
    let jan_30 = FEB_1 - 2 * DAY + 3_600_000;
    limiter
        .admit(&s, &limits, None, &costing(1_000_000), jan_30)
        .unwrap()
        .settle(
            &Actual {
                cost_micros: Some(1_000_000),
                ..Actual::default()
            },
            jan_30,
        );
    let r = limiter
        .admit(&s, &limits, None, &costing(1), jan_30)
        .unwrap_err();
    assert_eq!(r.limit, LimitKind::DailyUsd);
    assert_eq!(r.retry_after_secs, Some(23 * 3600));
    // Next day: the budget is back; the month's tokens get spent.
    limiter
        .admit(&s, &limits, None, &tokens(1_000, 0), last_second_of_jan)
        .unwrap()
        .settle(
            &Actual {
                input_tokens: 1_000,
                ..Actual::default()
            },
            last_second_of_jan,
        );
    let r = limiter
        .admit(&s, &limits, None, &tokens(1, 0), last_second_of_jan)
        .unwrap_err();
    assert_eq!(r.limit, LimitKind::MonthlyInputTokens);
    assert_eq!(r.retry_after_secs, Some(1));
    // February.
    limiter
        .admit(&s, &limits, None, &tokens(1_000, 0), FEB_1)
        .unwrap()
        .settle(&Actual::default(), FEB_1);
}

#[test]
fn a_reservation_settled_after_midnight_charges_the_new_day() {
    let limiter = MemoryLimiter::new();
    let limits = Limits {
        daily_input_tokens: Some(1_000),
        ..Limits::default()
    };
    let s = key("k");
    let r = limiter
        .admit(&s, &limits, None, &tokens(1_000, 0), FEB_1 - 1)
        .unwrap();
    // Midnight passed: the new day knows nothing of yesterday's estimate.
    let other = limiter
        .admit(&s, &limits, None, &tokens(500, 0), FEB_1)
        .unwrap();
    r.settle(
        &Actual {
            input_tokens: 400,
            ..Actual::default()
        },
        FEB_1 + 1,
    );
    other.settle(
        &Actual {
            input_tokens: 500,
            ..Actual::default()
        },
        FEB_1 + 1,
    );
    let refused = limiter
        .admit(&s, &limits, None, &tokens(101, 0), FEB_1 + 2)
        .unwrap_err();
    assert_eq!(refused.remaining, 100);
}

#[test]
fn an_estimate_larger_than_the_limit_says_waiting_will_not_help() {
    let limiter = MemoryLimiter::new();
    let limits = Limits {
        daily_input_tokens: Some(1_000),
        ..Limits::default()
    };
    let r = limiter
        .admit(&key("k"), &limits, None, &tokens(1_001, 0), FEB_1)
        .unwrap_err();
    assert_eq!((r.retry_after_secs, r.remaining), (None, 1_000));
    assert!(r.to_string().contains("waiting will not help"), "{r}");
}

#[test]
fn status_reports_the_tightest_rate_of_key_and_project() {
    let limiter = MemoryLimiter::new();
    let key_limits = Limits {
        rpm: Some(60),
        rpd: Some(1_000),
        tpm: Some(10_000),
        ..Limits::default()
    };
    let project = Limits {
        rph: Some(100),
        ..Limits::default()
    };
    let s = in_project("k", "p");
    for _ in 0..10 {
        let r = limiter
            .admit(&s, &key_limits, Some(&project), &tokens(50, 50), FEB_1)
            .unwrap();
        r.settle(
            &Actual {
                input_tokens: 50,
                output_tokens: 50,
                cost_micros: None,
            },
            FEB_1,
        );
    }
    let st = limiter.status(&s, &key_limits, Some(&project), FEB_1);
    let req = st.requests.unwrap();
    assert_eq!((req.limit, req.remaining, req.reset_ms), (60, 50, 10_000));
    let tok = st.tokens.unwrap();
    assert_eq!((tok.limit, tok.remaining), (10_000, 9_000));
    let h = st.headers();
    assert!(h.contains(&("x-ratelimit-remaining-requests", "50".to_owned())));
    assert!(h.contains(&("x-ratelimit-reset-tokens", "6s".to_owned())));
    // A key never seen is whole; no limits, no headers.
    let fresh = limiter.status(&key("new"), &key_limits, None, FEB_1);
    assert_eq!(fresh.requests.unwrap().remaining, 60);
    assert!(
        limiter
            .status(&s, &Limits::default(), None, FEB_1)
            .headers()
            .is_empty()
    );
}

#[test]
fn a_lowered_limit_applies_to_the_next_request() {
    let limiter = MemoryLimiter::new();
    let s = key("k");
    let loose = Limits {
        rpm: Some(100),
        ..Limits::default()
    };
    for _ in 0..50 {
        limiter
            .admit(&s, &loose, None, &Estimate::default(), FEB_1)
            .unwrap()
            .settle(&Actual::default(), FEB_1);
    }
    // Half spent at 100 rpm is half spent at 10 rpm: 5 more.
    let tight = Limits {
        rpm: Some(10),
        ..Limits::default()
    };
    let (ok, _) = storm(&limiter, &[s], &tight, None, Estimate::default(), FEB_1);
    assert_eq!(ok.len(), 5);
}

#[test]
fn an_admission_carries_where_the_limits_stand_after_it() {
    let limiter = MemoryLimiter::new();
    let key_limits = Limits {
        rpm: Some(60),
        tpm: Some(10_000),
        daily_output_tokens: Some(5_000),
        ..Limits::default()
    };
    let project = Limits {
        rph: Some(100),
        ..Limits::default()
    };
    let s = in_project("k", "p");
    let mut held = Vec::new();
    for n in 1..=3u64 {
        let r = limiter
            .admit(&s, &key_limits, Some(&project), &tokens(100, 1_000), FEB_1)
            .unwrap();
        let st = *r.status();
        assert_eq!(st.at_ms, FEB_1);
        // This request is already counted: rpm's 60 - n is tighter than rph's 100 - n.
        let req = st.requests.unwrap();
        assert_eq!(
            (req.limit, req.remaining, req.reset_ms),
            (60, 60 - n, n * 1_000)
        );
        // The output quota (5,000 - 1,000 n) is tighter than tpm (10,000 - 1,100 n).
        let tok = st.tokens.unwrap();
        assert_eq!((tok.limit, tok.remaining), (5_000, 5_000 - 1_000 * n));
        assert_eq!(tok.reset_ms, DAY as u64, "the quota's day ends in a day");
        assert_eq!(st.output_tokens, st.tokens);
        assert_eq!(st.input_tokens, None);
        held.push(r);
    }
    // The project's hourly rate wins once it is the one with the fewest left: 3 of
    // 100 spent is 0.12 of 4, and this request makes 1.12; 2 whole ones are left.
    let tight = Limits {
        rph: Some(4),
        ..Limits::default()
    };
    let r = limiter
        .admit(&s, &key_limits, Some(&tight), &tokens(1, 1), FEB_1)
        .unwrap();
    let req = r.status().requests.unwrap();
    assert_eq!((req.limit, req.remaining), (4, 2));
    // Limits of money only: nothing to report.
    let money = Limits {
        daily_usd: Some(5.0),
        ..Limits::default()
    };
    let r = limiter
        .admit(&key("m"), &money, None, &costing(10), FEB_1)
        .unwrap();
    assert!(r.status().is_empty());
}

#[test]
fn usage_reports_every_limit_used_and_remaining_without_changing_anything() {
    let limiter = MemoryLimiter::new();
    let limits = Limits {
        rpm: Some(10),
        daily_input_tokens: Some(1_000),
        daily_usd: Some(2.0),
        ..Limits::default()
    };
    let at = FEB_1 + 3_600_000;
    let subject = in_project("k", "p");
    let estimate = Estimate {
        input_tokens: 100,
        output_tokens: 50,
        cost_micros: Some(250_000),
    };
    for _ in 0..3 {
        let r = limiter
            .admit(&subject, &limits, Some(&Limits::default()), &estimate, at)
            .unwrap();
        r.settle(
            &Actual {
                input_tokens: 70,
                output_tokens: 20,
                cost_micros: Some(100_000),
            },
            at,
        );
    }
    let rows = limiter.usage(Scope::Key, "k", &limits, at);
    let row = |kind| *rows.iter().find(|r| r.kind == kind).unwrap();
    // The rate: 3 of 10 taken, whole again 3 × 6 s later.
    let rpm = row(LimitKind::Rpm);
    assert_eq!(
        (rpm.limit, rpm.used, rpm.remaining, rpm.resets_ms),
        (Some(10), 3, Some(7), Some(at + 18_000))
    );
    // Quotas and budgets count what was settled, not the estimates.
    let input = row(LimitKind::DailyInputTokens);
    assert_eq!(
        (input.limit, input.used, input.remaining, input.resets_ms),
        (Some(1_000), 210, Some(790), Some(FEB_1 + DAY))
    );
    let money = row(LimitKind::DailyUsd);
    assert_eq!(
        (money.limit, money.used, money.remaining),
        (Some(2_000_000), 300_000, Some(1_700_000))
    );
    // Unset quotas are counted all the same; unset rates are left out.
    let output = row(LimitKind::MonthlyOutputTokens);
    assert_eq!(
        (output.limit, output.used, output.remaining),
        (None, 60, None)
    );
    assert_eq!(row(LimitKind::TotalUsd).resets_ms, None);
    assert!(rows.iter().all(|r| r.kind != LimitKind::Rph));
    assert_eq!(rows.len(), 8);
    // The project's counters, and asking again changes nothing.
    let project = limiter.usage(Scope::Project, "p", &Limits::default(), at);
    assert_eq!(project.len(), 7);
    assert_eq!(project[0].used, 210);
    assert_eq!(limiter.usage(Scope::Key, "k", &limits, at), rows);
    // The next UTC day starts empty; a subject never seen is empty.
    let tomorrow = limiter.usage(Scope::Key, "k", &limits, FEB_1 + DAY);
    assert_eq!(
        tomorrow
            .iter()
            .find(|r| r.kind == LimitKind::DailyInputTokens)
            .unwrap()
            .used,
        0
    );
    assert!(
        limiter
            .usage(Scope::Key, "nobody", &limits, at)
            .iter()
            .all(|r| r.used == 0)
    );
}

#[test]
fn without_quotas_or_budgets_spending_is_tracked_at_the_settle_and_a_later_budget_sees_it() {
    let limiter = MemoryLimiter::new();
    let rate_only = Limits {
        rpm: Some(100),
        ..Limits::default()
    };
    let at = FEB_1 + 3_600_000;
    let subject = key("tracked");
    let spent = |limiter: &MemoryLimiter| {
        let rows = limiter.usage(Scope::Key, "tracked", &rate_only, at);
        rows.iter()
            .find(|r| r.kind == LimitKind::DailyUsd)
            .unwrap()
            .used
    };
    let big = costing(5_000_000);
    let r = limiter.admit(&subject, &rate_only, None, &big, at).unwrap();
    // Nothing limits spending: the estimate is not held while the request runs...
    assert_eq!(spent(&limiter), 0);
    r.settle(
        &Actual {
            input_tokens: 10,
            output_tokens: 10,
            cost_micros: Some(300_000),
        },
        at,
    );
    // ...and what it really spent is counted when it ends.
    assert_eq!(spent(&limiter), 300_000);
    let dropped = limiter.admit(&subject, &rate_only, None, &big, at).unwrap();
    drop(dropped);
    assert_eq!(
        spent(&limiter),
        300_000,
        "a release gives back nothing it did not take"
    );
    // A budget set later counts what was spent before it.
    let budget = Limits {
        daily_usd: Some(0.5),
        ..rate_only
    };
    let refused = limiter
        .admit(&subject, &budget, None, &costing(250_000), at)
        .unwrap_err();
    assert_eq!(
        (refused.limit, refused.remaining),
        (LimitKind::DailyUsd, 200_000)
    );
    let fits = limiter.admit(&subject, &budget, None, &costing(150_000), at);
    assert!(fits.is_ok());
}
