//! The usage store on a file database: every record becomes a row and its rollup,
//! nothing queued is lost on a graceful shutdown or restart, unknown costs stay
//! unknown, retention keeps the rollups, and the limiter reseeds from them.
// Helpers outside #[test] fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gateway_auth::limits::{Estimate, LimitKind, Limiter, MemoryLimiter, Scope};
use gateway_auth::usage::{
    self, Bucket, GroupBy, LogQuery, UsageFilter, UsageRecord, UsageWriter, WriterConfig,
};
use gateway_auth::{Limits, Subject, migrate};
use gateway_protocol::Usage;

/// 2024-02-01T00:00:00Z.
pub(crate) const FEB_1: i64 = 1_706_745_600_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

pub(crate) struct TempDb(PathBuf);

impl TempDb {
    pub(crate) fn new(name: &str) -> TempDb {
        let dir = std::env::temp_dir().join(format!("pb-usage-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDb(dir)
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.0.join("patchbay.db")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn record(i: usize, ts_ms: i64) -> UsageRecord {
    let mut r = UsageRecord {
        request_id: format!("req_{i}").into(),
        ts_ms,
        key_id: if i % 2 == 0 { "key_a" } else { "key_b" }.into(),
        project_id: (i % 2 == 0).then(|| "prj_1".into()),
        requested_model: "fast".into(),
        routed_model: Some(if i % 3 == 0 { "gpt-4.1" } else { "claude-x" }.into()),
        provider: Some("mock".into()),
        caller_shape: "openai_chat".into(),
        upstream_shape: Some("anthropic".into()),
        cost_micros: Some(1_000 + i as i64),
        ttfb_ms: Some(12),
        total_ms: 40,
        status: 200,
        streamed: i % 4 == 0,
        ..UsageRecord::default()
    };
    r.set_usage(&Usage {
        input_tokens: 100,
        cache_read_tokens: 30,
        cache_write_tokens: 5,
        output_tokens: 20,
        reasoning_tokens: 7,
    });
    r
}

fn everything() -> UsageFilter {
    UsageFilter {
        from_ms: 0,
        to_ms: i64::MAX,
        ..UsageFilter::default()
    }
}

fn start(db: &TempDb) -> (UsageWriter, usage::WriterThread) {
    UsageWriter::start(&db.path(), WriterConfig::default()).unwrap()
}

#[test]
fn n_records_become_n_rows_and_matching_rollups() {
    let db = TempDb::new("rollups");
    let (writer, thread) = start(&db);
    let n = 2_500;
    for i in 0..n {
        // Three hours, the last one in the next UTC day.
        let ts = FEB_1 - HOUR + (i as i64 % 3) * HOUR + 17;
        assert!(writer.record(record(i, ts)));
    }
    assert!(writer.flush());
    let conn = migrate::open(&db.path()).unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM requests", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, n as i64);

    let all = usage::query::totals(&conn, &everything(), None).unwrap();
    let t = all[0].totals;
    assert_eq!(t.requests, n as u64);
    assert_eq!(
        (
            t.input_tokens,
            t.output_tokens,
            t.cached_tokens,
            t.reasoning_tokens
        ),
        (100 * 2_500, 20 * 2_500, 30 * 2_500, 7 * 2_500)
    );
    let want_cost: i64 = (0..n as i64).map(|i| 1_000 + i).sum();
    assert_eq!((t.cost_micros, t.unpriced, t.errors), (want_cost, 0, 0));

    let by_key = usage::query::totals(&conn, &everything(), Some(GroupBy::Key)).unwrap();
    let keys: Vec<_> = by_key
        .iter()
        .map(|g| (g.group.as_str(), g.totals.requests))
        .collect();
    assert_eq!(
        keys,
        [("key_b", 1_250), ("key_a", 1_250)],
        "largest cost first"
    );
    let by_model = usage::query::totals(&conn, &everything(), Some(GroupBy::Model)).unwrap();
    let gpt = by_model.iter().find(|g| g.group == "gpt-4.1").unwrap();
    assert_eq!(gpt.totals.requests, 834);

    let by_day = usage::query::totals(&conn, &everything(), Some(GroupBy::Day)).unwrap();
    let mut days: Vec<_> = by_day
        .iter()
        .map(|g| (g.group.clone(), g.totals.requests))
        .collect();
    days.sort();
    assert_eq!(
        days,
        [((FEB_1 - DAY).to_string(), 834), (FEB_1.to_string(), 1_666)]
    );
    let hours = usage::query::series(&conn, &everything(), Bucket::Hour, None).unwrap();
    let points: Vec<_> = hours
        .iter()
        .map(|p| (p.bucket_ms, p.totals.requests))
        .collect();
    assert_eq!(
        points,
        [(FEB_1 - HOUR, 834), (FEB_1, 833), (FEB_1 + HOUR, 833)]
    );
    let daily_a = UsageFilter {
        key_id: Some("key_a".into()),
        from_ms: FEB_1 + 5,
        to_ms: FEB_1 + DAY,
        ..UsageFilter::default()
    };
    let series =
        usage::query::series(&conn, &daily_a, Bucket::Day, Some(GroupBy::Provider)).unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(
        (series[0].bucket_ms, series[0].group.as_str()),
        (FEB_1, "mock")
    );
    assert_eq!(series[0].totals.requests, 833);

    assert!(writer.shutdown());
    let stats = thread.join();
    assert_eq!(
        (stats.written, stats.dropped, stats.failed),
        (n as u64, 0, 0)
    );
}

#[test]
fn usage_survives_a_graceful_restart() {
    let db = TempDb::new("restart");
    for round in 0..3 {
        let (writer, thread) = start(&db);
        for i in 0..100 {
            writer.record(record(round * 100 + i, FEB_1 + i as i64));
        }
        // No flush: shutdown alone must write what is queued.
        assert!(writer.shutdown());
        assert_eq!(thread.join().written, 100);
        assert!(!writer.record(record(0, FEB_1)), "a stopped writer drops");
        assert_eq!(writer.stats().dropped, 1);
    }
    let conn = migrate::open(&db.path()).unwrap();
    let t = usage::query::totals(&conn, &everything(), None).unwrap()[0].totals;
    assert_eq!(t.requests, 300);
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM requests", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 300);
}

#[test]
fn shutdown_writes_a_batch_still_waiting_for_its_window() {
    let db = TempDb::new("shutdown");
    let config = WriterConfig {
        batch_window: Duration::from_secs(60),
        ..WriterConfig::default()
    };
    let (writer, thread) = UsageWriter::start(&db.path(), config).unwrap();
    for i in 0..10 {
        writer.record(record(i, FEB_1));
    }
    let t0 = Instant::now();
    assert!(writer.shutdown());
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "did not wait for the window"
    );
    assert_eq!(thread.join().written, 10);
}

#[test]
fn dropping_every_handle_writes_the_queue_and_ends_the_thread() {
    let db = TempDb::new("drop");
    let (writer, thread) = start(&db);
    let clone = writer.clone();
    for i in 0..50 {
        clone.record(record(i, FEB_1));
    }
    drop((writer, clone));
    assert_eq!(thread.join().written, 50);
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let db = TempDb::new("full");
    let config = WriterConfig {
        capacity: 4,
        batch_max: 1,
        ..WriterConfig::default()
    };
    let (writer, thread) = UsageWriter::start(&db.path(), config).unwrap();
    // Another connection holds the write lock, so the writer's first commit waits.
    let blocker = migrate::open(&db.path()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let t0 = Instant::now();
    let accepted = (0..100)
        .filter(|&i| writer.record(record(i, FEB_1)))
        .count();
    assert!(t0.elapsed() < Duration::from_secs(1), "record() blocked");
    assert!(accepted <= 6, "accepted {accepted}");
    blocker.execute_batch("COMMIT").unwrap();
    assert!(writer.shutdown());
    let stats = thread.join();
    assert_eq!(stats.written, accepted as u64);
    assert_eq!(stats.dropped, 100 - accepted as u64);
}

#[test]
fn unknown_cost_stays_null_and_counts_as_unpriced() {
    let db = TempDb::new("unpriced");
    let (writer, thread) = start(&db);
    let mut priced = record(0, FEB_1);
    priced.cost_micros = Some(333_333);
    let mut unpriced = record(2, FEB_1 + 1);
    unpriced.routed_model = Some("local-llama".into());
    unpriced.cost_micros = None;
    unpriced.status = 502;
    unpriced.error_kind = Some("upstream".into());
    unpriced.request_body = Some(b"{\"model\":\"x\"}".to_vec());
    for r in [
        priced.clone(),
        priced.clone(),
        priced.clone(),
        unpriced.clone(),
    ] {
        writer.record(r);
    }
    assert!(writer.shutdown());
    thread.join();

    let conn = migrate::open(&db.path()).unwrap();
    let nulls: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM requests WHERE cost_micros IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(nulls, 1);
    let t = usage::query::totals(&conn, &everything(), None).unwrap()[0].totals;
    // Cost arithmetic is integer micro-dollars: three thirds of a dollar, to the micro.
    assert_eq!((t.cost_micros, t.unpriced, t.errors), (999_999, 1, 1));
    assert_eq!(t.cost_usd(), 0.999_999);
    let llama = UsageFilter {
        model: Some("local-llama".into()),
        ..everything()
    };
    let t = usage::query::totals(&conn, &llama, None).unwrap()[0].totals;
    assert_eq!((t.requests, t.cost_micros, t.unpriced), (1, 0, 1));

    // The log gives back exactly what was recorded, cached and reasoning included.
    let page = usage::query::request_log(&conn, &LogQuery::default()).unwrap();
    assert_eq!(page.entries.len(), 4);
    assert_eq!(page.entries[0].record, unpriced);
    assert_eq!(page.entries[3].record, priced);
    assert_eq!(
        (
            priced.cached_tokens,
            priced.cache_write_tokens,
            priced.reasoning_tokens
        ),
        (30, 5, 7)
    );
}

#[test]
fn the_request_log_pages_newest_first_and_filters() {
    let db = TempDb::new("log");
    let (writer, thread) = start(&db);
    for i in 0..25 {
        let mut r = record(i, FEB_1 + i as i64 * 1_000);
        if i % 5 == 0 {
            r.status = 429;
        }
        writer.record(r);
    }
    assert!(writer.shutdown());
    thread.join();
    let conn = migrate::open(&db.path()).unwrap();

    let mut q = LogQuery {
        limit: 10,
        ..LogQuery::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = usage::query::request_log(&conn, &q).unwrap();
        seen.extend(page.entries.iter().map(|e| e.record.request_id.to_string()));
        match page.next {
            Some(id) => q.before_id = Some(id),
            None => break,
        }
    }
    let want: Vec<_> = (0..25).rev().map(|i| format!("req_{i}")).collect();
    assert_eq!(seen, want);

    let count = |q: LogQuery| usage::query::request_log(&conn, &q).unwrap().entries.len();
    let all = || LogQuery {
        limit: 100,
        ..LogQuery::default()
    };
    assert_eq!(
        count(LogQuery {
            key_id: Some("key_a".into()),
            ..all()
        }),
        13
    );
    assert_eq!(
        count(LogQuery {
            model: Some("gpt-4.1".into()),
            ..all()
        }),
        9
    );
    assert_eq!(
        count(LogQuery {
            model: Some("fast".into()),
            ..all()
        }),
        25
    );
    assert_eq!(
        count(LogQuery {
            status: Some(429),
            ..all()
        }),
        5
    );
    assert_eq!(
        count(LogQuery {
            errors_only: true,
            ..all()
        }),
        5
    );
    let window = LogQuery {
        from_ms: Some(FEB_1 + 10_000),
        to_ms: Some(FEB_1 + 20_000),
        ..all()
    };
    assert_eq!(count(window), 10);
}

#[test]
fn latency_percentiles_are_nearest_rank_over_successful_requests_in_the_range() {
    let db = TempDb::new("latency");
    let (writer, thread) = start(&db);
    for i in 0..20 {
        let mut r = record(i, FEB_1 + i as i64 * 1_000);
        r.total_ms = 10 * (i as i64 + 1);
        // Streamed: 0, 4, 8, 12, 16; their first bytes after 1, 5, 9, 13, 17 ms.
        r.ttfb_ms = Some(i as i64 + 1);
        writer.record(r);
    }
    // Failures are left out, however slow.
    let mut failed = record(20, FEB_1 + 500);
    failed.status = 502;
    failed.total_ms = 60_000;
    writer.record(failed);
    let mut broken = record(21, FEB_1 + 600);
    broken.streamed = true;
    broken.error_kind = Some("stream_broken".into());
    broken.ttfb_ms = Some(50_000);
    broken.total_ms = 60_000;
    writer.record(broken);
    assert!(writer.shutdown());
    thread.join();
    let conn = migrate::open(&db.path()).unwrap();

    let l = usage::latency::latency(&conn, FEB_1, FEB_1 + HOUR).unwrap();
    // Twenty totals, 10..=200: rank 10 is 100, rank 19 is 190.
    assert_eq!(l.total.samples, 20);
    assert_eq!((l.total.p50_ms, l.total.p95_ms), (Some(100), Some(190)));
    // Five streamed: rank 3 is 9, rank 5 is 17.
    assert_eq!(l.first_token.samples, 5);
    assert_eq!(
        (l.first_token.p50_ms, l.first_token.p95_ms),
        (Some(9), Some(17))
    );
    // The range: the first ten seconds only (totals 10..=100, streamed 1, 5, 9).
    let l = usage::latency::latency(&conn, FEB_1, FEB_1 + 10_000).unwrap();
    assert_eq!(l.total.samples, 10);
    assert_eq!((l.total.p50_ms, l.total.p95_ms), (Some(50), Some(100)));
    assert_eq!(l.first_token.p50_ms, Some(5));
    // Capped: the latest five successful (totals 160..=200), the latest two streamed
    // (first bytes 13 and 17).
    let l = usage::latency::latency_of_latest(&conn, FEB_1, FEB_1 + HOUR, 5).unwrap();
    assert_eq!(l.total.samples, 5);
    assert_eq!((l.total.p50_ms, l.total.p95_ms), (Some(180), Some(200)));
    let l = usage::latency::latency_of_latest(&conn, FEB_1, FEB_1 + HOUR, 2).unwrap();
    assert_eq!(l.first_token.samples, 2);
    assert_eq!(
        (l.first_token.p50_ms, l.first_token.p95_ms),
        (Some(13), Some(17))
    );
    let none = usage::latency::latency(&conn, FEB_1 + DAY, FEB_1 + 2 * DAY).unwrap();
    assert_eq!(none, usage::latency::Latency::default());
}

#[test]
fn pruning_deletes_old_requests_and_keeps_rollups() {
    let db = TempDb::new("prune");
    let (writer, thread) = start(&db);
    for i in 0..30 {
        writer.record(record(i, FEB_1 - 40 * DAY + i as i64));
    }
    for i in 30..40 {
        writer.record(record(i, FEB_1 + i as i64));
    }
    assert!(writer.shutdown());
    thread.join();
    let conn = migrate::open(&db.path()).unwrap();
    let before = usage::query::totals(&conn, &everything(), None).unwrap();
    assert_eq!(usage::prune(&conn, FEB_1 - 30 * DAY).unwrap(), 30);
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM requests", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 10);
    assert_eq!(
        usage::query::totals(&conn, &everything(), None).unwrap(),
        before
    );
    assert_eq!(before[0].totals.requests, 40);
}

#[test]
fn the_writer_applies_retention_itself() {
    let db = TempDb::new("retention");
    let config = WriterConfig {
        retention: Some(Duration::from_secs(7 * 86_400)),
        prune_every: Duration::from_millis(50),
        batch_window: Duration::from_millis(10),
        ..WriterConfig::default()
    };
    let (writer, thread) = UsageWriter::start(&db.path(), config).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    writer.record(record(0, now - 8 * DAY));
    writer.record(record(1, now));
    assert!(writer.flush());
    // The writer prunes when it next wakes up: within `prune_every`.
    let t0 = Instant::now();
    while writer.stats().pruned == 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(writer.shutdown());
    let stats = thread.join();
    assert_eq!((stats.written, stats.pruned), (2, 1));
}

#[test]
fn the_limiter_reseeds_quotas_and_budgets_from_the_rollups() {
    let db = TempDb::new("seed");
    let (writer, thread) = start(&db);
    let now = FEB_1 + 10 * DAY + 5 * HOUR;
    // key_a in prj_1: $0.30 today, $0.20 earlier this month, $0.50 in January.
    for (i, ts, cost) in [
        (0, now - HOUR, 300_000),
        (2, now - 3 * DAY, 200_000),
        (4, FEB_1 - DAY, 500_000),
    ] {
        let mut r = record(i, ts);
        r.cost_micros = Some(cost);
        writer.record(r);
    }
    assert!(writer.shutdown());
    thread.join();

    let limiter = MemoryLimiter::new();
    limiter
        .seed_from(&migrate::open(&db.path()).unwrap(), now)
        .unwrap();
    let s = Subject {
        key_id: "key_a".into(),
        project_id: Some("prj_1".into()),
    };
    let too_much = Estimate {
        input_tokens: 1_000_000,
        output_tokens: 1_000_000,
        cost_micros: Some(100_000_000),
    };
    let refusal = |key: Limits, project: Option<Limits>| {
        limiter
            .admit(&s, &key, project.as_ref(), &too_much, now)
            .unwrap_err()
    };
    let r = refusal(
        Limits {
            daily_usd: Some(1.0),
            ..Limits::default()
        },
        None,
    );
    assert_eq!((r.limit, r.remaining), (LimitKind::DailyUsd, 700_000));
    let r = refusal(
        Limits {
            monthly_usd: Some(1.0),
            ..Limits::default()
        },
        None,
    );
    assert_eq!(r.remaining, 500_000);
    let r = refusal(
        Limits::default(),
        Some(Limits {
            total_usd: Some(2.0),
            ..Limits::default()
        }),
    );
    assert_eq!((r.scope, r.remaining), (Scope::Project, 1_000_000));
    let r = refusal(
        Limits {
            daily_input_tokens: Some(1_000),
            ..Limits::default()
        },
        None,
    );
    assert_eq!(r.remaining, 900);
    let r = refusal(
        Limits {
            monthly_output_tokens: Some(1_000),
            ..Limits::default()
        },
        None,
    );
    assert_eq!(r.remaining, 960);
}
