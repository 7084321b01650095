//! The usage store through its traits, on every backend: rows and rollups agree,
//! totals and series group alike, the request log pages and filters alike, latency
//! percentiles are nearest-rank, retention keeps rollups, and the limiter reseeds
//! from what was spent. (`usage.rs` covers what is SQLite's own: files, restarts,
//! the queue's bounds.)

use gateway_auth::limits::{Estimate, LimitKind, Limiter, MemoryLimiter, Scope, window_starts};
use gateway_auth::usage::{Bucket, GroupBy, LogQuery, UsageFilter, WriterConfig};
use gateway_auth::{Limits, Subject};

use crate::backends::Backend;
use crate::usage::{FEB_1, record};

const HOUR: i64 = 3_600_000;

fn everything() -> UsageFilter {
    UsageFilter {
        from_ms: 0,
        to_ms: i64::MAX,
        ..UsageFilter::default()
    }
}

#[test]
fn records_become_rows_and_rollups_that_every_query_agrees_with() {
    for b in Backend::all() {
        let mut db = b.usage();
        let (writer, thread) = db.writer(WriterConfig::default());
        let n = 1_500;
        for i in 0..n {
            let ts = FEB_1 - HOUR + (i as i64 % 3) * HOUR + 17;
            let mut r = record(i, ts);
            if i % 10 == 0 {
                r.cost_micros = None;
            }
            assert!(writer.record(r));
        }
        assert!(writer.flush());
        let usage = &db.reader;
        let t = usage.totals(&everything(), None).unwrap()[0].totals;
        assert_eq!(t.requests, n as u64);
        assert_eq!(
            (
                t.input_tokens,
                t.output_tokens,
                t.cached_tokens,
                t.reasoning_tokens
            ),
            (100 * 1_500, 20 * 1_500, 30 * 1_500, 7 * 1_500)
        );
        let want_cost: i64 = (0..n as i64)
            .filter(|i| i % 10 != 0)
            .map(|i| 1_000 + i)
            .sum();
        assert_eq!((t.cost_micros, t.unpriced, t.errors), (want_cost, 150, 0));

        let by_key = usage.totals(&everything(), Some(GroupBy::Key)).unwrap();
        let keys: Vec<_> = by_key
            .iter()
            .map(|g| (g.group.as_str(), g.totals.requests))
            .collect();
        assert_eq!(keys, [("key_b", 750), ("key_a", 750)], "largest cost first");
        let by_day = usage.totals(&everything(), Some(GroupBy::Day)).unwrap();
        let mut days: Vec<_> = by_day
            .iter()
            .map(|g| (g.group.clone(), g.totals.requests))
            .collect();
        days.sort();
        assert_eq!(
            days,
            [
                ((FEB_1 - 24 * HOUR).to_string(), 500),
                (FEB_1.to_string(), 1_000)
            ]
        );
        let hours = usage.series(&everything(), Bucket::Hour, None).unwrap();
        let points: Vec<_> = hours
            .iter()
            .map(|p| (p.bucket_ms, p.totals.requests))
            .collect();
        assert_eq!(
            points,
            [(FEB_1 - HOUR, 500), (FEB_1, 500), (FEB_1 + HOUR, 500)]
        );
        let a_by_provider = UsageFilter {
            key_id: Some("key_a".into()),
            from_ms: FEB_1 + 5,
            to_ms: FEB_1 + 24 * HOUR,
            ..UsageFilter::default()
        };
        let series = usage
            .series(&a_by_provider, Bucket::Day, Some(GroupBy::Provider))
            .unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(
            (series[0].bucket_ms, series[0].group.as_str()),
            (FEB_1, "mock")
        );
        assert_eq!(series[0].totals.requests, 500);

        assert!(writer.shutdown());
        assert_eq!(thread.join().written, n as u64);
    }
}

