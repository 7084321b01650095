//! Observability through the gateway: `/metrics` on the admin and main listeners
//! behind their credentials, the series real traffic adds (same-shape, streamed,
//! cross-shape, refused), and the access log's lines for each, refused keys
//! rate-limited.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use support::*;

const ADMIN_TOKEN: &str = "admin-token-for-the-observe-tests";

/// A gateway with metrics on both listeners and a JSON access log in `log`.
async fn gateway(log: &std::path::Path, format: &str) -> Gateway {
    let up = Upstreams::start(MockConfig::default()).await;
    Gateway::start(&format!(
        r#"{}
[[routes]]
model = "mock-echo"
targets = [{{ provider = "openai" }}]

[[routes]]
model = "cross-echo"
targets = [{{ provider = "anthropic", model = "mock-echo" }}]

[metrics]
main_listener = true
username = "prom"
password = "scrape-secret"

[access_log]
format = "{format}"
path = "{}"
auth_failures_per_minute = 2
"#,
        up.toml(),
        log.display()
    ))
    .await
}

/// The sum of `name`'s samples whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (label_part, value) = match rest.strip_prefix('{') {
            Some(r) => {
                let (l, v) = r.split_once("} ").unwrap();
                (l, v)
            }
            None => match rest.strip_prefix(' ') {
                Some(v) => ("", v),
                None => continue,
            },
        };
        if labels
            .iter()
            .all(|(k, v)| label_part.contains(&format!("{k}=\"{v}\"")))
        {
            *found.get_or_insert(0.0) += value.trim().parse::<f64>().unwrap();
        }
    }
    found
}

