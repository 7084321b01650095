//! `GET /admin/live` on a real admin listener: the snapshot, then ticks counting the
//! requests sent through the gateway; the token wanted; a held stream listed in
//! flight; a watcher that stops reading holding up no request; and the feed ending
//! at once when the admin listener shuts down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use gateway_providers::{MockConfig, Scenario};

use crate::support::*;

const TOKEN: &str = "pba_live_integration_token";

async fn start() -> (Gateway, String) {
    start_with(&format!(
        r#"
[providers.mock]
kind = "mock"

[[routes]]
model = "*"
targets = [{{ provider = "mock" }}]

[[keys]]
name = "test"
secret = "{KEY}"
"#
    ))
    .await
}

async fn start_with(config: &str) -> (Gateway, String) {
    let gw = Gateway::start(config).await;
    let base = start_admin(&gw, TOKEN).await;
    (gw, base)
}

/// A reader of one `text/event-stream` answer.
struct Events {
    resp: reqwest::Response,
    buf: String,
}

impl Events {
    async fn open(base: &str) -> Events {
        let resp = client()
            .get(format!("{base}/admin/live"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        Events {
            resp,
            buf: String::new(),
        }
    }

    /// The next event's name and data (comments and `retry:` skipped); `None` at
    /// the stream's end.
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(d).unwrap());
                    }
                }
                if let (Some(name), Some(data)) = (name, data) {
                    return Some((name, data));
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.resp.chunk())
                .await
                .expect("an event within 10 s")
                .unwrap()?;
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next `tick`'s data.
    async fn tick(&mut self) -> Value {
        loop {
            let (name, data) = self.next().await.expect("the stream goes on");
            if name == "tick" {
                return data;
            }
        }
    }
}

