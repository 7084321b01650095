//! Criterion benches for the accounting around each request: the usage writer's
//! sustained records/s into a file database (goal ≥ 20,000/s), the whole process's
//! CPU per record (goal ≤ 2 µs: the writer thread's SQLite work is the cost, so the
//! caller's wall time alone says little), and the limiter's `admit` + `settle` per
//! request (part of the ≤ 2 µs limit-check budget).
//!
//! `PB_LIMITER_ADMITS=N` runs N admit + settle of a key and its project and nothing
//! else, for callgrind: with extreme limits, or typical ones with
//! `PB_LIMITER_LIMITS=typical`.
//!
//! `PB_USAGE_RECORDS=N cargo bench -p gateway-auth --bench usage` skips criterion and
//! sends exactly N records through a fresh writer, printing CPU per record for the
//! process and for the writer thread: a fixed amount of work for `valgrind
//! --tool=callgrind` (instruction counts do not move with the machine's load). With
//! `PB_USAGE_RATE=R` too, the records go at R per second, one at a time, as a
//! gateway's do: that counts the writer's wake-ups, which a flood never has.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use gateway_auth::limits::{Actual, Estimate, HeaderFamily, Limiter, MemoryLimiter};
use gateway_auth::usage::{UsageRecord, UsageWriter, WriterConfig};
use gateway_auth::{Limits, Subject};

/// 2024-02-01T00:00:00Z.
const FEB_1: i64 = 1_706_745_600_000;

/// Request ids the bench's records copy, in a ring: a gateway has made the id when
/// the request arrived (it is in the answer's headers and the log), so the record's
/// cost is a copy of it, not its formatting.
const IDS: usize = 4_096;

/// What a gateway holds when a request ends, from which it builds the record: the
/// request's id, the key's ids (the key cache's strings), the models and provider
/// (the route's and the request's strings).
struct Names {
    ids: Vec<String>,
    keys: Vec<String>,
    projects: Vec<String>,
}

impl Names {
    fn new() -> Names {
        Names {
            ids: (0..IDS as u64).map(|i| format!("req_{i:016x}")).collect(),
            keys: (0..50).map(|k| format!("key_{k}")).collect(),
            projects: (0..5).map(|p| format!("prj_{p}")).collect(),
        }
    }

