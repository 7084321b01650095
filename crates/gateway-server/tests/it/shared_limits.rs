//! `[limits] redis`: a key's limits kept in Redis (gateway-redis). With Redis down,
//! `fail = "closed"` answers 503 in the caller's envelope with `retry-after` and
//! `fail = "open"` admits on the local limiter; with the test Redis
//! (`PATCHBAY_TEST_REDIS`, from `scripts/services start`) the key's rpm is counted
//! there and refused with the usual 429 and headers.

use crate::support;

use gateway_auth::Limits;
use gateway_protocol::{ApiShape, ErrorKind};
use gateway_providers::MockConfig;
use gateway_translate::codec;
use support::*;

async fn gateway(limits_toml: &str) -> Gateway {
    let up = Upstreams::start(MockConfig::default()).await;
    Gateway::start(&format!(
        "{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n{limits_toml}",
        up.toml()
    ))
    .await
}

/// A loopback port nothing listens on.
fn dead_redis() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("redis://127.0.0.1:{port}")
}

async fn call(gw: &Gateway, shape: ApiShape, key: &str) -> (u16, http::HeaderMap, Vec<u8>) {
    let (path, body) = chat_request(shape, "mock-echo", "hi", false, false);
    let req = client().post(gw.url(&path)).json(&body);
    let req = match shape {
        ApiShape::Anthropic => req.header("x-api-key", key),
        ApiShape::Gemini => req.header("x-goog-api-key", key),
        _ => req.bearer_auth(key),
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

fn rpm(n: u32) -> Limits {
    Limits {
        rpm: Some(n),
        ..Limits::default()
    }
}

#[tokio::test]
async fn redis_down_and_fail_closed_answers_503_in_every_callers_envelope() {
    let gw = gateway(&format!(
        "[limits]\nredis = \"{}\"\nfail = \"closed\"\ntimeout_ms = 200\n",
        dead_redis()
    ))
    .await;
    let (_, key) = key_with(&gw, "closed", rpm(100));
    for shape in CALLERS {
        let (status, headers, body) = call(&gw, shape, &key).await;
        let err = codec::decode_error(shape, status, &body);
        assert_eq!(err.kind, ErrorKind::Overloaded, "{shape:?}: {status}");
        let expected = if shape == ApiShape::Anthropic {
            529
        } else {
            503
        };
        assert_eq!(status, expected, "{shape:?}");
        assert_eq!(headers["retry-after"], "1", "{shape:?}");
        assert!(!headers.contains_key("x-ratelimit-limit-requests"));
    }
    // A key without limits is not asked about: it still passes.
    let (_, free) = key_with(&gw, "free", Limits::default());
    assert_eq!(call(&gw, ApiShape::OpenAiChat, &free).await.0, 200);
    // The refusals are counted for the operator.
    let refused = metric(&gw, "patchbay_limiter_fail_closed_total").await;
    assert_eq!(refused, CALLERS.len() as f64);
}

/// One unlabelled sample of `/metrics` on an admin listener for `gw`.
pub(crate) async fn metric(gw: &Gateway, name: &str) -> f64 {
    const TOKEN: &str = "pba_shared_limits_admin_token";
    let admin = start_admin(gw, TOKEN).await;
    let text = client()
        .get(format!("{admin}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test]
async fn redis_down_and_fail_open_admits_on_the_local_limiter() {
    let gw = gateway(&format!(
        "[limits]\nredis = \"{}\"\nfail = \"open\"\ntimeout_ms = 200\n",
        dead_redis()
    ))
    .await;
    let (_, key) = key_with(&gw, "open", rpm(2));
    let statuses = [
        call(&gw, ApiShape::OpenAiChat, &key).await.0,
        call(&gw, ApiShape::OpenAiChat, &key).await.0,
        call(&gw, ApiShape::OpenAiChat, &key).await.0,
    ];
    assert_eq!(
        statuses,
        [200, 200, 429],
        "rpm 2 still holds on this instance"
    );
    let local = metric(&gw, "patchbay_limiter_fail_open_total").await;
    assert!(local >= 1.0, "decided locally: {local}");
}

#[tokio::test]
async fn with_redis_a_keys_rate_is_counted_there() {
    let Ok(url) = std::env::var("PATCHBAY_TEST_REDIS") else {
        assert!(
            std::env::var_os("PATCHBAY_REQUIRE_SERVICES").is_none(),
            "PATCHBAY_REQUIRE_SERVICES is set but PATCHBAY_TEST_REDIS is not"
        );
        eprintln!(
            "with_redis_a_keys_rate_is_counted_there: skipped, PATCHBAY_TEST_REDIS is not set"
        );
        return;
    };
    let gw = gateway(&format!("[limits]\nredis = \"{url}\"\ntimeout_ms = 2000\n")).await;
    let (id, key) = key_with(&gw, "shared", rpm(3));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, headers, _) = call(&gw, ApiShape::OpenAiChat, &key).await;
        statuses.push((status, headers["x-ratelimit-remaining-requests"].clone()));
    }
    let remaining: Vec<_> = statuses
        .iter()
        .map(|(s, r)| (*s, r.to_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        remaining,
        [
            (200, "2".into()),
            (200, "1".into()),
            (200, "0".into()),
            (429, "0".into())
        ]
    );
    // The count lives in Redis: a second limiter on the same server sees it spent.
    let other = gateway_redis::RedisLimiter::new(gateway_redis::RedisConfig::new(url)).unwrap();
    let usage = gateway_auth::Limiter::usage(
        &other,
        gateway_auth::Scope::Key,
        &id,
        &rpm(3),
        gateway_auth::cache::now_ms(),
    );
    assert_eq!(usage[0].used, 3);
}
