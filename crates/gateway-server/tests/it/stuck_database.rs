//! A database write-locked by another process (a backup, the CLI, a stuck writer) must
//! not stall the gateway: health checks, chats with good keys and refusals of unknown
//! keys are answered while the lock is held, an admin write waiting on the lock takes
//! no async worker with it, and the usage records of those requests are written once
//! the lock goes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support;

use gateway_auth::KeyPolicy;
use gateway_auth::keys::{KeyStore, NewKey};
use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use support::*;

const TOKEN: &str = "pba_admin_integration_token";

async fn chat(gw: &Gateway, key: &str) -> (u16, serde_json::Value) {
    let (path, body) = chat_request(ApiShape::OpenAiChat, "mock-echo", "hi", false, false);
    let resp = client()
        .post(gw.url(&path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

// Two async workers, as on a small machine: a worker blocked on the database is half
// the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_locked_database_stalls_nothing_and_loses_no_record() {
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = Gateway::start(&format!(
        "{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    ))
    .await;
    let admin_base = start_admin(&gw, TOKEN).await;
    let path = gw.app.database_path().unwrap().to_owned();

    // A key made by another process (the CLI) just before the lock: this server has
    // not seen it yet.
    let cli = KeyStore::open(&path, KeyPolicy::default()).unwrap();
    let (_, cli_key) = cli
        .create(NewKey {
            name: "from-cli".into(),
            ..NewKey::default()
        })
        .unwrap();

    let blocker = gateway_auth::migrate::open(&path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    blocker
        .execute_batch("INSERT INTO meta (name, value) VALUES ('blocker', 'x')")
        .unwrap();

    // An admin write now waits on the lock (up to the 5 s busy timeout).
    let admin_write = tokio::spawn(
        client()
            .post(format!("{admin_base}/admin/keys"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"name": "during-lock"}))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    // More unknown keys than there are workers, then the rest: all are answered
    // while the lock is still held.
    let unknown: Vec<_> = (0..8)
        .map(|i| {
            let gw_url = gw.url("/v1/chat/completions");
            tokio::spawn(async move {
                let body =
                    serde_json::json!({"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]});
                let resp = client()
                    .post(gw_url)
                    .bearer_auth(format!("pbk_nobody_{i}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                (status, resp.json::<serde_json::Value>().await.unwrap())
            })
        })
        .collect();
    let during_lock = async {
        let health = client().get(gw.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let (status, body) = chat(&gw, KEY).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = chat(&gw, &cli_key).await;
        assert_eq!(status, 200, "a key made by the CLI works at once: {body}");
        for task in unknown {
            let (status, body) = task.await.unwrap();
            assert_eq!(status, 401, "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("invalid API key"), "{body}");
        }
    };
    tokio::time::timeout(Duration::from_secs(3), during_lock)
        .await
        .expect("answered while the database was still locked");
    assert!(!blocker.is_autocommit(), "the lock was held throughout");

    blocker.execute_batch("ROLLBACK").unwrap();
    let created = admin_write.await.unwrap().unwrap();
    assert_eq!(
        created.status(),
        201,
        "the admin write went through once free"
    );

    // Both chats' records are written: none was dropped while the lock was held.
    let app = gw.app.clone();
    tokio::task::spawn_blocking(move || app.flush_usage())
        .await
        .unwrap();
    let conn = gateway_auth::migrate::open(&path).unwrap();
    let ok: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM requests WHERE status = 200",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ok, 2);
}

#[test]
fn the_usage_queue_bound_is_set_in_mib_and_never_zero() {
    use gateway_server::config::Config;
    let c = Config::from_toml_str("[storage]\nusage_queue_mib = 64\n", &|_| None).unwrap();
    assert_eq!(c.storage.usage_queue_mib.map(|m| m.get()), Some(64));
    assert_eq!(Config::default().storage.usage_queue_mib, None);
    let zero = Config::from_toml_str("[storage]\nusage_queue_mib = 0\n", &|_| None).unwrap_err();
    let said = zero.to_string();
    assert!(said.contains("storage.usage_queue_mib"), "{said}");
}