/// A chat request through the gateway; its request id.
async fn chat(gw: &Gateway, key: &str, extra: Value) -> (u16, String) {
    let mut body = json!({"model": "gpt-5-mock", "messages": [{"role": "user", "content": "hi"}]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    resp.bytes().await.unwrap();
    (status, id)
}

fn ids(rows: &Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_feed_sends_a_snapshot_then_ticks_counting_the_requests_sent() {
    let (gw, base) = start().await;
    let mut events = Events::open(&base).await;
    let (name, snapshot) = events.next().await.unwrap();
    assert_eq!(name, "snapshot");
    assert_eq!(snapshot["limits"]["finished_rows"], 50);
    assert!(snapshot["recording_since_ms"].as_i64().unwrap() > 0);

    let mut sent = Vec::new();
    for _ in 0..5 {
        let (status, id) = chat(&gw, KEY, json!({})).await;
        assert_eq!(status, 200);
        sent.push(id);
    }
    let (status, refused) = chat(&gw, "pbk_wrong", json!({})).await;
    assert_eq!(status, 401);

    let (mut requests, mut errors, mut output, mut rows) = (0, 0, 0, Vec::new());
    while requests < 6 {
        let tick = events.tick().await;
        let fig = &tick["figures"];
        requests += fig["requests"].as_u64().unwrap();
        errors += fig["errors"].as_u64().unwrap();
        output += fig["output_tokens"].as_u64().unwrap();
        rows.extend(tick["finished"].as_array().unwrap().clone());
        assert_eq!(tick["finished_more"], 0);
    }
    assert_eq!((requests, errors), (6, 1));
    assert!(output > 0, "the mock's answers have tokens");
    let listed = ids(&Value::Array(rows.clone()));
    for id in sent.iter().chain([&refused]) {
        assert!(listed.contains(id), "{id} in {listed:?}");
    }
    let ok = rows
        .iter()
        .find(|r| r["request_id"] == sent[0].as_str())
        .unwrap();
    assert_eq!(ok["key_id"], "config:test");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["provider"], "mock");
    assert_eq!(ok["streamed"], false);
    assert!(!ok.to_string().contains(KEY), "never the secret");
    let no = rows
        .iter()
        .find(|r| r["request_id"] == refused.as_str())
        .unwrap();
    assert_eq!(
        (no["status"].as_u64(), &no["key_id"]),
        (Some(401), &Value::Null)
    );

    // A later watcher's snapshot has them too, newest first.
    let mut late = Events::open(&base).await;
    let (_, snapshot) = late.next().await.unwrap();
    let recent = ids(&snapshot["finished"]);
    assert_eq!(recent.len(), 6);
    assert_eq!(recent[0], refused);
    let seconds: u64 = snapshot["seconds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(seconds, 6);
}

#[tokio::test]
async fn the_feed_wants_the_admin_token() {
    let (gw, base) = start().await;
    let url = format!("{base}/admin/live");
    let none = client().get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = client().get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    // Refusals start no recording.
    chat(&gw, KEY, json!({})).await;
    assert!(!gw.app.observer().live_recording());
}

#[tokio::test]
async fn a_held_stream_is_listed_in_flight_until_it_ends() {
    // An upstream that takes 2.4 s to stream its answer.
    let up = Upstreams::start(MockConfig {
        scenario: Scenario::Text,
        tokens: 40,
        chunks: 8,
        chunk_delay_ms: 300,
        ..MockConfig::default()
    })
    .await;
    let (gw, base) = start_with(&format!(
        "{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    ))
    .await;
    let mut first = Events::open(&base).await;
    first.next().await.unwrap();
    let held = {
        let gw_url = gw.url("/v1/chat/completions");
        tokio::spawn(async move {
            let body = json!({
                "model": "gpt-5-mock", "stream": true,
                "messages": [{"role": "user", "content": "hold on"}]
            });
            let resp = client()
                .post(gw_url)
                .bearer_auth(KEY)
                .json(&body)
                .send()
                .await
                .unwrap();
            let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
            resp.bytes().await.unwrap();
            id
        })
    };
    // Listed in a tick while it streams...
    let row = loop {
        let tick = first.tick().await;
        if let Some(row) = tick["in_flight"].as_array().unwrap().first() {
            assert!(tick["figures"]["in_flight"].as_u64().unwrap() >= 1);
            break row.clone();
        }
    };
    assert_eq!(row["streamed"], true);
    assert_eq!(row["model"], "gpt-5-mock");
    assert_eq!(row["key_id"], "config:test");
    // ...and in a new watcher's snapshot.
    let mut second = Events::open(&base).await;
    let (_, snapshot) = second.next().await.unwrap();
    assert_eq!(snapshot["in_flight"][0]["request_id"], row["request_id"]);
    assert!(snapshot["in_flight_now"].as_u64().unwrap() >= 1);

    let id = held.await.unwrap();
    assert_eq!(row["request_id"], id.as_str());
    loop {
        let tick = first.tick().await;
        if let Some(done) = tick["finished"].as_array().unwrap().first() {
            assert_eq!(done["request_id"], id.as_str());
            assert_eq!(done["streamed"], true);
            assert!(done["duration_ms"].as_f64().unwrap() >= 1500.0);
            assert_eq!(tick["in_flight"], json!([]));
            break;
        }
    }
}

#[tokio::test]
async fn a_watcher_that_stops_reading_holds_up_no_request() {
    let (gw, base) = start().await;
    // A watcher that sends its request and never reads a byte of the answer.
    let addr = base.strip_prefix("http://").unwrap();
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET /admin/live HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\n\r\n"
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let mut reading = Events::open(&base).await;
    reading.next().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let started = Instant::now();
    for _ in 0..200 {
        assert_eq!(chat(&gw, KEY, json!({})).await.0, 200);
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "200 requests took {took:?}");
    // The other watcher is served all the while and sees every request.
    let mut seen = 0;
    while seen < 200 {
        seen += reading.tick().await["figures"]["requests"]
            .as_u64()
            .unwrap();
    }
    assert_eq!(seen, 200);
    // The stalled one was sent its events all along; its connection is still open.
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(1), stalled.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(1))), "{read:?}");
}

#[tokio::test]
async fn shutting_the_admin_listener_down_ends_the_feed_without_waiting_out_the_grace() {
    let (gw, _) = start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(gateway_server::admin::serve(
        gw.app.clone(),
        listener,
        None,
        gateway_server::admin::AdminToken::from_plain(TOKEN),
        None,
        async {
            let _ = stopped.await;
        },
    ));
    let mut events = Events::open(&base).await;
    events.next().await.unwrap();
    let asked = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), served)
        .await
        .expect("the listener stops before its 5 s grace")
        .unwrap()
        .unwrap();
    assert!(asked.elapsed() < Duration::from_secs(3));
    // The stream ended (whatever tick got out first).
    while let Some((name, _)) = events.next().await {
        assert_eq!(name, "tick");
    }
}

#[tokio::test]
async fn a_console_session_opens_the_feed_as_the_page_does() {
    let (_gw, base) = start().await;
    let login = client()
        .post(format!("{base}/console/login"))
        .json(&json!({ "token": TOKEN }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    // What an EventSource sends: the cookie, `accept: text/event-stream`, no token.
    let mut resp = client()
        .get(format!("{base}/admin/live"))
        .header("cookie", &cookie)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("connect-src 'self'"),
        "the page may connect to its own origin"
    );
    let first = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = std::str::from_utf8(&first).unwrap();
    assert!(text.starts_with("retry: 2000\nevent: snapshot\n"), "{text}");
    // A cookie of no live session is refused.
    let stale = client()
        .get(format!("{base}/admin/live"))
        .header("cookie", "patchbay_console=0000")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
}
