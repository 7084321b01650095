//! Real kinds against a loopback upstream: URLs and headers per kind, upstream
//! errors, time limits, cuts and cancellation.

use crate::support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_protocol::{Blame, ErrorKind, GatewayError};
use gateway_providers::{
    HttpClient, Operation, Provider, ProviderConfig, ProviderKind, UpstreamCall, UpstreamReply,
};
use support::{End, Plan, serve};

const OPENAI_OK: &str = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#;

fn provider(kind: ProviderKind, base: &str, edit: impl FnOnce(&mut ProviderConfig)) -> Provider {
    let mut cfg = ProviderConfig::new(kind);
    cfg.base_url = Some(base.to_owned());
    cfg.api_key = Some("sk-secret-key".to_owned());
    edit(&mut cfg);
    Provider::new("up", &cfg, &HttpClient::new().expect("client")).expect("provider")
}

fn chat(model: &str, stream: bool) -> UpstreamCall {
    support::chat_call(model, stream)
}

async fn body_of(reply: UpstreamReply) -> Vec<Result<Bytes, GatewayError>> {
    reply.body.collect().await
}

fn header<'a>(rec: &'a support::Recorded, name: &str) -> Option<&'a str> {
    rec.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn openai_compatible_custom_base_gets_bearer_and_joined_path() {
    let up = serve(|_| Plan::ok(OPENAI_OK)).await;
    let p = provider(
        ProviderKind::OpenAiCompatible,
        &format!("{}/v1/", up.base()),
        |c| {
            c.headers.insert("x-extra".into(), "yes".into());
        },
    );
    let reply = p.send(chat("m", false)).await.expect("ok");
    assert_eq!(reply.status, 200);
    let body = body_of(reply).await;
    assert_eq!(body.len(), 1);
    let rec = up.last();
    assert_eq!(
        (rec.method.as_str(), rec.uri.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(header(&rec, "authorization"), Some("Bearer sk-secret-key"));
    assert_eq!(header(&rec, "x-extra"), Some("yes"));
    assert_eq!(header(&rec, "content-type"), Some("application/json"));
    // One `host`, written by the provider for a plain http:// upstream.
    let authority = up.base().trim_start_matches("http://").to_owned();
    assert_eq!(header(&rec, "host"), Some(authority.as_str()));
    assert_eq!(rec.headers.get_all("host").iter().count(), 1);
    assert!(rec.body.starts_with(b"{\"model\":\"m\""));

    p.send(UpstreamCall {
        operation: Operation::ListModels,
        model: String::new(),
        stream: false,
        body: Bytes::new(),
        headers: Default::default(),
    })
    .await
    .expect("models");
    let rec = up.last();
    assert_eq!(
        (rec.method.as_str(), rec.uri.as_str()),
        ("GET", "/v1/models")
    );
}

#[tokio::test]
async fn preset_base_url_is_used_and_can_be_overridden() {
    let client = HttpClient::new().expect("client");
    let mut cfg = ProviderConfig::new(ProviderKind::OpenAiCompatible);
    cfg.preset = Some("deepseek".into());
    cfg.api_key = Some("k".into());
    let p = Provider::new("ds", &cfg, &client).expect("preset");
    assert_eq!(p.base_url(), "https://api.deepseek.com/v1");

    let up = serve(|_| Plan::ok(OPENAI_OK)).await;
    cfg.base_url = Some(format!("{}/api/v3", up.base()));
    let p = Provider::new("ds", &cfg, &client).expect("preset with base");
    p.send(chat("deepseek-chat", false)).await.expect("ok");
    assert_eq!(up.last().uri, "/api/v3/chat/completions");

    cfg.api_key = None;
    let err = Provider::new("ds", &cfg, &client).expect_err("key required");
    assert!(err.to_string().contains("DEEPSEEK_API_KEY"), "{err}");
    cfg.preset = Some("nope".into());
    let err = Provider::new("ds", &cfg, &client).expect_err("unknown preset");
    assert!(err.to_string().contains("deepseek"), "{err}");
}

#[tokio::test]
async fn stepfun_chat_bodies_ask_for_reasoning_content_unless_the_caller_chose() {
    let up = serve(|_| Plan::ok(OPENAI_OK)).await;
    let base = format!("{}/v1", up.base());
    let p = provider(ProviderKind::OpenAiCompatible, &base, |c| {
        c.preset = Some("stepfun".into());
    });
    p.send(chat("step-3.5-flash", true)).await.expect("ok");
    let sent: serde_json::Value = serde_json::from_slice(&up.last().body).expect("json");
    assert_eq!(sent["reasoning_format"], "deepseek-style");
    assert_eq!(sent["messages"][0]["content"], "hi");

    let mut own = chat("step-3.5-flash", false);
    own.body = Bytes::from_static(br#"{"model":"m","reasoning_format":"general","messages":[]}"#);
    p.send(own).await.expect("ok");
    assert_eq!(
        up.last().body,
        br#"{"model":"m","reasoning_format":"general","messages":[]}"#.as_slice()
    );

    // Other operations and other presets are sent as they came.
    let mut embed = chat("step-embed", false);
    embed.operation = Operation::Embeddings;
    embed.body = Bytes::from_static(br#"{"model":"e","input":"x"}"#);
    p.send(embed).await.expect("ok");
    assert_eq!(up.last().body, br#"{"model":"e","input":"x"}"#.as_slice());
    let deepseek = provider(ProviderKind::OpenAiCompatible, &base, |c| {
        c.preset = Some("deepseek".into());
    });
    deepseek
        .send(chat("deepseek-chat", false))
        .await
        .expect("ok");
    assert_eq!(
        up.last().body,
        br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.as_slice()
    );
}

#[tokio::test]
async fn azure_uses_deployment_api_version_and_api_key() {
    let up = serve(|_| Plan::ok(OPENAI_OK)).await;
    let p = provider(ProviderKind::AzureOpenAi, &up.base(), |c| {
        c.deployments.insert("gpt-4o".into(), "prod-4o".into());
        c.api_version = Some("2024-06-01".into());
    });
    p.send(chat("gpt-4o", false)).await.expect("ok");
    let rec = up.last();
    assert_eq!(
        rec.uri,
        "/openai/deployments/prod-4o/chat/completions?api-version=2024-06-01"
    );
    assert_eq!(header(&rec, "api-key"), Some("sk-secret-key"));
    assert_eq!(header(&rec, "authorization"), None);
    p.send(chat("other", false)).await.expect("ok");
    assert!(
        up.last()
            .uri
            .starts_with("/openai/deployments/other/chat/completions")
    );
}

#[tokio::test]
async fn anthropic_sends_key_and_version_headers() {
    let up = serve(|_| Plan::ok("{}")).await;
    let p = provider(
        ProviderKind::Anthropic,
        &format!("{}/v1", up.base()),
        |_| {},
    );
    p.send(chat("claude", true)).await.expect("ok");
    let rec = up.last();
    assert_eq!(rec.uri, "/v1/messages");
    assert_eq!(header(&rec, "x-api-key"), Some("sk-secret-key"));
    assert_eq!(header(&rec, "anthropic-version"), Some("2023-06-01"));
    assert_eq!(header(&rec, "accept"), Some("text/event-stream"));
    p.send(UpstreamCall {
        operation: Operation::CountTokens,
        ..chat("claude", false)
    })
    .await
    .expect("count");
    assert_eq!(up.last().uri, "/v1/messages/count_tokens");
    assert!(!p.supports(Operation::Embeddings));
}

#[tokio::test]
async fn call_headers_are_sent_but_never_replace_the_providers_own() {
    let up = serve(|_| Plan::ok("{}")).await;
    let p = provider(
        ProviderKind::Anthropic,
        &format!("{}/v1", up.base()),
        |_| {},
    );
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut headers = http::HeaderMap::new();
    headers.insert("traceparent", http::HeaderValue::from_static(traceparent));
    headers.insert("x-api-key", http::HeaderValue::from_static("not-the-key"));
    p.send(UpstreamCall {
        headers,
        ..chat("claude", false)
    })
    .await
    .expect("ok");
    let rec = up.last();
    assert_eq!(header(&rec, "traceparent"), Some(traceparent));
    assert_eq!(header(&rec, "x-api-key"), Some("sk-secret-key"));
}

#[tokio::test]
async fn send_whole_posts_and_reads_the_answer_within_its_limit() {
    let up = serve(|_| Plan::ok(OPENAI_OK)).await;
    let client = HttpClient::new().expect("client");
    let request = |body: &'static str| {
        http::Request::post(format!("{}/v1/traces", up.base()))
            .header("content-type", "application/x-protobuf")
            .body(Bytes::from_static(body.as_bytes()))
            .expect("request")
    };
    let answer = client
        .send_whole(request("spans"), 1 << 20, Duration::from_secs(5))
        .await
        .expect("answered");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.body(), OPENAI_OK.as_bytes());
    let rec = up.last();
    assert_eq!(
        (rec.method.as_str(), rec.uri.as_str()),
        ("POST", "/v1/traces")
    );
    assert_eq!(rec.body, "spans");
    assert_eq!(header(&rec, "content-type"), Some("application/x-protobuf"));
    let too_long = client
        .send_whole(request("spans"), 10, Duration::from_secs(5))
        .await;
    assert!(too_long.is_err(), "an answer past the limit is an error");
}

#[tokio::test]
async fn gemini_sends_key_header_and_alt_sse() {
    let up = serve(|_| Plan::ok("{}")).await;
    let p = provider(ProviderKind::Gemini, &up.base(), |_| {});
    p.send(chat("gemini-2.5-flash", true)).await.expect("ok");
    let rec = up.last();
    assert_eq!(
        rec.uri,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(header(&rec, "x-goog-api-key"), Some("sk-secret-key"));
    assert_eq!(header(&rec, "authorization"), None);
    p.send(chat("models/gemini-2.5-flash", false))
        .await
        .expect("ok");
    assert_eq!(
        up.last().uri,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
}

#[tokio::test]
async fn ollama_native_paths_without_key() {
    let up = serve(|_| Plan::ok("{}")).await;
    let mut cfg = ProviderConfig::new(ProviderKind::Ollama);
    cfg.base_url = Some(up.base());
    let p = Provider::new("o", &cfg, &HttpClient::new().expect("client")).expect("ollama");
    p.send(chat("llama3", true)).await.expect("ok");
    let rec = up.last();
    assert_eq!(rec.uri, "/api/chat");
    assert_eq!(header(&rec, "authorization"), None);
}

#[tokio::test]
async fn error_status_becomes_upstream_blamed_error_with_retry_after() {
    let up = serve(|_| {
        let mut plan = Plan::status(
            429,
            r#"{"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#,
        );
        plan.headers.push(("retry-after", "7".into()));
        plan
    })
    .await;
    let p = provider(ProviderKind::OpenAi, &up.base(), |_| {});
    let err = p.send(chat("m", false)).await.expect_err("429");
    assert_eq!(err.kind, ErrorKind::RateLimited);
    assert_eq!(err.blame, Blame::Upstream);
    assert!(err.retryable);
    assert_eq!(err.retry_after, Some(7));
    assert!(err.message.contains("slow down"), "{}", err.message);

    let up = serve(|_| {
        Plan::status(
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"bad field"}}"#,
        )
    })
    .await;
    let p = provider(ProviderKind::Anthropic, &up.base(), |_| {});
    let err = p.send(chat("m", false)).await.expect_err("400");
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert_eq!(err.blame, Blame::Upstream);
    assert!(!err.retryable);

    let up = serve(|_| Plan::status(503, "overloaded")).await;
    let p = provider(ProviderKind::OpenAi, &up.base(), |_| {});
    let err = p.send(chat("m", false)).await.expect_err("503");
    assert!(err.retryable);
    assert_eq!(err.blame, Blame::Upstream);
}

#[tokio::test]
async fn connect_refused_is_retryable_upstream_naming_the_provider_not_the_host() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let p = provider(ProviderKind::OpenAi, &format!("http://{addr}"), |_| {});
    let err = p.send(chat("m", false)).await.expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Upstream);
    assert!(err.retryable);
    assert_eq!(
        err.message,
        "provider `up` is unreachable: the connection was refused"
    );
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_named_as_such_without_the_host() {
    let p = provider(
        ProviderKind::OpenAi,
        "http://does-not-exist.invalid:8123",
        |_| {},
    );
    let err = p.send(chat("m", false)).await.expect_err("no such host");
    assert_eq!(err.kind, ErrorKind::Upstream);
    assert_eq!(
        err.message,
        "provider `up` is unreachable: its host name did not resolve (DNS)"
    );
}

#[tokio::test]
async fn first_byte_timeout() {
    let up = serve(|_| {
        let mut plan = Plan::ok(OPENAI_OK);
        plan.head_delay = Duration::from_secs(3);
        plan
    })
    .await;
    let p = provider(ProviderKind::OpenAi, &up.base(), |c| {
        c.timeouts.first_byte_ms = 200
    });
    let started = std::time::Instant::now();
    let err = p.send(chat("m", false)).await.expect_err("timeout");
    assert_eq!(err.kind, ErrorKind::UpstreamTimeout);
    assert!(err.retryable);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_callers_earlier_deadline_stands_in_for_the_first_byte_timer() {
    let up = serve(|_| {
        let mut plan = Plan::ok(OPENAI_OK);
        plan.head_delay = Duration::from_millis(400);
        plan
    })
    .await;
    let p = provider(ProviderKind::OpenAi, &up.base(), |c| {
        c.timeouts.first_byte_ms = 200
    });
    // A caller whose own limit comes later leaves the provider's in force.
    let later = tokio::time::Instant::now() + Duration::from_secs(30);
    let err = p
        .send_within(chat("m", false), Some(later))
        .await
        .expect_err("the provider's own limit");
    assert_eq!(err.kind, ErrorKind::UpstreamTimeout);
    assert!(err.message.contains("first_byte_ms"), "{}", err.message);
    // One whose limit comes first keeps it itself: the provider armed no timer, so
    // a caller that does not enforce it sees the answer that came after 200 ms.
    let sooner = tokio::time::Instant::now() + Duration::from_millis(100);
    let reply = p
        .send_within(chat("m", false), Some(sooner))
        .await
        .expect("no timer of the provider's");
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn idle_timeout_between_chunks() {
    let up = serve(|_| Plan {
        status: 200,
        headers: vec![("content-type", "text/event-stream".into())],
        head_delay: Duration::ZERO,
        chunks: vec![
            (Duration::ZERO, Bytes::from_static(b"data: {}\n\n")),
            (Duration::from_secs(3), Bytes::from_static(b"data: {}\n\n")),
        ],
        end: End::Finish,
    })
    .await;
    let p = provider(ProviderKind::OpenAi, &up.base(), |c| {
        c.timeouts.idle_ms = 200
    });
    let body = body_of(p.send(chat("m", true)).await.expect("headers")).await;
    assert_eq!(body.len(), 2);
    assert!(body[0].is_ok());
    let err = body[1].as_ref().expect_err("idle");
    assert_eq!(err.kind, ErrorKind::UpstreamTimeout);
}

#[tokio::test]
async fn total_deadline_ends_the_stream() {
    let up = serve(|_| Plan {
        status: 200,
        headers: vec![],
        head_delay: Duration::ZERO,
        chunks: vec![(Duration::ZERO, Bytes::from_static(b"data: {}\n\n"))],
        end: End::Forever,
    })
    .await;
    let p = provider(ProviderKind::OpenAi, &up.base(), |c| {
        c.timeouts.total_ms = 300
    });
    let body = body_of(p.send(chat("m", true)).await.expect("headers")).await;
    let err = body.last().expect("items").as_ref().expect_err("deadline");
    assert_eq!(err.kind, ErrorKind::UpstreamTimeout);
    assert!(err.message.contains("total_ms"), "{}", err.message);
}

#[tokio::test]
async fn mid_stream_cut_is_an_upstream_error() {
    let up = serve(|_| Plan {
        status: 200,
        headers: vec![("content-type", "text/event-stream".into())],
        head_delay: Duration::ZERO,
        chunks: vec![(Duration::ZERO, Bytes::from_static(b"data: {}\n\n"))],
        end: End::Cut,
    })
    .await;
    let p = provider(ProviderKind::OpenAi, &up.base(), |_| {});
    let body = body_of(p.send(chat("m", true)).await.expect("headers")).await;
    assert!(body[0].is_ok());
    let err = body.last().expect("items").as_ref().expect_err("cut");
    assert_eq!(err.kind, ErrorKind::Upstream);
    assert_eq!(err.blame, Blame::Upstream);
}

#[tokio::test]
async fn dropping_the_body_closes_the_upstream_connection() {
    let up = serve(|_| Plan {
        status: 200,
        headers: vec![("content-type", "text/event-stream".into())],
        head_delay: Duration::ZERO,
        chunks: vec![(Duration::ZERO, Bytes::from_static(b"data: {}\n\n"))],
        end: End::Forever,
    })
    .await;
    let p = provider(ProviderKind::OpenAi, &up.base(), |_| {});
    let mut reply = p.send(chat("m", true)).await.expect("headers");
    assert!(reply.body.next().await.expect("a chunk").is_ok());
    drop(reply);
    tokio::time::timeout(Duration::from_secs(5), up.closed.notified())
        .await
        .expect("the upstream saw its connection closed");
}

#[test]
fn config_deserialises_with_deny_unknown_fields() {
    #[derive(serde::Deserialize)]
    struct Wrap {
        p: ProviderConfig,
    }
    let ok: Result<Wrap, _> = serde_json::from_str(
        r#"{"p":{"kind":"openai_compatible","preset":"groq","api_key":"k","timeouts":{"idle_ms":5}}}"#,
    );
    let cfg = ok.expect("valid").p;
    assert_eq!(cfg.kind, ProviderKind::OpenAiCompatible);
    assert_eq!(cfg.timeouts.idle_ms, 5);
    assert_eq!(cfg.timeouts.connect_ms, 10_000);
    let bad: Result<Wrap, _> = serde_json::from_str(r#"{"p":{"kind":"openai","base_uri":"x"}}"#);
    assert!(bad.is_err());
}

#[test]
fn each_kind_supports_the_operations_it_has_an_endpoint_for() {
    use Operation::{Chat, CountTokens, Embeddings, ListModels};
    let table = [
        (ProviderKind::OpenAi, [true, true, false, true]),
        (ProviderKind::OpenAiCompatible, [true, true, false, true]),
        (ProviderKind::Anthropic, [true, false, true, true]),
        (ProviderKind::Gemini, [true, true, true, true]),
        (ProviderKind::Ollama, [true, true, false, true]),
    ];
    for (kind, want) in table {
        let p = provider(kind, "http://127.0.0.1:9", |_| {});
        let got = [Chat, Embeddings, CountTokens, ListModels].map(|op| p.supports(op));
        assert_eq!(got, want, "{kind:?}");
    }
}
