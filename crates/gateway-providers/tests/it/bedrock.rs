//! Bedrock against loopback upstreams: the path with its encoded model id, the SigV4
//! signature (checked with the configured secret), the event stream passed through,
//! and AWS's errors as gateway errors.

use crate::support;

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_protocol::{ApiShape, Blame, ErrorKind};
use gateway_providers::aws;
use gateway_providers::{
    HttpClient, Operation, Provider, ProviderConfig, ProviderKind, UpstreamCall,
};
use gateway_translate::framing::eventstream::{self, Header};
use support::{Plan, Recorded, serve};

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const BODY: &str = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
const ANSWER: &str = r#"{"output":{"message":{"role":"assistant","content":[{"text":"hello"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":1,"totalTokens":4}}"#;

fn bedrock(base: &str, edit: impl FnOnce(&mut ProviderConfig)) -> Provider {
    let mut cfg = ProviderConfig::new(ProviderKind::Bedrock);
    cfg.base_url = Some(base.to_owned());
    cfg.region = Some("us-west-2".into());
    cfg.access_key_id = Some("AKIDTEST".into());
    cfg.secret_access_key = Some("test-secret".into());
    edit(&mut cfg);
    Provider::new("aws", &cfg, &HttpClient::new().expect("client")).expect("provider")
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

/// The signature check the upstream makes, with the test key's secret.
fn verified(rec: &Recorded) -> Result<(), String> {
    let uri: http::Uri = rec.uri.parse().map_err(|e| format!("{e}"))?;
    let secret = |id: &str| (id == "AKIDTEST").then(|| "test-secret".to_owned());
    aws::verify(&secret, &rec.method, &uri, &rec.headers, &rec.body)
}

#[tokio::test]
async fn converse_is_signed_for_the_region_and_posts_the_body_as_it_is() {
    let up = serve(|rec: &Recorded| match verified(rec) {
        Ok(()) => Plan::ok(ANSWER),
        Err(why) => Plan::status(403, &format!(r#"{{"message":"{why}"}}"#)),
    })
    .await;
    let p = bedrock(&up.base(), |c| c.session_token = Some("session-tok".into()));
    assert_eq!(p.shape(), ApiShape::Bedrock);
    assert!(!p.supports(Operation::Embeddings) && !p.supports(Operation::ListModels));
    let reply = p.send(chat(false)).await.expect("signed call answered");
    assert_eq!(reply.status, 200);
    let rec = up.last();
    assert_eq!(
        rec.uri,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    assert_eq!(rec.body, BODY.as_bytes());
    let auth = rec.headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
            && auth.contains("/us-west-2/bedrock/aws4_request")
            && auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"),
        "{auth}"
    );
    assert_eq!(rec.headers["x-amz-security-token"], "session-tok");
    assert!(rec.headers.get("x-api-key").is_none());
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_checking_upstream() {
    let up = serve(|rec: &Recorded| match verified(rec) {
        Ok(()) => Plan::ok(ANSWER),
        Err(why) => {
            let mut plan = Plan::status(403, &format!(r#"{{"message":"{why}"}}"#));
            plan.headers
                .push(("x-amzn-errortype", "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/".into()));
            plan
        }
    })
    .await;
    let p = bedrock(&up.base(), |c| {
        c.secret_access_key = Some("not-the-secret".into())
    });
    let err = p.send(chat(false)).await.expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Authentication, "{err:?}");
    assert!(
        err.message.contains("signature does not match"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn converse_stream_passes_the_event_stream_through() {
    let mut bytes = Vec::new();
    for (event, payload) in [
        ("messageStart", r#"{"role":"assistant"}"#),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"hello"}}"#,
        ),
        ("messageStop", r#"{"stopReason":"end_turn"}"#),
    ] {
        let headers = [
            Header::string(":event-type", event),
            Header::string(":content-type", "application/json"),
            Header::string(":message-type", "event"),
        ];
        eventstream::encode(&headers, payload.as_bytes(), &mut bytes);
    }
    let body = bytes.clone();
    let up = serve(move |_| {
        let mut plan = Plan::ok("");
        plan.headers = vec![("content-type", "application/vnd.amazon.eventstream".into())];
        plan.chunks = body
            .chunks(13)
            .map(|c| (std::time::Duration::ZERO, Bytes::copy_from_slice(c)))
            .collect();
        plan
    })
    .await;
    let p = bedrock(&up.base(), |_| {});
    let reply = p.send(chat(true)).await.expect("stream");
    let mut got = Vec::new();
    let mut body = reply.body;
    while let Some(chunk) = body.next().await {
        got.extend_from_slice(&chunk.expect("chunk"));
    }
    assert_eq!(got, bytes);
    let rec = up.last();
    assert!(rec.uri.ends_with("/converse-stream"), "{}", rec.uri);
    assert_eq!(rec.headers["accept"], "application/vnd.amazon.eventstream");
    assert!(verified(&rec).is_ok());
}

#[tokio::test]
async fn aws_errors_become_gateway_errors_by_their_type() {
    for (status, kind, want_kind, want_status, retry) in [
        (
            429,
            "ThrottlingException",
            ErrorKind::RateLimited,
            429,
            true,
        ),
        (
            400,
            "ValidationException",
            ErrorKind::InvalidRequest,
            400,
            false,
        ),
        (
            403,
            "AccessDeniedException",
            ErrorKind::PermissionDenied,
            403,
            false,
        ),
        (
            503,
            "ServiceUnavailableException",
            ErrorKind::Overloaded,
            503,
            true,
        ),
        (
            429,
            "ModelNotReadyException",
            ErrorKind::Overloaded,
            503,
            true,
        ),
    ] {
        let up = serve(move |_| {
            let mut plan = Plan::status(status, r#"{"message":"from AWS"}"#);
            plan.headers.push((
                "x-amzn-errortype",
                format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            ));
            plan.headers.push(("retry-after", "3".into()));
            plan
        })
        .await;
        let p = bedrock(&up.base(), |_| {});
        let err = p.send(chat(false)).await.expect_err("error");
        assert_eq!(
            (err.kind, err.status, err.retryable),
            (want_kind, want_status, retry),
            "{kind}"
        );
        assert_eq!(err.message, "from AWS");
        assert_eq!(err.blame, Blame::Upstream);
        assert_eq!(err.upstream_status, Some(status));
        assert_eq!(err.retry_after, Some(3), "{kind}");
    }
}

#[test]
fn settings_of_other_kinds_are_refused_and_bedrock_needs_a_region() {
    let client = HttpClient::new().expect("client");
    let mut cfg = ProviderConfig::new(ProviderKind::OpenAi);
    cfg.api_key = Some("sk".into());
    cfg.region = Some("us-east-1".into());
    let err = Provider::new("o", &cfg, &client).unwrap_err().to_string();
    assert!(err.contains("`region` does not apply"), "{err}");
    let mut cfg = ProviderConfig::new(ProviderKind::Bedrock);
    cfg.access_key_id = Some("AKID".into());
    cfg.secret_access_key = Some("s".into());
    cfg.api_key = Some("k".into());
    cfg.region = Some("eu-central-1".into());
    let err = Provider::new("b", &cfg, &client).unwrap_err().to_string();
    assert!(err.contains("api_key"), "{err}");
    cfg.api_key = None;
    let p = Provider::new("b", &cfg, &client).expect("provider");
    assert_eq!(
        p.base_url(),
        "https://bedrock-runtime.eu-central-1.amazonaws.com"
    );
}

const CLAUDE_BODY: &str = r#"{"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":64,"messages":[{"role":"user","content":"hi"}],"stream":true}"#;

#[tokio::test]
async fn claude_on_bedrock_invokes_with_the_native_body_and_unwraps_the_stream() {
    let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let mut wrapped = Vec::new();
    let mut w = gateway_translate::bedrock::invoke::Wrapper::new();
    w.push(sse.as_bytes(), &mut wrapped);
    w.finish(&mut wrapped);
    let up = serve(move |rec: &Recorded| {
        if let Err(why) = verified(rec) {
            return Plan::status(403, &format!(r#"{{"message":"{why}"}}"#));
        }
        let mut plan = Plan::ok("");
        plan.headers = vec![("content-type", "application/vnd.amazon.eventstream".into())];
        plan.chunks = wrapped
            .chunks(9)
            .map(|c| (std::time::Duration::ZERO, Bytes::copy_from_slice(c)))
            .collect();
        plan
    })
    .await;
    let mut cfg = ProviderConfig::new(ProviderKind::BedrockAnthropic);
    cfg.base_url = Some(up.base());
    cfg.region = Some("us-east-1".into());
    cfg.access_key_id = Some("AKIDTEST".into());
    cfg.secret_access_key = Some("test-secret".into());
    let p = Provider::new("claude", &cfg, &HttpClient::new().expect("client")).expect("provider");
    assert_eq!(p.shape(), ApiShape::Anthropic);
    let call = UpstreamCall {
        body: Bytes::from_static(CLAUDE_BODY.as_bytes()),
        ..chat(true)
    };
    let reply = p.send(call).await.expect("stream");
    let mut got = Vec::new();
    let mut body = reply.body;
    while let Some(chunk) = body.next().await {
        got.extend_from_slice(&chunk.expect("chunk"));
    }
    assert_eq!(String::from_utf8(got).unwrap(), sse);
    let rec = up.last();
    assert_eq!(
        rec.uri,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream"
    );
    let sent: serde_json::Value = serde_json::from_slice(&rec.body).unwrap();
    assert_eq!(sent["anthropic_version"], "bedrock-2023-05-31");
    assert!(
        sent.get("model").is_none() && sent.get("stream").is_none(),
        "{sent}"
    );
    assert_eq!(sent["max_tokens"], 64);
    assert!(rec.headers.get("anthropic-version").is_none());

    // A whole answer goes to /invoke, asking for JSON.
    let whole = UpstreamCall {
        body: Bytes::from_static(CLAUDE_BODY.as_bytes()),
        ..chat(false)
    };
    let _ = p.send(whole).await;
    let rec = up.last();
    assert!(rec.uri.ends_with("/invoke"), "{}", rec.uri);
    assert_eq!(rec.headers["accept"], "application/json");
}
