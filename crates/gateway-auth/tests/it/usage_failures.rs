//! The usage writer when the database will not take a batch: a write lock held past
//! the busy timeout, a full disk. The batch is kept and retried with backoff while new
//! records queue; nothing is lost once the database takes writes again; the queue is
//! bounded in bytes; a shutdown gives up only after its deadline, and says so.

use std::time::{Duration, Instant};

use gateway_auth::migrate;
use gateway_auth::usage::{UsageRecord, UsageWriter, WriterConfig, WriterStats};

use crate::usage::{FEB_1, TempDb, record};

/// Short waits all round, so the tests see several retries in well under a second.
fn quick() -> WriterConfig {
    WriterConfig {
        batch_window: Duration::from_millis(10),
        retry_min: Duration::from_millis(10),
        retry_max: Duration::from_millis(80),
        ..WriterConfig::default()
    }
}

/// The writer on its own connection to `db`, which waits at most 20 ms on a lock.
fn start_quick(
    db: &TempDb,
    config: WriterConfig,
) -> (UsageWriter, gateway_auth::usage::WriterThread) {
    let conn = migrate::open(&db.path()).unwrap();
    conn.busy_timeout(Duration::from_millis(20)).unwrap();
    UsageWriter::start_with(conn, config).unwrap()
}

/// Waits (up to 10 s) until `done` holds of the writer's counts.
fn until(writer: &UsageWriter, done: impl Fn(&WriterStats) -> bool) -> WriterStats {
    let t0 = Instant::now();
    loop {
        let stats = writer.stats();
        if done(&stats) {
            return stats;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{stats:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn rows(db: &TempDb) -> (i64, i64) {
    let conn = migrate::open(&db.path()).unwrap();
    let rows = conn
        .query_row("SELECT COUNT(*) FROM requests", [], |r| r.get(0))
        .unwrap();
    let rolled = conn
        .query_row(
            "SELECT COALESCE(SUM(requests), 0) FROM usage_hourly",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (rows, rolled)
}

#[test]
fn a_batch_refused_by_a_locked_database_is_retried_until_written() {
    let db = TempDb::new("locked-retry");
    let (writer, thread) = start_quick(&db, quick());
    let blocker = migrate::open(&db.path()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    for i in 0..10 {
        assert!(writer.record(record(i, FEB_1)));
    }
    until(&writer, |s| s.retried >= 3);
    // New records keep queueing behind the failing batch.
    for i in 10..20 {
        assert!(writer.record(record(i, FEB_1)));
    }
    assert_eq!(rows(&db), (0, 0));
    blocker.execute_batch("ROLLBACK").unwrap();
    assert!(writer.flush());
    assert_eq!(rows(&db), (20, 20));
    assert!(writer.shutdown());
    let stats = thread.join();
    assert_eq!((stats.written, stats.failed, stats.dropped), (20, 0, 0));
    assert!(stats.retried >= 3, "{stats:?}");
}

#[test]
fn a_full_disk_is_retried_and_the_batch_written_once_space_is_freed() {
    let db = TempDb::new("full-disk");
    // Ballast filling the file, written by another connection.
    let other = migrate::open(&db.path()).unwrap();
    other
        .execute_batch("CREATE TABLE ballast (b BLOB)")
        .unwrap();
    for _ in 0..64 {
        other
            .execute("INSERT INTO ballast VALUES (zeroblob(16384))", [])
            .unwrap();
    }
    // The writer's connection may not grow the file past its size now: a full disk.
    let conn = migrate::open(&db.path()).unwrap();
    conn.busy_timeout(Duration::from_millis(20)).unwrap();
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let max: i64 = conn
        .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(max, pages);
    let (writer, thread) = UsageWriter::start_with(conn, quick()).unwrap();
    let logged = |i| UsageRecord {
        response_body: Some(vec![b'x'; 16_384]),
        ..record(i, FEB_1)
    };
    for i in 0..20 {
        assert!(writer.record(logged(i)));
    }
    until(&writer, |s| s.retried >= 2);
    assert_eq!(writer.stats().written, 0);
    // Space is freed (the ballast deleted): its pages are reused, the file need not grow.
    other.execute_batch("DELETE FROM ballast").unwrap();
    assert!(writer.flush());
    assert!(writer.shutdown());
    let stats = thread.join();
    assert_eq!((stats.written, stats.failed, stats.dropped), (20, 0, 0));
    assert_eq!(rows(&db), (20, 20));
}

#[test]
fn the_queue_is_bounded_in_bytes_and_drops_are_counted() {
    let db = TempDb::new("bytes");
    let config = WriterConfig {
        max_queued_bytes: 1 << 20,
        ..quick()
    };
    let (writer, thread) = start_quick(&db, config);
    // Nothing can be written meanwhile, so everything accepted stays queued.
    let blocker = migrate::open(&db.path()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let big = |i| UsageRecord {
        request_body: Some(vec![b'q'; 64 << 10]),
        ..record(i, FEB_1)
    };
    let t0 = Instant::now();
    let accepted = (0..100).filter(|&i| writer.record(big(i))).count();
    assert!(t0.elapsed() < Duration::from_secs(1), "record() blocked");
    // 1 MiB holds fifteen 64 KiB bodies with their records, not sixteen.
    assert_eq!(accepted, 15);
    // Small records still fit beside them, up to the bound.
    assert!(writer.record(record(100, FEB_1)));
    assert_eq!(writer.stats().dropped, 85);
    blocker.execute_batch("ROLLBACK").unwrap();
    assert!(writer.flush());
    // Written records free their room.
    assert!(writer.record(big(101)));
    assert!(writer.shutdown());
    let stats = thread.join();
    assert_eq!((stats.written, stats.dropped, stats.failed), (17, 85, 0));
}

#[test]
fn a_shutdown_retries_until_its_deadline_then_counts_what_it_gave_up() {
    let db = TempDb::new("give-up");
    let config = WriterConfig {
        give_up_after: Duration::from_millis(300),
        ..quick()
    };
    let (writer, thread) = start_quick(&db, config);
    let blocker = migrate::open(&db.path()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    for i in 0..5 {
        assert!(writer.record(record(i, FEB_1)));
    }
    until(&writer, |s| s.retried >= 1);
    let t0 = Instant::now();
    assert!(
        !writer.flush(),
        "not committed, and the flush did not wait for ever"
    );
    assert!(!writer.shutdown(), "something was given up");
    assert!(t0.elapsed() < Duration::from_secs(5), "the deadline held");
    let stats = thread.join();
    assert_eq!((stats.written, stats.failed), (0, 5));
    assert!(stats.retried >= 2, "{stats:?}");
    blocker.execute_batch("ROLLBACK").unwrap();
}
