//! A batch reads back record for record, whichever statement wrote each row (the
//! many-row one for full chunks, the one-row one for the rest) and whichever names
//! it took from the record before; its rollups add up; a batch that rolls back takes
//! its new names with it.

use super::*;
use crate::migrate;
use crate::usage::query::{self, GroupBy, LogQuery, UsageFilter};

/// Records whose every field changes, at its own period, between Some and None too.
fn varied(i: usize) -> UsageRecord {
    let pick =
        |period: usize, names: &[&str]| CompactString::from(names[(i / period) % names.len()]);
    let some = |period: usize, names: &[&str]| {
        let n = pick(period, names);
        (!n.is_empty() || i % 7 == 0).then_some(n)
    };
    UsageRecord {
        request_id: format!("req_{i}").into(),
        ts_ms: 1_706_745_600_000 + (i as i64 % 5) * 1_000_000,
        key_id: pick(3, &["key_a", "key_b", "key_c"]),
        project_id: some(2, &["prj_1", "", "prj_2"]),
        requested_model: pick(5, &["fast", "smart"]),
        routed_model: some(1, &["gpt-4.1", "", "claude-x"]),
        provider: some(4, &["openai", "anthropic", ""]),
        caller_shape: pick(9, &["openai_chat", "anthropic"]),
        upstream_shape: some(6, &["openai_chat", "", "anthropic"]),
        input_tokens: i as u64 * 10,
        output_tokens: i as u64,
        cached_tokens: i as u64 % 4,
        cache_write_tokens: i as u64 % 3,
        reasoning_tokens: i as u64 % 2,
        cost_micros: (i % 6 != 0).then_some(i as i64 * 3),
        ttfb_ms: (i % 5 != 0).then_some(i as i64),
        total_ms: 40 + i as i64,
        status: if i % 11 == 0 { 502 } else { 200 },
        streamed: i % 2 == 0,
        error_kind: (i % 8 == 0).then(|| pick(8, &["upstream", "timeout"])),
        request_body: (i % 10 == 0).then(|| vec![i as u8; 3]),
        response_body: (i % 13 == 0).then(Vec::new),
        cache_hit: i % 4 == 1,
    }
}

/// `varied(i)` with the columns a lean row leaves out at their defaults.
fn plain(i: usize) -> UsageRecord {
    UsageRecord {
        cache_write_tokens: 0,
        error_kind: None,
        request_body: None,
        response_body: None,
        cache_hit: false,
        ..varied(i)
    }
}

fn read_back(conn: &Connection) -> Vec<UsageRecord> {
    let page = query::request_log(
        conn,
        &LogQuery {
            limit: 1_000,
            ..LogQuery::default()
        },
    )
    .unwrap();
    page.entries.into_iter().rev().map(|e| e.record).collect()
}

#[test]
fn a_batch_reads_back_record_for_record_with_its_rollups() {
    let mut conn = migrate::open_in_memory().unwrap();
    let mut names = Names::default();
    // Two full chunks and a remainder (8 + 2 + 1), then a batch of one.
    let first: Vec<_> = (0..2 * CHUNKS[0] + 11).map(varied).collect();
    let second = vec![varied(1_000)];
    write_batch(&mut conn, &mut names, &first).unwrap();
    write_batch(&mut conn, &mut names, &second).unwrap();
    let want: Vec<_> = first.iter().chain(&second).cloned().collect();
    assert_eq!(read_back(&conn), want);

    let all = UsageFilter {
        from_ms: 0,
        to_ms: i64::MAX,
        ..UsageFilter::default()
    };
    for (group, of) in [
        (
            GroupBy::Key,
            (|r| r.key_id.to_string()) as fn(&UsageRecord) -> String,
        ),
        (GroupBy::Project, |r| {
            r.project_id.as_deref().unwrap_or_default().to_owned()
        }),
        (GroupBy::Model, |r| r.rollup_model().to_owned()),
        (GroupBy::Provider, |r| {
            r.provider.as_deref().unwrap_or_default().to_owned()
        }),
    ] {
        let mut expected: HashMap<String, (u64, u64, i64, u64)> = HashMap::new();
        for r in &want {
            let e = expected.entry(of(r)).or_default();
            e.0 += 1;
            e.1 += r.input_tokens;
            e.2 += r.cost_micros.unwrap_or(0);
            e.3 += u64::from(r.cost_micros.is_none());
        }
        let totals: HashMap<String, (u64, u64, i64, u64)> = query::totals(&conn, &all, Some(group))
            .unwrap()
            .into_iter()
            .map(|g| {
                let t = g.totals;
                (
                    g.group,
                    (t.requests, t.input_tokens, t.cost_micros, t.unpriced),
                )
            })
            .collect();
        assert_eq!(totals, expected, "{group:?}");
    }
}

#[test]
fn lean_and_whole_chunks_read_back_alike() {
    let mut conn = migrate::open_in_memory().unwrap();
    let mut names = Names::default();
    // A lean chunk of 32, a whole one of 32, then 16 lean, 8 whole (one record not
    // lean among plain ones), 4 lean, and a whole single row.
    let mut batch: Vec<_> = (0..32).map(plain).collect();
    batch.extend((32..64).map(varied));
    batch.extend((64..80).map(plain));
    batch.extend((80..88).map(|i| if i == 85 { varied(88) } else { plain(i) }));
    batch.extend((88..92).map(plain));
    batch.push(varied(1));
    assert!(batch[..32].iter().all(lean) && !batch[32..64].iter().all(lean));
    write_batch(&mut conn, &mut names, &batch).unwrap();
    assert_eq!(read_back(&conn), batch);
}

#[test]
fn the_names_of_a_batch_that_rolled_back_are_forgotten() {
    let mut conn = migrate::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TEMP TRIGGER refuse BEFORE INSERT ON request_rows
         WHEN NEW.request_id = 'bad' BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    )
    .unwrap();
    let mut names = Names::default();
    let mut bad = varied(0);
    bad.request_id = "bad".into();
    bad.key_id = "key_new".into();
    assert!(write_batch(&mut conn, &mut names, &[bad]).is_err());
    let kept: i64 = conn
        .query_row("SELECT COUNT(*) FROM usage_names", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 0, "the names went with the transaction");

    let mut good = varied(0);
    good.key_id = "key_new".into();
    write_batch(&mut conn, &mut names, std::slice::from_ref(&good)).unwrap();
    assert_eq!(read_back(&conn), [good]);
}
