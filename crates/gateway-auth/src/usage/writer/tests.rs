//! The writer's queue: one wake-up per batch window, and a window's remainder
//! written by its end.

use super::*;

fn until(what: &str, done: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < Duration::from_secs(10), "never: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn records_inside_a_batch_window_do_not_wake_the_writer() {
    let conn = migrate::open_in_memory().expect("database");
    let config = WriterConfig {
        batch_window: Duration::from_secs(60),
        batch_max: 100,
        ..WriterConfig::default()
    };
    let (writer, thread) = UsageWriter::start_with(conn, config).expect("writer");
    let queue = writer.handle.queue.clone();
    let record = |i: usize| UsageRecord {
        request_id: format!("req_{i}").into(),
        key_id: "key_a".into(),
        ..UsageRecord::default()
    };
    until("idle", || queue.lock().phase == Phase::Idle);
    assert!(writer.record(record(0)));
    until("collecting", || queue.lock().phase == Phase::Collecting);
    for i in 1..99 {
        assert!(writer.record(record(i)));
    }
    assert_eq!(queue.lock().wakeups, 1, "only the window's first record");
    assert!(writer.record(record(99)));
    assert_eq!(queue.lock().wakeups, 2, "and the one that fills the batch");
    assert!(writer.flush());
    assert!(writer.shutdown());
    assert_eq!(thread.join().written, 100);
}

#[test]
fn records_short_of_a_batch_are_written_when_their_window_ends() {
    let conn = migrate::open_in_memory().expect("database");
    let config = WriterConfig {
        batch_window: Duration::from_millis(300),
        batch_max: 100,
        ..WriterConfig::default()
    };
    let (writer, thread) = UsageWriter::start_with(conn, config).expect("writer");
    // A full batch ends the window early; the 50 after it wait for the window's
    // end (or the next full batch), not for a flush.
    for i in 0..150 {
        assert!(writer.record(UsageRecord {
            request_id: format!("req_{i}").into(),
            ..UsageRecord::default()
        }));
    }
    until("all written", || writer.stats().written == 150);
    assert!(writer.shutdown());
    assert_eq!(thread.join().written, 150);
}

/// How often the writer of the test below said it went quiet after a burst.
static QUIET_AFTER_BURST: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn count_quiet() {
    QUIET_AFTER_BURST.fetch_add(1, Ordering::SeqCst);
}

/// How often the sink of the test below was asked to hand back its caches.
static SINK_RELEASED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// SQLite's sink, counting the releases asked of it.
struct CountingSink(SqliteSink);

impl UsageSink for CountingSink {
    fn write(&mut self, batch: &[UsageRecord]) -> Result<(), super::super::sink::SinkError> {
        self.0.write(batch)
    }
    fn prune(&mut self, before_ms: i64) -> Result<u64, crate::AuthError> {
        self.0.prune(before_ms)
    }
    fn release_memory(&mut self) {
        SINK_RELEASED.fetch_add(1, Ordering::SeqCst);
        self.0.release_memory();
    }
}

#[test]
fn a_bursts_room_is_handed_back_once_the_writer_is_idle() {
    let conn = migrate::open_in_memory().expect("database");
    let config = WriterConfig {
        batch_window: Duration::from_secs(60),
        batch_max: 5_000,
        on_quiet: Some(count_quiet),
        ..WriterConfig::default()
    };
    let sink = Box::new(CountingSink(SqliteSink::new(conn)));
    let (writer, thread) = UsageWriter::start_on(sink, config).expect("writer");
    let queue = writer.handle.queue.clone();
    until("idle", || queue.lock().phase == Phase::Idle);
    // Idle with nothing grown: no call.
    assert!(writer.flush());
    until("idle", || queue.lock().phase == Phase::Idle);
    assert_eq!(QUIET_AFTER_BURST.load(Ordering::SeqCst), 0);
    assert_eq!(SINK_RELEASED.load(Ordering::SeqCst), 0);
    // Short of a batch inside a long window: the burst waits in the inbox.
    for i in 0..3_000 {
        assert!(writer.record(UsageRecord {
            request_id: format!("req_{i}").into(),
            ..UsageRecord::default()
        }));
    }
    assert!(queue.lock().msgs.capacity() >= 3_000);
    assert!(writer.flush());
    assert_eq!(writer.stats().written, 3_000);
    // Taken, batched and committed, the burst's room went through all three
    // vectors; idle again, the writer keeps a quiet gateway's worth.
    until("idle with the room handed back", || {
        let inbox = queue.lock();
        inbox.phase == Phase::Idle && inbox.retained <= 3 * QUIET_ROOM
    });
    // ...and says so once, for the thread's allocator caches to be handed back too.
    until("the quiet call", || {
        QUIET_AFTER_BURST.load(Ordering::SeqCst) == 1
    });
    assert_eq!(
        SINK_RELEASED.load(Ordering::SeqCst),
        1,
        "the sink's caches too"
    );
    // Records written after the release (SQLite's page cache was freed) land too.
    for i in 3_000..3_010 {
        assert!(writer.record(UsageRecord {
            request_id: format!("req_{i}").into(),
            ..UsageRecord::default()
        }));
    }
    assert!(writer.flush());
    until("idle", || queue.lock().phase == Phase::Idle);
    assert_eq!(
        QUIET_AFTER_BURST.load(Ordering::SeqCst),
        1,
        "only after a burst"
    );
    assert_eq!(SINK_RELEASED.load(Ordering::SeqCst), 1);
    assert!(writer.shutdown());
    assert_eq!(thread.join().written, 3_010);
}
