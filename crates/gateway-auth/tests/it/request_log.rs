//! The request log's key filter, which reads a key's rows through its spans (a row
//! per key and writer batch) rather than an index entry per request: whatever the
//! batches, filters and page size, it gives exactly the rows a plain scan of the
//! whole log would, newest first, each once; and retention does not make it repeat
//! or lose rows when ids are given out again.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use gateway_auth::migrate;
use gateway_auth::usage::{self, LogQuery, UsageRecord, UsageWriter, WriterConfig};
use rusqlite::Connection;

use crate::usage::{FEB_1, TempDb};

const KEYS: [&str; 5] = ["key_a", "key_b", "key_c", "key_d", "key_rare"];

/// Record `i`: keys interleave unevenly (the rare key every 37th), arrival times are
/// out of id order (a long answer is recorded after later arrivals), some failed.
fn record(i: usize) -> UsageRecord {
    let key = if i % 37 == 5 {
        KEYS[4]
    } else {
        KEYS[(i * 7 + i / 3) % 4]
    };
    UsageRecord {
        request_id: format!("req_{i}").into(),
        ts_ms: FEB_1 + (i as i64 * 1_000) - (i as i64 % 5) * 4_000,
        key_id: key.into(),
        requested_model: if i % 3 == 0 { "gpt-4.1" } else { "fast" }.into(),
        caller_shape: "openai_chat".into(),
        total_ms: 10,
        status: if i % 11 == 0 { 502 } else { 200 },
        ..UsageRecord::default()
    }
}

/// Writes records `range` in batches of at most `batch_max`, each batch committed
/// before the next starts.
fn write(db: &TempDb, range: std::ops::Range<usize>, batch_max: usize) {
    let config = WriterConfig {
        batch_max,
        batch_window: Duration::from_millis(5),
        ..WriterConfig::default()
    };
    let (writer, thread) = UsageWriter::start(&db.path(), config).unwrap();
    for chunk in range.collect::<Vec<_>>().chunks(batch_max) {
        for &i in chunk {
            assert!(writer.record(record(i)));
        }
        assert!(writer.flush());
    }
    assert!(writer.shutdown());
    thread.join();
}

/// Every entry `q` selects, page by page of `q.limit`, as request ids.
fn paged(conn: &Connection, mut q: LogQuery) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let page = usage::query::request_log(conn, &q).unwrap();
        assert!(page.entries.len() <= q.limit);
        seen.extend(page.entries.iter().map(|e| e.record.request_id.to_string()));
        match page.next {
            Some(id) => q.before_id = Some(id),
            None => return seen,
        }
    }
}

/// The same selection by a scan of the whole log, filtered here.
fn scanned(conn: &Connection, q: &LogQuery) -> Vec<String> {
    let everything = LogQuery {
        limit: 1_000_000,
        ..LogQuery::default()
    };
    let page = usage::query::request_log(conn, &everything).unwrap();
    page.entries
        .into_iter()
        .map(|e| e.record)
        .filter(|r| q.key_id.as_ref().is_none_or(|k| r.key_id == k))
        .filter(|r| {
            q.model.as_ref().is_none_or(|m| {
                r.requested_model == m || r.routed_model.as_deref() == Some(m.as_str())
            })
        })
        .filter(|r| q.from_ms.is_none_or(|t| r.ts_ms >= t))
        .filter(|r| q.to_ms.is_none_or(|t| r.ts_ms < t))
        .filter(|r| !q.errors_only || r.is_error())
        .map(|r| r.request_id.to_string())
        .collect()
}

fn queries() -> Vec<LogQuery> {
    let mut all = Vec::new();
    for key in KEYS.iter().map(|k| Some(k.to_string())).chain([None]) {
        for limit in [1, 7, 50] {
            let q = LogQuery {
                key_id: key.clone(),
                limit,
                ..LogQuery::default()
            };
            all.push(q.clone());
            all.push(LogQuery {
                from_ms: Some(FEB_1 + 200_000),
                to_ms: Some(FEB_1 + 300_000),
                ..q.clone()
            });
            all.push(LogQuery {
                model: Some("gpt-4.1".into()),
                errors_only: true,
                ..q.clone()
            });
        }
    }
    all
}

#[test]
fn a_keys_log_is_what_a_scan_of_the_whole_log_finds() {
    let db = TempDb::new("key-spans");
    // Batches of several sizes, so spans of one key hold 1 to ~60 rows.
    write(&db, 0..400, 64);
    write(&db, 400..430, 1);
    write(&db, 430..700, 200);
    let conn = migrate::open(&db.path()).unwrap();
    for q in queries() {
        let want = scanned(&conn, &q);
        assert_eq!(paged(&conn, q.clone()), want, "{q:?}");
    }
    // The rare key is found, and a name never written finds nothing.
    let rare = LogQuery {
        key_id: Some("key_rare".into()),
        ..LogQuery::default()
    };
    assert_eq!(
        paged(&conn, rare).len(),
        (0..700).filter(|i| i % 37 == 5).count()
    );
    let unknown = LogQuery {
        key_id: Some("key_nobody".into()),
        ..LogQuery::default()
    };
    assert!(paged(&conn, unknown).is_empty());
}

#[test]
fn after_retention_empties_the_log_new_rows_are_found_once() {
    let db = TempDb::new("key-spans-prune");
    write(&db, 0..120, 40);
    {
        let conn = migrate::open(&db.path()).unwrap();
        // Everything is older than this: the log empties, and ids start again at 1.
        assert_eq!(usage::query::prune(&conn, FEB_1 + 10_000_000).unwrap(), 120);
        let spans: i64 = conn
            .query_row("SELECT COUNT(*) FROM request_key_spans", [], |r| r.get(0))
            .unwrap();
        assert_eq!(spans, 0);
    }
    write(&db, 120..150, 10);
    let conn = migrate::open(&db.path()).unwrap();
    let min_id: i64 = conn
        .query_row("SELECT MIN(id) FROM request_rows", [], |r| r.get(0))
        .unwrap();
    assert_eq!(min_id, 1, "ids were given out again");
    for q in queries() {
        let want = scanned(&conn, &q);
        assert_eq!(paged(&conn, q.clone()), want, "{q:?}");
    }
}

#[test]
fn rows_written_through_the_view_get_a_span() {
    let db = TempDb::new("key-spans-view");
    write(&db, 0..10, 10);
    let conn = migrate::open(&db.path()).unwrap();
    conn.execute(
        "INSERT INTO requests (request_id, ts_ms, key_id, requested_model, caller_shape,
         total_ms, status, streamed) VALUES ('by_hand', ?1, 'key_hand', 'm', 'openai_chat',
         1, 200, 0)",
        [FEB_1],
    )
    .unwrap();
    let q = LogQuery {
        key_id: Some("key_hand".into()),
        ..LogQuery::default()
    };
    assert_eq!(paged(&conn, q), ["by_hand"]);
}
