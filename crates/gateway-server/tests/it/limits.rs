//! Keys' limits and usage through the gateway: exact rates under concurrency, quotas,
//! 429s in each caller's envelope with `retry-after` and `x-ratelimit-*`, and one usage
//! record per request — whole, streamed, failed — with tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

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
            let shape = CALLERS[i % CALLERS.len()];
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
        let resp = call(&gw, CALLERS[i % CALLERS.len()], &key, i % 2 == 1).await;
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
    let n = CALLERS.len();
    assert_eq!(totals.requests, n as u64 + 1);
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
    assert_eq!(rows.len(), n + 1);
    for (shape, streamed, output, _, status) in &rows[..n] {
        assert_eq!(*status, 200, "{shape}");
        assert!(
            *output > 0,
            "{shape} streamed={streamed}: no output tokens recorded"
        );
    }
    assert_eq!(rows[n].4, 500);
    assert!(rows[n].3.is_some());
    // No key material in the log.
    let text: String = conn
        .query_row("SELECT group_concat(key_id) FROM requests", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(!text.contains(&key));
}

#[tokio::test]
async fn a_dollar_budget_holds_across_streamed_and_whole_calls() {
    let up = Upstreams::start(MockConfig {
        scenario: gateway_providers::Scenario::Text,
        tokens: 200,
        ..MockConfig::default()
    })
    .await;
    // The mock answers 200 tokens under a priced model's name.
    let gw = Gateway::start(&format!(
        "{}\n[[routes]]\nmodel = \"priced\"\ntargets = [{{ provider = \"openai\", model = \"gpt-4o-mini\" }}]\n",
        up.toml()
    ))
    .await;
    let info = gateway_server::catalog::Catalog::bundled();
    let out_price = info.lookup("gpt-4o-mini").unwrap().prices.output.unwrap();
    // Room for about three answers of 200 output tokens.
    let budget = 3.5 * 200.0 * out_price / 1e6;
    let (key_id, key) = key_with(
        &gw,
        "budget",
        Limits {
            daily_usd: Some(budget),
            ..Limits::default()
        },
    );
    let mut admitted = 0;
    let mut refused = false;
    for i in 0..12 {
        let shape = CALLERS[i % CALLERS.len()];
        let (path, body) = chat_request(shape, "priced", "spend", i % 2 == 0, false);
        let mut body = body;
        if shape != ApiShape::Gemini {
            body["max_tokens"] = serde_json::json!(200);
        }
        let req = client().post(gw.url(&path)).json(&body);
        let req = match shape {
            ApiShape::Anthropic => req.header("x-api-key", &key),
            ApiShape::Gemini => req.header("x-goog-api-key", &key),
            _ => req.bearer_auth(&key),
        };
        let resp = req.send().await.unwrap();
        match resp.status().as_u16() {
            200 => {
                admitted += 1;
                resp.bytes().await.unwrap();
            }
            429 => {
                assert_eq!(resp.headers()["x-patchbay-limit"], "key.daily_usd");
                let err = codec::decode_error(shape, 429, &resp.bytes().await.unwrap());
                assert_eq!(
                    err.kind,
                    gateway_protocol::ErrorKind::QuotaExceeded,
                    "{shape:?}"
                );
                refused = true;
                break;
            }
            other => panic!("{shape:?} {other}"),
        }
    }
    assert!(refused, "the budget never stopped a request");
    assert!((1..=4).contains(&admitted), "{admitted}");
    gw.app.flush_usage();
    let conn = gateway_auth::migrate::open(gw.app.database_path().unwrap()).unwrap();
    let filter = UsageFilter {
        from_ms: 0,
        to_ms: i64::MAX,
        key_id: Some(key_id),
        ..UsageFilter::default()
    };
    let totals = &query::totals(&conn, &filter, None).unwrap()[0].totals;
    // Charged money never passes the budget, and it is the real cost, not the estimate.
    assert!(
        totals.cost_usd() <= budget + 1e-9,
        "{} > {budget}",
        totals.cost_usd()
    );
    assert!(totals.cost_usd() > 0.0);
    assert_eq!(totals.unpriced, 0);
}

