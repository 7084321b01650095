//! Model discovery: after the providers' own lists are fetched, `GET /v1/models`
//! lists the models glob and default routes reach (owned by their provider), beside
//! the routes' exact names, filtered by the key's model globs, in the caller's shape.

use crate::support;

use gateway_providers::MockConfig;
use serde_json::Value;
use support::*;

const NARROW: &str = "pbk_discovery_narrow_0123456789";

async fn list(gw: &Gateway, key: &str, anthropic: bool) -> Value {
    let mut req = client().get(gw.url("/v1/models"));
    req = if anthropic {
        req.header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
    } else {
        req.bearer_auth(key)
    };
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn ids(list: &Value) -> Vec<(String, String)> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let owner = m["owned_by"].as_str().unwrap_or("").to_owned();
            (m["id"].as_str().unwrap().to_owned(), owner)
        })
        .collect()
}

#[tokio::test]
async fn v1_models_lists_what_glob_and_default_routes_reach_once_discovered() {
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = Gateway::start(&format!(
        "{}\n[[keys]]\nname = \"narrow\"\nsecret = \"{NARROW}\"\nmodels = [\"mock-t*\"]\n\
         [[routes]]\nmodel = \"exact-one\"\ntargets = [{{ provider = \"openai\", model = \"mock\" }}]\n\
         [[routes]]\nmodel = \"mock-t*\"\ntargets = [{{ provider = \"anthropic\" }}]\n\
         [[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"gemini\" }}]\n\
         [catalog.mock-agent]\ncontext_window = 64000\ninput_per_mtok = 0.5\noutput_per_mtok = 1.5\n",
        up.toml()
    ))
    .await;
    // Before discovery: the exact names only (a `*` route names nothing).
    let before = ids(&list(&gw, KEY, false).await);
    assert_eq!(before, [("exact-one".to_owned(), "patchbay".to_owned())]);

    gw.app.refresh_models().await;
    let after = ids(&list(&gw, KEY, false).await);
    let owned = |id: &str, owner: &str| (id.to_owned(), owner.to_owned());
    assert_eq!(
        after,
        [
            owned("exact-one", "patchbay"),
            owned("mock", "gemini"),
            owned("mock-agent", "gemini"),
            owned("mock-echo", "gemini"),
            owned("mock-text", "anthropic"),
            owned("mock-tools", "anthropic"),
        ],
        "the glob route's models go to its provider, the rest to the default's"
    );
    let listed = gw.app.discovery().listed("openai").unwrap();
    assert_eq!(listed.models.len(), 5, "every provider's list is kept");
    assert!(listed.error.is_none());

    // The key's model globs apply.
    let narrow = ids(&list(&gw, NARROW, false).await);
    assert_eq!(
        narrow,
        [
            owned("mock-text", "anthropic"),
            owned("mock-tools", "anthropic")
        ]
    );

    // In the caller's own shape.
    let anthropic = list(&gw, KEY, true).await;
    assert!(anthropic["data"][0]["type"] == "model", "{anthropic}");
    assert_eq!(anthropic["data"].as_array().unwrap().len(), 6);

    // One model, in each shape; unknown or not allowed: 404 in the caller's envelope.
    let one = |path: &str, key: &str| client().get(gw.url(path)).bearer_auth(key.to_owned());
    let resp = one("/v1/models/mock-agent", KEY).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let m: Value = resp.json().await.unwrap();
    assert_eq!(
        (m["id"].as_str(), m["object"].as_str()),
        (Some("mock-agent"), Some("model"))
    );
    assert_eq!(m["owned_by"], "gemini");
    // The catalogue's facts go along where it knows the model.
    assert_eq!(m["context_window"], 64_000);
    assert_eq!(
        m["pricing"],
        serde_json::json!({"input_usd_per_mtok": 0.5, "output_usd_per_mtok": 1.5})
    );
    let resp = one("/v1/models/claude-x", KEY)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["type"], "error", "Anthropic's envelope: {err}");
    let resp = one("/v1/models/mock-text", KEY)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    let m: Value = resp.json().await.unwrap();
    assert_eq!(
        (m["type"].as_str(), m["id"].as_str()),
        (Some("model"), Some("mock-text"))
    );
    let resp = client()
        .get(gw.url("/v1beta/models/mock-echo"))
        .header("x-goog-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let m: Value = resp.json().await.unwrap();
    assert_eq!(m["name"], "models/mock-echo");
    assert_eq!(
        one("/v1/models/mock-agent", NARROW)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // A discovered model is served under its own name.
    let (path, body) = chat_request(
        gateway_protocol::ApiShape::OpenAiChat,
        "mock-agent",
        "hi",
        false,
        false,
    );
    let resp = client()
        .post(gw.url(&path))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-patchbay-provider"], "gemini");
}