async fn scrape(url: &str, auth: Option<(&str, Option<&str>)>) -> (u16, String) {
    let mut req = client().get(url);
    match auth {
        Some((user, Some(password))) => req = req.basic_auth(user, Some(password)),
        Some((token, None)) => req = req.bearer_auth(token),
        None => {}
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn chat(gw: &Gateway, model: &str, key: &str, stream: bool) -> (u16, String) {
    let (path, body) = chat_request(ApiShape::OpenAiChat, model, "observe me", stream, false);
    let resp = client()
        .post(gw.url(&path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn traffic_shows_in_the_metrics_and_the_access_log() {
    let dir = tempdir();
    let log = dir.join("access.log");
    let gw = gateway(&log, "json").await;
    assert_eq!(chat(&gw, "mock-echo", KEY, false).await.0, 200);
    assert_eq!(chat(&gw, "mock-echo", KEY, true).await.0, 200);
    assert_eq!(chat(&gw, "cross-echo", KEY, false).await.0, 200);
    for _ in 0..3 {
        assert_eq!(
            chat(&gw, "mock-echo", "pbk_wrong_guess", false).await.0,
            401
        );
    }
    let bad = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let unknown = client().get(gw.url("/v2/nothing")).send().await.unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    gw.app.flush_usage();
    // The usage records name both shapes, the translated one too.
    let conn = gateway_auth::migrate::open(gw.app.database_path().unwrap()).unwrap();
    let shapes: Vec<(String, Option<String>)> = conn
        .prepare("SELECT caller_shape, upstream_shape FROM requests ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let chat = ("openai-chat".to_owned(), Some("openai-chat".to_owned()));
    let cross = ("openai-chat".to_owned(), Some("anthropic".to_owned()));
    assert_eq!(shapes, [chat.clone(), chat, cross]);

    // The main listener: the scrape credentials only.
    let main = gw.url("/metrics");
    assert_eq!(scrape(&main, None).await.0, 401);
    assert_eq!(scrape(&main, Some((ADMIN_TOKEN, None))).await.0, 401);
    assert_eq!(scrape(&main, Some(("prom", Some("nope")))).await.0, 401);
    let (status, text) = scrape(&main, Some(("prom", Some("scrape-secret")))).await;
    assert_eq!(status, 200, "{text}");

    let same = [
        ("operation", "chat"),
        ("caller", "openai-chat"),
        ("upstream", "openai-chat"),
        ("provider", "openai"),
        ("model", "mock-echo"),
        ("status", "2xx"),
    ];
    assert_eq!(sample(&text, "patchbay_requests_total", &same), Some(2.0));
    let cross = [
        ("upstream", "anthropic"),
        ("provider", "anthropic"),
        ("model", "mock-echo"),
    ];
    assert_eq!(sample(&text, "patchbay_requests_total", &cross), Some(1.0));
    let refused = |reason| sample(&text, "patchbay_refusals_total", &[("reason", reason)]);
    assert_eq!(refused("unauthenticated"), Some(3.0));
    assert_eq!(refused("invalid_request"), Some(1.0));
    assert_eq!(refused("not_found"), Some(1.0));
    let openai = [("provider", "openai"), ("model", "mock-echo")];
    assert_eq!(
        sample(&text, "patchbay_time_to_first_token_seconds_count", &openai),
        Some(1.0),
        "one stream, one first token"
    );
    assert_eq!(
        sample(&text, "patchbay_request_duration_seconds_count", &openai),
        Some(2.0)
    );
    let input = [("provider", "openai"), ("kind", "input")];
    assert!(sample(&text, "patchbay_tokens_total", &input).unwrap() > 0.0);
    assert_eq!(
        sample(
            &text,
            "patchbay_upstream_duration_seconds_count",
            &[("provider", "anthropic"), ("outcome", "ok")]
        ),
        Some(1.0)
    );
    assert_eq!(sample(&text, "patchbay_open_streams", &[]), Some(0.0));
    assert_eq!(sample(&text, "patchbay_in_flight_requests", &[]), Some(0.0));
    assert!(sample(&text, "patchbay_open_connections", &[]).unwrap() >= 1.0);
    // The three answered chats have usage records; refusals before a key or a body do not.
    assert_eq!(
        sample(&text, "patchbay_usage_records_written_total", &[]),
        Some(3.0)
    );
    assert!(sample(&text, "patchbay_usage_batches_total", &[]).unwrap() >= 1.0);
    assert_eq!(
        sample(&text, "patchbay_key_cache_entries", &[]),
        Some(1.0),
        "the declared test key"
    );
    assert_eq!(
        sample(&text, "patchbay_access_log_suppressed_total", &[]),
        Some(1.0),
        "three refused keys, two a minute logged"
    );
    assert!(!text.contains("key=\""), "no key labels unless asked for");

    // The admin listener: the admin token or the scrape credentials.
    let admin = start_admin(&gw, ADMIN_TOKEN).await;
    let admin = format!("{admin}/metrics");
    assert_eq!(scrape(&admin, None).await.0, 401);
    assert_eq!(scrape(&admin, Some((ADMIN_TOKEN, None))).await.0, 200);
    assert_eq!(
        scrape(&admin, Some(("prom", Some("scrape-secret"))))
            .await
            .0,
        200
    );

    gw.app.observer().flush();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        !lines.iter().any(|l| l.to_string().contains(KEY)),
        "no secret in the log"
    );
    let by_status = |status: u64| -> Vec<&serde_json::Value> {
        lines.iter().filter(|l| l["status"] == status).collect()
    };
    let ok = by_status(200);
    assert_eq!(ok.len(), 3, "{lines:#?}");
    for line in &ok {
        assert_eq!(line["operation"], "chat");
        assert_eq!(line["caller"], "openai-chat");
        assert_eq!(line["path"], "/v1/chat/completions");
        assert_eq!(line["attempts"], 1);
        assert!(line["key"].as_str().is_some_and(|k| !k.is_empty()));
        assert!(line["request_id"].as_str().unwrap().starts_with("req_"));
        assert!(line["input_tokens"].as_u64().unwrap() > 0);
        assert!(line["output_tokens"].as_u64().unwrap() > 0);
        assert!(line["duration_ms"].as_f64().unwrap() > 0.0);
    }
    let streamed: Vec<_> = ok.iter().filter(|l| l["streamed"] == true).collect();
    assert_eq!(streamed.len(), 1);
    assert!(streamed[0]["ttft_ms"].as_f64().is_some());
    assert!(ok.iter().any(|l| l["provider"] == "anthropic"));
    let unauthenticated = by_status(401);
    assert_eq!(
        unauthenticated.len(),
        2,
        "the third is over the minute's rate"
    );
    assert_eq!(unauthenticated[0]["refusal"], "unauthenticated");
    assert!(unauthenticated[0].get("key").is_none());
    let invalid = by_status(400);
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0]["refusal"], "invalid_request");
    assert!(
        invalid[0]["key"].as_str().is_some(),
        "known once the key passed"
    );
    assert_eq!(by_status(404)[0]["path"], "/v2/nothing");
    gw.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_text_access_log_is_key_value_pairs() {
    let dir = tempdir();
    let log = dir.join("access.log");
    let gw = gateway(&log, "text").await;
    assert_eq!(chat(&gw, "mock-echo", KEY, false).await.0, 200);
    gw.app.observer().flush();
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text.lines().next().unwrap();
    assert!(line.starts_with("ts=20"), "{line}");
    for field in [
        " request_id=req_",
        " method=POST",
        " path=/v1/chat/completions",
        " operation=chat",
        " provider=openai",
        " model=mock-echo",
        " status=200",
        " attempts=1",
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
    assert!(!line.contains('\u{1b}'), "no colour codes");
    gw.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn metrics_are_not_on_the_main_listener_unless_asked() {
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = Gateway::start(&up.toml()).await;
    let (status, _) = scrape(&gw.url("/metrics"), Some(("prom", Some("x")))).await;
    assert_eq!(status, 404);
    gw.shutdown().await;
}

/// A fresh directory under the system's temporary one.
fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "patchbay-observe-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn retries_fallbacks_upstream_errors_and_limit_refusals_are_counted() {
    let up = Upstreams::start(MockConfig::default()).await;
    let busy = failing_upstream(503).await;
    let gw = Gateway::start(&format!(
        r#"{}
[providers.busy]
kind = "openai_compatible"
base_url = "http://{busy}/v1"

[[routes]]
model = "chain"
targets = [{{ provider = "busy", model = "mock-echo" }}]
fallbacks = [{{ provider = "openai", model = "mock-echo" }}]
retries = 1
backoff_ms = 1
backoff_max_ms = 2

[[routes]]
model = "*"
targets = [{{ provider = "openai" }}]
"#,
        up.toml()
    ))
    .await;
    // busy: a try and a retry, both 503; then the fallback answers.
    let (status, body) = chat(&gw, "chain", KEY, false).await;
    assert_eq!(status, 200, "{body}");
    let (_, limited) = key_with(
        &gw,
        "limited",
        gateway_auth::Limits {
            rpm: Some(1),
            ..gateway_auth::Limits::default()
        },
    );
    assert_eq!(chat(&gw, "mock-echo", &limited, false).await.0, 200);
    assert_eq!(chat(&gw, "mock-echo", &limited, false).await.0, 429);
    let (_, narrow) = gw
        .app
        .key_store()
        .unwrap()
        .create(gateway_auth::keys::NewKey {
            name: "narrow".into(),
            policy: Some(gateway_auth::KeyPolicy {
                models: vec!["gpt-*".into()],
                ..gateway_auth::KeyPolicy::default()
            }),
            ..gateway_auth::keys::NewKey::default()
        })
        .unwrap();
    assert_eq!(chat(&gw, "mock-echo", &narrow, false).await.0, 403);

    let admin = start_admin(&gw, ADMIN_TOKEN).await;
    let (status, text) = scrape(&format!("{admin}/metrics"), Some((ADMIN_TOKEN, None))).await;
    assert_eq!(status, 200);
    let busy = [("provider", "busy")];
    assert_eq!(sample(&text, "patchbay_retries_total", &busy), Some(1.0));
    assert_eq!(sample(&text, "patchbay_fallbacks_total", &busy), Some(1.0));
    let overloaded = [
        ("provider", "busy"),
        ("kind", "overloaded"),
        ("blame", "upstream"),
    ];
    assert_eq!(
        sample(&text, "patchbay_upstream_errors_total", &overloaded),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "patchbay_upstream_duration_seconds_count",
            &[("provider", "busy"), ("outcome", "error")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "patchbay_cooldowns_active", &busy),
        Some(1.0),
        "the failing target cools down"
    );
    assert_eq!(
        sample(
            &text,
            "patchbay_cooldowns_active",
            &[("provider", "openai")]
        ),
        Some(0.0)
    );
    let refused = |reason| sample(&text, "patchbay_refusals_total", &[("reason", reason)]);
    assert_eq!(refused("rpm"), Some(1.0));
    assert_eq!(refused("model_not_allowed"), Some(1.0));
    assert_eq!(
        refused("overloaded"),
        None,
        "an upstream's 503 is not the gateway refusing"
    );
    gw.shutdown().await;
}
