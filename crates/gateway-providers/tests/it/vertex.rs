//! Vertex AI against loopback mocks: a token endpoint that checks each signed JWT
//! and counts the tokens it issues, and Vertex upstreams that record paths, tokens
//! and bodies.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use futures_util::StreamExt;
use gateway_protocol::{Blame, ErrorKind};
use gateway_providers::{
    HttpClient, Operation, Provider, ProviderConfig, ProviderError, ProviderKind, UpstreamCall,
};
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use support::{Plan, Recorded, Upstream, serve};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vertex");
const EMAIL: &str = "patchbay-test@patchbay-test.iam.gserviceaccount.com";
const GEMINI_OK: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}]}"#;

/// A mock token endpoint: verifies each assertion and issues `ya29.test-<n>`.
struct TokenEndpoint {
    up: Upstream,
    issued: Arc<AtomicUsize>,
    /// The HTTP status to answer with (200: issue a token).
    status: Arc<AtomicU64>,
    /// The `expires_in` of issued tokens.
    lifetime: Arc<AtomicU64>,
    /// How long it takes to answer, in ms.
    delay_ms: Arc<AtomicU64>,
}

impl TokenEndpoint {
    async fn start(delay: Duration) -> TokenEndpoint {
        let issued = Arc::new(AtomicUsize::new(0));
        let status = Arc::new(AtomicU64::new(200));
        let lifetime = Arc::new(AtomicU64::new(3600));
        let delay_ms = Arc::new(AtomicU64::new(delay.as_millis() as u64));
        let (n, s, l, d) = (
            issued.clone(),
            status.clone(),
            lifetime.clone(),
            delay_ms.clone(),
        );
        let up = serve(move |rec: &Recorded| {
            let status = s.load(Ordering::SeqCst) as u16;
            let mut plan = if status != 200 {
                Plan::status(
                    status,
                    r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
                )
            } else if let Err(why) = check_assertion(rec) {
                Plan::status(400, &format!(r#"{{"error":"test_rejected","why":"{why}"}}"#))
            } else {
                let id = n.fetch_add(1, Ordering::SeqCst) + 1;
                let expires = l.load(Ordering::SeqCst);
                Plan::ok(&format!(
                    r#"{{"access_token":"ya29.test-{id}","expires_in":{expires},"token_type":"Bearer"}}"#
                ))
            };
            plan.head_delay = Duration::from_millis(d.load(Ordering::SeqCst));
            plan
        })
        .await;
        TokenEndpoint {
            up,
            issued,
            status,
            lifetime,
            delay_ms,
        }
    }

    fn uri(&self) -> String {
        format!("{}/token", self.up.base())
    }

    fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }
}

/// The form's JWT: its claims, and its signature by the fixture's public key.
fn check_assertion(rec: &Recorded) -> Result<(), String> {
    let form = std::str::from_utf8(&rec.body).map_err(|_| "body not utf-8")?;
    let mut grant = None;
    let mut assertion = None;
    for pair in form.split('&') {
        match pair.split_once('=') {
            Some(("grant_type", v)) => grant = Some(v),
            Some(("assertion", v)) => assertion = Some(v),
            _ => {}
        }
    }
    if grant != Some("urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer") {
        return Err("grant_type".into());
    }
    let content_type = rec
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    if content_type != Some("application/x-www-form-urlencoded") {
        return Err("content-type".into());
    }
    let jwt = assertion.ok_or("no assertion")?;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err("not three parts".into());
    };
    let json = |s: &str| -> Result<serde_json::Value, String> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| "base64url")?;
        serde_json::from_slice(&bytes).map_err(|_| "json".into())
    };
    let header = json(header)?;
    let claims = json(claims)?;
    if header["alg"] != "RS256" || header["kid"] != "test-only-key-0001" {
        return Err("header".into());
    }
    let token_uri = format!(
        "http://{}/token",
        rec.headers["host"].to_str().unwrap_or("")
    );
    let (iat, exp) = (claims["iat"].as_u64(), claims["exp"].as_u64());
    if claims["iss"] != EMAIL
        || claims["aud"] != token_uri.as_str()
        || claims["scope"] != "https://www.googleapis.com/auth/cloud-platform"
        || exp.zip(iat).map(|(e, i)| e - i) != Some(3600)
    {
        return Err(format!("claims {claims}"));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    if iat.is_none_or(|i| i.abs_diff(now) > 60) {
        return Err("iat is not now".into());
    }
    let public_pem =
        std::fs::read_to_string(format!("{FIXTURES}/TEST-ONLY-service-account.pub.pem"))
            .map_err(|_| "public key fixture")?;
    let public_der = STANDARD
        .decode(
            public_pem
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .map_err(|_| "public key base64")?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| "signature")?;
    let signed = &jwt[..jwt.rfind('.').unwrap_or(0)];
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_der)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| "bad signature".into())
}

