//! Several `patchbay serve` processes on one PostgreSQL database (`[storage] url`),
//! as behind a load balancer: a key made through one instance's admin API, or by the
//! CLI, works on the others at once, and its revocation reaches them within about a
//! second; the usage of requests spread over all three adds up in the shared
//! database. Needs `PATCHBAY_TEST_POSTGRES` (from `scripts/services start`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cli::{serve_with, serve_with_env, stop};

const BIN: &str = env!("CARGO_BIN_EXE_patchbay");
const TOKEN: &str = "pba_instances_admin_token_0123";

/// A database of this test's own on the test server, dropped at the end.
struct Database {
    server: String,
    name: String,
}

impl Database {
    fn create(server: &str) -> Database {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "pbi_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        );
        psql(server, &format!("CREATE DATABASE {name}"));
        Database {
            server: server.to_owned(),
            name,
        }
    }

    fn url(&self) -> String {
        let (base, _) = self.server.rsplit_once('/').unwrap();
        format!("{base}/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        psql(
            &self.server,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql (PostgreSQL's client) runs");
    assert!(out.status.success(), "psql {sql}: {out:?}");
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

struct Instance {
    dir: PathBuf,
    config: PathBuf,
    admin: String,
}

fn instance(n: usize, url: &str, extra: &str) -> Instance {
    let dir = std::env::temp_dir().join(format!(
        "patchbay-inst-{}-{n}-{}",
        std::process::id(),
        extra.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let config = dir.join("p.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"pb.db\"\nurl = \"{url}\"\n\
             [admin]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"{TOKEN}\"\n\
             [providers.m]\nkind = \"mock\"\n\
             [[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"m\" }}]\n{extra}"
        ),
    )
    .unwrap();
    Instance {
        dir,
        config,
        admin: format!("http://127.0.0.1:{port}"),
    }
}

/// The master key every instance shares (`PATCHBAY_MASTER_KEY`): runtime providers'
/// upstream keys are sealed under it in the shared database.
const MASTER_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// `patchbay serve -c config` with the shared master key; the child and its base URL.
fn serve_shared(inst: &Instance) -> (std::process::Child, String) {
    let served = serve_with_env(
        &inst.config,
        &inst.dir,
        &[("PATCHBAY_MASTER_KEY", MASTER_KEY)],
    );
    wait_for_admin(inst);
    served
}

/// Waits (10 s at most) until `inst`'s admin listener takes connections: it may bind
/// after the gateway's listener, which is what `serve_with` waits for.
fn wait_for_admin(inst: &Instance) {
    let addr = inst.admin.trim_start_matches("http://");
    let t0 = std::time::Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "the admin listener at {} never came up",
            inst.admin
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The PostgreSQL server the tests share, or `None` (the test is skipped, which
/// `PATCHBAY_REQUIRE_SERVICES` refuses).
fn postgres() -> Option<String> {
    let pg = std::env::var("PATCHBAY_TEST_POSTGRES").ok();
    if pg.is_none() {
        assert!(
            std::env::var_os("PATCHBAY_REQUIRE_SERVICES").is_none(),
            "PATCHBAY_REQUIRE_SERVICES is set but PATCHBAY_TEST_POSTGRES is not"
        );
        eprintln!("skipped: PATCHBAY_TEST_POSTGRES is not set");
    }
    pg
}

/// The test servers' URLs, or `None` (the test is skipped) when they are not given.
fn services() -> Option<(String, String)> {
    let pg = std::env::var("PATCHBAY_TEST_POSTGRES").ok();
    let redis = std::env::var("PATCHBAY_TEST_REDIS").ok();
    if pg.is_none() || redis.is_none() {
        assert!(
            std::env::var_os("PATCHBAY_REQUIRE_SERVICES").is_none(),
            "PATCHBAY_REQUIRE_SERVICES is set but PATCHBAY_TEST_POSTGRES or _REDIS is not"
        );
        eprintln!("skipped: PATCHBAY_TEST_POSTGRES or PATCHBAY_TEST_REDIS is not set");
    }
    pg.zip(redis)
}

async fn chat(client: &reqwest::Client, base: &str, key: &str) -> u16 {
    client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&serde_json::json!({"model":"mock-echo","messages":[{"role":"user","content":"hi"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn admin(
    client: &reqwest::Client,
    inst: &Instance,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let resp = client
        .post(format!("{}{path}", inst.admin))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

#[tokio::test]
async fn instances_on_one_postgres_share_keys_and_see_revocations_within_a_second() {
    let Some(server) = postgres() else {
        return;
    };
    let db = Database::create(&server);
    let url = db.url();
    let instances: Vec<Instance> = (0..3).map(|n| instance(n, &url, "")).collect();
    let served: Vec<_> = instances.iter().map(serve_shared).collect();
    let bases: Vec<&str> = served.iter().map(|(_, b)| b.as_str()).collect();
    let client = reqwest::Client::new();

    // Made through the first instance's admin API: the others know it at once.
    let made = admin(
        &client,
        &instances[0],
        "/admin/keys",
        serde_json::json!({"name": "shared"}),
    )
    .await;
    let key = made["key"].as_str().unwrap().to_owned();
    let id = made["id"].as_str().unwrap().to_owned();
    for base in &bases {
        assert_eq!(chat(&client, base, &key).await, 200, "{base}");
    }

    // Made by the CLI on the third instance's config: the second knows it at once.
    let out = Command::new(BIN)
        .current_dir(&instances[2].dir)
        .args(["keys", "create", "--name", "cli", "-c", "p.toml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let created = String::from_utf8(out.stdout).unwrap();
    let cli_id = created.split_whitespace().next().unwrap().to_owned();
    let cli_key = created.lines().last().unwrap().to_owned();
    assert_eq!(chat(&client, bases[1], &cli_key).await, 200);
    // Spread over the three: 30 more requests, 31 in all.
    for i in 0..30 {
        assert_eq!(chat(&client, bases[i % 3], &cli_key).await, 200);
    }

    // Revoked through the first: the others refuse it within about a second.
    let revoked_at = Instant::now();
    admin(
        &client,
        &instances[0],
        &format!("/admin/keys/{id}/revoke"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(
        chat(&client, bases[0], &key).await,
        401,
        "at once where it was revoked"
    );
    let mut pending: Vec<&str> = bases[1..].to_vec();
    while !pending.is_empty() {
        assert!(
            revoked_at.elapsed() < Duration::from_secs(3),
            "still accepted after 3 s by {pending:?}"
        );
        let mut still = Vec::new();
        for base in pending {
            if chat(&client, base, &key).await != 401 {
                still.push(base);
            }
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = revoked_at.elapsed();
    eprintln!("revocation reached every instance in {took:?}");
    // Announced by NOTIFY at the commit (each instance also looks once a second).
    assert!(took < Duration::from_secs(1), "{took:?}");

    // A provider added at runtime on the first instance, its key sealed in the shared
    // database: the third routes to it within a second.
    let provider = serde_json::json!({"name": "extra", "kind": "mock",
        "api_key": "sk-runtime-key-0123456789"});
    admin(&client, &instances[0], "/admin/providers", provider).await;
    let added_at = Instant::now();
    let made = admin(
        &client,
        &instances[0],
        "/admin/keys",
        serde_json::json!({"name": "route"}),
    )
    .await;
    let route_key = made["key"].as_str().unwrap().to_owned();
    let routed = |base: String| {
        let client = client.clone();
        let cli_key = route_key.clone();
        async move {
            client
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(&cli_key)
                .json(&serde_json::json!({"model": "extra/mock-echo",
                    "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    while routed(bases[2].to_owned()).await != 200 {
        assert!(
            added_at.elapsed() < Duration::from_secs(2),
            "not routed there"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "a runtime provider reached another instance in {:?}",
        added_at.elapsed()
    );

    // Each instance writes its usage to the shared database (all of it by the end of
    // a graceful stop): the totals are the sum of the requests made on all three.
    for (child, _) in served {
        stop(child);
    }
    let out = Command::new(BIN)
        .current_dir(&instances[1].dir)
        .args(["usage", "-c", "p.toml", "--key", &cli_id, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["requests"], 31, "{rows}");
    for i in &instances {
        let _ = std::fs::remove_dir_all(&i.dir);
    }
}

#[tokio::test]
async fn limits_hold_exactly_across_three_instances_on_redis() {
    let Some((server, redis)) = services() else {
        return;
    };
    let db = Database::create(&server);
    let url = db.url();
    // mock-echo priced at $400 per million input tokens and nothing for output: a
    // request reserves about what it then costs (~$0.0044 for its ~11 tokens).
    let extra = format!(
        "[limits]\nredis = \"{redis}\"\ntimeout_ms = 2000\n\
         [catalog.mock-echo]\ninput_per_mtok = 400.0\noutput_per_mtok = 0.0\n"
    );
    let instances: Vec<Instance> = (0..3).map(|n| instance(n, &url, &extra)).collect();
    let served: Vec<_> = instances
        .iter()
        .map(|i| {
            let served = serve_with(&i.config, &i.dir);
            wait_for_admin(i);
            served
        })
        .collect();
    let bases: Vec<String> = served.iter().map(|(_, b)| b.clone()).collect();
    let client = reqwest::Client::new();

    // 500 requests at once, spread over the three, against 60 a minute.
    let made = admin(
        &client,
        &instances[0],
        "/admin/keys",
        serde_json::json!({"name": "rpm", "policy": {"limits": {"rpm": 60}}}),
    )
    .await;
    let key = made["key"].as_str().unwrap().to_owned();
    let mut all = tokio::task::JoinSet::new();
    let started = std::time::Instant::now();
    for i in 0..500 {
        let (client, base, key) = (client.clone(), bases[i % 3].clone(), key.clone());
        all.spawn(async move { chat(&client, &base, &key).await });
    }
    let statuses = all.join_all().await;
    // 60 a minute is one more each second after the first 60: on a loaded machine
    // the 500 may take longer than a second, and each whole second allows one more.
    let refilled = started.elapsed().as_secs() as usize;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(ok + limited, 500, "{statuses:?}");
    assert!(
        (60..=60 + refilled).contains(&ok),
        "{ok} admitted in {refilled} s: {statuses:?}"
    );

    // A budget of $0.05 a day under 200 concurrent requests: used up, and spent at
    // most one request's reservation past it.
    let made = admin(
        &client,
        &instances[1],
        "/admin/keys",
        serde_json::json!({"name": "budget", "policy": {"limits": {"daily_usd": 0.05}}}),
    )
    .await;
    let (key, id) = (
        made["key"].as_str().unwrap().to_owned(),
        made["id"].as_str().unwrap().to_owned(),
    );
    let mut all = tokio::task::JoinSet::new();
    for i in 0..200 {
        let (client, base, key) = (client.clone(), bases[i % 3].clone(), key.clone());
        all.spawn(async move {
            client
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(&key)
                .json(&serde_json::json!({"model": "mock-echo", "max_tokens": 100,
                    "messages": [{"role": "user", "content": "spend a little"}]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let statuses = all.join_all().await;
    let ok = statuses.iter().filter(|s| **s == 200).count() as u64;
    assert!(
        ok > 0 && statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    for (child, _) in served {
        stop(child);
    }
    let out = Command::new(BIN)
        .current_dir(&instances[0].dir)
        .args(["usage", "-c", "p.toml", "--key", &id, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let spent = rows[0]["cost_usd"].as_f64().unwrap();
    let served_ok = rows[0]["requests"].as_u64().unwrap() - rows[0]["errors"].as_u64().unwrap();
    assert_eq!(served_ok, ok, "{rows}");
    let per_request = spent / ok as f64;
    eprintln!("budget $0.05: {ok} of 200 admitted, ${spent:.6} spent (${per_request:.6} each)");
    assert!(spent <= 0.05 + per_request * 1.5, "spent ${spent}");
    assert!(
        spent > 0.05 - per_request * 3.0,
        "the budget was not used up: ${spent}"
    );
    for i in &instances {
        let _ = std::fs::remove_dir_all(&i.dir);
    }
}

/// A browser's console session started on one instance, as the admin listener's
/// cookie and CSRF token: the cookie header to send back.
async fn console_login(client: &reqwest::Client, inst: &Instance) -> (String, String) {
    let resp = client
        .post(format!("{}/console/login", inst.admin))
        .json(&serde_json::json!({ "token": TOKEN }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let set = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie = set.split(';').next().unwrap().to_owned();
    let body: serde_json::Value = resp.json().await.unwrap();
    (cookie, body["csrf"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_console_login_on_one_instance_holds_on_the_others_until_logout() {
    let Some(server) = postgres() else {
        return;
    };
    let db = Database::create(&server);
    let url = db.url();
    let instances: Vec<Instance> = (0..2).map(|n| instance(n + 10, &url, "")).collect();
    let served: Vec<_> = instances.iter().map(serve_shared).collect();
    let client = reqwest::Client::new();
    let (a, b) = (&instances[0], &instances[1]);

    let (cookie, csrf) = console_login(&client, a).await;
    // The session reads on the other instance, and makes a change there with its
    // CSRF token (and not without it).
    let read = client
        .get(format!("{}/admin/keys", b.admin))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let no_token = client
        .post(format!("{}/admin/keys", b.admin))
        .header("cookie", &cookie)
        .json(&serde_json::json!({ "name": "from-console" }))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 403);
    let made = client
        .post(format!("{}/admin/keys", b.admin))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "name": "from-console" }))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "{}", made.status());

    // Logged out through the second instance: the first refuses the cookie.
    let out = client
        .post(format!("{}/console/logout", b.admin))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let after = client
        .get(format!("{}/admin/keys", a.admin))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);

    for (child, _) in served {
        stop(child);
    }
    for i in &instances {
        let _ = std::fs::remove_dir_all(&i.dir);
    }
}

/// Stored Responses live in the shared database: a chain started on one instance
/// continues on another, and a deletion on one is seen by the other.
#[tokio::test]
async fn a_responses_chain_continues_across_instances_on_one_postgres() {
    let Some(server) = postgres() else {
        return;
    };
    const KEY: &str = "pbk_instances_responses_key_01";
    let db = Database::create(&server);
    let url = db.url();
    let extra = format!("[[keys]]\nname = \"r\"\nsecret = \"{KEY}\"\n");
    let instances: Vec<Instance> = (3..5).map(|n| instance(n, &url, &extra)).collect();
    let served: Vec<_> = instances.iter().map(serve_shared).collect();
    let bases: Vec<&str> = served.iter().map(|(_, b)| b.as_str()).collect();
    let client = reqwest::Client::new();
    let mut previous: Option<String> = None;
    let mut inputs = Vec::new();
    for (turn, base) in [bases[0], bases[1], bases[0]].into_iter().enumerate() {
        let mut body =
            serde_json::json!({"model": "mock-echo", "input": format!("turn {turn} words")});
        if let Some(id) = &previous {
            body["previous_response_id"] = serde_json::json!(id);
        }
        let resp: serde_json::Value = client
            .post(format!("{base}/v1/responses"))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(resp["status"], "completed", "turn {turn} on {base}: {resp}");
        inputs.push(resp["usage"]["input_tokens"].as_u64().unwrap());
        previous = Some(resp["id"].as_str().unwrap().to_owned());
    }
    assert!(inputs[0] < inputs[1] && inputs[1] < inputs[2], "{inputs:?}");
    let path = format!("/v1/responses/{}", previous.unwrap());
    let status = |base: &str| {
        let req = client.get(format!("{base}{path}")).bearer_auth(KEY);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(bases[1]).await, 200);
    let deleted = client
        .delete(format!("{}{path}", bases[1]))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 200);
    assert_eq!(status(bases[0]).await, 404);
    for (child, _) in served {
        stop(child);
    }
    for inst in instances {
        let _ = std::fs::remove_dir_all(inst.dir);
    }
}
