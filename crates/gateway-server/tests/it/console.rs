//! The operator console on the admin listener: the page at `/` with its security
//! headers, a login making a session whose cookie (with the CSRF token on changes)
//! works the admin API, a key made that way working on the gateway, and wrong login
//! tokens throttled like wrong bearer tokens. The browser test is in
//! `crates/patchbay/tests/console/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use reqwest::header;
use serde_json::{Value, json};
use support::*;

const TOKEN: &str = "pba_console_integration_token";

async fn start() -> (Gateway, String) {
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = Gateway::start(&format!(
        "{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    ))
    .await;
    let base = start_admin(&gw, TOKEN).await;
    (gw, base)
}

/// Logs in: the `Cookie` header to send and the CSRF token.
async fn login(base: &str) -> (String, String) {
    let resp = client()
        .post(format!("{base}/console/login"))
        .json(&json!({ "token": TOKEN }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let set = resp.headers()[header::SET_COOKIE].to_str().unwrap();
    let cookie = set.split(';').next().unwrap().to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    let body: Value = resp.json().await.unwrap();
    (cookie, body["csrf"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn the_console_page_is_served_at_the_root_with_its_security_headers() {
    let (_gw, base) = start().await;
    let resp = client().get(format!("{base}/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(
        h[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
    assert!(
        h.get(header::STRICT_TRANSPORT_SECURITY).is_none(),
        "no TLS here"
    );
    assert!(resp.text().await.unwrap().contains("/assets/app.js"));
    // The API still wants its token.
    let resp = client()
        .get(format!("{base}/admin/keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn a_session_works_the_admin_api_with_its_csrf_token() {
    let (gw, base) = start().await;
    let (cookie, csrf) = login(&base).await;

    let list = client()
        .get(format!("{base}/admin/keys"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);

    let create = |token: Option<&str>| {
        let req = client()
            .post(format!("{base}/admin/keys"))
            .header(header::COOKIE, &cookie)
            .json(&json!({ "name": "from-the-console" }));
        match token {
            Some(t) => req.header("x-csrf-token", t),
            None => req,
        }
    };
    assert_eq!(create(None).send().await.unwrap().status(), 403);
    let wrong = create(Some("not-the-token")).send().await.unwrap();
    assert_eq!(wrong.status(), 403);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["type"], "permission_error");

    let made = create(Some(&csrf)).send().await.unwrap();
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    let key = made["key"].as_str().unwrap();
    let (path, body) = chat_request(ApiShape::OpenAiChat, "mock-echo", "hi", false, false);
    let chat = client()
        .post(gw.url(&path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 200);

    // The overview the console's first page reads, in one request.
    gw.app.flush_usage();
    let overview = client()
        .get(format!(
            "{base}/admin/overview?from=2020-01-01T00:00:00Z&top=3"
        ))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), 200);
    let overview: Value = overview.json().await.unwrap();
    assert_eq!(overview["totals"]["requests"], 1, "{overview}");
    assert_eq!(overview["bucket"], "hour");
    let top_key = &overview["top"]["keys"][0];
    assert_eq!(top_key["name"], "from-the-console", "{overview}");
    assert_eq!(top_key["group"], made["id"]);
    assert_eq!(overview["top"]["models"][0]["requests"], 1);
    assert_eq!(overview["top"]["providers"][0]["group"], "openai");
    assert_eq!(overview["points"].as_array().unwrap().len(), 1);
    let bad = client()
        .get(format!("{base}/admin/overview?top=0"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["error"]["param"], "top");

    // After logout the cookie opens nothing.
    let out = client()
        .post(format!("{base}/console/logout"))
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let after = client()
        .get(format!("{base}/admin/keys"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);
}

#[tokio::test]
async fn wrong_login_tokens_are_throttled_like_wrong_bearer_tokens() {
    let (_gw, base) = start().await;
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let resp = client()
            .post(format!("{base}/console/login"))
            .json(&json!({ "token": "a guess" }))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses[..10], [401; 10]);
    assert_eq!(statuses[10], 429, "the eleventh guess waits");
    // A throttled peer waits for everything on this listener, the console too.
    let session = client()
        .get(format!("{base}/console/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        session.status(),
        429,
        "a throttled peer waits for everything"
    );
}