#[tokio::test]
async fn bodies_are_logged_only_for_keys_that_ask() {
    let gw = gateway().await;
    let store = gw.app.key_store().unwrap().clone();
    let make = |name: &str, log: bool| {
        let policy = KeyPolicy {
            log_bodies: log,
            ..KeyPolicy::default()
        };
        store
            .create(NewKey {
                name: name.into(),
                policy: Some(policy),
                ..NewKey::default()
            })
            .unwrap()
    };
    let (logged, logged_key) = make("logged", true);
    let (quiet, quiet_key) = make("quiet", false);
    for key in [&logged_key, &quiet_key] {
        assert_eq!(
            call(&gw, ApiShape::OpenAiChat, key, false).await.status(),
            200
        );
    }
    gw.app.flush_usage();
    let conn = gateway_auth::migrate::open(gw.app.database_path().unwrap()).unwrap();
    let bodies = |id: &str| -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        conn.query_row(
            "SELECT request_body, response_body FROM requests WHERE key_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let (req, resp) = bodies(&logged.id);
    assert!(
        String::from_utf8(req.unwrap())
            .unwrap()
            .contains("count me")
    );
    assert!(
        String::from_utf8(resp.unwrap())
            .unwrap()
            .contains("count me")
    );
    assert_eq!(bodies(&quiet.id), (None, None));
}

#[tokio::test]
async fn embeddings_and_token_counts_are_admitted_and_recorded() {
    let gw = gateway().await;
    let (key_id, key) = key_with(
        &gw,
        "ops",
        Limits {
            rpm: Some(2),
            ..Limits::default()
        },
    );
    let embed = || {
        client()
            .post(gw.url("/v1/embeddings"))
            .bearer_auth(&key)
            .json(
                &serde_json::json!({"model": "mock-embed", "input": ["first text here", "second"]}),
            )
            .send()
    };
    let resp = embed().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();
    let resp = client()
        .post(gw.url("/v1/messages/count_tokens"))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .json(&serde_json::json!({"model": "mock-echo", "messages": [{"role": "user", "content": "count me"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();
    // Both counted against the key's 2 requests a minute.
    let resp = embed().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_exceeded", "{body}");

    gw.app.flush_usage();
    let conn = gateway_auth::migrate::open(gw.app.database_path().unwrap()).unwrap();
    let rows: Vec<(String, String, i64, i64, Option<String>)> = conn
        .prepare("SELECT caller_shape, requested_model, input_tokens, status, provider FROM requests WHERE key_id = ?1 ORDER BY id")
        .unwrap()
        .query_map([&key_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let (shape, model, input, status, provider) = &rows[0];
    assert_eq!(
        (shape.as_str(), model.as_str(), *status),
        ("openai-chat", "mock-embed", 200)
    );
    assert!(*input > 0, "embedding input tokens recorded: {rows:?}");
    assert_eq!(provider.as_deref(), Some("openai"));
    assert_eq!((rows[1].0.as_str(), rows[1].3), ("anthropic", 200));
    assert_eq!(rows[2].3, 429);
}

#[tokio::test]
async fn streamed_answers_are_logged_as_the_caller_got_them() {
    let gw = gateway().await;
    let policy = KeyPolicy {
        log_bodies: true,
        ..KeyPolicy::default()
    };
    let (record, key) = gw
        .app
        .key_store()
        .unwrap()
        .create(NewKey {
            name: "logged-streams".into(),
            policy: Some(policy),
            ..NewKey::default()
        })
        .unwrap();
    // Same shape (passed through) and cross shape (transcoded).
    let mut received = Vec::new();
    for shape in [ApiShape::OpenAiChat, ApiShape::Anthropic] {
        let resp = call(&gw, shape, &key, true).await;
        assert_eq!(resp.status(), 200);
        received.push(resp.bytes().await.unwrap().to_vec());
    }
    gw.app.flush_usage();
    let conn = gateway_auth::migrate::open(gw.app.database_path().unwrap()).unwrap();
    let logged: Vec<Vec<u8>> = conn
        .prepare("SELECT response_body FROM requests WHERE key_id = ?1 ORDER BY id")
        .unwrap()
        .query_map([&record.id], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(logged, received);
    assert!(String::from_utf8_lossy(&logged[1]).contains("message_stop"));
}
