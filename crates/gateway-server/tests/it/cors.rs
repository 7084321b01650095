//! `[server.cors]`: a listed origin's preflight is answered without a key, and every
//! answer to it (errors included, so the page can show them) names the origin; other
//! origins, and a gateway that lists none, get no CORS header.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use gateway_providers::MockConfig;
use reqwest::Method;
use support::*;

const PAGE: &str = "https://chat.example.com";

async fn setup(cors: &str) -> Gateway {
    let up = Upstreams::start(MockConfig::default()).await;
    let config = format!(
        "{cors}\n{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    );
    Gateway::start(&config).await
}

async fn preflight(gw: &Gateway, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(Method::OPTIONS, gw.url("/v1/chat/completions"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, x-stainless-lang",
        )
        .send()
        .await
        .unwrap()
}

async fn chat(gw: &Gateway, origin: &str, key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("origin", origin)
        .bearer_auth(key)
        .json(&serde_json::json!({
            "model": "gpt-4.1-mini",
            "messages": [{"role": "user", "content": "hi"}]
        }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_listed_origin_may_call_from_its_page() {
    let gw = setup(&format!(
        "[server.cors]\nallow_origins = [\"{PAGE}\", \"http://localhost:3000\"]\nmax_age_secs = 120\n"
    ))
    .await;

    let pre = preflight(&gw, PAGE).await;
    assert_eq!(pre.status(), 204);
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], PAGE);
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert_eq!(
        h["access-control-allow-headers"],
        "authorization, content-type, x-stainless-lang"
    );
    assert_eq!(h["access-control-max-age"], "120");
    assert!(h.get("access-control-allow-credentials").is_none());

    let ok = chat(&gw, PAGE, KEY).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["access-control-allow-origin"], PAGE);
    assert_eq!(ok.headers()["access-control-expose-headers"], "*");
    assert!(ok.headers()["vary"].to_str().unwrap().contains("origin"));
    assert!(ok.headers().contains_key("x-request-id"));

    // The page can read a refusal too: the key still decides.
    let refused = chat(&gw, PAGE, "pbk_not_a_key").await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["access-control-allow-origin"], PAGE);

    // Another site's page: no preflight answer, no header.
    let other = preflight(&gw, "https://evil.example").await;
    assert_ne!(other.status(), 204);
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let other = chat(&gw, "https://evil.example", KEY).await;
    assert_eq!(
        other.status(),
        200,
        "CORS is the browser's check, not a refusal"
    );
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn no_origin_is_allowed_by_default() {
    let gw = setup("").await;
    let pre = preflight(&gw, PAGE).await;
    assert_ne!(pre.status(), 204);
    assert!(pre.headers().get("access-control-allow-origin").is_none());
    let ok = chat(&gw, PAGE, KEY).await;
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_path_or_a_bare_host_is_not_an_origin() {
    for bad in ["chat.example.com", "https://chat.example.com/"] {
        let text =
            format!("[server.cors]\nallow_origins = [\"{bad}\"]\n[providers.m]\nkind = \"mock\"\n");
        let err = gateway_server::config::Config::from_toml_str(&text, &|_| None).expect_err(bad);
        assert!(
            err.to_string().contains("server.cors.allow_origins"),
            "{err}"
        );
    }
}
