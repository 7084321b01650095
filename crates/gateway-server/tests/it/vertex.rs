//! Vertex AI through the gateway with a service-account key: a mock token endpoint
//! mints the tokens the mock Vertex upstreams receive, and its failures reach the
//! caller in the caller's own error envelope.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};

use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use support::*;

const KEY_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../gateway-providers/tests/fixtures/vertex/TEST-ONLY-service-account.json"
);

/// A token endpoint answering `status` (200: a fresh token), and what it issued.
struct Tokens {
    uri: String,
    issued: Arc<AtomicUsize>,
    status: Arc<AtomicU16>,
}

async fn token_endpoint() -> Tokens {
    let issued = Arc::new(AtomicUsize::new(0));
    let status = Arc::new(AtomicU16::new(200));
    let (n, s) = (issued.clone(), status.clone());
    let addr = serve_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let (n, s) = (n.clone(), s.clone());
        async move {
            use http_body_util::BodyExt;
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let form = String::from_utf8_lossy(&body);
            let status = s.load(Ordering::SeqCst);
            let answer = if status != 200 {
                r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#
                    .to_owned()
            } else if !form.contains("grant-type%3Ajwt-bearer&assertion=ey") {
                return hyper::Response::builder()
                    .status(400)
                    .body(http_body_util::Full::new(bytes::Bytes::from_static(
                        b"bad form",
                    )))
                    .unwrap();
            } else {
                let id = n.fetch_add(1, Ordering::SeqCst) + 1;
                format!(r#"{{"access_token":"ya29.gw-{id}","expires_in":3600}}"#)
            };
            hyper::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(bytes::Bytes::from(answer)))
                .unwrap()
        }
    })
    .await;
    Tokens {
        uri: format!("http://{addr}/token"),
        issued,
        status,
    }
}

/// The fixture key with its `token_uri` at `uri`, in a file removed on drop.
struct KeyFile(std::path::PathBuf);