    /// Record `i`, built as `gateway-server`'s accounting builds one: each field a
    /// copy of a string the gateway already has.
    fn record(&self, i: u64) -> UsageRecord {
        let at = |len: usize| (i % len as u64) as usize;
        UsageRecord {
            request_id: self.ids[at(IDS)].as_str().into(),
            ts_ms: FEB_1 + (i as i64 % 7_200_000),
            key_id: self.keys[at(self.keys.len())].as_str().into(),
            project_id: Some(self.projects[at(self.projects.len())].as_str().into()),
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
}

/// CPU time (user and system) the threads of this process have had so far, in
/// nanoseconds: the sum of each thread's `/proc/self/task/*/schedstat` (nanosecond
/// resolution, unlike the 10 ms ticks of `/proc/self/stat`). Threads that have
/// ended are not counted; none end during a measurement here.
fn process_cpu_ns() -> u64 {
    let tasks = std::fs::read_dir("/proc/self/task").expect("Linux /proc");
    tasks.filter_map(|t| thread_cpu_ns(&t.ok()?.path())).sum()
}

/// One thread's CPU time so far, in nanoseconds, from its `schedstat`.
fn thread_cpu_ns(task: &Path) -> Option<u64> {
    let stat = std::fs::read_to_string(task.join("schedstat")).ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// The usage writer's thread in `/proc/self/task`, found by its name (which the
/// new thread gives itself: wait for it, a second at most).
fn writer_task() -> Option<std::path::PathBuf> {
    let named = |t: &Path| {
        std::fs::read_to_string(t.join("comm")).is_ok_and(|c| c.trim() == "usage-writer")
    };
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(1) {
        let found = std::fs::read_dir("/proc/self/task")
            .ok()?
            .filter_map(Result::ok)
            .map(|t| t.path())
            .find(|t| named(t));
        if found.is_some() {
            return found;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

fn temp_dir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pb-bench-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn bench_config() -> WriterConfig {
    WriterConfig {
        // Large enough that the bench measures the writer, never the drop path.
        capacity: 1 << 20,
        // A flush waits for everything queued, even under valgrind.
        give_up_after: Duration::from_secs(3600),
        ..WriterConfig::default()
    }
}

/// Exactly `n` records through a fresh writer into a file database, flushed; prints
/// wall time and CPU per record, for the process and for the writer thread.
///
/// With `rate` (records/s) the records are sent one at a time at that pace, as a
/// gateway's requests end, instead of as fast as they can be built: the writer then
/// waits for records and is woken by them. The pacing's sleeps cost this thread more
/// CPU than the records do, and not the same from run to run, so there the figure
/// is the writer thread's CPU plus the time this thread spent building and
/// recording (timed around each record: on a CPU unless preempted).
fn fixed_run(n: u64, rate: Option<f64>) {
    let dir = temp_dir("usage-fixed");
    let (usage, thread) =
        UsageWriter::start(&dir.join("bench.db"), bench_config()).expect("usage database opens");
    let writer = writer_task().expect("the writer thread is named usage-writer");
    let names = Names::new();
    let cpu0 = process_cpu_ns();
    let writer0 = thread_cpu_ns(&writer).unwrap_or(0);
    let t0 = Instant::now();
    let mut caller = Duration::ZERO;
    match rate {
        Some(r) => {
            let interval = Duration::from_secs_f64(1.0 / r);
            for i in 0..n {
                let sent = Instant::now();
                usage.record(names.record(i));
                caller += sent.elapsed();
                let due = t0 + interval * u32::try_from(i + 1).unwrap_or(u32::MAX);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        }
        None => {
            for i in 0..n {
                usage.record(names.record(i));
            }
        }
    }
    assert!(usage.flush());
    let wall = t0.elapsed();
    let cpu = process_cpu_ns() - cpu0;
    let writer_cpu = thread_cpu_ns(&writer).unwrap_or(0) - writer0;
    usage.shutdown();
    let stats = thread.join();
    assert_eq!(
        (stats.written, stats.dropped, stats.failed),
        (n, 0, 0),
        "{stats:?}"
    );
    let per = |ns: u64| ns as f64 / n as f64 / 1_000.0;
    let wall = wall.as_secs_f64() * 1e6 / n as f64;
    match rate {
        None => println!(
            "{n} records (flood): {wall:.2} µs wall, {:.2} µs CPU (process), {:.2} µs CPU (writer thread) per record",
            per(cpu),
            per(writer_cpu),
        ),
        Some(r) => {
            let caller = u64::try_from(caller.as_nanos()).unwrap_or(u64::MAX);
            println!(
                "{n} records ({r} records/s): {:.2} µs CPU (writer thread + caller's building and recording: {:.2} + {:.2}) per record",
                per(writer_cpu + caller),
                per(writer_cpu),
                per(caller),
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn writer(c: &mut Criterion) {
    let dir = temp_dir("usage");
    let (usage, thread) =
        UsageWriter::start(&dir.join("bench.db"), bench_config()).expect("usage database opens");
    let mut g = c.benchmark_group("usage_writer");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(1));
    let mut next = 0u64;
    let names = Names::new();
    // Records queued then flushed: the time until the last one is committed, per record.
    g.bench_function("record_to_commit_file_db", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for _ in 0..iters {
                usage.record(names.record(next));
                next += 1;
            }
            usage.flush();
            t0.elapsed()
        })
    });
    // The same, but the "time" is the CPU the whole process spent (building and
    // queueing records on this thread, committing them on the writer's), per record.
    g.bench_function("cpu_per_record_file_db", |b| {
        b.iter_custom(|iters| {
            let cpu0 = process_cpu_ns();
            for _ in 0..iters {
                usage.record(names.record(next));
                next += 1;
            }
            usage.flush();
            Duration::from_nanos(process_cpu_ns() - cpu0)
        })
    });
    g.finish();
    usage.shutdown();
    let stats = thread.join();
    assert_eq!((stats.dropped, stats.failed), (0, 0), "{stats:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The limiter's fixture: many subjects, as a gateway has (the lookup is not always
/// the same hot entry), and two sets of limits.
struct LimiterCase {
    limiter: MemoryLimiter,
    /// Extreme values, so every check takes the widest (i128) arithmetic.
    key: Limits,
    project: Limits,
    /// Values of the size keys have.
    typical: Limits,
    typical_project: Limits,
    keys: Vec<Subject>,
    estimate: Estimate,
    actual: Actual,
}

impl LimiterCase {
    fn new() -> Self {
        LimiterCase {
            limiter: MemoryLimiter::new(),
            key: Limits {
                rpm: Some(u32::MAX),
                rpd: Some(u32::MAX),
                tpm: Some(u64::MAX / 4),
                daily_output_tokens: Some(u64::MAX / 4),
                daily_usd: Some(1e9),
                monthly_usd: Some(1e9),
                ..Limits::default()
            },
            project: Limits {
                rph: Some(u32::MAX),
                monthly_usd: Some(1e9),
                ..Limits::default()
            },
            typical: Limits {
                rpm: Some(600),
                tpm: Some(2_000_000),
                daily_output_tokens: Some(1_000_000_000_000),
                ..Limits::default()
            },
            typical_project: Limits {
                rph: Some(1_000_000),
                ..Limits::default()
            },
            keys: (0..1_000)
                .map(|i| Subject {
                    key_id: format!("key_{i:04}"),
                    project_id: Some(format!("prj_{}", i % 10)),
                })
                .collect(),
            estimate: Estimate {
                input_tokens: 1_200,
                output_tokens: 1_000,
                cost_micros: Some(20_000),
            },
            actual: Actual {
                input_tokens: 1_200,
                output_tokens: 300,
                cost_micros: Some(4_321),
            },
        }
    }

    /// Admits and settles request `i` of a key and its project under `key` and
    /// `project` limits, at `i` ms past the start.
    fn admit_settle(&self, i: usize, key: &Limits, project: &Limits) {
        let now = FEB_1 + i as i64;
        let s = &self.keys[i % self.keys.len()];
        let r = self
            .limiter
            .admit(black_box(s), key, Some(project), &self.estimate, now)
            .expect("limits are high enough");
        r.settle(&self.actual, now);
    }
}

fn limiter(c: &mut Criterion) {
    let case = LimiterCase::new();
    let mut g = c.benchmark_group("limiter");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("admit_settle_key_and_project", |b| {
        b.iter(|| {
            i += 1;
            case.admit_settle(i, &case.key, &case.project);
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
            let r = case
                .limiter
                .admit(black_box(&s), &case.key, None, &case.estimate, now)
                .expect("limits are high enough");
            r.settle(&case.actual, now);
        })
    });
    g.bench_function("admit_settle_typical_limits", |b| {
        b.iter(|| {
            i += 1;
            case.admit_settle(i, &case.typical, &case.typical_project);
        })
    });
    // What an answer's rate-limit headers cost to write, per family, into a map with
    // room (an answer's map has grown for its other headers already).
    let admitted = case
        .limiter
        .admit(
            &case.keys[9],
            &case.typical,
            Some(&case.typical_project),
            &case.estimate,
            FEB_1,
        )
        .expect("limits are high enough");
    let status = *admitted.status();
    for (name, family) in [
        ("headers_openai", HeaderFamily::OpenAi),
        ("headers_anthropic", HeaderFamily::Anthropic),
    ] {
        let mut headers = http::HeaderMap::with_capacity(16);
        g.bench_function(name, |b| {
            b.iter(|| {
                // Freeing the values is part of the cost; the map's room is kept.
                headers.clear();
                black_box(&status).write(family, &mut headers);
            })
        });
    }
    g.bench_function("status", |b| {
        b.iter(|| {
            let s = black_box(&case.keys[7]);
            case.limiter
                .status(s, &case.key, Some(&case.project), FEB_1)
        })
    });
    g.finish();
}

/// `n` admit + settle and nothing else: a fixed amount of work for callgrind (run
/// twice with different `n`: the difference over the extra requests is the
/// instructions per request, without the setup).
fn fixed_limiter_run(n: usize, typical: bool) {
    let case = LimiterCase::new();
    let (key, project) = if typical {
        (&case.typical, &case.typical_project)
    } else {
        (&case.key, &case.project)
    };
    for i in 0..n {
        case.admit_settle(i, key, project);
    }
}

criterion_group!(benches, limiter, writer);

fn main() {
    if let Ok(n) = std::env::var("PB_LIMITER_ADMITS") {
        let typical = std::env::var("PB_LIMITER_LIMITS").is_ok_and(|v| v == "typical");
        fixed_limiter_run(
            n.parse().expect("PB_LIMITER_ADMITS: a number of requests"),
            typical,
        );
        return;
    }
    if let Ok(n) = std::env::var("PB_USAGE_RECORDS") {
        let rate = std::env::var("PB_USAGE_RATE")
            .ok()
            .map(|r| r.parse().expect("PB_USAGE_RATE: records per second"));
        fixed_run(
            n.parse().expect("PB_USAGE_RECORDS: a number of records"),
            rate,
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
