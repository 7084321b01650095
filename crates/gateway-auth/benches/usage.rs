//! Criterion benches for the accounting around each request: the usage writer's
//! sustained records/s into a file database (goal ≥ 20,000/s), and the limiter's
//! `admit` + `settle` per request (part of the ≤ 2 µs limit-check budget).
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gateway_auth::limits::{Actual, Estimate, Limiter, MemoryLimiter};
use gateway_auth::usage::{UsageRecord, UsageWriter, WriterConfig};
use gateway_auth::{Limits, Subject};

/// 2024-02-01T00:00:00Z.
const FEB_1: i64 = 1_706_745_600_000;

fn record(i: u64) -> UsageRecord {
    UsageRecord {
        request_id: format!("req_{i:016x}"),
        ts_ms: FEB_1 + (i as i64 % 7_200_000),
        key_id: format!("key_{}", i % 50),
        project_id: Some(format!("prj_{}", i % 5)),
        requested_model: "fast".into(),
        routed_model: Some(
            if i % 3 == 0 {
                "gpt-4.1"
            } else {
                "claude-sonnet-4"
            }
            .into(),
        ),
        provider: Some("openai".into()),
        caller_shape: "openai_chat".into(),
        upstream_shape: Some("openai_chat".into()),
        input_tokens: 1_200,
        output_tokens: 300,
        cached_tokens: 1_000,
        reasoning_tokens: 50,
        cost_micros: (i % 10 != 0).then_some(4_321),
        ttfb_ms: Some(180),
        total_ms: 2_400,
        status: 200,
        streamed: true,
        ..UsageRecord::default()
    }
}

fn writer(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("pb-bench-usage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = WriterConfig {
        // Large enough that the bench measures the writer, never the drop path.
        capacity: 1 << 20,
        ..WriterConfig::default()
    };
    let (usage, thread) =
        UsageWriter::start(&dir.join("bench.db"), config).expect("usage database opens");
    let mut g = c.benchmark_group("usage_writer");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(1));
    let mut next = 0u64;
    // Records queued then flushed: the time until the last one is committed, per record.
    g.bench_function("record_to_commit_file_db", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for _ in 0..iters {
                usage.record(record(next));
                next += 1;
            }
            usage.flush();
            t0.elapsed()
        })
    });
    g.finish();
    usage.shutdown();
    let stats = thread.join();
    assert_eq!((stats.dropped, stats.failed), (0, 0), "{stats:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn limiter(c: &mut Criterion) {
    let limiter = MemoryLimiter::new();
    let key = Limits {
        rpm: Some(u32::MAX),
        rpd: Some(u32::MAX),
        tpm: Some(u64::MAX / 4),
        daily_output_tokens: Some(u64::MAX / 4),
        daily_usd: Some(1e9),
        monthly_usd: Some(1e9),
        ..Limits::default()
    };
    let project = Limits {
        rph: Some(u32::MAX),
        monthly_usd: Some(1e9),
        ..Limits::default()
    };
    // Many subjects, as a gateway has: the lookup is not always the same hot entry.
    let keys: Vec<Subject> = (0..1_000)
        .map(|i| Subject {
            key_id: format!("key_{i:04}"),
            project_id: Some(format!("prj_{}", i % 10)),
        })
        .collect();
    let estimate = Estimate {
        input_tokens: 1_200,
        output_tokens: 1_000,
        cost_micros: Some(20_000),
    };
    let actual = Actual {
        input_tokens: 1_200,
        output_tokens: 300,
        cost_micros: Some(4_321),
    };
    let mut g = c.benchmark_group("limiter");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("admit_settle_key_and_project", |b| {
        b.iter(|| {
            i += 1;
            let now = FEB_1 + i as i64;
            let s = &keys[i % keys.len()];
            let r = limiter
                .admit(black_box(s), &key, Some(&project), &estimate, now)
                .expect("limits are high enough");
            r.settle(&actual, now);
        })
    });
    g.bench_function("admit_settle_key_only", |b| {
        let s = Subject {
            key_id: "key_solo".into(),
            project_id: None,
        };
        b.iter(|| {
            i += 1;
            let now = FEB_1 + i as i64;
            let r = limiter
                .admit(black_box(&s), &key, None, &estimate, now)
                .expect("limits are high enough");
            r.settle(&actual, now);
        })
    });
    g.bench_function("status", |b| {
        b.iter(|| limiter.status(black_box(&keys[7]), &key, Some(&project), FEB_1))
    });
    g.finish();
}

criterion_group!(benches, limiter, writer);
criterion_main!(benches);
