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
    // Latency from the request log: the one (unstreamed) request, no first token.
    let total = &overview["latency"]["total"];
    assert_eq!(total["samples"], 1, "{overview}");
    assert!(total["p50_ms"].as_i64().is_some() && total["p50_ms"] == total["p95_ms"]);
    let first = &overview["latency"]["first_token"];
    assert_eq!(first["samples"], 0, "{overview}");
    assert_eq!(first["p50_ms"], Value::Null);
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

/// GETs `path` on the admin listener with `auth` (a `Cookie` or an `Authorization`
/// header): the status, the headers and the body as text.
async fn fetch_text(
    base: &str,
    path: &str,
    auth: Option<(header::HeaderName, &str)>,
) -> (u16, header::HeaderMap, String) {
    let mut req = client().get(format!("{base}{path}"));
    if let Some((name, value)) = auth {
        req = req.header(name, value);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

#[tokio::test]
async fn the_usage_csv_export_is_the_table_quoted_defused_grouped_and_ranged() {
    let (gw, base) = start().await;
    let (cookie, csrf) = login(&base).await;
    let made = client()
        .post(format!("{base}/admin/keys"))
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({ "name": "=cmd, \"quoted\"" }))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    let id = made["id"].as_str().unwrap();
    let (path, body) = chat_request(ApiShape::OpenAiChat, "mock-echo", "hi", false, false);
    for _ in 0..2 {
        let chat = client()
            .post(gw.url(&path))
            .bearer_auth(made["key"].as_str().unwrap())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(chat.status(), 200);
    }
    gw.app.flush_usage();

    // Neither a session nor the token: refused in the API's envelope.
    let path = "/admin/usage/export.csv?group_by=key&from=2020-01-01T00:00:00Z";
    let (status, _, body) = fetch_text(&base, path, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("authentication_error"));

    // With the session cookie (what the page's link sends): a download.
    let (status, h, csv) = fetch_text(&base, path, Some((header::COOKIE, &cookie))).await;
    assert_eq!(status, 200, "{csv}");
    assert_eq!(h[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let disposition = h[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"usage-by-key-2020-01-01-to-"),
        "{disposition}"
    );
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "group,name,requests,input_tokens,output_tokens,cost_usd,errors"
    );
    // The name is quoted (comma and quotes) and defused (it starts with `=`).
    let want = format!("{id},\"'=cmd, \"\"quoted\"\"\",2,");
    assert!(lines[1].starts_with(&want), "{csv}");
    assert_eq!(lines.len(), 3, "one group, then the final CRLF: {csv}");

    // The same rows as the JSON the page's table is drawn from.
    let usage: Value = client()
        .get(format!(
            "{base}/admin/usage?group_by=key&from=2020-01-01T00:00:00Z"
        ))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let g = &usage["groups"][0];
    assert_eq!(g["name"], "=cmd, \"quoted\"", "{usage}");
    let tail = format!(
        ",{},{},{},",
        g["requests"], g["input_tokens"], g["output_tokens"]
    );
    assert!(lines[1].contains(&tail), "{csv} vs {usage}");

    // With the token, another grouping.
    let bearer = format!("Bearer {TOKEN}");
    let by_model = "/admin/usage/export.csv?group_by=model&from=2020-01-01T00:00:00Z";
    let (status, _, csv) =
        fetch_text(&base, by_model, Some((header::AUTHORIZATION, &bearer))).await;
    assert_eq!(status, 200);
    assert!(csv.contains("\r\nmock-echo,,2,"), "{csv}");
    let by_day = "/admin/usage/export.csv?group_by=day&from=2020-01-01T00:00:00Z";
    let (_, _, csv) = fetch_text(&base, by_day, Some((header::AUTHORIZATION, &bearer))).await;
    let day = csv.split("\r\n").nth(1).unwrap();
    assert_eq!(day.as_bytes()[4], b'-', "a date: {csv}");
    assert!(day.contains(",,2,"), "{csv}");

    // A range with nothing in it: the header alone.
    let empty =
        "/admin/usage/export.csv?group_by=key&from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z";
    let (status, _, csv) = fetch_text(&base, empty, Some((header::AUTHORIZATION, &bearer))).await;
    assert_eq!(status, 200);
    assert_eq!(
        csv,
        "group,name,requests,input_tokens,output_tokens,cost_usd,errors\r\n"
    );
    // A bad grouping is a 400 naming it.
    let bad = "/admin/usage/export.csv?group_by=week";
    let (status, _, body) = fetch_text(&base, bad, Some((header::AUTHORIZATION, &bearer))).await;
    assert_eq!(status, 400);
    assert!(body.contains("group_by"), "{body}");
}
