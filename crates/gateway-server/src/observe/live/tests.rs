//! The live feed without a listener: what is recorded when, what a tick and a
//! snapshot hold, and a watcher that falls behind.

use super::*;
use gateway_protocol::{ErrorKind, Usage};

fn live() -> Arc<Live> {
    Arc::new(Live::new(InFlight::new(usize::MAX)))
}

fn done(id: &str, status: u16, ms: u64) -> Finished<'_> {
    Finished {
        request_id: id,
        key_id: Some("key_1"),
        model: Some("m"),
        status,
        duration: Duration::from_millis(ms),
        usage: Usage {
            input_tokens: 10,
            output_tokens: 3,
            ..Usage::default()
        },
        cost_micros: Some(250),
        ..Finished::default()
    }
}

fn started(id: &str, at: i64) -> Started {
    Started {
        request_id: id.to_owned(),
        key_id: "key_1".to_owned(),
        model: "m".to_owned(),
        operation: "chat",
        started_ms: at,
        streamed: true,
    }
}

/// The JSON of an SSE event's `data:` line, and its name.
fn parse(bytes: &Bytes) -> (String, serde_json::Value) {
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(text.ends_with("\n\n"), "{text}");
    let mut lines = text.lines();
    let name = lines.next().unwrap().strip_prefix("event: ").unwrap();
    let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
    (name.to_owned(), serde_json::from_str(data).unwrap())
}

#[test]
fn nothing_is_recorded_while_nobody_watches() {
    let live = live();
    let mut asked = false;
    let slot = live.started(|| {
        asked = true;
        started("req_1", 1)
    });
    assert_eq!(slot, None);
    assert!(!asked, "the row is not even built");
    live.finished(&done("req_1", 200, 5));
    let state = live.lock();
    assert_eq!(state.second.figures.requests, 0);
    assert!(state.in_flight.is_empty());
}

#[tokio::test]
async fn a_tick_counts_its_second_and_lists_the_newest_and_the_in_flight() {
    let live = live();
    let (snapshot, mut watcher) = live.watch();
    let (name, snapshot) = parse(&snapshot);
    assert_eq!(name, "snapshot");
    assert_eq!(snapshot["finished"], serde_json::json!([]));
    assert_eq!(snapshot["limits"]["finished_rows"], FINISHED_ROWS);

    let held = live.started(|| started("req_held", 100)).unwrap();
    let quick = live.started(|| started("req_quick", 200)).unwrap();
    let mut f = done("req_quick", 200, 40);
    f.live = Some(quick);
    live.finished(&f);
    live.finished(&done("req_fast", 200, 10));
    let mut refused = done("req_refused", 429, 1);
    refused.error = Some(ErrorKind::RateLimited);
    live.finished(&refused);
    let mut broken = done("req_broken", 200, 30);
    broken.error = Some(ErrorKind::Upstream);
    live.finished(&broken);

    assert!(live.tick(1_700_000_000, gateway_auth::cache::now_ms()));
    let Delivery::Event(bytes) = watcher.next().await else {
        panic!("a tick")
    };
    let (name, tick) = parse(&bytes);
    assert_eq!(name, "tick");
    let fig = &tick["figures"];
    assert_eq!(fig["t"], 1_700_000_000);
    assert_eq!(fig["requests"], 4);
    assert_eq!(
        fig["errors"], 2,
        "a 429 and a stream that failed after its 200"
    );
    assert_eq!(fig["input_tokens"], 40);
    assert_eq!(fig["output_tokens"], 12);
    assert_eq!(fig["cost_usd"], 0.001);
    // Successes only: 10 and 40 ms; nearest rank.
    assert_eq!(
        (fig["p50_ms"].as_f64(), fig["p95_ms"].as_f64()),
        (Some(10.0), Some(40.0))
    );
    let ids: Vec<&str> = tick["finished"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["req_broken", "req_refused", "req_fast", "req_quick"]);
    assert_eq!(tick["finished"][1]["error"], "RateLimited");
    let in_flight = tick["in_flight"].as_array().unwrap();
    assert_eq!(in_flight.len(), 1, "the finished one left the list");
    assert_eq!(in_flight[0]["request_id"], "req_held");
    assert_eq!(in_flight[0]["streamed"], true);

    // A second watcher's snapshot has the second and its rows.
    let (snapshot, _second) = live.watch();
    let (_, snapshot) = parse(&snapshot);
    assert_eq!(snapshot["seconds"][0]["requests"], 4);
    assert_eq!(snapshot["finished"][0]["request_id"], "req_broken");
    assert_eq!(snapshot["in_flight"][0]["request_id"], "req_held");
    let mut f = done("req_held", 200, 900);
    f.live = Some(held);
    live.finished(&f);
    assert!(live.lock().in_flight.is_empty());
}

