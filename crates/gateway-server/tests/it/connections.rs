//! What a caller can hold, against a gateway with a lowered connection cap, in-flight
//! limit and short deadlines: silent and half-open connections are closed, a
//! connection past the cap is refused with a 503 it can read, a slow body gets 408,
//! a caller that stops reading loses the connection, and past the in-flight limit
//! requests are shed while health checks and the admin API still answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::StreamExt;
use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// Long enough for any loopback answer on a loaded machine; the deadlines under test
/// are far shorter.
const PATIENCE: Duration = Duration::from_secs(10);

async fn gateway(server: &str) -> Gateway {
    let up = Upstreams::start(MockConfig::default()).await;
    let endless = endless_upstream().await;
    Gateway::start(&format!(
        "[server]\n{server}\n{}\n[providers.endless]\nkind = \"openai_compatible\"\nbase_url = \"http://{endless}/v1\"\napi_key = \"sk-up\"\n\n[[routes]]\nmodel = \"endless\"\ntargets = [{{ provider = \"endless\" }}]\n\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    ))
    .await
}

/// An OpenAI-shaped upstream whose streams never end: a word per event, forever.
async fn endless_upstream() -> std::net::SocketAddr {
    serve_fn(|_req| async {
        let event = bytes::Bytes::from_static(
            b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"endless\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word \"}}]}\n\n",
        );
        let frames = futures_util::stream::repeat(event)
            .map(|b| Ok::<_, std::convert::Infallible>(http_body::Frame::data(b)));
        hyper::Response::builder()
            .header("content-type", "text/event-stream")
            .body(http_body_util::StreamBody::new(frames))
            .unwrap()
    })
    .await
}

fn addr(gw: &Gateway) -> String {
    gw.base.trim_start_matches("http://").to_owned()
}

/// Everything the server sends until it closes the connection; panics if it does
/// not close within [`PATIENCE`].
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the gateway kept the connection open");
    got
}

#[tokio::test]
async fn silent_and_half_started_connections_are_closed_at_the_header_deadline() {
    let gw = gateway("header_timeout_ms = 300").await;
    let openers: [&[u8]; 4] = [
        b"",
        b"PRI * HTTP/2.0\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n",
    ];
    for opener in openers {
        let mut stream = TcpStream::connect(addr(&gw)).await.unwrap();
        stream.write_all(opener).await.unwrap();
        let got = until_closed(&mut stream).await;
        assert!(
            !got.starts_with(b"HTTP/1.1 2"),
            "{:?}: {}",
            String::from_utf8_lossy(opener),
            String::from_utf8_lossy(&got)
        );
    }
    // The gateway still answers.
    let health = client().get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_keep_alive_connection_gets_the_header_deadline_for_its_next_head() {
    let gw = gateway("header_timeout_ms = 300").await;
    let health = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";
    // After one answer: silence, then a head that never finishes.
    for next in [&b""[..], b"GET /healthz HTTP/1.1\r\nhost: x\r\n"] {
        let mut stream = TcpStream::connect(addr(&gw)).await.unwrap();
        stream.write_all(health).await.unwrap();
        let mut first = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&first).contains("\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the first answer");
            first.extend_from_slice(&buf[..n]);
        }
        assert!(first.starts_with(b"HTTP/1.1 200"));
        let answered = std::time::Instant::now();
        stream.write_all(next).await.unwrap();
        until_closed(&mut stream).await;
        let waited = answered.elapsed();
        // Closed by the deadline (300 ms, plus the watchdog's up to 1 s linger), not
        // by PATIENCE running out.
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
            "{:?}: closed after {waited:?}",
            String::from_utf8_lossy(next)
        );
    }
}

#[tokio::test]
async fn a_connection_past_the_cap_is_told_503_and_closed_until_one_ends() {
    let gw = gateway("max_connections = 2\nheader_timeout_ms = 20000").await;
    let first = TcpStream::connect(addr(&gw)).await.unwrap();
    let _second = TcpStream::connect(addr(&gw)).await.unwrap();
    let mut third = TcpStream::connect(addr(&gw)).await.unwrap();
    let refusal = String::from_utf8(until_closed(&mut third).await).unwrap();
    assert!(
        refusal.starts_with("HTTP/1.1 503"),
        "a clear refusal: {refusal}"
    );
    assert!(refusal.contains("retry-after: 1"), "{refusal}");
    assert!(refusal.contains("too_many_connections"), "{refusal}");
    // One closes: its slot comes back (once the gateway has seen the close).
    drop(first);
    let mut served = false;
    for _ in 0..100 {
        let mut s = TcpStream::connect(addr(&gw)).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = until_closed(&mut s).await;
        if answer.starts_with(b"HTTP/1.1 200") {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "a freed slot takes a new connection");
}

#[tokio::test]
async fn a_body_that_trickles_gets_408_in_the_callers_envelope() {
    let gw = gateway("body_timeout_ms = 300").await;
    let mut stream = TcpStream::connect(addr(&gw)).await.unwrap();
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: {KEY}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"model\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = String::from_utf8(until_closed(&mut stream).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    let json = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let json: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(json["type"], "error", "Anthropic's envelope: {json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("body_timeout_ms")
    );
}

