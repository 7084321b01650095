//! The routes besides chat: model lists, token counts, embeddings, health, WebSocket
//! upgrades elsewhere, and graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::Duration;

use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use support::*;

async fn setup() -> Gateway {
    let up = Upstreams::start(MockConfig::default()).await;
    let config = format!(
        "{}\n[[routes]]\nmodel = \"claude-opus-4-8\"\ntargets = [{{ provider = \"anthropic\", model = \"mock-echo\" }}]\n[[routes]]\nmodel = \"gemini-embed\"\ntargets = [{{ provider = \"gemini\", model = \"mock-embed\" }}]\n[[routes]]\nmodel = \"text-embedding-3-small\"\ntargets = [{{ provider = \"openai\" }}]\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    );
    Gateway::start(&config).await
}

#[tokio::test]
async fn model_lists_in_each_shape() {
    let gw = setup().await;
    let c = client();
    let openai: serde_json::Value = c
        .get(gw.url("/v1/models"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openai["object"], "list");
    let ids: Vec<&str> = openai["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"claude-opus-4-8"), "{ids:?}");
    let anthropic: serde_json::Value = c
        .get(gw.url("/v1/models"))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(anthropic["data"][0]["type"] == "model", "{anthropic}");
    let gemini: serde_json::Value = c
        .get(gw.url("/v1beta/models"))
        .header("x-goog-api-key", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        gemini["models"][0]["name"]
            .as_str()
            .unwrap()
            .starts_with("models/"),
        "{gemini}"
    );
    let unauth = c.get(gw.url("/v1/models")).send().await.unwrap();
    assert_eq!(unauth.status(), 401);
}

#[tokio::test]
async fn token_counts_from_the_upstream_or_estimated() {
    let gw = setup().await;
    let c = client();
    // Anthropic caller → Anthropic upstream: the upstream counts.
    let resp = c.post(gw.url("/v1/messages/count_tokens")).header("x-api-key", KEY)
        .json(&serde_json::json!({"model":"claude-opus-4-8","messages":[{"role":"user","content":"count these words please"}]}))
        .send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(!resp.headers().contains_key("x-patchbay-estimate"));
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(v["input_tokens"].as_u64().unwrap() > 0, "{v}");
    // Gemini caller routed to an OpenAI upstream (no count endpoint): estimated.
    let resp = c.post(gw.url("/v1beta/models/some-model:countTokens")).header("x-goog-api-key", KEY)
        .json(&serde_json::json!({"contents":[{"role":"user","parts":[{"text":"count these words please"}]}]}))
        .send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-patchbay-estimate"], "true");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(v["totalTokens"].as_u64().unwrap() > 0, "{v}");
}

#[tokio::test]
async fn embeddings_across_shapes() {
    let gw = setup().await;
    let c = client();
    // OpenAI caller → OpenAI upstream.
    let v: serde_json::Value = c
        .post(gw.url("/v1/embeddings"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"model":"text-embedding-3-small","input":["a","b"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2, "{v}");
    assert!(v["data"][0]["embedding"].as_array().unwrap().len() > 1);
    // OpenAI caller → Gemini upstream (batchEmbedContents).
    let v: serde_json::Value = c
        .post(gw.url("/v1/embeddings"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"model":"gemini-embed","input":"a"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["model"], "gemini-embed");
    // Gemini caller → OpenAI upstream.
    let v: serde_json::Value = c
        .post(gw.url("/v1beta/models/text-embedding-3-small:embedContent"))
        .header("x-goog-api-key", KEY)
        .json(&serde_json::json!({"content":{"parts":[{"text":"a"}]}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        v["embedding"]["values"].as_array().unwrap().len() > 1,
        "{v}"
    );
    let v: serde_json::Value = c.post(gw.url("/v1beta/models/text-embedding-3-small:batchEmbedContents")).header("x-goog-api-key", KEY)
        .json(&serde_json::json!({"requests":[{"model":"models/text-embedding-3-small","content":{"parts":[{"text":"a"}]}},{"model":"models/text-embedding-3-small","content":{"parts":[{"text":"b"}]}}]}))
        .send().await.unwrap().json().await.unwrap();
    assert_eq!(v["embeddings"].as_array().unwrap().len(), 2, "{v}");
    // Anthropic has no embeddings: routed there alone, a clear 404.
    let resp = c
        .post(gw.url("/v1/embeddings"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"model":"anthropic/x","input":"a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn health_root_websocket_and_unknown_paths() {
    let gw = setup().await;
    let c = client();
    assert_eq!(c.head(gw.url("/")).send().await.unwrap().status(), 200);
    assert_eq!(
        c.get(gw.url("/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(c.get(gw.url("/readyz")).send().await.unwrap().status(), 200);
    // A WebSocket upgrade anywhere but `/v1/responses` gets the path's usual answer
    // (the transport itself: responses_socket.rs).
    let ws = c
        .get(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(ws.status(), 405);
    let nf = c
        .post(gw.url("/v1beta/models/m:frobnicate"))
        .header("x-goog-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(nf.status(), 404);
    let v: serde_json::Value = nf.json().await.unwrap();
    assert_eq!(v["error"]["status"], "NOT_FOUND", "{v}");
    let wrong = c.get(gw.url("/v1/messages")).send().await.unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers()["allow"], "POST");
    // Every answer carries a request id.
    assert!(
        wrong.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
}

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    let gw = setup().await;
    let c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let (path, body) = chat_request(ApiShape::OpenAiChat, "mock-echo", "over h2", true, false);
    let resp = c
        .post(gw.url(&path))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(
        text_of(&parse_stream(ApiShape::OpenAiChat, &bytes, false).unwrap()),
        "over h2"
    );
}

#[tokio::test]
async fn shutdown_lets_open_streams_finish() {
    let slow = mock_upstream(
        ApiShape::OpenAiChat,
        MockConfig {
            scenario: gateway_providers::Scenario::Text,
            tokens: 20,
            chunks: 10,
            chunk_delay_ms: 50,
            ..MockConfig::default()
        },
    )
    .await;
    let config = format!(
        "[providers.s]\nkind = \"openai_compatible\"\nbase_url = \"http://{slow}/v1\"\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"s\" }}]\n[[keys]]\nname = \"t\"\nsecret = \"{KEY}\"\n"
    );
    let gw = Gateway::start(&config).await;
    let url = gw.url("/v1/chat/completions");
    let (_, body) = chat_request(ApiShape::OpenAiChat, "m", "x", true, false);
    let resp = client()
        .post(&url)
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let app = gw.app.clone();
    let stopping = tokio::spawn(gw.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(app.is_draining());
    // New connections are refused...
    assert!(
        reqwest::Client::new()
            .get(url.replace("/v1/chat/completions", "/healthz"))
            .send()
            .await
            .is_err()
    );
    // ...while the open stream runs to its end.
    let bytes = resp.bytes().await.unwrap();
    let answer = parse_stream(ApiShape::OpenAiChat, &bytes, false).unwrap();
    assert_eq!(text_of(&answer).split_whitespace().count(), 20);
    stopping.await.unwrap();
}

#[tokio::test]
async fn estimates_price_a_request_without_calling_upstream() {
    let up = Upstreams::start(MockConfig {
        fail_status: Some(500),
        ..MockConfig::default()
    })
    .await;
    // Every upstream fails: an estimate must not reach any of them.
    let gw = Gateway::start(&format!(
        "{}\n[[routes]]\nmodel = \"smart\"\ntargets = [{{ provider = \"openai\", model = \"gpt-4o-mini\" }}]\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    ))
    .await;
    let c = client();
    let body = serde_json::json!({"model":"smart","max_tokens":1000,"messages":[{"role":"user","content":"How long is a piece of string?"}]});
    let v: serde_json::Value = c
        .post(gw.url("/v1/estimate"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["targets"][0]["model"], "gpt-4o-mini", "{v}");
    assert!(v["input_tokens"].as_u64().unwrap() > 5, "{v}");
    assert_eq!(v["max_output_tokens"], 1000);
    let input = v["cost_usd"]["input"].as_f64().unwrap();
    let output = v["cost_usd"]["output_max"].as_f64().unwrap();
    let out_price = v["prices_per_mtok"]["output"].as_f64().unwrap();
    assert!((output - 1000.0 * out_price / 1e6).abs() < 1e-12, "{v}");
    assert!((v["cost_usd"]["total_max"].as_f64().unwrap() - (input + output)).abs() < 1e-12);
    // An unpriced model: cost unknown, not zero.
    let body = serde_json::json!({"model":"mock-echo","messages":[{"role":"user","content":"x"}]});
    let v: serde_json::Value = c
        .post(gw.url("/v1/estimate"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["cost_usd"].is_null(), "{v}");
    // Anthropic-shaped bodies by header; bad bodies get the shape's 400.
    let resp = c
        .post(gw.url("/v1/estimate"))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&serde_json::json!({"model":"smart","max_tokens":5,"messages":"nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
}

#[tokio::test]
async fn a_callers_request_id_is_kept_and_one_is_made_otherwise() {
    let gw = setup().await;
    let c = client();
    let body = r#"{"model":"gpt-5","messages":[{"role":"user","content":"Hi"}]}"#;
    let traced = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .header("x-request-id", "trace-4f2a-caller")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(traced.status(), 200);
    assert_eq!(traced.headers()["x-request-id"], "trace-4f2a-caller");
    // An id too long to log and store is replaced.
    let long = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .header("x-request-id", "x".repeat(200))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let id = long.headers()["x-request-id"].to_str().unwrap();
    assert!(id.starts_with("req_"), "{id}");
    // Refusals and key-less answers carry an id too, a fresh one each time.
    let mut made = Vec::new();
    for path in ["/v1/chat/completions", "/healthz"] {
        let resp = c.post(gw.url(path)).body(body).send().await.unwrap();
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(id.starts_with("req_"), "{path}: {id}");
        made.push(id);
    }
    assert_ne!(made[0], made[1]);
}
