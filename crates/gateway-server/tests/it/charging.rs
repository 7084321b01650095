//! What a request that does not end normally is charged: a stream the caller hangs
//! up on, a stream the upstream breaks off, a whole answer the caller stops waiting
//! for. Each is charged at least what was relayed (output from the content sent,
//! input from the request's estimate when the upstream reported none), so hanging
//! up early cannot get around a token quota.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_auth::Limits;
use gateway_protocol::{ApiShape, Delta, StreamEvent};
use gateway_providers::{MockConfig, Scenario};
use gateway_translate::codec::StreamDecoder;
use gateway_translate::{Framer, Framing, ResponseContext};
use http_body_util::StreamBody;
use support::*;

/// One request's row in the usage log.
#[derive(Debug)]
struct Row {
    status: i64,
    input_tokens: i64,
    output_tokens: i64,
    error_kind: Option<String>,
    provider: Option<String>,
}

fn rows(gw: &Gateway, key_id: &str) -> Vec<Row> {
    gw.app.flush_usage();
    let conn = gateway_auth::migrate::open(gw.app.database_path().unwrap()).unwrap();
    conn.prepare(
        "SELECT status, input_tokens, output_tokens, error_kind, provider FROM requests \
         WHERE key_id = ?1 ORDER BY id",
    )
    .unwrap()
    .query_map([key_id], |r| {
        Ok(Row {
            status: r.get(0)?,
            input_tokens: r.get(1)?,
            output_tokens: r.get(2)?,
            error_kind: r.get(3)?,
            provider: r.get(4)?,
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Waits until `key_id` has `n` usage records (a request's record is written when
/// it is settled, a moment after the caller hung up).
async fn wait_for_rows(gw: &Gateway, key_id: &str, n: usize) -> Vec<Row> {
    let start = Instant::now();
    loop {
        let rows = rows(gw, key_id);
        if rows.len() >= n {
            return rows;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{n} records expected, {} written: {rows:?}",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The text a caller of `shape` got from the (maybe cut) stream `bytes`.
fn text_received(shape: ApiShape, bytes: &[u8]) -> String {
    let mut framer = Framer::new(Framing::Sse);
    let mut frames = Vec::new();
    let _ = framer.push(bytes, &mut frames);
    let mut decoder = StreamDecoder::new(shape, &ResponseContext::default());
    let mut events = Vec::new();
    let mut text = String::new();
    for frame in &frames {
        if decoder.decode(frame, &mut events).is_err() {
            break;
        }
        for event in events.drain(..) {
            if let StreamEvent::Delta {
                delta: Delta::Text(t),
                ..
            } = event
            {
                text.push_str(&t);
            }
        }
    }
    text
}

fn authed(shape: ApiShape, req: reqwest::RequestBuilder, key: &str) -> reqwest::RequestBuilder {
    match shape {
        ApiShape::Anthropic => req
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01"),
        ApiShape::Gemini => req.header("x-goog-api-key", key),
        _ => req.bearer_auth(key),
    }
}

/// A streamed chat request in `shape` asking for at most `max_tokens`.
fn streamed(shape: ApiShape, max_tokens: u64) -> (String, serde_json::Value) {
    let (path, mut body) = chat_request(shape, "m", "tell me a long story", true, false);
    body["max_tokens"] = serde_json::json!(max_tokens);
    (path, body)
}

#[tokio::test]
async fn hanging_up_early_does_not_get_around_an_output_token_quota() {
    let long = MockConfig {
        scenario: Scenario::Text,
        tokens: 4000,
        chunks: 2000,
        chunk_delay_ms: 5,
        ..MockConfig::default()
    };
    let upstream = mock_upstream(ApiShape::OpenAiChat, long).await;
    let gw = Gateway::start(&format!(
        "[providers.long]\nkind = \"openai_compatible\"\nbase_url = \"http://{upstream}/v1\"\n\
         [[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"long\" }}]\n"
    ))
    .await;
    const QUOTA: usize = 100;
    let (key_id, key) = key_with(
        &gw,
        "hangs-up",
        Limits {
            daily_output_tokens: Some(QUOTA as u64),
            ..Limits::default()
        },
    );
    let mut received = Vec::new();
    let mut refused = None;
    for i in 0..30 {
        // OpenAI callers are relayed as they are; Anthropic callers are transcoded.
        let shape = [ApiShape::OpenAiChat, ApiShape::Anthropic][i % 2];
        let (path, body) = streamed(shape, 20);
        let resp = authed(shape, client().post(gw.url(&path)).json(&body), &key)
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            refused = Some(resp.headers()["x-patchbay-limit"].clone());
            break;
        }
        assert_eq!(resp.status(), 200);
        // Read until a few words came, then hang up.
        let mut stream = resp.bytes_stream();
        let mut bytes = Vec::new();
        while text_received(shape, &bytes).split_whitespace().count() < 10 {
            bytes.extend_from_slice(&stream.next().await.unwrap().unwrap());
        }
        drop(stream);
        received.push(text_received(shape, &bytes));
        wait_for_rows(&gw, &key_id, received.len()).await;
    }
    let refused = refused.expect("the quota never refused a request");
    assert_eq!(refused, "key.daily_output_tokens");
    // A word is at least one token: the words received before the refusal are
    // bounded by the quota, plus the request that went over it.
    let words: Vec<usize> = received
        .iter()
        .map(|t| t.split_whitespace().count())
        .collect();
    let most = words.iter().max().copied().unwrap_or(0);
    let total: usize = words.iter().sum();
    assert!(total <= QUOTA + most, "{total} words received: {words:?}");
    let rows = wait_for_rows(&gw, &key_id, received.len() + 1).await;
    let (cancelled, refusal) = rows.split_at(received.len());
    assert_eq!(refusal[0].status, 429);
    for (row, text) in cancelled.iter().zip(&received) {
        assert_eq!(row.status, 499, "{row:?}");
        assert!(row.input_tokens > 0, "no input charged: {row:?}");
        // Output is charged from the content relayed: about four bytes a token.
        let floor = text.len().div_ceil(4) as i64;
        assert!(
            row.output_tokens >= floor,
            "{row:?}: {} bytes of text received",
            text.len()
        );
    }
}

#[tokio::test]
async fn a_stream_the_upstream_breaks_off_is_charged_what_was_relayed() {
    let cut = MockConfig {
        scenario: Scenario::Text,
        tokens: 400,
        chunks: 10,
        cut_after_chunks: Some(4),
        ..MockConfig::default()
    };
    let upstream = mock_upstream(ApiShape::OpenAiChat, cut).await;
    let gw = Gateway::start(&format!(
        "[providers.cut]\nkind = \"openai_compatible\"\nbase_url = \"http://{upstream}/v1\"\n\
         [[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"cut\" }}]\n"
    ))
    .await;
    let (key_id, key) = key_with(&gw, "cut", Limits::default());
    let mut received = Vec::new();
    for shape in [ApiShape::OpenAiChat, ApiShape::Anthropic] {
        let (path, body) = streamed(shape, 1000);
        let resp = authed(shape, client().post(gw.url(&path)).json(&body), &key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let bytes = resp.bytes().await.unwrap();
        let err = parse_stream(shape, &bytes, false).expect_err("the stream was cut");
        assert!(err.message.contains("broke off"), "{err:?}");
        received.push(text_received(shape, &bytes));
    }
    let rows = wait_for_rows(&gw, &key_id, 2).await;
    for (row, text) in rows.iter().zip(&received) {
        assert!(!text.is_empty());
        // The status was sent (200); the error is the record's.
        assert_eq!(row.status, 200, "{row:?}");
        assert!(row.error_kind.is_some(), "{row:?}");
        assert!(row.input_tokens > 0, "no input charged: {row:?}");
        assert!(
            row.output_tokens >= text.len().div_ceil(4) as i64,
            "{row:?}: {} bytes of text received",
            text.len()
        );
    }
}

/// An OpenAI-shaped upstream whose answers, whole or streamed, report no usage (the
/// `stream_options.include_usage` the gateway asks for is ignored).
async fn usage_less_upstream() -> SocketAddr {
    serve_fn(|req: hyper::Request<hyper::body::Incoming>| async {
        use http_body_util::BodyExt;
        let asked = req.into_body().collect().await.unwrap().to_bytes();
        let asked: serde_json::Value = serde_json::from_slice(&asked).unwrap();
        if asked["stream"] != true {
            let whole = serde_json::json!({
                "id": "c", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": ANSWER}}],
            });
            return hyper::Response::builder()
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(Bytes::from(whole.to_string())))
                .unwrap();
        }
        let chunk = |delta: serde_json::Value, finish: Option<&str>| {
            let chunk = serde_json::json!({
                "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            });
            format!("data: {chunk}\n\n")
        };
        let (first, second) = ANSWER.split_at(20);
        let body = [
            chunk(
                serde_json::json!({"role": "assistant", "content": first}),
                None,
            ),
            chunk(serde_json::json!({"content": second}), None),
            chunk(serde_json::json!({}), Some("stop")),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat();
        hyper::Response::builder()
            .header("content-type", "text/event-stream")
            .body(http_body_util::Full::new(Bytes::from(body)))
            .unwrap()
    })
    .await
}

const ANSWER: &str = "four score and seven years ago our fathers brought forth";

#[tokio::test]
async fn answers_that_report_no_usage_are_charged_what_was_relayed() {
    let upstream = usage_less_upstream().await;
    let gw = Gateway::start(&format!(
        "[providers.quiet]\nkind = \"openai_compatible\"\nbase_url = \"http://{upstream}/v1\"\n\
         [[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"quiet\" }}]\n"
    ))
    .await;
    let (key_id, key) = key_with(&gw, "quiet", Limits::default());
    for shape in [ApiShape::OpenAiChat, ApiShape::Anthropic] {
        let (path, body) = streamed(shape, 100);
        let resp = authed(shape, client().post(gw.url(&path)).json(&body), &key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(
            text_of(&parse_stream(shape, &bytes, false).unwrap()),
            ANSWER
        );
    }
    // A whole answer is not decoded on the same-shape path: its input is charged.
    let (path, body) = chat_request(ApiShape::OpenAiChat, "m", "a question", false, false);
    let resp = authed(
        ApiShape::OpenAiChat,
        client().post(gw.url(&path)).json(&body),
        &key,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let rows = wait_for_rows(&gw, &key_id, 3).await;
    for row in &rows[..2] {
        assert_eq!(
            (row.status, row.error_kind.as_deref()),
            (200, None),
            "{row:?}"
        );
        assert!(row.input_tokens > 0, "{row:?}");
        assert_eq!(
            row.output_tokens,
            ANSWER.len().div_ceil(4) as i64,
            "{row:?}"
        );
    }
    assert_eq!((rows[2].status, rows[2].output_tokens), (200, 0));
    assert!(rows[2].input_tokens > 0, "{:?}", rows[2]);
}

/// An upstream that takes its time to answer, saying when a request reached it.
async fn slow_upstream(arrived: Arc<AtomicUsize>) -> SocketAddr {
    serve_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
        arrived.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            hyper::Response::new(http_body_util::Full::new(Bytes::from_static(b"{}")))
        }
    })
    .await
}

#[tokio::test]
async fn a_whole_answer_the_caller_stopped_waiting_for_is_charged_its_input() {
    let arrived = Arc::new(AtomicUsize::new(0));
    let upstream = slow_upstream(arrived.clone()).await;
    let gw = Gateway::start(&format!(
        "[providers.slow]\nkind = \"openai_compatible\"\nbase_url = \"http://{upstream}/v1\"\n\
         [[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"slow\" }}]\n"
    ))
    .await;
    let (key_id, key) = key_with(&gw, "impatient", Limits::default());
    let (path, body) = chat_request(ApiShape::OpenAiChat, "m", "a question", false, false);
    let sent = client()
        .post(gw.url(&path))
        .bearer_auth(&key)
        .json(&body)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(sent.is_err(), "the upstream should not have answered");
    assert_eq!(arrived.load(Ordering::SeqCst), 1);
    let rows = wait_for_rows(&gw, &key_id, 1).await;
    let row = &rows[0];
    assert_eq!(row.status, 499, "{row:?}");
    assert!(row.input_tokens > 0, "the upstream was asked: {row:?}");
    assert_eq!(row.output_tokens, 0, "{row:?}");
    assert_eq!(row.provider.as_deref(), Some("slow"), "{row:?}");
}

/// An OpenAI-shaped upstream whose stream is one `data:` line that never ends (up to
/// `total` bytes), recording when the gateway hangs up on it.
async fn endless_line_upstream(total: usize, dropped: Arc<AtomicBool>) -> SocketAddr {
    struct Guard(Arc<AtomicBool>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    serve_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
        let guard = Guard(dropped.clone());
        let piece = Bytes::from(vec![b'x'; 64 << 10]);
        let head = futures_util::stream::once(async { Bytes::from_static(b"data: ") });
        let rest = futures_util::stream::iter(std::iter::repeat_n(piece, total / (64 << 10)));
        let body = head.chain(rest).map(move |b| {
            let _ = &guard;
            Ok::<_, Infallible>(hyper::body::Frame::data(b))
        });
        async move {
            hyper::Response::builder()
                .header("content-type", "text/event-stream")
                .body(StreamBody::new(body))
                .unwrap()
        }
    })
    .await
}

#[tokio::test]
async fn an_endless_upstream_line_ends_the_stream_with_an_error() {
    let dropped = Arc::new(AtomicBool::new(false));
    let upstream = endless_line_upstream(64 << 20, dropped.clone()).await;
    let gw = Gateway::start(&format!(
        "[providers.endless]\nkind = \"openai_compatible\"\nbase_url = \"http://{upstream}/v1\"\n\
         [[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"endless\" }}]\n"
    ))
    .await;
    let (key_id, key) = key_with(&gw, "endless", Limits::default());
    for (i, shape) in [ApiShape::OpenAiChat, ApiShape::Anthropic]
        .into_iter()
        .enumerate()
    {
        dropped.store(false, Ordering::SeqCst);
        let (path, body) = streamed(shape, 100);
        let resp = authed(shape, client().post(gw.url(&path)).json(&body), &key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{shape:?}");
        let bytes = resp.bytes().await.unwrap();
        // The gateway stopped well before the upstream's 64 MiB.
        assert!(bytes.len() < 20 << 20, "{shape:?}: {} bytes", bytes.len());
        let tail = String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(2000)..]).into_owned();
        assert!(tail.contains("larger than"), "{shape:?}: {tail}");
        match shape {
            ApiShape::Anthropic => assert!(tail.contains("event: error"), "{tail}"),
            _ => assert!(tail.contains("\"error\""), "{tail}"),
        }
        let start = Instant::now();
        while !dropped.load(Ordering::SeqCst) {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{shape:?}: the upstream connection was kept"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let rows = wait_for_rows(&gw, &key_id, i + 1).await;
        let row = &rows[i];
        assert_eq!(row.status, 200, "{row:?}");
        assert_eq!(row.error_kind.as_deref(), Some("Upstream"), "{row:?}");
        assert!(row.input_tokens > 0, "{row:?}");
    }
}
