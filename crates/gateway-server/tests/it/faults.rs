//! Fault injection: hand-made upstreams that misbehave the ways real networks and
//! providers do. For each, the caller gets its own envelope with the right status,
//! the upstream connection is let go, the request is recorded with its outcome
//! against a key with limits (so a reservation was taken and settled), and no task
//! is left behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use gateway_auth::Limits;
use gateway_protocol::ApiShape;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

/// What a fault upstream does with each request.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Headers and part of the body, then a TCP reset.
    ResetMidBody,
    /// Reads the request and says nothing.
    StallBeforeHeaders,
    /// A stream's headers and one event, then silence.
    StallMidStream,
    /// Bytes that are not HTTP.
    Garbage,
    /// Announces 2 GiB of JSON and sends it as fast as it is taken.
    Huge,
    /// 503 every time.
    Storm,
}

/// A loopback upstream that misbehaves by `fault`, counting what happened.
struct FaultUpstream {
    addr: SocketAddr,
    /// Connections accepted.
    accepted: Arc<AtomicUsize>,
    /// Connections the gateway let go of (we saw EOF, a reset, or a failed write).
    released: Arc<AtomicUsize>,
    /// Requests read.
    requests: Arc<AtomicUsize>,
    /// Body bytes sent by [`Fault::Huge`].
    sent: Arc<AtomicU64>,
}

impl FaultUpstream {
    async fn start(fault: Fault) -> FaultUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = FaultUpstream {
            addr: listener.local_addr().unwrap(),
            accepted: Arc::default(),
            released: Arc::default(),
            requests: Arc::default(),
            sent: Arc::default(),
        };
        let (accepted, released, requests, sent) = (
            up.accepted.clone(),
            up.released.clone(),
            up.requests.clone(),
            up.sent.clone(),
        );
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let (released, requests, sent) = (released.clone(), requests.clone(), sent.clone());
                tokio::spawn(async move {
                    misbehave(fault, stream, &requests, &sent).await;
                    released.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        up
    }

    fn toml(&self) -> String {
        format!(
            "[providers.faulty]\nkind = \"openai_compatible\"\nbase_url = \"http://{}/v1\"\napi_key = \"sk-up\"\ntimeouts = {{ first_byte_ms = 500, idle_ms = 500, total_ms = 5000 }}\n\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"faulty\" }}]\nretries = 1\n",
            self.addr
        )
    }
}

/// Reads one request (head and `content-length` body); false if the peer left.
async fn read_request(stream: &mut TcpStream) -> bool {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while got.len() < end + 4 + length {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            return true;
        }
    }
}

/// Waits until the gateway closes its end.
async fn until_released(stream: &mut TcpStream) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

async fn misbehave(fault: Fault, mut stream: TcpStream, requests: &AtomicUsize, sent: &AtomicU64) {
    while read_request(&mut stream).await {
        requests.fetch_add(1, Ordering::SeqCst);
        match fault {
            Fault::ResetMidBody => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"id\":\"chatcmpl-1\",\"choi")
                    .await;
                // A zero linger makes the close a reset, and does not block.
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                return;
            }
            Fault::StallBeforeHeaders => {
                until_released(&mut stream).await;
                return;
            }
            Fault::StallMidStream => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
                    .await;
                let event = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"half \"}}]}\n\n";
                let chunk = format!("{:x}\r\n{event}\r\n", event.len());
                let _ = stream.write_all(chunk.as_bytes()).await;
                until_released(&mut stream).await;
                return;
            }
            Fault::Garbage => {
                let _ = stream
                    .write_all(b"\x00\x01\x02 this is not HTTP at all \xff\xfe\r\n\r\n")
                    .await;
                until_released(&mut stream).await;
                return;
            }
            Fault::Huge => {
                let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2147483648\r\n\r\n";
                if stream.write_all(head).await.is_err() {
                    return;
                }
                let blank = vec![b' '; 64 * 1024];
                while stream.write_all(&blank).await.is_ok() {
                    sent.fetch_add(blank.len() as u64, Ordering::SeqCst);
                }
                return;
            }
            Fault::Storm => {
                let body = br#"{"error":{"message":"overloaded","type":"server_error"}}"#;
                let head = format!(
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).await.is_err()
                    || stream.write_all(body).await.is_err()
                {
                    return;
                }
            }
        }
    }
}

/// A gateway over `up` and a database key with limits (a reservation per request).
async fn gateway_over(up: &FaultUpstream) -> (Gateway, String, String) {
    let gw = Gateway::start(&up.toml()).await;
    let limits = Limits {
        daily_input_tokens: Some(1_000_000),
        ..Limits::default()
    };
    let (id, secret) = key_with(&gw, "faults", limits);
    (gw, id, secret)
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Polls `check` for up to ten seconds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}");
}

/// One request through the fault: its status and body (whole, or the stream as
/// far as it went).
async fn call(gw: &Gateway, key: &str, shape: ApiShape, stream: bool) -> (u16, String) {
    let (path, body) = chat_request(shape, "m", "hello", stream, false);
    let req = client().post(gw.url(&path)).json(&body);
    let req = match shape {
        ApiShape::Anthropic => req
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01"),
        _ => req.bearer_auth(key),
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = match resp.bytes().await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(err) => format!("(body ended: {err})"),
    };
    (status, text)
}

