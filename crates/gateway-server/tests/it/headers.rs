//! Result headers on every answer past the limiter: the key's tightest request and
//! token limits in the caller's SDK family (OpenAI's `x-ratelimit-*`, Anthropic's
//! `anthropic-ratelimit-*`) on whole, streamed and failed answers; who served; the
//! `auto` rule that chose the model.

use crate::support;

use gateway_auth::Limits;
use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use reqwest::header::HeaderMap;
use support::*;

const AUTO: &str = r#"
[auto]
rules = [{ when = { needs_tools = true }, model = "mock-tools" }]
otherwise = "mock-echo"
"#;

async fn gateway() -> Gateway {
    let up = Upstreams::start(MockConfig::default()).await;
    Gateway::start(&format!(
        "{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n{AUTO}",
        up.toml()
    ))
    .await
}

/// A chat request in `shape` with `key`, at most 100 output tokens; its headers and
/// status, the body read to its end (so the request is settled).
async fn ask(
    gw: &Gateway,
    shape: ApiShape,
    key: &str,
    model: &str,
    stream: bool,
) -> (u16, HeaderMap) {
    let (path, mut body) = chat_request(shape, model, "count me", stream, false);
    body["max_tokens"] = 100.into();
    let req = client().post(gw.url(&path)).json(&body);
    let req = match shape {
        ApiShape::Anthropic => req
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01"),
        _ => req.bearer_auth(key),
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    resp.bytes().await.unwrap();
    (status, headers)
}

fn number(h: &HeaderMap, name: &str) -> u64 {
    h[name].to_str().unwrap().parse().unwrap()
}

fn has_any(h: &HeaderMap, prefix: &str) -> bool {
    h.keys().any(|k| k.as_str().starts_with(prefix))
}

/// An OpenAI reset duration of whole seconds (`18s`, `1m0s`) in seconds.
fn seconds(reset: &str) -> u64 {
    let (m, s) = reset
        .strip_suffix('s')
        .unwrap()
        .split_once('m')
        .unwrap_or(("0", reset.strip_suffix('s').unwrap()));
    m.parse::<u64>().unwrap() * 60 + s.parse::<u64>().unwrap()
}

fn rpm_and_tpm() -> Limits {
    Limits {
        rpm: Some(10),
        tpm: Some(1_200),
        ..Limits::default()
    }
}

#[tokio::test]
async fn an_openai_caller_sees_its_remaining_requests_and_tokens_fall() {
    let gw = gateway().await;
    let (_, key) = key_with(&gw, "openai", rpm_and_tpm());
    let mut last_tokens = u64::MAX;
    for (n, stream) in [(1, false), (2, true), (3, false)] {
        let (status, h) = ask(&gw, ApiShape::OpenAiChat, &key, "mock-echo", stream).await;
        assert_eq!(status, 200);
        assert_eq!(h["x-ratelimit-limit-requests"], "10");
        // This request is counted: 10 - n left, refilled one per 6 s.
        assert_eq!(number(&h, "x-ratelimit-remaining-requests"), 10 - n);
        let reset = seconds(h["x-ratelimit-reset-requests"].to_str().unwrap());
        assert!((6 * n - 5..=6 * n).contains(&reset), "{reset} s");
        assert_eq!(h["x-ratelimit-limit-tokens"], "1200");
        // Its reservation (about 100 output tokens and the prompt) is counted too.
        let tokens = number(&h, "x-ratelimit-remaining-tokens");
        assert!(
            tokens <= 1_100 && tokens < last_tokens,
            "{tokens} after {last_tokens}"
        );
        last_tokens = tokens;
        assert!(!has_any(&h, "anthropic-ratelimit-"), "{h:?}");
        assert_eq!(h["x-patchbay-provider"], "openai");
        assert_eq!(h["x-patchbay-attempts"], "1");
    }
}

#[tokio::test]
async fn an_anthropic_caller_gets_anthropic_s_headers_whole_and_streamed() {
    let gw = gateway().await;
    let (_, key) = key_with(&gw, "anthropic", rpm_and_tpm());
    let mut last_tokens = u64::MAX;
    let mut last_reset = String::new();
    for (n, stream) in [(1, true), (2, false), (3, true)] {
        let (status, h) = ask(&gw, ApiShape::Anthropic, &key, "mock-echo", stream).await;
        assert_eq!(status, 200);
        assert_eq!(h["anthropic-ratelimit-requests-limit"], "10");
        assert_eq!(number(&h, "anthropic-ratelimit-requests-remaining"), 10 - n);
        // An RFC 3339 UTC time, later with each request counted.
        let reset = h["anthropic-ratelimit-requests-reset"].to_str().unwrap();
        assert!(
            reset.len() == 20 && reset.ends_with('Z') && &reset[10..11] == "T",
            "{reset}"
        );
        assert!(reset > last_reset.as_str(), "{reset} after {last_reset}");
        last_reset = reset.to_owned();
        assert_eq!(h["anthropic-ratelimit-tokens-limit"], "1200");
        let tokens = number(&h, "anthropic-ratelimit-tokens-remaining");
        assert!(tokens < last_tokens, "{tokens} after {last_tokens}");
        last_tokens = tokens;
        assert!(h.contains_key("anthropic-ratelimit-tokens-reset"));
        // No input or output token quota is set.
        assert!(!has_any(&h, "anthropic-ratelimit-input-tokens"), "{h:?}");
        assert!(!has_any(&h, "x-ratelimit-"), "{h:?}");
    }
}

#[tokio::test]
async fn token_quotas_show_as_anthropic_s_input_and_output_token_limits() {
    let gw = gateway().await;
    let limits = Limits {
        daily_output_tokens: Some(10_000),
        ..Limits::default()
    };
    let (_, key) = key_with(&gw, "quota", limits);
    let (status, h) = ask(&gw, ApiShape::Anthropic, &key, "mock-echo", false).await;
    assert_eq!(status, 200);
    // 100 output tokens reserved of the day's 10,000.
    assert_eq!(h["anthropic-ratelimit-output-tokens-limit"], "10000");
    assert_eq!(h["anthropic-ratelimit-output-tokens-remaining"], "9900");
    assert_eq!(
        h["anthropic-ratelimit-tokens-remaining"],
        h["anthropic-ratelimit-output-tokens-remaining"]
    );
    assert!(!has_any(&h, "anthropic-ratelimit-requests-"), "{h:?}");
    assert!(!has_any(&h, "anthropic-ratelimit-input-tokens-"), "{h:?}");
}

#[tokio::test]
async fn a_key_without_limits_gets_no_rate_limit_headers() {
    let gw = gateway().await;
    let (_, key) = key_with(&gw, "free", Limits::default());
    for shape in [ApiShape::OpenAiChat, ApiShape::Anthropic] {
        for stream in [false, true] {
            let (status, h) = ask(&gw, shape, &key, "mock-echo", stream).await;
            assert_eq!(status, 200);
            assert!(!has_any(&h, "x-ratelimit-"), "{shape:?}: {h:?}");
            assert!(!has_any(&h, "anthropic-ratelimit-"), "{shape:?}: {h:?}");
            assert_eq!(h["x-patchbay-model"], "mock-echo");
        }
    }
}

#[tokio::test]
async fn a_failed_answer_after_admission_says_where_it_went_and_what_is_left() {
    let gw = gateway().await;
    let (_, key) = key_with(&gw, "fails", rpm_and_tpm());
    let (status, h) = ask(&gw, ApiShape::OpenAiChat, &key, "mock-fail-400", false).await;
    assert_eq!(status, 400);
    assert_eq!(number(&h, "x-ratelimit-remaining-requests"), 9);
    assert_eq!(h["x-patchbay-provider"], "openai");
    assert_eq!(h["x-patchbay-model"], "mock-fail-400");
    assert_eq!(h["x-patchbay-attempts"], "1");
}

#[tokio::test]
async fn a_429_keeps_its_headers_and_adds_anthropic_s_for_anthropic_callers() {
    let gw = gateway().await;
    let limits = Limits {
        rpm: Some(1),
        ..Limits::default()
    };
    let (_, key) = key_with(&gw, "one", limits);
    let (status, h) = ask(&gw, ApiShape::Anthropic, &key, "mock-echo", false).await;
    assert_eq!(
        (status, number(&h, "anthropic-ratelimit-requests-remaining")),
        (200, 0)
    );
    let (status, h) = ask(&gw, ApiShape::Anthropic, &key, "mock-echo", false).await;
    assert_eq!(status, 429);
    assert!(h.contains_key("retry-after"));
    assert_eq!(h["x-patchbay-limit"], "key.rpm");
    assert_eq!(h["x-ratelimit-remaining-requests"], "0");
    assert_eq!(h["anthropic-ratelimit-requests-limit"], "1");
    assert_eq!(h["anthropic-ratelimit-requests-remaining"], "0");
    assert!(h.contains_key("anthropic-ratelimit-requests-reset"));
}

#[tokio::test]
async fn the_auto_model_names_the_rule_that_chose() {
    let gw = gateway().await;
    let (path, body) = chat_request(ApiShape::OpenAiChat, "auto", "hi", false, false);
    let resp = send(&gw, ApiShape::OpenAiChat, &path, &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-patchbay-route-rule"], "otherwise");
    assert_eq!(resp.headers()["x-patchbay-model"], "mock-echo");
    let (path, body) = chat_request(ApiShape::OpenAiChat, "auto", "hi", true, true);
    let resp = send(&gw, ApiShape::OpenAiChat, &path, &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-patchbay-route-rule"], "rules[0]");
    assert_eq!(resp.headers()["x-patchbay-model"], "mock-tools");
    resp.bytes().await.unwrap();
    // A model named outright has no rule.
    let (path, body) = chat_request(ApiShape::OpenAiChat, "mock-echo", "hi", false, false);
    let resp = send(&gw, ApiShape::OpenAiChat, &path, &body).await;
    assert!(!resp.headers().contains_key("x-patchbay-route-rule"));
}

#[tokio::test]
async fn gemini_callers_get_openai_s_headers_having_none_of_their_own() {
    let gw = gateway().await;
    let (_, key) = key_with(&gw, "gemini", rpm_and_tpm());
    let (status, h) = ask(&gw, ApiShape::Gemini, &key, "mock-echo", true).await;
    assert_eq!(status, 200);
    assert_eq!(number(&h, "x-ratelimit-remaining-requests"), 9);
    assert!(h.contains_key("x-ratelimit-remaining-tokens"));
    assert!(!has_any(&h, "anthropic-ratelimit-"), "{h:?}");
}
