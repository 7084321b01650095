//! The response cache over loopback: a miss then a hit in every caller shape, whole
//! and streamed (a hit replayed in the caller's grammar whatever form stored it), a
//! hit across caller shapes, expiry, the byte bound, `cache-control`, enabling per
//! route and per key, rate limits counting hits, the usage record of a hit; sharing
//! (a project's keys, two gateways on one Redis) in `shared.rs`. Every upstream sits
//! behind a counting proxy, so "no upstream call" is asserted where the upstream is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod shared;

use crate::support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use gateway_auth::usage::query::LogQuery;
use gateway_auth::{KeyPolicy, Limits};
use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use http_body_util::{BodyExt, StreamBody};
use support::*;

/// A proxy in front of `target` counting the requests it forwards, answers streamed
/// through.
async fn counting(target: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let addr = serve_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut forward = client()
                .request(parts.method.clone(), format!("http://{target}{path}"))
                .body(body);
            for (name, value) in &parts.headers {
                if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
                    forward = forward.header(name, value);
                }
            }
            let answer = forward.send().await.unwrap();
            let mut out = hyper::Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
                    out = out.header(name, value);
                }
            }
            // Passed on as it comes, a cut included (the body ends in an error).
            let body = answer
                .bytes_stream()
                .map(|chunk| chunk.map(http_body::Frame::data));
            out.body(StreamBody::new(body)).unwrap()
        }
    })
    .await;
    (addr, count)
}

/// A gateway whose every route goes to one counted OpenAI-shape mock, with `extra`
/// configuration after the providers (routes, `[cache]`).
struct Cached {
    gw: Gateway,
    upstream: Arc<AtomicUsize>,
}

impl Cached {
    async fn start(extra: &str) -> Cached {
        Cached::start_with(MockConfig::default(), extra).await
    }

    async fn start_with(mock: MockConfig, extra: &str) -> Cached {
        let mock = mock_upstream(ApiShape::OpenAiChat, mock).await;
        let (proxy, upstream) = counting(mock).await;
        let gw = Gateway::start(&format!(
            r#"
[providers.openai]
kind = "openai_compatible"
base_url = "http://{proxy}/v1"
api_key = "sk-upstream"

[[keys]]
name = "test"
secret = "{KEY}"
{extra}
"#
        ))
        .await;
        Cached { gw, upstream }
    }

    /// A cache on for every route, with `cache` lines added to `[cache]`.
    async fn on(cache: &str) -> Cached {
        Cached::on_with(MockConfig::default(), cache).await
    }

    async fn on_with(mock: MockConfig, cache: &str) -> Cached {
        Cached::start_with(
            mock,
            &format!(
                "[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n\n[cache]\nenabled = true\n{cache}"
            ),
        )
        .await
    }

    fn asked(&self) -> usize {
        self.upstream.load(Ordering::SeqCst)
    }
}

/// What one call got.
struct Got {
    status: u16,
    cache: Option<String>,
    text: String,
    headers: http::HeaderMap,
}

