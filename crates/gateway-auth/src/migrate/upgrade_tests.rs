//! A database made by the first schema, with rows in it, opened by this one: the
//! request log reads back what was written, through the query API and through the
//! `requests` view, and takes new rows alongside the old.

use rusqlite::types::Value;

use super::*;
use crate::usage::query::{LogQuery, request_log};
use crate::usage::{UsageRecord, UsageWriter, WriterConfig};

/// Rows of the first schema's `requests`, NULLs and bodies included.
const OLD_ROWS: &str = "
    INSERT INTO requests (id, request_id, ts_ms, key_id, project_id, requested_model,
        routed_model, provider, caller_shape, upstream_shape, input_tokens, output_tokens,
        cached_tokens, cache_write_tokens, reasoning_tokens, cost_micros, ttfb_ms, total_ms,
        status, streamed, error_kind, request_body, response_body)
    VALUES
    (3, 'req_a', 1000, 'key_a', 'prj_1', 'fast', 'gpt-4.1', 'openai', 'openai_chat',
        'openai_chat', 100, 20, 30, 5, 7, 4321, 12, 40, 200, 1, NULL, NULL, NULL),
    (7, 'req_b', 2000, 'key_b', NULL, 'nope', NULL, NULL, 'anthropic', NULL, 0, 0, 0, 0, 0,
        NULL, NULL, 3, 404, 0, 'model_not_found', X'7b7d', NULL),
    (9, 'req_c', 3000, 'key_a', 'prj_1', 'fast', 'claude-x', 'anthropic', 'openai_chat',
        'anthropic', 10, 2, 0, 0, 0, 99, 8, 20, 502, 1, 'upstream', X'01', X'0203');
    INSERT INTO usage_hourly VALUES (0, 'key_a', 'prj_1', 'gpt-4.1', 'openai', 1, 0, 100, 20,
        30, 7, 4321, 0);";

fn all_rows(conn: &Connection, table: &str) -> Vec<Vec<Value>> {
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM {table} ORDER BY id"))
        .unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn column_names(conn: &Connection, table: &str) -> Vec<String> {
    let stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
    stmt.column_names().into_iter().map(String::from).collect()
}

#[test]
fn an_old_request_log_reads_back_the_same_after_the_upgrade() {
    let dir = std::env::temp_dir().join(format!("pb-upgrade-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("old.db");
    let (old_rows, old_columns, old_hourly) = {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0].1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(OLD_ROWS).unwrap();
        (
            all_rows(&conn, "requests"),
            column_names(&conn, "requests"),
            all_rows(&conn, "usage_hourly ORDER BY hour_ms --"),
        )
    };

    let conn = open(&path).unwrap();
    let v: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, MIGRATIONS.len());
    // The view has the old table's columns, rows and ids.
    assert_eq!(column_names(&conn, "requests"), old_columns);
    assert_eq!(all_rows(&conn, "requests"), old_rows);
    assert_eq!(
        all_rows(&conn, "usage_hourly ORDER BY hour_ms --"),
        old_hourly
    );

    // The request log, newest first, with each field as written.
    let page = request_log(&conn, &LogQuery::default()).unwrap();
    let ids: Vec<i64> = page.entries.iter().map(|e| e.id).collect();
    assert_eq!(ids, [9, 7, 3]);
    let b = &page.entries[1].record;
    assert_eq!(
        *b,
        UsageRecord {
            request_id: "req_b".into(),
            ts_ms: 2000,
            key_id: "key_b".into(),
            requested_model: "nope".into(),
            caller_shape: "anthropic".into(),
            total_ms: 3,
            status: 404,
            error_kind: Some("model_not_found".into()),
            request_body: Some(b"{}".to_vec()),
            ..UsageRecord::default()
        }
    );
    let a = &page.entries[2].record;
    assert_eq!(
        (
            a.project_id.as_deref(),
            a.routed_model.as_deref(),
            a.provider.as_deref(),
            a.upstream_shape.as_deref(),
            a.cached_tokens,
            a.cache_write_tokens,
            a.reasoning_tokens,
            a.cost_micros,
            a.ttfb_ms,
            a.streamed
        ),
        (
            Some("prj_1"),
            Some("gpt-4.1"),
            Some("openai"),
            Some("openai_chat"),
            30,
            5,
            7,
            Some(4321),
            Some(12),
            true
        )
    );
    let ids_where = |q: LogQuery| -> Vec<i64> {
        let page = request_log(&conn, &LogQuery { limit: 10, ..q }).unwrap();
        page.entries.iter().map(|e| e.id).collect()
    };
    let key_a = LogQuery {
        key_id: Some("key_a".into()),
        ..LogQuery::default()
    };
    assert_eq!(ids_where(key_a), [9, 3]);
    let unknown_key = LogQuery {
        key_id: Some("key_z".into()),
        ..LogQuery::default()
    };
    assert_eq!(ids_where(unknown_key), Vec::<i64>::new());
    let routed = LogQuery {
        model: Some("claude-x".into()),
        ..LogQuery::default()
    };
    assert_eq!(ids_where(routed), [9]);
    let requested = LogQuery {
        model: Some("fast".into()),
        ..LogQuery::default()
    };
    assert_eq!(ids_where(requested), [9, 3]);
    let errors = LogQuery {
        errors_only: true,
        ..LogQuery::default()
    };
    assert_eq!(ids_where(errors), [9, 7]);
    drop(conn);

    // New rows, from the writer and by hand through the view, reuse the old names.
    let (writer, thread) = UsageWriter::start(&path, WriterConfig::default()).unwrap();
    writer.record(UsageRecord {
        request_id: "req_d".into(),
        key_id: "key_a".into(),
        requested_model: "fast".into(),
        caller_shape: "openai_chat".into(),
        ..UsageRecord::default()
    });
    assert!(writer.shutdown());
    assert_eq!(thread.join().written, 1);
    let conn = open(&path).unwrap();
    conn.execute(
        "INSERT INTO requests (request_id, ts_ms, key_id, requested_model, caller_shape,
         total_ms, status, streamed) VALUES ('req_e', 5, 'key_new', 'fast', 'openai_chat', 1,
         200, 0)",
        [],
    )
    .unwrap();
    let names: i64 = conn
        .query_row("SELECT COUNT(*) FROM usage_names", [], |r| r.get(0))
        .unwrap();
    // key_a, key_b, prj_1, fast, nope, gpt-4.1, claude-x, openai, anthropic,
    // openai_chat, model_not_found, upstream; and key_new.
    assert_eq!(names, 13);
    let page = request_log(&conn, &LogQuery::default()).unwrap();
    let got: Vec<(&str, &str, u64)> = page
        .entries
        .iter()
        .map(|e| {
            (
                e.record.request_id.as_str(),
                e.record.key_id.as_str(),
                e.record.input_tokens,
            )
        })
        .collect();
    assert_eq!(
        got[..2],
        [("req_e", "key_new", 0), ("req_d", "key_a", 0)],
        "newest first"
    );
    drop(conn);
    std::fs::remove_dir_all(&dir).unwrap();
}