/// The statuses recorded for the key's requests, oldest first.
fn recorded(gw: &Gateway, key_id: &str) -> Vec<(i64, Option<String>)> {
    gw.app.flush_usage();
    let conn = gateway_auth::migrate::open(gw.app.database_path().unwrap()).unwrap();
    conn.prepare("SELECT status, error_kind FROM requests WHERE key_id = ?1 ORDER BY id")
        .unwrap()
        .query_map([key_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Runs `fault` for an OpenAI and an Anthropic caller; checks the envelope and
/// status, the recorded outcome, the upstream connections let go, no task left.
async fn injected(fault: Fault, stream: bool, statuses: &[u16], message: &str) -> FaultUpstream {
    // A 503 leaves a healthy connection, which the gateway's pool may keep.
    let all_let_go = !matches!(fault, Fault::Storm);
    let up = FaultUpstream::start(fault).await;
    let (gw, key_id, key) = gateway_over(&up).await;
    // Warm up what starts once (pools, timers) before counting tasks.
    let _ = call(&gw, &key, ApiShape::OpenAiChat, stream).await;
    eventually("the warm-up's upstream connections ended", || {
        !all_let_go || up.released.load(Ordering::SeqCst) == up.accepted.load(Ordering::SeqCst)
    })
    .await;
    let baseline = alive_tasks();
    for shape in [ApiShape::OpenAiChat, ApiShape::Anthropic] {
        let (status, body) = call(&gw, &key, shape, stream).await;
        if stream {
            assert_eq!(status, 200, "{fault:?} {shape:?}: {body}");
            assert!(
                body.contains(message) || body.contains("error"),
                "{fault:?} {shape:?}: the stream ends in an error event: {body}"
            );
        } else {
            assert!(
                statuses.contains(&status),
                "{fault:?} {shape:?}: {status} {body}"
            );
            let json: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|_| panic!("{fault:?} {shape:?}: not JSON: {body}"));
            if shape == ApiShape::Anthropic {
                assert_eq!(json["type"], "error", "{json}");
            }
            let text = json["error"]["message"].as_str().unwrap_or_default();
            assert!(
                text.contains(message),
                "{fault:?} {shape:?}: {text:?} lacks {message:?}"
            );
            assert!(
                !text.contains(&up.addr.to_string()),
                "{fault:?}: the upstream's address leaked: {text}"
            );
        }
    }
    eventually(
        &format!("{fault:?}: every upstream connection let go"),
        || !all_let_go || up.released.load(Ordering::SeqCst) == up.accepted.load(Ordering::SeqCst),
    )
    .await;
    eventually(&format!("{fault:?}: nothing left in flight"), || {
        gw.app.in_flight() == 0
    })
    .await;
    eventually(&format!("{fault:?}: tasks back to {baseline}"), || {
        alive_tasks() <= baseline
    })
    .await;
    let rows = recorded(&gw, &key_id);
    assert_eq!(rows.len(), 3, "{fault:?}: one record per request: {rows:?}");
    for (status, kind) in &rows {
        assert!(kind.is_some(), "{fault:?}: recorded as failed: {rows:?}");
        if !stream {
            assert!(statuses.contains(&(*status as u16)), "{fault:?}: {rows:?}");
        }
    }
    up
}

#[tokio::test]
async fn an_upstream_that_resets_mid_body() {
    injected(Fault::ResetMidBody, false, &[502], "").await;
}

#[tokio::test]
async fn an_upstream_that_stalls_before_its_headers() {
    injected(Fault::StallBeforeHeaders, false, &[504], "first_byte_ms").await;
}

#[tokio::test]
async fn an_upstream_that_stalls_mid_stream() {
    injected(Fault::StallMidStream, true, &[], "idle_ms").await;
}

#[tokio::test]
async fn an_upstream_that_sends_garbage() {
    injected(Fault::Garbage, false, &[502], "").await;
}

#[tokio::test]
async fn an_upstream_that_sends_two_gigabytes() {
    let up = injected(Fault::Huge, false, &[502], "").await;
    let sent = up.sent.load(Ordering::SeqCst);
    let attempts = up.accepted.load(Ordering::SeqCst) as u64;
    // Each attempt is cut at the gateway's 64 MiB answer limit (plus what the
    // socket buffers held), far short of 2 GiB.
    assert!(
        sent / attempts < 80 << 20,
        "{sent} bytes sent over {attempts} attempts"
    );
}

#[tokio::test]
async fn a_storm_of_503s_is_retried_a_bounded_number_of_times() {
    let up = injected(Fault::Storm, false, &[503, 529], "").await;
    // Three requests, each tried at most twice (retries = 1); cool-downs may skip
    // later ones entirely.
    let tries = up.requests.load(Ordering::SeqCst);
    assert!(
        (1..=6).contains(&tries),
        "{tries} upstream tries for 3 requests"
    );
}

#[tokio::test]
async fn an_upstream_whose_tls_certificate_is_not_trusted() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let acceptor = gateway_server::listen::tls_acceptor(&gateway_server::config::TlsConfig {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    })
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counted = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counted = counted.clone();
            tokio::spawn(async move {
                counted.fetch_add(1, Ordering::SeqCst);
                // The client refuses the certificate: the handshake fails here.
                let _ = acceptor.accept(stream).await;
            });
        }
    });
    let gw = Gateway::start(&format!(
        "[providers.selfsigned]\nkind = \"openai_compatible\"\nbase_url = \"https://localhost:{port}/v1\"\napi_key = \"sk-up\"\n\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"selfsigned\" }}]\n\n[[keys]]\nname = \"t\"\nsecret = \"{KEY}\"\n"
    ))
    .await;
    for shape in [ApiShape::OpenAiChat, ApiShape::Anthropic] {
        let (status, body) = call(&gw, KEY, shape, false).await;
        assert_eq!(status, 502, "{shape:?}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let text = json["error"]["message"].as_str().unwrap();
        assert!(text.contains("certificate"), "{text}");
        assert!(!text.contains(&port.to_string()), "{text}");
    }
    assert!(handshakes.load(Ordering::SeqCst) >= 2);
    eventually("nothing left in flight", || gw.app.in_flight() == 0).await;
}
