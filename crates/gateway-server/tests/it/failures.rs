//! Retries, fallbacks, errors before and during a stream in each caller's grammar,
//! client disconnects, the body limit, and many concurrent streams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_protocol::{ApiShape, ErrorKind};
use gateway_providers::MockConfig;
use gateway_translate::codec;
use http_body_util::StreamBody;
use support::*;
use tokio::net::TcpListener;

/// A port nothing listens on.
async fn dead_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

#[tokio::test]
async fn retries_then_falls_back_in_order() {
    let up = Upstreams::start(MockConfig::default()).await;
    let dead = dead_port().await;
    let busy = failing_upstream(503).await;
    let config = format!(
        r#"{}
[providers.dead]
kind = "openai_compatible"
base_url = "http://{dead}/v1"

[providers.busy]
kind = "openai_compatible"
base_url = "http://{busy}/v1"

[[routes]]
model = "chain"
targets = [{{ provider = "dead", model = "mock-echo" }}]
fallbacks = [{{ provider = "busy", model = "mock-echo" }}, {{ provider = "anthropic", model = "mock-echo" }}]
retries = 1
backoff_ms = 1
backoff_max_ms = 2

[[routes]]
model = "only-busy"
targets = [{{ provider = "busy", model = "mock-echo" }}]
retries = 2
backoff_ms = 1
backoff_max_ms = 2
"#,
        up.toml()
    );
    let gw = Gateway::start(&config).await;
    let mut first = true;
    for caller in CALLERS {
        for stream in [false, true] {
            let (path, body) = chat_request(caller, "chain", "fall back", stream, false);
            let resp = send(&gw, caller, &path, &body).await;
            assert_eq!(resp.status(), 200, "{caller:?}");
            assert_eq!(resp.headers()["x-patchbay-provider"], "anthropic");
            // First: dead 1 + 1 retry, busy 1 + 1 retry, then anthropic. After that the
            // failing targets cool down and go to the back: anthropic answers at once.
            let expected = if first { "5" } else { "1" };
            first = false;
            assert_eq!(
                resp.headers()["x-patchbay-attempts"],
                expected,
                "{caller:?}"
            );
            let bytes = resp.bytes().await.unwrap();
            let answer = if stream {
                parse_stream(caller, &bytes, false).unwrap()
            } else {
                parse_whole(caller, &bytes)
            };
            assert_eq!(text_of(&answer), "fall back");
        }
    }
    // When every try fails, the last upstream error reaches the caller in its own
    // envelope, with the status of its kind.
    for caller in CALLERS {
        let (path, body) = chat_request(caller, "only-busy", "x", false, false);
        let resp = send(&gw, caller, &path, &body).await;
        let status = resp.status().as_u16();
        assert_eq!(resp.headers()["x-patchbay-attempts"], "3", "{caller:?}");
        let bytes = resp.bytes().await.unwrap();
        let err = codec::decode_error(caller, status, &bytes);
        assert!(
            matches!(err.kind, ErrorKind::Upstream | ErrorKind::Overloaded),
            "{caller:?}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        assert!(status >= 500, "{caller:?}: {status}");
    }
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let bad = failing_upstream(400).await;
    let up = Upstreams::start(MockConfig::default()).await;
    let config = format!(
        "{}\n[providers.bad]\nkind = \"openai_compatible\"\nbase_url = \"http://{bad}/v1\"\n[[routes]]\nmodel = \"m\"\ntargets = [{{ provider = \"bad\", model = \"mock-echo\" }}]\nfallbacks = [{{ provider = \"openai\", model = \"mock-echo\" }}]\n",
        up.toml()
    );
    let gw = Gateway::start(&config).await;
    let (path, body) = chat_request(ApiShape::Anthropic, "m", "x", false, false);
    let resp = send(&gw, ApiShape::Anthropic, &path, &body).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-patchbay-attempts"], "1");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn mid_stream_cuts_end_in_the_callers_error_grammar() {
    let cut = mock_upstream(
        ApiShape::OpenAiChat,
        MockConfig {
            cut_after_chunks: Some(3),
            chunks: 10,
            tokens: 40,
            scenario: gateway_providers::Scenario::Text,
            ..MockConfig::default()
        },
    )
    .await;
    let anthropic_cut = mock_upstream(
        ApiShape::Anthropic,
        MockConfig {
            cut_after_chunks: Some(4),
            chunks: 10,
            tokens: 40,
            scenario: gateway_providers::Scenario::Text,
            ..MockConfig::default()
        },
    )
    .await;
    let config = format!(
        "[providers.cut]\nkind = \"openai_compatible\"\nbase_url = \"http://{cut}/v1\"\n[providers.acut]\nkind = \"anthropic\"\nbase_url = \"http://{anthropic_cut}\"\napi_key = \"k\"\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"cut\" }}]\n[[keys]]\nname = \"t\"\nsecret = \"{KEY}\"\n"
    );
    let gw = Gateway::start(&config).await;
    for provider in ["cut", "acut"] {
        for caller in CALLERS {
            let model = format!("{provider}/m");
            let (path, body) = chat_request(caller, &model, "x", true, false);
            let resp = send(&gw, caller, &path, &body).await;
            // The stream had started: the status is committed, the error is in-band.
            assert_eq!(resp.status(), 200, "{caller:?}");
            let bytes = resp.bytes().await.unwrap();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let err = parse_stream(caller, &bytes, false).expect_err(&format!(
                "{provider} → {caller:?} should end in an error: {text}"
            ));
            assert!(
                err.message.contains("reset") || err.message.contains("broke off"),
                "{err:?}"
            );
            match caller {
                ApiShape::Anthropic => assert!(text.contains("event: error"), "{text}"),
                ApiShape::OpenAiResponses => assert!(
                    text.contains("\"type\":\"error\"") || text.contains("response.failed"),
                    "{text}"
                ),
                _ => assert!(text.contains("\"error\""), "{text}"),
            }
        }
    }
}

#[tokio::test]
async fn errors_before_the_first_byte_use_the_callers_envelope() {
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = Gateway::start(&format!(
        "{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    ))
    .await;
    for caller in CALLERS {
        // The default route sends the name to the mock upstream, which fails 429 by
        // model name: retried, then answered as 429 with the upstream's retry-after.
        let (path, body) = chat_request(caller, "mock-fail-429", "x", true, false);
        let resp = send(&gw, caller, &path, &body).await;
        assert_eq!(resp.status(), 429, "{caller:?}");
        assert!(resp.headers().contains_key("retry-after"), "{caller:?}");
        let bytes = resp.bytes().await.unwrap();
        let err = codec::decode_error(caller, 429, &bytes);
        assert_eq!(
            err.kind,
            ErrorKind::RateLimited,
            "{caller:?}: {}",
            String::from_utf8_lossy(&bytes)
        );
        // Malformed bodies: 400 in the envelope, with the field.
        let (path, _) = chat_request(caller, "m", "x", false, false);
        let resp = send(
            &gw,
            caller,
            &path,
            &serde_json::json!({"model": 5, "messages": "no", "contents": 7}),
        )
        .await;
        assert_eq!(resp.status(), 400, "{caller:?}");
        let bytes = resp.bytes().await.unwrap();
        let err = codec::decode_error(caller, 400, &bytes);
        assert_eq!(err.kind, ErrorKind::InvalidRequest, "{caller:?}");
    }
    // No key, a wrong key: 401 with x-should-retry: false.
    for key in [None, Some("pbk_wrong")] {
        let mut req = client()
            .post(gw.url("/v1/messages"))
            .json(&serde_json::json!({}));
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["x-should-retry"], "false");
        // The body was not read: the connection must not be reused.
        assert_eq!(resp.headers()["connection"], "close");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["type"], "authentication_error");
    }
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let up = Upstreams::start(MockConfig::default()).await;
    let config = format!(
        "[server]\nmax_body_bytes = 2048\n{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    );
    let gw = Gateway::start(&config).await;
    let big = "x".repeat(4096);
    for caller in CALLERS {
        let (path, body) = chat_request(caller, "mock-echo", &big, false, false);
        let resp = send(&gw, caller, &path, &body).await;
        assert_eq!(resp.status(), 413, "{caller:?}");
        let bytes = resp.bytes().await.unwrap();
        let err = codec::decode_error(caller, 413, &bytes);
        assert!(err.message.contains("2048"), "{caller:?}: {}", err.message);
    }
    // Without a content-length (chunked), the limit holds while reading.
    let chunks = futures_util::stream::iter(
        (0..8).map(|_| Ok::<_, Infallible>(Bytes::from(vec![b' '; 512]))),
    );
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // Just under the limit is fine.
    let (path, body) = chat_request(ApiShape::OpenAiChat, "mock-echo", "small", false, false);
    assert_eq!(
        send(&gw, ApiShape::OpenAiChat, &path, &body).await.status(),
        200
    );
}

/// An OpenAI-shaped upstream that streams a chunk every 20 ms for a long time and
/// records when its body is dropped (the gateway hung up).
async fn endless_upstream(dropped: Arc<AtomicBool>, open: Arc<AtomicUsize>) -> SocketAddr {
    struct Guard(Arc<AtomicBool>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    serve_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
        open.fetch_add(1, Ordering::SeqCst);
        let guard = Guard(dropped.clone());
        let body = futures_util::stream::unfold((0u32, guard), |(n, guard)| async move {
            if n > 1000 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            let chunk = format!(
                "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tick{n} \"}},\"finish_reason\":null}}]}}\n\n"
            );
            Some((
                Ok::<_, Infallible>(hyper::body::Frame::data(Bytes::from(chunk))),
                (n + 1, guard),
            ))
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
async fn a_client_that_disconnects_cancels_the_upstream_request() {
    let dropped = Arc::new(AtomicBool::new(false));
    let open = Arc::new(AtomicUsize::new(0));
    let addr = endless_upstream(dropped.clone(), open.clone()).await;
    for caller in [ApiShape::OpenAiChat, ApiShape::Anthropic] {
        dropped.store(false, Ordering::SeqCst);
        let config = format!(
            "[providers.slow]\nkind = \"openai_compatible\"\nbase_url = \"http://{addr}/v1\"\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"slow\" }}]\n[[keys]]\nname = \"t\"\nsecret = \"{KEY}\"\n"
        );
        let gw = Gateway::start(&config).await;
        let (path, body) = chat_request(caller, "m", "x", true, false);
        let resp = send(&gw, caller, &path, &body).await;
        assert_eq!(resp.status(), 200);
        let mut stream = resp.bytes_stream();
        let first = stream.next().await.unwrap().unwrap();
        assert!(!first.is_empty());
        assert!(!dropped.load(Ordering::SeqCst));
        drop(stream);
        let start = Instant::now();
        while !dropped.load(Ordering::SeqCst) {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{caller:?}: upstream still streaming after the client left"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn two_hundred_concurrent_streams_complete_intact() {
    let slow = MockConfig {
        scenario: gateway_providers::Scenario::Text,
        tokens: 60,
        chunks: 20,
        chunk_delay_ms: 5,
        ..MockConfig::default()
    };
    let openai = mock_upstream(ApiShape::OpenAiChat, slow.clone()).await;
    let anthropic = mock_upstream(ApiShape::Anthropic, slow).await;
    let config = format!(
        "[providers.o]\nkind = \"openai_compatible\"\nbase_url = \"http://{openai}/v1\"\n[providers.a]\nkind = \"anthropic\"\nbase_url = \"http://{anthropic}\"\napi_key = \"k\"\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"o\" }}]\n[[keys]]\nname = \"t\"\nsecret = \"{KEY}\"\n"
    );
    let gw = Arc::new(Gateway::start(&config).await);
    // The reference answer: what one stream adds up to.
    let expected = {
        let (path, body) = chat_request(ApiShape::OpenAiChat, "o/m", "x", false, false);
        let bytes = send(&gw, ApiShape::OpenAiChat, &path, &body)
            .await
            .bytes()
            .await
            .unwrap();
        text_of(&parse_whole(ApiShape::OpenAiChat, &bytes))
    };
    assert_eq!(expected.split_whitespace().count(), 60);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let gw = gw.clone();
        let caller = CALLERS[i % CALLERS.len()];
        let provider = if i % 2 == 0 { "o" } else { "a" };
        tasks.push(tokio::spawn(async move {
            let (path, body) = chat_request(caller, &format!("{provider}/m"), "x", true, false);
            let resp = send(&gw, caller, &path, &body).await;
            assert_eq!(resp.status(), 200);
            let bytes = resp.bytes().await.unwrap();
            let answer = parse_stream(caller, &bytes, false).unwrap();
            (caller, text_of(&answer))
        }));
    }
    for t in tasks {
        let (caller, text) = t.await.unwrap();
        assert_eq!(text, expected, "{caller:?}");
    }
}

/// Embeddings and token counts go through the same attempt loop as chat: retries of
/// the same target with backoff, then the fallbacks, and the tries are reported.
#[tokio::test]
async fn every_operation_gets_retries_and_fallbacks() {
    let up = Upstreams::start(MockConfig::default()).await;
    let dead = dead_port().await;
    let config = format!(
        r#"{}
[providers.dead]
kind = "openai_compatible"
base_url = "http://{dead}/v1"

[providers.dead_anthropic]
kind = "anthropic"
base_url = "http://{dead}"
api_key = "sk-ant-unused"

[[routes]]
model = "embed-chain"
targets = [{{ provider = "dead", model = "mock-embed" }}]
fallbacks = [{{ provider = "openai", model = "mock-embed" }}]
retries = 2
backoff_ms = 1
backoff_max_ms = 2

[[routes]]
model = "count-chain"
targets = [{{ provider = "dead_anthropic", model = "mock-echo" }}]
fallbacks = [{{ provider = "anthropic", model = "mock-echo" }}]
retries = 1
backoff_ms = 1
backoff_max_ms = 2
"#,
        up.toml()
    );
    let gw = Gateway::start(&config).await;
    let c = client();
    let resp = c
        .post(gw.url("/v1/embeddings"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"model": "embed-chain", "input": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-patchbay-provider"], "openai");
    // dead: 1 + 2 retries, then the fallback.
    assert_eq!(resp.headers()["x-patchbay-attempts"], "4");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["data"][0]["embedding"].is_array(), "{body}");

    let resp = c
        .post(gw.url("/v1/messages/count_tokens"))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&serde_json::json!({
            "model": "count-chain",
            "messages": [{"role": "user", "content": "count these words"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-patchbay-provider"], "anthropic");
    assert_eq!(resp.headers()["x-patchbay-attempts"], "3");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["input_tokens"].as_u64().unwrap() > 0, "{body}");
}

#[tokio::test]
async fn a_throttled_bedrock_target_falls_back_and_alone_is_a_429_in_the_callers_envelope() {
    let up = Upstreams::start(MockConfig::default()).await;
    let throttled = mock_upstream(
        ApiShape::Bedrock,
        MockConfig {
            fail_status: Some(429),
            ..MockConfig::default()
        },
    )
    .await;
    let config = format!(
        r#"{}
[providers.aws]
kind = "bedrock"
base_url = "http://{throttled}"
region = "us-east-1"
access_key_id = "{}"
secret_access_key = "{}"

[[routes]]
model = "chain"
targets = [{{ provider = "aws", model = "mock-echo" }}]
fallbacks = [{{ provider = "bedrock", model = "mock-echo" }}]

[[routes]]
model = "only-aws"
targets = [{{ provider = "aws", model = "mock-echo" }}]
"#,
        up.toml() + &up.bedrock_toml(),
        gateway_providers::mock::MOCK_AWS_ACCESS_KEY_ID,
        gateway_providers::mock::MOCK_AWS_SECRET_ACCESS_KEY,
    );
    let gw = Gateway::start(&config).await;
    for caller in [ApiShape::OpenAiChat, ApiShape::Anthropic] {
        let (path, body) = chat_request(caller, "chain", "fall back", false, false);
        let resp = send(&gw, caller, &path, &body).await;
        assert_eq!(resp.status(), 200, "{caller:?}");
        assert_eq!(resp.headers()["x-patchbay-provider"], "bedrock");
        let (path, body) = chat_request(caller, "only-aws", "throttled", false, false);
        let resp = send(&gw, caller, &path, &body).await;
        assert_eq!(resp.status(), 429, "{caller:?}");
        let err: serde_json::Value = resp.json().await.unwrap();
        // Both envelopes name the kind in `error.type` (`rate_limit_error`,
        // `rate_limit_exceeded`).
        let kind = &err["error"]["type"];
        assert!(
            kind.as_str().is_some_and(|k| k.contains("rate_limit")),
            "{caller:?}: {err}"
        );
    }
}

#[tokio::test]
async fn a_throttled_cohere_target_falls_back_and_alone_is_a_429_in_the_callers_envelope() {
    let up = Upstreams::start(MockConfig::default()).await;
    let config = format!(
        r#"{}
[[routes]]
model = "chain"
targets = [{{ provider = "cohere", model = "mock-fail-429" }}]
fallbacks = [{{ provider = "anthropic", model = "mock-echo" }}]

[[routes]]
model = "only-cohere"
targets = [{{ provider = "cohere", model = "mock-fail-429" }}]

[[routes]]
model = "cohere-invalid-key"
targets = [{{ provider = "cohere-bad", model = "mock-echo" }}]

[providers.cohere-bad]
kind = "cohere"
base_url = "http://{}"
api_key = "{}"
"#,
        up.toml() + &up.cohere_toml(),
        up.cohere,
        gateway_providers::mock::MOCK_COHERE_INVALID_KEY,
    );
    let gw = Gateway::start(&config).await;
    for caller in [ApiShape::OpenAiChat, ApiShape::Anthropic, ApiShape::Gemini] {
        for stream in [false, true] {
            let what = format!("{caller:?} stream={stream}");
            let (path, body) = chat_request(caller, "chain", "fall back", stream, false);
            let resp = send(&gw, caller, &path, &body).await;
            assert_eq!(resp.status(), 200, "{what}");
            assert_eq!(resp.headers()["x-patchbay-provider"], "anthropic", "{what}");
            let (path, body) = chat_request(caller, "only-cohere", "throttled", stream, false);
            let resp = send(&gw, caller, &path, &body).await;
            assert_eq!(resp.status(), 429, "{what}");
        }
        // Cohere's 498 (an invalid key) is the caller's 401, not a retry.
        let (path, body) = chat_request(caller, "cohere-invalid-key", "hi", false, false);
        let resp = send(&gw, caller, &path, &body).await;
        assert_eq!(resp.status(), 401, "{caller:?}");
        assert_eq!(resp.headers()["x-patchbay-attempts"], "1", "{caller:?}");
        assert!(
            resp.text().await.unwrap().contains("invalid api token"),
            "{caller:?}"
        );
    }
}
