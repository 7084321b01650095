//! Cohere's native v2 Chat against loopback upstreams: the path and Bearer key, the
//! body as it is, the SSE stream passed through, and Cohere's statuses as gateway
//! errors (498, Cohere's invalid token, among them).

use crate::support;

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_protocol::{ApiShape, Blame, ErrorKind};
use gateway_providers::{
    HttpClient, Operation, Provider, ProviderConfig, ProviderKind, UpstreamCall,
};
use support::{Plan, Recorded, serve};

const MODEL: &str = "command-a-03-2025";
const BODY: &str =
    r#"{"model":"command-a-03-2025","messages":[{"role":"user","content":"hi"}],"stream":false}"#;
const ANSWER: &str = r#"{"id":"x","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"hello"}]},"usage":{"billed_units":{"input_tokens":1,"output_tokens":1}}}"#;

fn cohere(base: Option<&str>) -> Provider {
    let mut cfg = ProviderConfig::new(ProviderKind::Cohere);
    cfg.base_url = base.map(str::to_owned);
    cfg.api_key = Some("co-test-key".into());
    Provider::new("co", &cfg, &HttpClient::new().expect("client")).expect("provider")
}

fn chat(stream: bool) -> UpstreamCall {
    UpstreamCall {
        operation: Operation::Chat,
        model: MODEL.to_owned(),
        stream,
        body: Bytes::from_static(BODY.as_bytes()),
        headers: Default::default(),
    }
}

#[tokio::test]
async fn chat_posts_the_body_to_v2_chat_with_a_bearer_key() {
    let up = serve(|rec: &Recorded| {
        match rec
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
        {
            Some("Bearer co-test-key") => Plan::ok(ANSWER),
            _ => Plan::status(401, r#"{"message":"no api key supplied"}"#),
        }
    })
    .await;
    // A base given with the version is stored without it, so it is not doubled.
    let p = cohere(Some(&format!("{}/v2/", up.base())));
    assert_eq!(p.shape(), ApiShape::Cohere);
    assert_eq!(p.base_url(), up.base());
    assert!(!p.supports(Operation::Embeddings) && !p.supports(Operation::ListModels));
    let reply = p.send(chat(false)).await.expect("answered");
    assert_eq!(reply.status, 200);
    let rec = up.last();
    assert_eq!(
        (rec.method.as_str(), rec.uri.as_str()),
        ("POST", "/v2/chat")
    );
    assert_eq!(rec.body, BODY.as_bytes());
    assert!(rec.headers.get("x-api-key").is_none());
}

#[test]
fn the_default_base_is_cohere_and_a_key_is_required() {
    let p = cohere(None);
    assert_eq!(p.base_url(), "https://api.cohere.com");
    let cfg = ProviderConfig::new(ProviderKind::Cohere);
    let err = Provider::new("co", &cfg, &HttpClient::new().expect("client"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("COHERE_API_KEY"), "{err}");
}

#[tokio::test]
async fn the_stream_passes_through_as_it_arrives() {
    let sse = "event: message-start\ndata: {\"type\":\"message-start\",\"id\":\"x\"}\n\n\
               event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n\n";
    let up = serve(move |_| {
        let mut plan = Plan::ok("");
        plan.headers = vec![("content-type", "text/event-stream".into())];
        plan.chunks = sse
            .as_bytes()
            .chunks(9)
            .map(|c| (std::time::Duration::ZERO, Bytes::copy_from_slice(c)))
            .collect();
        plan
    })
    .await;
    let reply = cohere(Some(&up.base()))
        .send(chat(true))
        .await
        .expect("stream");
    let mut got = Vec::new();
    let mut body = reply.body;
    while let Some(chunk) = body.next().await {
        got.extend_from_slice(&chunk.expect("chunk"));
    }
    assert_eq!(got, sse.as_bytes());
    assert_eq!(up.last().uri, "/v2/chat");
}

#[tokio::test]
async fn cohere_statuses_become_gateway_errors() {
    for (status, want_kind, want_status, retry) in [
        (400, ErrorKind::InvalidRequest, 400, false),
        (401, ErrorKind::Authentication, 401, false),
        (498, ErrorKind::Authentication, 401, false),
        (422, ErrorKind::InvalidRequest, 400, false),
        (429, ErrorKind::RateLimited, 429, true),
        (500, ErrorKind::Upstream, 500, true),
        (503, ErrorKind::Overloaded, 503, true),
    ] {
        let up = serve(move |_| {
            let mut plan = Plan::status(status, r#"{"id":"r1","message":"from Cohere"}"#);
            plan.headers.push(("retry-after", "2".into()));
            plan
        })
        .await;
        let err = cohere(Some(&up.base()))
            .send(chat(false))
            .await
            .expect_err("error");
        assert_eq!(
            (err.kind, err.status, err.retryable),
            (want_kind, want_status, retry),
            "{status}"
        );
        assert_eq!(err.message, "from Cohere");
        assert_eq!(err.blame, Blame::Upstream);
        assert_eq!(err.upstream_status, Some(status));
        assert_eq!(err.retry_after, Some(2), "{status}");
    }
}