/// A stream that never ends, asked for and then not read.
async fn unread_stream(gw: &Gateway) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr(gw).parse().unwrap()).await.unwrap();
    let body = serde_json::json!({
        "model": "endless",
        "stream": true,
        "messages": [{"role": "user", "content": "a long one"}],
    })
    .to_string();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    stream
}

#[tokio::test]
async fn a_caller_that_stops_reading_loses_the_connection_and_its_slot() {
    let gw = gateway("send_timeout_ms = 300").await;
    let mut stream = unread_stream(&gw).await;
    assert_eq!(gw.app.in_flight(), 1);
    // Not reading at all: the buffers fill, the stall begins, the gateway gives up.
    let mut released = false;
    for _ in 0..500 {
        if gw.app.in_flight() == 0 {
            released = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(released, "the stalled stream still counts as in flight");
    // What was buffered arrives, then the connection ends.
    until_closed(&mut stream).await;
}

#[tokio::test]
async fn past_the_in_flight_limit_requests_are_shed_while_health_and_admin_answer() {
    let gw = gateway("max_in_flight = 1\nsend_timeout_ms = 20000").await;
    let admin_base = start_admin(&gw, "pba_admin_connections_token").await;

    let held = unread_stream(&gw).await;
    assert_eq!(gw.app.in_flight(), 1);
    for shape in [ApiShape::OpenAiChat, ApiShape::Anthropic] {
        let (path, body) = chat_request(shape, "mock-echo", "hi", false, false);
        let resp = send(&gw, shape, &path, &body).await;
        // Anthropic's own status for "overloaded" is 529; the others say 503.
        let status = if shape == ApiShape::Anthropic {
            529
        } else {
            503
        };
        assert_eq!(resp.status(), status, "{shape:?}");
        assert_eq!(resp.headers()["retry-after"], "1");
        let json: serde_json::Value = resp.json().await.unwrap();
        let message = json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("retry shortly"), "{json}");
        if shape == ApiShape::Anthropic {
            assert_eq!(json["type"], "error");
        }
    }
    let health = client().get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "health checks are never shed");
    let keys = client()
        .get(format!("{admin_base}/admin/keys"))
        .bearer_auth("pba_admin_connections_token")
        .send()
        .await
        .unwrap();
    assert_eq!(keys.status(), 200, "the admin API answers");

    drop(held);
    let mut answered = 0;
    for _ in 0..100 {
        let (path, body) = chat_request(ApiShape::OpenAiChat, "mock-echo", "hi", false, false);
        let resp = send(&gw, ApiShape::OpenAiChat, &path, &body).await;
        if resp.status() == 200 {
            answered += 1;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        answered, 1,
        "once the stream is gone, requests are taken again"
    );
}

#[tokio::test]
async fn wrong_admin_tokens_are_throttled_per_peer() {
    let gw = gateway("").await;
    let token = "pba_admin_connections_token";
    let base = start_admin(&gw, token).await;
    let get = |bearer: &'static str| {
        client()
            .get(format!("{base}/admin/keys"))
            .bearer_auth(bearer)
            .send()
    };
    for _ in 0..10 {
        assert_eq!(get("pba_wrong_guess_0000000").await.unwrap().status(), 401);
    }
    let held = get("pba_wrong_guess_0000000").await.unwrap();
    assert_eq!(held.status(), 429);
    assert!(held.headers().contains_key("retry-after"));
    let right = get(token).await.unwrap();
    assert_eq!(
        right.status(),
        429,
        "a throttled peer's token is not looked at, right or wrong"
    );
}

#[tokio::test]
async fn an_http2_connection_with_nothing_in_flight_is_closed_after_the_idle_timeout() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let gw = gateway("idle_timeout_ms = 300").await;
    let stream = TcpStream::connect(addr(&gw)).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let driver = tokio::spawn(conn);
    let req = http::Request::get(gw.url("/healthz"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    drop(resp);
    // The client keeps its end open; the gateway ends the connection.
    let ended = tokio::time::timeout(PATIENCE, driver).await;
    assert!(ended.is_ok(), "the idle HTTP/2 connection was kept open");
    drop(sender);
}
