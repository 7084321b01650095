//! The admin API over loopback, beside a gateway with mock upstreams: the token on
//! every route, keys made here working on the gateway, usage and the request log
//! showing their requests, revocation seen at once, 400s naming the field, 404s for
//! unknown ids, providers without key material, and the first-start token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use gateway_server::admin;
use reqwest::Method;
use serde_json::{Value, json};
use support::*;

const TOKEN: &str = "pba_admin_integration_token";

pub(crate) struct Admin {
    pub(crate) gw: Gateway,
    base: String,
}

impl Admin {
    pub(crate) async fn start() -> Admin {
        let up = Upstreams::start(MockConfig::default()).await;
        let gw = Gateway::start(&format!(
            "{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
            up.toml()
        ))
        .await;
        let base = start_admin(&gw, TOKEN).await;
        Admin { gw, base }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        client()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        answer(self.req(Method::GET, path)).await
    }

    pub(crate) async fn send(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        answer(self.req(method, path).json(&body)).await
    }

    /// A chat request on the gateway with `key`.
    pub(crate) async fn chat(&self, key: &str) -> u16 {
        let (path, body) = chat_request(ApiShape::OpenAiChat, "mock-echo", "hi", false, false);
        let resp = client()
            .post(self.gw.url(&path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        resp.bytes().await.unwrap();
        status
    }
}

async fn answer(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    assert_eq!(
        resp.headers()["content-type"],
        "application/json",
        "{status}"
    );
    assert_eq!(resp.headers()["cache-control"], "no-store");
    (status, resp.json().await.unwrap())
}

fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).unwrap()
}