#[test]
fn the_request_log_pages_newest_first_and_filters_alike() {
    for b in Backend::all() {
        let mut db = b.usage();
        let (writer, thread) = db.writer(WriterConfig::default());
        for i in 0..25 {
            let mut r = record(i, FEB_1 + i as i64 * 1_000);
            if i % 5 == 0 {
                r.status = 429;
            }
            if i == 3 {
                r.request_body = Some(b"{\"q\":1}".to_vec());
                r.error_kind = Some("stream_broken".into());
            }
            writer.record(r);
        }
        assert!(writer.shutdown());
        thread.join();
        let usage = &db.reader;
        let mut q = LogQuery {
            limit: 10,
            ..LogQuery::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = usage.request_log(&q).unwrap();
            seen.extend(page.entries.iter().map(|e| e.record.clone()));
            match page.next {
                Some(id) => q.before_id = Some(id),
                None => break,
            }
        }
        let ids: Vec<_> = seen.iter().map(|r| r.request_id.clone()).collect();
        let want: Vec<_> = (0..25).rev().map(|i| format!("req_{i}")).collect();
        assert_eq!(ids, want);
        // A record reads back whole.
        let mut third = record(3, FEB_1 + 3_000);
        third.request_body = Some(b"{\"q\":1}".to_vec());
        third.error_kind = Some("stream_broken".into());
        assert_eq!(seen[21], third);

        let count = |q: LogQuery| usage.request_log(&q).unwrap().entries.len();
        let all = || LogQuery {
            limit: 100,
            ..LogQuery::default()
        };
        let by_key = LogQuery {
            key_id: Some("key_a".into()),
            ..all()
        };
        let by_model = LogQuery {
            model: Some("gpt-4.1".into()),
            ..all()
        };
        let by_status = LogQuery {
            status: Some(429),
            ..all()
        };
        let errors = LogQuery {
            errors_only: true,
            ..all()
        };
        let window = LogQuery {
            from_ms: Some(FEB_1 + 10_000),
            to_ms: Some(FEB_1 + 20_000),
            ..all()
        };
        assert_eq!(
            [
                count(by_key),
                count(by_model),
                count(by_status),
                count(errors),
                count(window)
            ],
            [13, 9, 5, 6, 10]
        );
    }
}

#[test]
fn latency_retention_and_reseeding_agree() {
    for b in Backend::all() {
        let mut db = b.usage();
        let (writer, thread) = db.writer(WriterConfig::default());
        for i in 0..20 {
            let mut r = record(i, FEB_1 + i as i64 * 1_000);
            r.total_ms = 10 * (i as i64 + 1);
            r.ttfb_ms = Some(i as i64 + 1);
            writer.record(r);
        }
        let mut failed = record(20, FEB_1 + 500);
        failed.status = 502;
        failed.total_ms = 60_000;
        writer.record(failed);
        assert!(writer.flush());
        let usage = &db.reader;
        let l = usage.latency(FEB_1, FEB_1 + HOUR).unwrap();
        assert_eq!(l.total.samples, 20);
        assert_eq!((l.total.p50_ms, l.total.p95_ms), (Some(100), Some(190)));
        assert_eq!(l.first_token.samples, 5);
        assert_eq!(
            (l.first_token.p50_ms, l.first_token.p95_ms),
            (Some(9), Some(17))
        );
        assert_eq!(
            usage
                .latency(FEB_1 + HOUR, FEB_1 + 2 * HOUR)
                .unwrap()
                .total
                .samples,
            0
        );

        // What was spent seeds a fresh limiter: key_a's 11 requests cost 1,000 + i each.
        let now = FEB_1 + 2 * HOUR;
        let (day, month) = window_starts(now);
        let spent = usage.spent(day, month).unwrap();
        let limiter = MemoryLimiter::new();
        limiter.seed(&spent, now);
        let a = Subject {
            key_id: "key_a".into(),
            project_id: Some("prj_1".into()),
        };
        let a_cost: i64 = (0..21).filter(|i| i % 2 == 0).map(|i| 1_000 + i).sum();
        let budget = Limits {
            daily_usd: Some(1.0),
            ..Limits::default()
        };
        let too_much = Estimate {
            cost_micros: Some(100_000_000),
            ..Estimate::default()
        };
        let refused = limiter
            .admit(&a, &budget, None, &too_much, now)
            .unwrap_err();
        assert_eq!(
            (refused.scope, refused.limit, refused.remaining),
            (Scope::Key, LimitKind::DailyUsd, 1_000_000 - a_cost as u64)
        );

        // Retention deletes log rows, never rollups.
        writer.shutdown();
        thread.join();
        let mut again = b.usage();
        let (writer, thread) = again.writer(WriterConfig {
            retention: Some(std::time::Duration::from_millis(1)),
            prune_every: std::time::Duration::from_millis(20),
            ..WriterConfig::default()
        });
        writer.record(record(0, FEB_1));
        assert!(writer.flush());
        // The idle writer wakes for retention every 20 ms.
        std::thread::sleep(std::time::Duration::from_millis(200));
        writer.shutdown();
        thread.join();
        let reader = &again.reader;
        assert!(
            reader
                .request_log(&LogQuery::default())
                .unwrap()
                .entries
                .is_empty()
        );
        assert_eq!(
            reader.totals(&everything(), None).unwrap()[0]
                .totals
                .requests,
            1
        );
    }
}
