//! Keys' limits and usage through the gateway: exact rates under concurrency, quotas,
//! 429s in each caller's envelope with `retry-after` and `x-ratelimit-*`, and one usage
//! record per request — whole, streamed, failed — with tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use gateway_auth::keys::NewKey;
use gateway_auth::usage::query::{self, GroupBy, UsageFilter};
use gateway_auth::{KeyPolicy, Limits};
use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use gateway_translate::codec;
use support::*;

async fn gateway() -> Gateway {
    let up = Upstreams::start(MockConfig::default()).await;
    Gateway::start(&format!(
        "{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    ))
    .await
}

fn key_with(gw: &Gateway, name: &str, limits: Limits) -> (String, String) {
    let policy = KeyPolicy {
        limits,
        ..KeyPolicy::default()
    };
    let (record, secret) = gw
        .app
        .key_store()
        .unwrap()
        .create(NewKey {
            name: name.into(),
            policy: Some(policy),
            ..NewKey::default()
        })
        .unwrap();
    (record.id, secret)
}

async fn call(gw: &Gateway, shape: ApiShape, key: &str, stream: bool) -> reqwest::Response {
    let (path, body) = chat_request(shape, "mock-echo", "count me", stream, false);
    let req = client().post(gw.url(&path)).json(&body);
    let req = match shape {
        ApiShape::Anthropic => req.header("x-api-key", key),
        ApiShape::Gemini => req.header("x-goog-api-key", key),
        _ => req.bearer_auth(key),
    };
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_rate_admits_exactly_its_limit_of_concurrent_requests() {
    let gw = Arc::new(gateway().await);
    let (_, key) = key_with(
        &gw,
        "rpm",
        Limits {
            rpm: Some(7),
            ..Limits::default()
        },
    );
    let mut tasks = Vec::new();
    for i in 0..60 {
        let (gw, key) = (gw.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let shape = CALLERS[i % 4];
            let resp = call(&gw, shape, &key, i % 2 == 0).await;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.unwrap();
            (shape, status, headers, bytes)
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        let (shape, status, headers, bytes) = t.await.unwrap();
        match status {
            200 => admitted += 1,
            429 => {
                assert!(headers.contains_key("retry-after"), "{shape:?}");
                assert_eq!(headers["x-ratelimit-limit-requests"], "7");
                assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
                assert_eq!(headers["x-patchbay-limit"], "key.rpm");
                let err = codec::decode_error(shape, 429, &bytes);
                assert_eq!(
                    err.kind,
                    gateway_protocol::ErrorKind::RateLimited,
                    "{shape:?}"
                );
            }
            other => panic!("{shape:?}: {other} {}", String::from_utf8_lossy(&bytes)),
        }
    }
    assert_eq!(admitted, 7);
}

#[tokio::test]
async fn an_input_token_quota_stops_requests_once_spent() {
    let gw = gateway().await;
    let (quota_id, key) = key_with(
        &gw,
        "quota",
        Limits {
            daily_input_tokens: Some(40),
            ..Limits::default()
        },
    );
    let mut admitted = 0;
    let mut refused = None;
    for i in 0..20 {
        let resp = call(&gw, CALLERS[i % 4], &key, i % 2 == 1).await;
        match resp.status().as_u16() {
            200 => {
                admitted += 1;
                resp.bytes().await.unwrap();
            }
            429 => {
                refused = Some(
                    resp.headers()["x-patchbay-limit"]
                        .to_str()
                        .unwrap()
                        .to_owned(),
                );
                break;
            }
            other => panic!("{other}"),
        }
    }
    assert_eq!(refused.as_deref(), Some("key.daily_input_tokens"));
    assert!((1..20).contains(&admitted), "{admitted}");
    // What was charged never exceeds the quota.
    gw.app.flush_usage();
    let conn = gateway_auth::migrate::open(gw.app.database_path().unwrap()).unwrap();
    let filter = UsageFilter {
        from_ms: 0,
        to_ms: i64::MAX,
        ..UsageFilter::default()
    };
    let totals = query::totals(&conn, &filter, Some(GroupBy::Key)).unwrap();
    let quota_key = totals.iter().find(|g| g.group == quota_id).unwrap();
    // The refused request is recorded too, as an error.
    assert_eq!(quota_key.totals.requests as usize, admitted + 1);
    assert_eq!(quota_key.totals.errors, 1);
    assert!(
        quota_key.totals.input_tokens <= 40,
        "{:?}",
        quota_key.totals
    );
}

#[tokio::test]
async fn every_request_is_recorded_with_its_tokens_and_outcome() {
    let gw = gateway().await;
    let (key_id, key) = key_with(&gw, "rec", Limits::default());
    for (i, shape) in CALLERS.iter().enumerate() {
        let resp = call(&gw, *shape, &key, i % 2 == 0).await;
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
    }
    // A failing upstream is recorded with its error.
    let (path, body) = chat_request(ApiShape::OpenAiChat, "mock-fail-500", "x", false, false);
    let resp = client()
        .post(gw.url(&path))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    gw.app.flush_usage();
    let conn = gateway_auth::migrate::open(gw.app.database_path().unwrap()).unwrap();
    let filter = UsageFilter {
        from_ms: 0,
        to_ms: i64::MAX,
        key_id: Some(key_id.clone()),
        ..UsageFilter::default()
    };
    let totals = &query::totals(&conn, &filter, None).unwrap()[0].totals;
    assert_eq!(totals.requests, 5);
    assert_eq!(totals.errors, 1);
    assert!(
        totals.input_tokens >= 4 && totals.output_tokens >= 4,
        "{totals:?}"
    );
    let rows: Vec<(String, i64, i64, Option<String>, i64)> = conn
        .prepare("SELECT caller_shape, streamed, output_tokens, error_kind, status FROM requests WHERE key_id = ?1 ORDER BY id")
        .unwrap()
        .query_map([&key_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 5);
    for (shape, streamed, output, _, status) in &rows[..4] {
        assert_eq!(*status, 200, "{shape}");
        assert!(
            *output > 0,
            "{shape} streamed={streamed}: no output tokens recorded"
        );
    }
    assert_eq!(rows[4].4, 500);
    assert!(rows[4].3.is_some());
    // No key material in the log.
    let text: String = conn
        .query_row("SELECT group_concat(key_id) FROM requests", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(!text.contains(&key));
}