#[tokio::test]
async fn every_route_refuses_a_missing_or_wrong_token() {
    let a = Admin::start().await;
    let mut paths: Vec<(&str, String)> = admin::ROUTES
        .iter()
        .map(|(m, p)| (*m, p.replace("{id}", "x")))
        .collect();
    // Unknown paths too: without the token, nothing about the routes is told.
    paths.push(("GET", "/admin/nothing".into()));
    paths.push(("DELETE", "/".into()));
    for (m, path) in &paths {
        let url = format!("{}{path}", a.base);
        let attempts = [
            client().request(method(m), &url),
            client().request(method(m), &url).bearer_auth("pba_wrong"),
            client().request(method(m), &url).bearer_auth(""),
            client().request(method(m), &url).header("x-api-key", TOKEN),
            client()
                .request(method(m), &url)
                .header("authorization", format!("Basic {TOKEN}")),
            client()
                .request(method(m), &url)
                .bearer_auth(format!("{TOKEN}x"))
                .json(&json!({"name": "sneaky"})),
        ];
        for req in attempts {
            let (status, body) = answer(req).await;
            // Past ten wrong tokens this peer is throttled: still refused, with 429.
            let kind = match status {
                401 => "authentication_error",
                429 => "rate_limit_error",
                _ => panic!("{m} {path}: {status} {body}"),
            };
            assert_eq!(body["error"]["type"], kind, "{m} {path}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("admin token")
            );
        }
    }
    // Nothing was created by the refused POSTs (asked of the store: this peer is
    // throttled now, whatever token it shows).
    let keys = a.gw.app.key_store().unwrap().list().unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn a_created_key_works_on_the_gateway_and_usage_and_logs_show_it() {
    let a = Admin::start().await;
    let (status, created) = a
        .send(
            Method::POST,
            "/admin/keys",
            json!({"name": "ci", "style": "open_ai", "policy": {"models": ["mock-*"]}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sk-"), "{key}");
    assert_eq!(created["state"], "active");
    // The plaintext is shown once: never again in a listing or a lookup.
    let (_, listed) = a.get("/admin/keys").await;
    assert!(!listed.to_string().contains(&key));
    let (status, one) = a.get(&format!("/admin/keys/{id}")).await;
    assert_eq!(status, 200);
    assert!(one.get("key").is_none());
    // By name as well as by id.
    assert_eq!(a.get("/admin/keys/ci").await.1["id"], id.as_str());

    for _ in 0..3 {
        assert_eq!(a.chat(&key).await, 200);
    }
    a.gw.app.flush_usage();

    let (status, usage) = a.get(&format!("/admin/usage?key={id}")).await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["totals"]["requests"], 3, "{usage}");
    assert!(usage["totals"]["input_tokens"].as_u64().unwrap() > 0);
    let (_, by_model) = a.get("/admin/usage?group_by=model").await;
    let groups = by_model["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{by_model}");
    assert_eq!(groups[0]["requests"], 3);
    let (_, by_day) = a
        .get("/admin/usage?group_by=day&from=2020-01-01T00:00:00Z")
        .await;
    let day = by_day["groups"][0]["group"].as_str().unwrap();
    assert_eq!(day.len(), 10, "{by_day}");
    let (status, series) = a
        .get(&format!("/admin/usage/series?bucket=hour&key={id}"))
        .await;
    assert_eq!(status, 200, "{series}");
    assert_eq!(series["points"].as_array().unwrap().len(), 1);
    assert_eq!(series["points"][0]["requests"], 3);
    // Another key's filter sees nothing.
    let (_, none) = a.get("/admin/usage?key=nobody").await;
    assert_eq!(none["totals"]["requests"], 0);

    // The log, two at a time, newest first.
    let (status, page1) = a.get(&format!("/admin/logs?key={id}&limit=2")).await;
    assert_eq!(status, 200, "{page1}");
    let entries = page1["data"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries[0]["id"].as_i64() > entries[1]["id"].as_i64());
    assert_eq!(entries[0]["status"], 200);
    assert_eq!(entries[0]["key_id"], id.as_str());
    let next = page1["next"].as_i64().expect("a next page");
    let (_, page2) = a
        .get(&format!("/admin/logs?key={id}&limit=2&before={next}"))
        .await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
    assert_eq!(page2["next"], Value::Null);
    let (_, errors) = a.get("/admin/logs?errors=true").await;
    assert_eq!(errors["data"], json!([]));
}

#[tokio::test]
async fn revoking_rotating_and_disabling_take_effect_on_the_gateway_at_once() {
    let a = Admin::start().await;
    let (_, created) = a
        .send(Method::POST, "/admin/keys", json!({"name": "bot"}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let first = created["key"].as_str().unwrap().to_owned();
    assert_eq!(a.chat(&first).await, 200);

    let (status, disabled) = a
        .send(
            Method::POST,
            &format!("/admin/keys/{id}/disable"),
            json!({}),
        )
        .await;
    assert_eq!((status, &disabled["state"]), (200, &json!("disabled")));
    assert_eq!(a.chat(&first).await, 401);
    let (status, _) = answer(a.req(Method::POST, &format!("/admin/keys/{id}/enable"))).await;
    assert_eq!(status, 200);
    assert_eq!(a.chat(&first).await, 200);

    let (status, rotated) = a
        .send(
            Method::POST,
            &format!("/admin/keys/{id}/rotate"),
            json!({"grace_secs": 0}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["key"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(a.chat(&first).await, 401);
    assert_eq!(a.chat(&second).await, 200);

    let (status, revoked) = a
        .send(Method::POST, &format!("/admin/keys/{id}/revoke"), json!({}))
        .await;
    assert_eq!((status, &revoked["state"]), (200, &json!("revoked")));
    assert_eq!(a.chat(&second).await, 401);
    // A revoked key cannot change any more.
    let (status, body) = a
        .send(
            Method::PATCH,
            &format!("/admin/keys/{id}"),
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn malformed_input_is_a_400_naming_the_field() {
    let a = Admin::start().await;
    let (_, created) = a
        .send(Method::POST, "/admin/keys", json!({"name": "k"}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let bad_policy = json!({"policy": {"limits": {"rmp": 1}}});
    let mut create = bad_policy.clone();
    create["name"] = json!("other");
    let cases: Vec<(Method, String, Value, &str)> = vec![
        (
            Method::PATCH,
            format!("/admin/keys/{id}"),
            bad_policy,
            "policy.limits.rmp",
        ),
        (
            Method::POST,
            "/admin/keys".into(),
            create,
            "policy.limits.rmp",
        ),
        (
            Method::POST,
            "/admin/keys".into(),
            json!({"name": ""}),
            "name",
        ),
        (
            Method::POST,
            "/admin/keys".into(),
            json!({"name": "k"}),
            "name",
        ),
        (
            Method::POST,
            "/admin/keys".into(),
            json!({"name": "y", "style": "gemini"}),
            "style",
        ),
        (
            Method::POST,
            "/admin/keys".into(),
            json!({"nmae": "y"}),
            "nmae",
        ),
        (
            Method::POST,
            "/admin/keys".into(),
            json!({"name": "y", "policy": {"limits": {"daily_usd": -1}}}),
            "policy.limits.daily_usd",
        ),
        (
            Method::POST,
            "/admin/keys".into(),
            json!({"name": "y", "project": "nope"}),
            "project",
        ),
        (
            Method::POST,
            format!("/admin/keys/{id}/rotate"),
            json!({"grace_secs": "soon"}),
            "grace_secs",
        ),
        (
            Method::POST,
            "/admin/projects".into(),
            json!({"name": "p", "limits": {"rmp": 1}}),
            "limits.rmp",
        ),
    ];
    for (m, path, body, field) in cases {
        let (status, reply) = a.send(m.clone(), &path, body.clone()).await;
        assert_eq!(status, 400, "{m} {path} {body}: {reply}");
        assert_eq!(reply["error"]["type"], "invalid_request_error");
        assert_eq!(reply["error"]["param"], field, "{m} {path} {body}: {reply}");
        assert!(
            reply["error"]["message"].as_str().unwrap().contains(field),
            "{reply}"
        );
    }
    // Bodies that are not JSON at all.
    let (status, reply) = answer(a.req(Method::POST, "/admin/keys").body("not json")).await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["error"]["param"], Value::Null);
    // Cut short inside a field: that field is named.
    let (status, reply) = answer(a.req(Method::POST, "/admin/keys").body("{\"name\":")).await;
    assert_eq!((status, &reply["error"]["param"]), (400, &json!("name")));
    let (status, _) = answer(a.req(Method::POST, "/admin/keys").body(vec![0xff, 0xfe])).await;
    assert_eq!(status, 400);
    // Query parameters: wrong values and typos are named too.
    for (path, param) in [
        ("/admin/usage?group_by=week", "group_by"),
        ("/admin/usage?grup_by=key", "grup_by"),
        ("/admin/usage?from=yesterday", "from"),
        ("/admin/usage/series?bucket=minute", "bucket"),
        ("/admin/logs?limit=0", "limit"),
        ("/admin/logs?status=abc", "status"),
        ("/admin/logs?errors=maybe", "errors"),
    ] {
        let (status, reply) = a.get(path).await;
        assert_eq!(status, 400, "{path}: {reply}");
        assert_eq!(reply["error"]["param"], param, "{path}");
    }
}

#[tokio::test]
async fn unknown_ids_are_404_and_unknown_routes_404_or_405() {
    let a = Admin::start().await;
    for (m, path) in [
        ("GET", "/admin/keys/nope"),
        ("PATCH", "/admin/keys/nope"),
        ("POST", "/admin/keys/nope/revoke"),
        ("POST", "/admin/keys/nope/rotate"),
        ("POST", "/admin/keys/nope/disable"),
        ("POST", "/admin/keys/nope/enable"),
        ("GET", "/admin/projects/nope"),
        ("PATCH", "/admin/projects/nope"),
        ("GET", "/admin/nothing"),
    ] {
        let (status, body) = a.send(method(m), path, json!({})).await;
        assert_eq!(status, 404, "{m} {path}: {body}");
        assert_eq!(body["error"]["type"], "not_found_error");
    }
    let resp = a.req(Method::DELETE, "/admin/keys").send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, POST");
}

#[tokio::test]
async fn projects_group_their_keys_usage() {
    let a = Admin::start().await;
    let (status, project) = a
        .send(
            Method::POST,
            "/admin/projects",
            json!({"name": "team", "limits": {"rpm": 100}}),
        )
        .await;
    assert_eq!(status, 201, "{project}");
    let pid = project["id"].as_str().unwrap().to_owned();
    assert!(pid.starts_with("prj_"));
    let (status, changed) = a
        .send(
            Method::PATCH,
            "/admin/projects/team",
            json!({"limits": {"rpm": 5}}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["limits"]["rpm"], 5);
    assert_eq!(
        a.get("/admin/projects").await.1["data"][0]["id"],
        pid.as_str()
    );
    let (_, key) = a
        .send(
            Method::POST,
            "/admin/keys",
            json!({"name": "member", "project": "team"}),
        )
        .await;
    assert_eq!(key["project_id"], pid.as_str());
    assert_eq!(a.chat(key["key"].as_str().unwrap()).await, 200);
    a.gw.app.flush_usage();
    let (_, usage) = a.get("/admin/usage?group_by=project").await;
    assert_eq!(usage["groups"][0]["group"], pid.as_str(), "{usage}");
    assert_eq!(usage["groups"][0]["name"], "team", "{usage}");
    let (_, usage) = a.get(&format!("/admin/usage?project={pid}")).await;
    assert_eq!(usage["totals"]["requests"], 1);
}

#[tokio::test]
async fn providers_are_listed_without_key_material() {
    let a = Admin::start().await;
    let (status, body) = a.get("/admin/providers").await;
    assert_eq!(status, 200);
    let text = body.to_string();
    // No key, and no `api_key` member (the presets name the variable a key is
    // usually kept in: `api_key_env`).
    for secret in [
        "sk-upstream",
        "sk-ant-upstream",
        "g-upstream",
        "\"api_key\"",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let names: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["anthropic", "gemini", "ollama", "openai"]);
    let openai = &body["data"][3];
    assert_eq!(openai["kind"], "openai_compatible");
    assert_eq!(openai["shape"], ApiShape::OpenAiChat.as_str());
    assert!(openai["host"].as_str().unwrap().starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let a = Admin::start().await;
    let (status, doc) = a.get("/admin/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for (m, path) in admin::ROUTES {
        assert!(
            doc["paths"][path][m.to_lowercase()].is_object(),
            "{m} {path}"
        );
    }
}

#[test]
fn the_first_start_token_is_shown_once() {
    let dir = std::env::temp_dir().join(format!("pb-admin-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("t.db");
    let (token, plain) = admin::first_start_token(&db).unwrap();
    let plain = plain.expect("a plaintext on the first start");
    assert!(plain.starts_with("pba_") && plain.len() > 20, "{plain}");
    assert!(token.verify(&plain));
    let (again, none) = admin::first_start_token(&db).unwrap();
    assert_eq!(none, None);
    assert_eq!(again, token);
    // Only the digest is stored.
    let conn = gateway_auth::migrate::open(&db).unwrap();
    let stored: String = conn
        .query_row(
            "SELECT value FROM meta WHERE name = ?1",
            [admin::META_NAME],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, token.sha256_hex());
    assert_ne!(stored, plain);
    drop(conn);
    std::fs::remove_dir_all(&dir).unwrap();
}
