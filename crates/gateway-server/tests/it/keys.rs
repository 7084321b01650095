//! Database keys through the gateway: every shape's header, the key's model globs,
//! and revocation seen by the very next request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use gateway_auth::KeyPolicy;
use gateway_auth::keys::{KeyStyle, NewKey};
use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use support::*;

async fn send_with(gw: &Gateway, shape: ApiShape, key: &str, model: &str) -> reqwest::Response {
    let (path, body) = chat_request(shape, model, "hi", false, false);
    let req = client().post(gw.url(&path)).json(&body);
    let req = match shape {
        ApiShape::Anthropic => req
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01"),
        ApiShape::Gemini => req.header("x-goog-api-key", key),
        _ => req.bearer_auth(key),
    };
    req.send().await.unwrap()
}

#[tokio::test]
async fn database_keys_work_in_every_shape_and_revocation_is_immediate() {
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = Gateway::start(&format!(
        "{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    ))
    .await;
    let store = gw.app.key_store().unwrap().clone();
    let policy = KeyPolicy {
        models: vec!["mock-*".into()],
        ..KeyPolicy::default()
    };
    let (record, secret) = store
        .create(NewKey {
            name: "sdk".into(),
            style: KeyStyle::OpenAi,
            policy: Some(policy),
            ..NewKey::default()
        })
        .unwrap();
    assert!(secret.starts_with("sk-"));
    for shape in CALLERS {
        let resp = send_with(&gw, shape, &secret, "mock-echo").await;
        assert_eq!(resp.status(), 200, "{shape:?}");
        // A model outside the key's globs: 403, and SDKs told not to retry.
        let resp = send_with(&gw, shape, &secret, "gpt-5").await;
        assert_eq!(resp.status(), 403, "{shape:?}");
        assert_eq!(resp.headers()["x-should-retry"], "false");
    }
    store.revoke(&record.id).unwrap();
    let resp = send_with(&gw, ApiShape::OpenAiChat, &secret, "mock-echo").await;
    assert_eq!(resp.status(), 401);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("revoked"),
        "{v}"
    );
    // The config file's key still works beside the database.
    assert_eq!(
        send_with(&gw, ApiShape::OpenAiChat, KEY, "mock-echo")
            .await
            .status(),
        200
    );
}