impl KeyFile {
    fn pointing_at(uri: &str, name: &str) -> KeyFile {
        let mut key: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(KEY_FIXTURE).unwrap()).unwrap();
        key["token_uri"] = uri.into();
        let path = std::env::temp_dir().join(format!(
            "patchbay-gw-vertex-{}-{name}.json",
            std::process::id()
        ));
        std::fs::write(&path, key.to_string()).unwrap();
        KeyFile(path)
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn gateway(up: &Upstreams, key: &KeyFile) -> Gateway {
    let config = format!(
        r#"{}
[providers.vertex]
kind = "vertex"
base_url = "http://{}"
project = "gw-project"
location = "europe-west4"
credentials_file = "{}"

[providers.vertex_claude]
kind = "vertex_anthropic"
base_url = "http://{}"
project = "gw-project"
location = "europe-west4"
credentials_file = "{}"

[discovery]
enabled = false
"#,
        up.toml(),
        up.gemini,
        key.0.display(),
        up.anthropic,
        key.0.display()
    );
    Gateway::start(&config).await
}

#[tokio::test]
async fn both_families_answer_with_minted_tokens_one_per_provider() {
    let tokens = token_endpoint().await;
    let key = KeyFile::pointing_at(&tokens.uri, "ok");
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = gateway(&up, &key).await;
    for (caller, provider) in [
        (ApiShape::OpenAiChat, "vertex"),
        (ApiShape::Anthropic, "vertex"),
        (ApiShape::OpenAiChat, "vertex_claude"),
        (ApiShape::Gemini, "vertex_claude"),
    ] {
        for stream in [false, true] {
            let model = format!("{provider}/mock-echo");
            let (path, body) = chat_request(caller, &model, "via vertex", stream, false);
            let resp = send(&gw, caller, &path, &body).await;
            assert_eq!(resp.status(), 200, "{caller:?} → {provider}");
            assert_eq!(resp.headers()["x-patchbay-provider"], provider);
            let bytes = resp.bytes().await.unwrap();
            let answer = if stream {
                parse_stream(caller, &bytes, false).unwrap()
            } else {
                parse_whole(caller, &bytes)
            };
            assert_eq!(text_of(&answer), "via vertex", "{caller:?} → {provider}");
        }
    }
    assert_eq!(
        tokens.issued.load(Ordering::SeqCst),
        2,
        "one token per provider, cached across its eight calls"
    );
}

#[tokio::test]
async fn tokens_of_an_anthropic_request_are_counted_by_both_vertex_families() {
    let tokens = token_endpoint().await;
    let key = KeyFile::pointing_at(&tokens.uri, "count");
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = gateway(&up, &key).await;
    let body = serde_json::json!({
        "model": "vertex/gemini-2.5-pro", "system": "Be brief.",
        "messages": [{"role": "user", "content": "count these words please"}],
    });
    let resp = send(&gw, ApiShape::Anthropic, "/v1/messages/count_tokens", &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-patchbay-provider"], "vertex");
    assert!(
        resp.headers().get("x-patchbay-estimate").is_none(),
        "Vertex counted, not the local estimate"
    );
    let counted: serde_json::Value = resp.json().await.unwrap();
    assert!(
        counted["input_tokens"].as_u64().unwrap_or(0) > 0,
        "{counted}"
    );
    assert_eq!(tokens.issued.load(Ordering::SeqCst), 1);

    // Claude on Vertex counts at `count-tokens:rawPredict`.
    let mut body = body;
    body["model"] = "vertex_claude/claude-sonnet-4-5@20250929".into();
    let resp = send(&gw, ApiShape::Anthropic, "/v1/messages/count_tokens", &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-patchbay-provider"], "vertex_claude");
    assert!(resp.headers().get("x-patchbay-estimate").is_none());
    let counted: serde_json::Value = resp.json().await.unwrap();
    assert!(
        counted["input_tokens"].as_u64().unwrap_or(0) > 0,
        "{counted}"
    );
}

#[tokio::test]
async fn openai_embeddings_are_served_by_vertex_predict() {
    let tokens = token_endpoint().await;
    let key = KeyFile::pointing_at(&tokens.uri, "embed");
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = gateway(&up, &key).await;
    let body = serde_json::json!({
        "model": "vertex/text-embedding-005", "input": ["first text", "second text"],
    });
    let resp = send(&gw, ApiShape::OpenAiChat, "/v1/embeddings", &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-patchbay-provider"], "vertex");
    let answer: serde_json::Value = resp.json().await.unwrap();
    let data = answer["data"].as_array().expect("data");
    assert_eq!(data.len(), 2, "{answer}");
    assert!(
        data.iter()
            .all(|d| !d["embedding"].as_array().unwrap().is_empty())
    );
    assert_ne!(
        data[0]["embedding"], data[1]["embedding"],
        "one vector per input"
    );
}

#[tokio::test]
async fn a_token_endpoint_failure_reaches_each_caller_in_its_own_envelope() {
    let tokens = token_endpoint().await;
    tokens.status.store(401, Ordering::SeqCst);
    let key = KeyFile::pointing_at(&tokens.uri, "refused");
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = gateway(&up, &key).await;
    for caller in [ApiShape::OpenAiChat, ApiShape::Anthropic, ApiShape::Gemini] {
        let (path, body) = chat_request(caller, "vertex_claude/mock-echo", "hi", false, false);
        let resp = send(&gw, caller, &path, &body).await;
        assert_eq!(resp.status(), 401, "{caller:?}");
        let err: serde_json::Value = resp.json().await.unwrap();
        let message = match caller {
            ApiShape::Anthropic => {
                assert_eq!(err["type"], "error", "{err}");
                err["error"]["message"].as_str()
            }
            ApiShape::Gemini => {
                assert_eq!(err["error"]["code"], 401, "{err}");
                err["error"]["message"].as_str()
            }
            _ => {
                assert!(err["error"]["type"].is_string(), "{err}");
                err["error"]["message"].as_str()
            }
        }
        .unwrap_or_default()
        .to_owned();
        assert!(
            message.contains("invalid_grant") && message.contains("credentials_file"),
            "{caller:?}: {message}"
        );
    }

    // The endpoint recovers: the next request mints a token and is answered.
    tokens.status.store(200, Ordering::SeqCst);
    let (path, body) = chat_request(
        ApiShape::OpenAiChat,
        "vertex_claude/mock-echo",
        "back",
        false,
        false,
    );
    let resp = send(&gw, ApiShape::OpenAiChat, &path, &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(tokens.issued.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_token_endpoint_outage_is_a_503() {
    let tokens = token_endpoint().await;
    tokens.status.store(500, Ordering::SeqCst);
    let key = KeyFile::pointing_at(&tokens.uri, "outage");
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = gateway(&up, &key).await;
    let (path, body) = chat_request(ApiShape::OpenAiChat, "vertex/mock-echo", "hi", true, false);
    let resp = send(&gw, ApiShape::OpenAiChat, &path, &body).await;
    assert_eq!(resp.status(), 503);
    let err: serde_json::Value = resp.json().await.unwrap();
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("no Vertex AI access token"), "{message}");
}

#[tokio::test]
async fn a_vertex_provider_without_a_project_is_refused_naming_the_setting() {
    let text = "[providers.vx]\nkind = \"vertex\"\naccess_token = \"ya29.x\"\n";
    let config = gateway_server::config::Config::from_toml_str(text, &|_| None).unwrap();
    let err = match gateway_server::app::App::from_config(&config) {
        Ok(_) => panic!("a Vertex provider without a project was accepted"),
        Err(err) => err.to_string(),
    };
    assert!(err.contains("providers.vx.project"), "{err}");
}

#[test]
fn the_documented_vertex_example_loads() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/PROVIDERS.md"
    ))
    .unwrap();
    let section = doc
        .split("## Google Vertex AI")
        .nth(1)
        .expect("the section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a TOML example");
    let text = example.replace("/etc/patchbay/vertex-sa.json", KEY_FIXTURE);
    let env = |name: &str| (name == "VERTEX_ACCESS_TOKEN").then(|| "ya29.doc".to_owned());
    let config = gateway_server::config::Config::from_toml_str(&text, &env).unwrap();
    let app = gateway_server::app::App::from_config(&config);
    assert!(app.is_ok(), "{:?}", app.err().map(|e| e.to_string()));
}