async fn ask(
    gw: &Gateway,
    shape: ApiShape,
    model: &str,
    prompt: &str,
    stream: bool,
    key: &str,
    cache_control: Option<&str>,
) -> Got {
    let (path, mut body) = chat_request(shape, model, prompt, stream, false);
    if shape == ApiShape::OpenAiResponses {
        // A stored Responses turn (`store` defaults to true) is not cached: it gets
        // an id and a row of its own (`stored_responses_are_not_cached`).
        body["store"] = serde_json::json!(false);
    }
    let mut req = client().post(gw.url(&path)).json(&body);
    req = match shape {
        ApiShape::Anthropic => req
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01"),
        ApiShape::Gemini => req.header("x-goog-api-key", key),
        _ => req.bearer_auth(key),
    };
    if let Some(cc) = cache_control {
        req = req.header("cache-control", cc);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let cache = headers
        .get("x-patchbay-cache")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = resp.bytes().await.unwrap();
    let text = if status != 200 {
        String::new()
    } else if stream {
        text_of(&parse_stream(shape, &bytes, false).unwrap())
    } else {
        text_of(&parse_whole(shape, &bytes))
    };
    Got {
        status,
        cache,
        text,
        headers,
    }
}

async fn plain(gw: &Gateway, shape: ApiShape, prompt: &str, stream: bool) -> Got {
    ask(gw, shape, "mock-echo", prompt, stream, KEY, None).await
}

#[tokio::test]
async fn each_caller_shape_misses_then_hits_whole_and_streamed_without_an_upstream_call() {
    let c = Cached::on("").await;
    for (i, shape) in CALLERS.into_iter().enumerate() {
        let prompt = format!("remember me, {shape:?}");
        let first = plain(&c.gw, shape, &prompt, false).await;
        assert_eq!(first.status, 200, "{shape:?}");
        assert_eq!(first.cache.as_deref(), Some("miss"), "{shape:?}");
        assert!(
            first.text.contains("remember me"),
            "{shape:?}: {}",
            first.text
        );
        assert_eq!(c.asked(), i + 1, "{shape:?}");

        let again = plain(&c.gw, shape, &prompt, false).await;
        assert_eq!(again.cache.as_deref(), Some("hit"), "{shape:?}");
        assert_eq!(again.text, first.text, "{shape:?}");
        assert_eq!(again.headers["x-patchbay-attempts"], "0", "{shape:?}");
        assert_eq!(again.headers["x-patchbay-provider"], "openai", "{shape:?}");

        // The same question as a stream: the whole answer replayed as events of the
        // caller's grammar.
        let streamed = plain(&c.gw, shape, &prompt, true).await;
        assert_eq!(streamed.cache.as_deref(), Some("hit"), "{shape:?}");
        assert_eq!(streamed.text, first.text, "{shape:?}");
        assert_eq!(c.asked(), i + 1, "{shape:?}: a hit asks no upstream");
    }
}

#[tokio::test]
async fn a_streamed_miss_is_kept_once_whole_and_served_in_either_form() {
    let c = Cached::on("").await;
    for shape in CALLERS {
        let prompt = format!("stream first, {shape:?}");
        let before = c.asked();
        let first = plain(&c.gw, shape, &prompt, true).await;
        assert_eq!(first.cache.as_deref(), Some("miss"), "{shape:?}");
        assert!(first.text.contains("stream first"), "{shape:?}");
        for stream in [true, false] {
            let hit = plain(&c.gw, shape, &prompt, stream).await;
            assert_eq!(
                hit.cache.as_deref(),
                Some("hit"),
                "{shape:?} stream={stream}"
            );
            assert_eq!(hit.text, first.text, "{shape:?} stream={stream}");
        }
        assert_eq!(c.asked(), before + 1, "{shape:?}");
    }
}

#[tokio::test]
async fn a_gemini_json_array_stream_hit_is_one_json_array() {
    let c = Cached::on("").await;
    let (_, body) = chat_request(ApiShape::Gemini, "mock-echo", "as an array", false, false);
    let first = send(
        &c.gw,
        ApiShape::Gemini,
        "/v1beta/models/mock-echo:generateContent",
        &body,
    )
    .await;
    assert_eq!(first.headers()["x-patchbay-cache"], "miss");
    let text = text_of(&parse_whole(
        ApiShape::Gemini,
        &first.bytes().await.unwrap(),
    ));
    // No `alt=sse`: Gemini streams one JSON array.
    let path = "/v1beta/models/mock-echo:streamGenerateContent";
    let hit = send(&c.gw, ApiShape::Gemini, path, &body).await;
    assert_eq!(hit.headers()["x-patchbay-cache"], "hit");
    assert_eq!(hit.headers()["content-type"], "application/json");
    let bytes = hit.bytes().await.unwrap();
    let array: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(array.is_array(), "{array}");
    assert_eq!(
        text_of(&parse_stream(ApiShape::Gemini, &bytes, true).unwrap()),
        text
    );
    assert_eq!(c.asked(), 1);
}

#[tokio::test]
async fn errors_and_broken_streams_are_never_kept() {
    let failing = MockConfig {
        fail_status: Some(400),
        ..MockConfig::default()
    };
    let c = Cached::on_with(failing, "").await;
    for _ in 0..2 {
        let got = plain(&c.gw, ApiShape::Anthropic, "refused", false).await;
        assert_eq!(got.status, 400);
        assert_eq!(got.cache.as_deref(), Some("miss"));
    }
    assert_eq!(c.asked(), 2);

    let cut = MockConfig {
        cut_after_chunks: Some(1),
        ..MockConfig::default()
    };
    let c = Cached::on_with(cut, "").await;
    for shape in [ApiShape::OpenAiChat, ApiShape::Anthropic] {
        let (path, body) = chat_request(shape, "mock-echo", "cut short", true, false);
        let resp = send(&c.gw, shape, &path, &body).await;
        assert_eq!(resp.headers()["x-patchbay-cache"], "miss");
        let bytes = resp.bytes().await.unwrap();
        assert!(
            parse_stream(shape, &bytes, false).is_err(),
            "{shape:?}: the stream broke"
        );
    }
    // Neither broken stream was kept: the same question is asked again (whole: the
    // mock cuts streams only).
    let before = c.asked();
    let again = plain(&c.gw, ApiShape::OpenAiChat, "cut short", false).await;
    assert_eq!(again.cache.as_deref(), Some("miss"));
    assert_eq!(c.asked(), before + 1);
}

#[tokio::test]
async fn the_same_canonical_request_hits_across_caller_shapes() {
    let c = Cached::on("").await;
    // An OpenAI Chat request and an Anthropic one for the same conversation and
    // output limit are the same canonical request.
    let (path, mut body) = chat_request(ApiShape::OpenAiChat, "mock-echo", "shared", false, false);
    body["max_tokens"] = serde_json::json!(256);
    let resp = send(&c.gw, ApiShape::OpenAiChat, &path, &body).await;
    assert_eq!(resp.headers()["x-patchbay-cache"], "miss");
    let chat = text_of(&parse_whole(
        ApiShape::OpenAiChat,
        &resp.bytes().await.unwrap(),
    ));
    let anthropic = ask(
        &c.gw,
        ApiShape::Anthropic,
        "mock-echo",
        "shared",
        true,
        KEY,
        None,
    )
    .await;
    assert_eq!(anthropic.cache.as_deref(), Some("hit"));
    assert_eq!(anthropic.text, chat);
    assert_eq!(c.asked(), 1);
}

#[tokio::test]
async fn an_answer_expires_after_its_ttl() {
    let c = Cached::on("ttl_secs = 1\n").await;
    assert_eq!(
        plain(&c.gw, ApiShape::OpenAiChat, "brief", false)
            .await
            .cache
            .as_deref(),
        Some("miss")
    );
    assert_eq!(
        plain(&c.gw, ApiShape::OpenAiChat, "brief", false)
            .await
            .cache
            .as_deref(),
        Some("hit")
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        plain(&c.gw, ApiShape::OpenAiChat, "brief", false)
            .await
            .cache
            .as_deref(),
        Some("miss")
    );
    assert_eq!(c.asked(), 2);
}

#[tokio::test]
async fn the_byte_bound_evicts_the_least_recently_used_answers() {
    let c = Cached::on("max_bytes = 2000\nmax_entry_bytes = 2000\n").await;
    let cache = c.gw.app.response_cache();
    plain(&c.gw, ApiShape::OpenAiChat, "first of many", false).await;
    let (held, one) = cache.memory_size().unwrap();
    assert_eq!(held, 1);
    assert!(
        one * 3 < 2000,
        "an answer of {one} bytes is too large for this test"
    );
    for i in 0..12 {
        plain(&c.gw, ApiShape::OpenAiChat, &format!("another {i}"), false).await;
        let (_, bytes) = cache.memory_size().unwrap();
        assert!(bytes <= 2000, "{bytes} bytes held");
    }
    let asked = c.asked();
    // The newest is still there; the first went long ago.
    let newest = plain(&c.gw, ApiShape::OpenAiChat, "another 11", false).await;
    assert_eq!(newest.cache.as_deref(), Some("hit"));
    let first = plain(&c.gw, ApiShape::OpenAiChat, "first of many", false).await;
    assert_eq!(first.cache.as_deref(), Some("miss"));
    assert_eq!(c.asked(), asked + 1);
}

#[tokio::test]
async fn cache_control_no_cache_refreshes_and_no_store_leaves_nothing() {
    let c = Cached::on("").await;
    let shape = ApiShape::OpenAiChat;
    // no-store: asked, not kept.
    let got = ask(
        &c.gw,
        shape,
        "mock-echo",
        "secret",
        false,
        KEY,
        Some("no-store"),
    )
    .await;
    assert_eq!(got.cache.as_deref(), Some("bypass"));
    assert_eq!(
        plain(&c.gw, shape, "secret", false).await.cache.as_deref(),
        Some("miss")
    );
    assert_eq!(c.asked(), 2);
    // no-cache: asked again although kept, and the fresh answer kept.
    let got = ask(
        &c.gw,
        shape,
        "mock-echo",
        "secret",
        false,
        KEY,
        Some("no-cache"),
    )
    .await;
    assert_eq!(got.cache.as_deref(), Some("bypass"));
    assert_eq!(c.asked(), 3);
    assert_eq!(
        plain(&c.gw, shape, "secret", false).await.cache.as_deref(),
        Some("hit")
    );
    assert_eq!(c.asked(), 3);
    // Counted for the operator: two bypasses, one miss, one hit, two answers kept.
    let stats = c.gw.app.response_cache().stats();
    assert_eq!(
        (stats.hits, stats.misses, stats.bypasses, stats.stored),
        (1, 1, 2, 2)
    );
    let metric = |name: &'static str| crate::shared_limits::metric(&c.gw, name);
    assert_eq!(
        metric("patchbay_cache_requests_total{outcome=\"bypass\"}").await,
        2.0
    );
    assert_eq!(metric("patchbay_cache_stored_total").await, 2.0);
    assert_eq!(metric("patchbay_cache_entries").await, 1.0);
}

#[tokio::test]
async fn the_cache_is_off_unless_a_route_or_a_key_turns_it_on() {
    let c = Cached::start(
        "[[routes]]\nmodel = \"cached-*\"\ntargets = [{ provider = \"openai\", model = \"mock-echo\" }]\ncache = true\n\n\
         [[routes]]\nmodel = \"*\"\ntargets = [{ provider = \"openai\" }]\n",
    )
    .await;
    let shape = ApiShape::OpenAiChat;
    let on = |key: &str| {
        let key = key.to_owned();
        let gw = &c.gw;
        async move {
            let a = ask(gw, shape, "cached-model", "route", false, &key, None).await;
            let b = ask(gw, shape, "cached-model", "route", false, &key, None).await;
            (a.cache, b.cache)
        }
    };
    // The route turns it on; `[cache] enabled` is off.
    assert_eq!(on(KEY).await, (Some("miss".into()), Some("hit".into())));
    let off = ask(&c.gw, shape, "mock-echo", "plain", false, KEY, None).await;
    assert_eq!(off.cache, None);
    ask(&c.gw, shape, "mock-echo", "plain", false, KEY, None).await;
    assert_eq!(c.asked(), 3);

    // A key's policy wins over the route, either way.
    let key_with_cache = |name: &str, cache: bool| {
        let policy = KeyPolicy {
            cache: Some(cache),
            ..KeyPolicy::default()
        };
        let (_, secret) =
            c.gw.app
                .key_store()
                .unwrap()
                .create(gateway_auth::keys::NewKey {
                    name: name.into(),
                    policy: Some(policy),
                    ..gateway_auth::keys::NewKey::default()
                })
                .unwrap();
        secret
    };
    let never = key_with_cache("never", false);
    assert_eq!(on(&never).await, (None, None));
    let always = key_with_cache("always", true);
    let a = ask(&c.gw, shape, "mock-echo", "mine", false, &always, None).await;
    let b = ask(&c.gw, shape, "mock-echo", "mine", false, &always, None).await;
    assert_eq!(
        (a.cache.as_deref(), b.cache.as_deref()),
        (Some("miss"), Some("hit"))
    );
    // Answers are the key's own: another key asking the same misses.
    let (_, other) = key_with(&c.gw, "other", Limits::default());
    let other_key = ask(&c.gw, shape, "cached-model", "route", false, &other, None).await;
    assert_eq!(other_key.cache.as_deref(), Some("miss"));
}

#[tokio::test]
async fn a_hit_counts_against_the_rate_limit_and_is_recorded_as_a_free_hit() {
    let c = Cached::on("").await;
    let (key_id, key) = key_with(
        &c.gw,
        "rpm",
        Limits {
            rpm: Some(2),
            ..Limits::default()
        },
    );
    let shape = ApiShape::OpenAiChat;
    let miss = ask(&c.gw, shape, "mock-echo", "limited", false, &key, None).await;
    assert_eq!(miss.cache.as_deref(), Some("miss"));
    let hit = ask(&c.gw, shape, "mock-echo", "limited", true, &key, None).await;
    assert_eq!(hit.cache.as_deref(), Some("hit"));
    assert_eq!(hit.headers["x-ratelimit-remaining-requests"], "0");
    let refused = ask(&c.gw, shape, "mock-echo", "limited", false, &key, None).await;
    assert_eq!(refused.status, 429);
    assert_eq!(c.asked(), 1);

    c.gw.app.flush_usage();
    let log =
        c.gw.app
            .usage_reader()
            .unwrap()
            .request_log(&LogQuery {
                key_id: Some(key_id),
                ..LogQuery::default()
            })
            .unwrap();
    let rows: Vec<_> = log.entries.iter().rev().map(|e| &e.record).collect();
    assert_eq!(rows.len(), 3);
    let (miss, hit, refused) = (rows[0], rows[1], rows[2]);
    assert!(!miss.cache_hit);
    assert!(miss.input_tokens > 0 && miss.upstream_shape.is_some());
    assert!(hit.cache_hit, "{hit:?}");
    assert_eq!(hit.status, 200);
    assert!(hit.streamed);
    assert_eq!(hit.cost_micros, Some(0));
    assert_eq!((hit.input_tokens, hit.output_tokens), (0, 0));
    assert_eq!(hit.provider.as_deref(), Some("openai"));
    assert_eq!(hit.upstream_shape, None);
    assert!(!refused.cache_hit);
    assert_eq!(refused.status, 429);
}

#[tokio::test]
async fn stored_responses_are_not_cached() {
    let c = Cached::on("").await;
    let (path, body) = chat_request(
        ApiShape::OpenAiResponses,
        "mock-echo",
        "keep me",
        false,
        false,
    );
    for n in 1..=2 {
        let resp = client()
            .post(c.gw.url(&path))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().get("x-patchbay-cache").is_none(), "call {n}");
        let id = resp.json::<serde_json::Value>().await.unwrap()["id"].clone();
        assert!(id.as_str().is_some_and(|i| i.starts_with("resp_")), "{id}");
    }
    assert_eq!(c.asked(), 2, "each stored turn asks the upstream");
}