#[tokio::test]
async fn a_busy_second_lists_its_newest_fifty_and_counts_the_rest() {
    let live = live();
    let (_, mut watcher) = live.watch();
    let ids: Vec<String> = (0..1000).map(|i| format!("req_{i}")).collect();
    for id in &ids {
        live.finished(&done(id, 200, 2));
    }
    live.tick(1, gateway_auth::cache::now_ms());
    let Delivery::Event(bytes) = watcher.next().await else {
        panic!("a tick")
    };
    let (_, tick) = parse(&bytes);
    assert_eq!(tick["figures"]["requests"], 1000);
    assert_eq!(tick["finished"].as_array().unwrap().len(), FINISHED_ROWS);
    assert_eq!(tick["finished"][0]["request_id"], "req_999");
    assert_eq!(tick["finished_more"], 1000 - FINISHED_ROWS);
}

#[tokio::test]
async fn a_watcher_that_falls_behind_is_told_what_it_missed_and_holds_nothing() {
    let live = live();
    let (_, mut slow) = live.watch();
    for t in 0..(TICK_BACKLOG as i64 + 5) {
        live.finished(&done("req", 200, 1));
        live.tick(t, gateway_auth::cache::now_ms());
    }
    assert!(live.ticks.len() <= TICK_BACKLOG, "the ring is bounded");
    match slow.next().await {
        Delivery::Lagged(n) => assert_eq!(n, 5),
        other => panic!("expected a lag, got {other:?}"),
    }
    // Then the oldest tick still held.
    let Delivery::Event(bytes) = slow.next().await else {
        panic!("a tick")
    };
    assert_eq!(parse(&bytes).1["figures"]["t"], 5);
    let (name, body) = parse(&lagged_event(5));
    assert_eq!(
        (name.as_str(), &body["missed"]),
        ("lagged", &serde_json::json!(5))
    );
}

#[tokio::test]
async fn recording_stops_after_the_linger_once_the_last_watcher_left() {
    let live = live();
    let (_, watcher) = live.watch();
    assert!(live.recording());
    live.finished(&done("req", 200, 1));
    drop(watcher);
    let now = gateway_auth::cache::now_ms();
    assert!(live.tick(0, now), "still lingering");
    assert!(live.recording());
    assert!(!live.tick(1, now + millis(LINGER)), "the ticker ends");
    assert!(!live.recording());
    assert!(live.lock().recent.is_empty(), "what was kept is let go");
}

#[tokio::test]
async fn closing_the_feed_ends_every_watcher() {
    let live = live();
    let (_, mut watcher) = live.watch();
    live.close();
    assert!(matches!(watcher.next().await, Delivery::Closed));
}

#[test]
fn nearest_rank_percentiles() {
    assert_eq!(nearest_rank(&mut [], 50), None);
    assert_eq!(nearest_rank(&mut [7], 95), Some(7));
    let mut v: Vec<u64> = (1..=100).rev().collect();
    assert_eq!(nearest_rank(&mut v, 50), Some(50));
    assert_eq!(nearest_rank(&mut v, 95), Some(95));
}