/// The fixture key file with its `token_uri` pointed at `token_uri`, written to a
/// temporary file removed on drop.
struct KeyFile(std::path::PathBuf);

impl KeyFile {
    fn pointing_at(token_uri: &str) -> KeyFile {
        static N: AtomicUsize = AtomicUsize::new(0);
        let text = std::fs::read_to_string(format!("{FIXTURES}/TEST-ONLY-service-account.json"))
            .expect("fixture");
        let mut key: serde_json::Value = serde_json::from_str(&text).expect("json");
        key["token_uri"] = token_uri.into();
        let path = std::env::temp_dir().join(format!(
            "patchbay-vertex-test-{}-{}.json",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, key.to_string()).expect("write key file");
        KeyFile(path)
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn vertex(kind: ProviderKind, base: &str, edit: impl FnOnce(&mut ProviderConfig)) -> Provider {
    let mut cfg = ProviderConfig::new(kind);
    cfg.base_url = Some(base.to_owned());
    cfg.project = Some("proj-1".into());
    cfg.location = Some("europe-west4".into());
    edit(&mut cfg);
    Provider::new("vx", &cfg, &HttpClient::new().expect("client")).expect("provider")
}

fn chat(model: &str, stream: bool, body: &'static str) -> UpstreamCall {
    UpstreamCall {
        operation: Operation::Chat,
        model: model.to_owned(),
        stream,
        body: Bytes::from_static(body.as_bytes()),
        headers: Default::default(),
    }
}

const GEMINI_BODY: &str = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
const CLAUDE_BODY: &str = r#"{"model":"claude-sonnet-4@20250514","max_tokens":64,"messages":[{"role":"user","content":"hi"}],"stream":true}"#;

fn header<'a>(rec: &'a Recorded, name: &str) -> Option<&'a str> {
    rec.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn gemini_on_vertex_mints_one_token_and_reuses_it_for_both_methods() {
    let tokens = TokenEndpoint::start(Duration::ZERO).await;
    let key = KeyFile::pointing_at(&tokens.uri());
    let up = serve(|_| Plan::ok(GEMINI_OK)).await;
    let p = vertex(ProviderKind::Vertex, &up.base(), |c| {
        c.credentials_file = Some(key.0.display().to_string());
    });
    assert!(p.supports(Operation::Embeddings) && !p.supports(Operation::ListModels));
    let reply = p
        .send(chat("gemini-2.5-flash", false, GEMINI_BODY))
        .await
        .expect("ok");
    assert_eq!(reply.status, 200);
    let rec = up.last();
    assert_eq!(
        rec.uri,
        "/v1/projects/proj-1/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(header(&rec, "authorization"), Some("Bearer ya29.test-1"));
    assert_eq!(header(&rec, "x-goog-api-key"), None);
    assert_eq!(rec.body, GEMINI_BODY, "the Gemini body goes as it came");

    p.send(chat("gemini-2.5-flash", true, GEMINI_BODY))
        .await
        .expect("ok");
    let rec = up.last();
    assert_eq!(
        rec.uri,
        "/v1/projects/proj-1/locations/europe-west4/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(header(&rec, "authorization"), Some("Bearer ya29.test-1"));
    p.send(UpstreamCall {
        operation: Operation::CountTokens,
        ..chat(
            "gemini-2.5-flash",
            false,
            r#"{"generateContentRequest":{"model":"models/gemini-2.5-flash","contents":[{"parts":[{"text":"hi"}]}]}}"#,
        )
    })
    .await
    .expect("count");
    let rec = up.last();
    assert!(
        rec.uri
            .ends_with("/publishers/google/models/gemini-2.5-flash:countTokens")
    );
    assert_eq!(rec.body, r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#);
    assert_eq!(tokens.issued(), 1, "the cached token served every call");
}

#[tokio::test]
async fn claude_on_vertex_streams_through_raw_predict_with_a_static_token() {
    let sse = "event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let up = serve(move |_| {
        let mut plan = Plan::ok("");
        plan.headers = vec![("content-type", "text/event-stream".into())];
        let half = sse.len() / 2;
        plan.chunks = vec![
            (Duration::ZERO, Bytes::from_static(&sse.as_bytes()[..half])),
            (
                Duration::from_millis(10),
                Bytes::from_static(&sse.as_bytes()[half..]),
            ),
        ];
        plan
    })
    .await;
    let p = vertex(ProviderKind::VertexAnthropic, &up.base(), |c| {
        c.access_token = Some("ya29.static-token".into());
    });
    let reply = p
        .send(chat("claude-sonnet-4@20250514", true, CLAUDE_BODY))
        .await
        .expect("ok");
    let chunks: Vec<Bytes> = reply
        .body
        .map(|c| c.expect("chunk"))
        .collect::<Vec<_>>()
        .await;
    assert_eq!(
        chunks.concat(),
        sse.as_bytes(),
        "the stream is passed through"
    );
    let rec = up.last();
    assert_eq!(
        rec.uri,
        "/v1/projects/proj-1/locations/europe-west4/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict"
    );
    assert_eq!(
        header(&rec, "authorization"),
        Some("Bearer ya29.static-token")
    );
    assert_eq!(header(&rec, "accept"), Some("text/event-stream"));
    assert_eq!(header(&rec, "anthropic-version"), None);
    assert_eq!(header(&rec, "x-api-key"), None);
    let body: serde_json::Value = serde_json::from_slice(&rec.body).expect("json body");
    assert_eq!(body["anthropic_version"], "vertex-2023-10-16");
    assert!(
        body.get("model").is_none(),
        "the URL names the model: {body}"
    );
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["stream"], true);

    p.send(chat("claude-sonnet-4@20250514", false, CLAUDE_BODY))
        .await
        .expect("ok");
    assert!(
        up.last()
            .uri
            .ends_with("/claude-sonnet-4@20250514:rawPredict")
    );

    // Counting: the URL names no model, so the body keeps it.
    p.send(UpstreamCall {
        operation: Operation::CountTokens,
        ..chat(
            "claude-sonnet-4@20250514",
            false,
            r#"{"model":"claude-sonnet-4@20250514","messages":[{"role":"user","content":"hi"}]}"#,
        )
    })
    .await
    .expect("count");
    let rec = up.last();
    assert_eq!(
        rec.uri,
        "/v1/projects/proj-1/locations/europe-west4/publishers/anthropic/models/count-tokens:rawPredict"
    );
    assert_eq!(
        rec.body,
        r#"{"anthropic_version":"vertex-2023-10-16","model":"claude-sonnet-4@20250514","messages":[{"role":"user","content":"hi"}]}"#
    );
}

#[tokio::test]
async fn concurrent_requests_share_one_token_exchange() {
    let tokens = TokenEndpoint::start(Duration::from_millis(150)).await;
    let key = KeyFile::pointing_at(&tokens.uri());
    let up = serve(|_| Plan::ok(GEMINI_OK)).await;
    let p = vertex(ProviderKind::Vertex, &up.base(), |c| {
        c.credentials_file = Some(key.0.display().to_string());
    });
    let calls = (0..12).map(|_| p.send(chat("gemini-2.5-pro", false, GEMINI_BODY)));
    for reply in futures_util::future::join_all(calls).await {
        assert_eq!(reply.expect("ok").status, 200);
    }
    assert_eq!(tokens.issued(), 1, "no stampede on the token endpoint");
    let requests = up.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 12);
    assert!(
        requests
            .iter()
            .all(|r| header(r, "authorization") == Some("Bearer ya29.test-1"))
    );
}

#[tokio::test]
async fn a_token_near_its_expiry_is_replaced_before_the_next_call() {
    let tokens = TokenEndpoint::start(Duration::ZERO).await;
    // Inside the five-minute margin from the start: every call needs a new one.
    tokens.lifetime.store(299, Ordering::SeqCst);
    let key = KeyFile::pointing_at(&tokens.uri());
    let up = serve(|_| Plan::ok(GEMINI_OK)).await;
    let p = vertex(ProviderKind::Vertex, &up.base(), |c| {
        c.credentials_file = Some(key.0.display().to_string());
    });
    p.send(chat("g", false, GEMINI_BODY)).await.expect("ok");
    assert_eq!(
        header(&up.last(), "authorization"),
        Some("Bearer ya29.test-1")
    );
    p.send(chat("g", false, GEMINI_BODY)).await.expect("ok");
    assert_eq!(
        header(&up.last(), "authorization"),
        Some("Bearer ya29.test-2")
    );
    // Out of the margin: the next token is kept.
    tokens.lifetime.store(3600, Ordering::SeqCst);
    p.send(chat("g", false, GEMINI_BODY)).await.expect("ok");
    p.send(chat("g", false, GEMINI_BODY)).await.expect("ok");
    assert_eq!(
        header(&up.last(), "authorization"),
        Some("Bearer ya29.test-3")
    );
    assert_eq!(tokens.issued(), 3);
}

#[tokio::test]
async fn while_one_request_refreshes_the_others_use_the_token_not_yet_expired() {
    let tokens = TokenEndpoint::start(Duration::ZERO).await;
    tokens.lifetime.store(299, Ordering::SeqCst);
    let key = KeyFile::pointing_at(&tokens.uri());
    let up = serve(|_| Plan::ok(GEMINI_OK)).await;
    let p = vertex(ProviderKind::Vertex, &up.base(), |c| {
        c.credentials_file = Some(key.0.display().to_string());
    });
    p.send(chat("g", false, GEMINI_BODY)).await.expect("ok");
    // Token 1 is inside the refresh margin from the start; the next exchange is slow.
    tokens.delay_ms.store(1500, Ordering::SeqCst);
    let refreshing = {
        let p = p.clone();
        tokio::spawn(async move { p.send(chat("refresher", false, GEMINI_BODY)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    p.send(chat("bystander", false, GEMINI_BODY))
        .await
        .expect("ok");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "the bystander waited for the exchange: {:?}",
        started.elapsed()
    );
    let seen = |model: &str| {
        up.requests
            .lock()
            .expect("lock")
            .iter()
            .find(|r| r.uri.contains(&format!("/models/{model}:")))
            .and_then(|r| header(r, "authorization").map(str::to_owned))
    };
    assert_eq!(seen("bystander").as_deref(), Some("Bearer ya29.test-1"));
    refreshing.await.expect("joined").expect("ok");
    assert_eq!(seen("refresher").as_deref(), Some("Bearer ya29.test-2"));
    assert_eq!(tokens.issued(), 2);
}

#[tokio::test]
async fn a_refused_key_is_a_clear_error_and_the_next_request_tries_again() {
    let tokens = TokenEndpoint::start(Duration::ZERO).await;
    tokens.status.store(400, Ordering::SeqCst);
    let key = KeyFile::pointing_at(&tokens.uri());
    let up = serve(|_| Plan::ok(GEMINI_OK)).await;
    let p = vertex(ProviderKind::Vertex, &up.base(), |c| {
        c.credentials_file = Some(key.0.display().to_string());
    });
    let err = p
        .send(chat("g", false, GEMINI_BODY))
        .await
        .expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Authentication);
    assert_eq!(err.status, 401);
    assert_eq!(err.blame, Blame::Upstream);
    assert!(!err.retryable);
    assert!(
        err.message.contains("invalid_grant") && err.message.contains("credentials_file"),
        "{}",
        err.message
    );
    assert!(
        !err.message.contains("Invalid JWT Signature"),
        "only the code"
    );
    assert!(
        up.requests.lock().expect("lock").is_empty(),
        "Vertex not called"
    );

    tokens.status.store(503, Ordering::SeqCst);
    let err = p
        .send(chat("g", false, GEMINI_BODY))
        .await
        .expect_err("down");
    assert_eq!(err.status, 503);
    assert!(err.retryable, "another target may serve");
    assert!(err.message.contains("HTTP 503"), "{}", err.message);

    tokens.status.store(200, Ordering::SeqCst);
    p.send(chat("g", false, GEMINI_BODY))
        .await
        .expect("recovered");
    assert_eq!(
        header(&up.last(), "authorization"),
        Some("Bearer ya29.test-1")
    );
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_a_retryable_503() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}/token", closed.local_addr().expect("addr"));
    drop(closed);
    let key = KeyFile::pointing_at(&dead);
    let up = serve(|_| Plan::ok(GEMINI_OK)).await;
    let p = vertex(ProviderKind::Vertex, &up.base(), |c| {
        c.credentials_file = Some(key.0.display().to_string());
    });
    let err = p
        .send(chat("g", false, GEMINI_BODY))
        .await
        .expect_err("down");
    assert_eq!((err.status, err.retryable), (503, true));
    assert!(
        err.message.contains("could not be reached") && !err.message.contains("127.0.0.1"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_token_the_upstream_refuses_is_replaced_on_the_next_request() {
    let tokens = TokenEndpoint::start(Duration::ZERO).await;
    let key = KeyFile::pointing_at(&tokens.uri());
    let refuse = Arc::new(AtomicUsize::new(1));
    let r = refuse.clone();
    let up = serve(move |_| {
        if r.swap(0, Ordering::SeqCst) == 1 {
            Plan::status(
                401,
                r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#,
            )
        } else {
            Plan::ok(GEMINI_OK)
        }
    })
    .await;
    let p = vertex(ProviderKind::Vertex, &up.base(), |c| {
        c.credentials_file = Some(key.0.display().to_string());
    });
    let err = p
        .send(chat("g", false, GEMINI_BODY))
        .await
        .expect_err("401");
    assert_eq!(err.upstream_status, Some(401));
    p.send(chat("g", false, GEMINI_BODY)).await.expect("ok");
    assert_eq!(
        header(&up.last(), "authorization"),
        Some("Bearer ya29.test-2")
    );
    assert_eq!(tokens.issued(), 2);
}

#[test]
fn vertex_settings_are_checked_and_name_the_setting() {
    let client = HttpClient::new().expect("client");
    let build = |kind, edit: &dyn Fn(&mut ProviderConfig)| {
        let mut cfg = ProviderConfig::new(kind);
        cfg.project = Some("p".into());
        cfg.access_token = Some("ya29.x".into());
        edit(&mut cfg);
        Provider::new("vx", &cfg, &client)
    };
    let setting = |r: Result<Provider, ProviderError>| r.expect_err("refused").setting();
    assert_eq!(
        setting(build(ProviderKind::Vertex, &|c| c.project = None)),
        Some("project")
    );
    assert_eq!(
        setting(build(ProviderKind::Vertex, &|c| c.api_key = Some("k".into()))),
        Some("api_key")
    );
    assert_eq!(
        setting(build(ProviderKind::Vertex, &|c| c.api_version = Some("v".into()))),
        Some("api_version")
    );
    assert_eq!(
        setting(build(ProviderKind::Gemini, &|c| c.api_key = Some("k".into()))),
        Some("project"),
        "project is Vertex's only"
    );
    assert_eq!(
        setting(build(ProviderKind::Vertex, &|c| {
            c.access_token = None;
            c.credentials_file = Some(format!("{FIXTURES}/README.md"));
        })),
        Some("credentials_file")
    );
    let p = build(ProviderKind::VertexAnthropic, &|c| {
        c.location = Some("global".into());
        c.api_version = Some("vertex-2099-01-01".into());
    })
    .expect("built");
    assert_eq!(
        p.base_url(),
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/anthropic"
    );
    assert_eq!(p.shape(), gateway_protocol::ApiShape::Anthropic);
    let p = build(ProviderKind::Vertex, &|_| {}).expect("built");
    assert_eq!(
        p.base_url(),
        "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/google"
    );
    assert_eq!(p.shape(), gateway_protocol::ApiShape::Gemini);
}

/// A recorded request: the path and JSON body a Vertex upstream receives.
fn recorded(name: &str) -> (String, serde_json::Value) {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    (
        v["path"].as_str().expect("path").to_owned(),
        v["body"].clone(),
    )
}

#[tokio::test]
async fn requests_match_the_recorded_fixtures_the_official_sdks_are_held_to() {
    let up = serve(|_| Plan::ok("{}")).await;
    let with = |kind| {
        vertex(kind, &up.base(), |c| {
            c.location = Some("us-east5".into());
            c.access_token = Some("ya29.fixture".into());
        })
    };
    let body_of = |rec: &Recorded| -> serde_json::Value {
        serde_json::from_slice(&rec.body).expect("json body")
    };

    let (path, body) = recorded("claude-stream-request.json");
    with(ProviderKind::VertexAnthropic)
        .send(chat(
            "claude-sonnet-4-5@20250929",
            true,
            r#"{"model":"claude-sonnet-4-5@20250929","max_tokens":64,"messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        ))
        .await
        .expect("ok");
    let rec = up.last();
    assert_eq!((rec.uri.as_str(), body_of(&rec)), (path.as_str(), body));
    assert_eq!(header(&rec, "authorization"), Some("Bearer ya29.fixture"));

    let (path, body) = recorded("gemini-request.json");
    with(ProviderKind::Vertex)
        .send(chat("gemini-2.5-flash", false, GEMINI_BODY))
        .await
        .expect("ok");
    let rec = up.last();
    assert_eq!((rec.uri.as_str(), body_of(&rec)), (path.as_str(), body));

    // What the gateway encodes for OpenAI `input: ["first", "second"]` with
    // `dimensions: 2`, plus a task type a Gemini caller may set.
    let (path, body) = recorded("embed-request.json");
    let entry = |text: &str| {
        format!(
            r#"{{"model":"models/text-embedding-005","content":{{"parts":[{{"text":"{text}"}}]}},"taskType":"RETRIEVAL_QUERY","outputDimensionality":2}}"#
        )
    };
    let batch = format!(r#"{{"requests":[{},{}]}}"#, entry("first"), entry("second"));
    // The answer is not read here: `{}` is no predictions list.
    let _ = with(ProviderKind::Vertex)
        .send(UpstreamCall {
            operation: Operation::Embeddings,
            body: Bytes::from(batch),
            ..chat("text-embedding-005", false, "")
        })
        .await
        .expect("ok");
    let rec = up.last();
    assert_eq!((rec.uri.as_str(), body_of(&rec)), (path.as_str(), body));
}

#[tokio::test]
async fn embeddings_go_to_predict_and_come_back_as_a_gemini_batch() {
    let up = serve(|_| {
        Plan::ok(
            r#"{"predictions":[{"embeddings":{"statistics":{"truncated":false,"token_count":1},"values":[0.25,-1]}},{"embeddings":{"statistics":{"truncated":false,"token_count":1},"values":[0.5,2]}}]}"#,
        )
    })
    .await;
    let p = vertex(ProviderKind::Vertex, &up.base(), |c| {
        c.access_token = Some("ya29.embed".into());
    });
    let reply = p
        .send(UpstreamCall {
            operation: Operation::Embeddings,
            ..chat(
                "text-embedding-005",
                false,
                r#"{"requests":[{"model":"models/text-embedding-005","content":{"parts":[{"text":"a"}]},"outputDimensionality":2},{"model":"models/text-embedding-005","content":{"parts":[{"text":"b"}]},"outputDimensionality":2}]}"#,
            )
        })
        .await
        .expect("ok");
    let chunks: Vec<Bytes> = reply
        .body
        .map(|c| c.expect("chunk"))
        .collect::<Vec<_>>()
        .await;
    assert_eq!(
        chunks.concat(),
        br#"{"embeddings":[{"values":[0.25,-1]},{"values":[0.5,2]}]}"#
    );
    let rec = up.last();
    assert_eq!(
        rec.uri,
        "/v1/projects/proj-1/locations/europe-west4/publishers/google/models/text-embedding-005:predict"
    );
    let sent: serde_json::Value = serde_json::from_slice(&rec.body).expect("json");
    assert_eq!(
        sent,
        serde_json::json!({
            "instances": [{"content": "a"}, {"content": "b"}],
            "parameters": {"outputDimensionality": 2}
        })
    );

    // An answer that is not Vertex's predictions is the upstream's fault, said so.
    let odd = serve(|_| Plan::ok(r#"{"embeddings":[]}"#)).await;
    let p = vertex(ProviderKind::Vertex, &odd.base(), |c| {
        c.access_token = Some("ya29.embed".into());
    });
    let reply = p
        .send(UpstreamCall {
            operation: Operation::Embeddings,
            ..chat(
                "text-embedding-005",
                false,
                r#"{"requests":[{"content":{"parts":[{"text":"a"}]}}]}"#,
            )
        })
        .await
        .expect("headers ok");
    let items: Vec<_> = reply.body.collect().await;
    let err = items
        .into_iter()
        .find_map(Result::err)
        .expect("an error item");
    assert_eq!(err.kind, ErrorKind::Upstream);
    assert!(err.message.contains("predictions"), "{}", err.message);
}
