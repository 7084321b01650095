//! What one admission through Redis costs: round trips per admission (commands the
//! server processed, from `INFO stats`) and the latency it adds on loopback, as
//! p50/p99 over 10,000 admissions of a key in a project with rates, a tpm limit and
//! budgets set, next to a bare PING and the in-memory limiter. Then criterion's
//! own figures for the same calls. Needs `PATCHBAY_TEST_REDIS` (`eval "$(scripts/services
//! start)"`); without it the bench says so and measures nothing.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gateway_auth::limits::{Admit, Estimate, Limiter, MemoryLimiter};
use gateway_auth::{Limits, Subject};
use gateway_redis::{RedisConfig, RedisLimiter};

/// Admissions per percentile figure: 10,000 under `cargo bench`, a smoke-sized 100
/// when `cargo test` runs the bench once.
fn samples() -> usize {
    if std::env::args().any(|a| a == "--bench") {
        10_000
    } else {
        100
    }
}

fn limits() -> (Limits, Limits) {
    let key = Limits {
        rpm: Some(1_000_000),
        tpm: Some(u64::from(u32::MAX)),
        daily_usd: Some(1e6),
        ..Limits::default()
    };
    let project = Limits {
        rph: Some(100_000_000),
        monthly_usd: Some(1e7),
        ..Limits::default()
    };
    (key, project)
}

fn subject() -> Subject {
    Subject {
        key_id: "bench-key".into(),
        project_id: Some("bench-project".into()),
    }
}

fn estimate() -> Estimate {
    Estimate {
        input_tokens: 200,
        output_tokens: 300,
        cost_micros: Some(10),
    }
}

fn admit_once(
    rt: &tokio::runtime::Runtime,
    limiter: &RedisLimiter,
    key: &Limits,
    project: &Limits,
) {
    let now = gateway_auth::cache::now_ms();
    let decided = match limiter.admission(&subject(), key, Some(project), &estimate(), now) {
        Admit::Now(decided) => decided,
        Admit::Later(later) => rt.block_on(later),
    };
    // Settled inside the runtime, as the gateway does: spawned, off the answer's path.
    let _guard = rt.enter();
    let reservation = decided.unwrap();
    reservation.settle(
        &gateway_auth::limits::Actual {
            input_tokens: 200,
            output_tokens: 250,
            cost_micros: Some(9),
        },
        now,
    );
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    format!(
        "p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        at(0.999).as_secs_f64() * 1e6
    )
}

/// Calls the server took from clients as scripts (EVALSHA, EVAL, SCRIPT): every
/// command this limiter sends. `total_commands_processed` would also count the
/// commands each script runs inside the server, which are not round trips.
fn script_calls(conn: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(conn).unwrap();
    info.lines()
        .filter(|l| {
            l.starts_with("cmdstat_evalsha:")
                || l.starts_with("cmdstat_eval:")
                || l.starts_with("cmdstat_script")
        })
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn bench(c: &mut Criterion) {
    let Ok(url) = std::env::var("PATCHBAY_TEST_REDIS") else {
        eprintln!(
            "admission bench: skipped, PATCHBAY_TEST_REDIS is not set (eval \"$(scripts/services start)\")"
        );
        return;
    };
    // One worker runs the spawned settles, as a gateway worker would; the bench thread
    // waits on each admission like a request does.
    let samples = samples();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let limiter = RedisLimiter::new(RedisConfig {
        timeout_ms: 1_000,
        prefix: format!("patchbay-bench:{}:", std::process::id()),
        ..RedisConfig::new(url.clone())
    })
    .unwrap();
    let (key, project) = limits();
    let mut probe = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    // Warm up: the connection, the script cached on the server.
    for _ in 0..200 {
        admit_once(&rt, &limiter, &key, &project);
    }
    std::thread::sleep(Duration::from_millis(50));

    // Round trips: script calls per admission, the release included (spawned, so
    // give them a moment to land).
    let before = script_calls(&mut probe);
    let mut admission = Vec::with_capacity(samples);
    for _ in 0..samples {
        let now = gateway_auth::cache::now_ms();
        let start = Instant::now();
        let decided = match limiter.admission(&subject(), &key, Some(&project), &estimate(), now) {
            Admit::Now(decided) => decided,
            Admit::Later(later) => rt.block_on(later),
        };
        admission.push(start.elapsed());
        let _guard = rt.enter();
        drop(decided.unwrap());
    }
    std::thread::sleep(Duration::from_millis(200));
    let after = script_calls(&mut probe);
    let per_request = (after - before) as f64 / samples as f64;
    eprintln!(
        "admission bench: {per_request:.3} script calls per request: 1 round trip for the admission, 1 for the release or settle (spawned, off the answer's path)"
    );
    eprintln!(
        "admission bench: Redis admission (key + project, async path, loopback): {}",
        percentiles(admission)
    );

    // The same from inside one single-threaded runtime, as a gateway worker awaits it
    // (`runtime = "per_thread"`): no thread hand-off, releases interleaved.
    let worker = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let inside = worker.block_on(async {
        let mut out = Vec::with_capacity(samples);
        for _ in 0..samples {
            let now = gateway_auth::cache::now_ms();
            let start = Instant::now();
            let decided =
                match limiter.admission(&subject(), &key, Some(&project), &estimate(), now) {
                    Admit::Now(decided) => decided,
                    Admit::Later(later) => later.await,
                };
            out.push(start.elapsed());
            drop(decided.unwrap());
            tokio::task::yield_now().await;
        }
        out
    });
    eprintln!(
        "admission bench: Redis admission awaited inside a single-threaded runtime: {}",
        percentiles(inside)
    );

    let mut ping = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        let _: String = redis::cmd("PING").query(&mut probe).unwrap();
        ping.push(start.elapsed());
    }
    eprintln!(
        "admission bench: bare PING round trip (blocking client): {}",
        percentiles(ping)
    );

    let memory = MemoryLimiter::new();
    let mut local = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        let r = memory.admit(
            &subject(),
            &key,
            Some(&project),
            &estimate(),
            gateway_auth::cache::now_ms(),
        );
        local.push(start.elapsed());
        drop(black_box(r));
    }
    eprintln!(
        "admission bench: MemoryLimiter admission: {}",
        percentiles(local)
    );

    let mut group = c.benchmark_group("admission");
    group.bench_function("redis_admit_and_settle", |b| {
        b.iter(|| admit_once(&rt, &limiter, &key, &project))
    });
    group.bench_function("memory_admit", |b| {
        b.iter(|| {
            let r = memory.admit(
                &subject(),
                &key,
                Some(&project),
                &estimate(),
                gateway_auth::cache::now_ms(),
            );
            black_box(r)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
