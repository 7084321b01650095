//! Changes without a restart: runtime providers through the admin API (added,
//! tested, listed, changed, removed, their keys sealed in the database) and config
//! reloads (a new table for new requests while a request in flight finishes on the
//! old one; a file that does not validate refused with its path, the old one kept;
//! the file watched on disk).

use std::sync::Arc;
use std::time::Duration;

use crate::support;

use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use gateway_server::app::App;
use gateway_server::config::Config;
use gateway_server::reload::Trigger;
use reqwest::Method;
use serde_json::{Value, json};
use support::*;

const TOKEN: &str = "pba_reload_integration_token";

async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn admin(base: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
    client()
        .request(method, format!("{base}{path}"))
        .bearer_auth(TOKEN)
}

/// A chat request for `model` on `gw`: its status and the provider that served it.
async fn chat(gw: &Gateway, model: &str, stream: bool) -> (u16, Option<String>, String) {
    let (path, body) = chat_request(ApiShape::OpenAiChat, model, "hi", stream, false);
    let resp = client()
        .post(gw.url(&path))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let provider = resp
        .headers()
        .get("x-patchbay-provider")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    (status, provider, text)
}

#[tokio::test]
async fn a_provider_added_at_runtime_serves_at_once_and_its_key_is_sealed() {
    let up = Upstreams::start(MockConfig::default()).await;
    let second = mock_upstream(ApiShape::OpenAiChat, MockConfig::default()).await;
    let gw = Gateway::start(&format!(
        "{}\n[[routes]]\nmodel = \"gpt-*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    ))
    .await;
    let base = start_admin(&gw, TOKEN).await;

    let (status, list) = call(admin(&base, Method::GET, "/admin/providers")).await;
    assert_eq!(status, 200);
    let openai = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "openai")
        .unwrap();
    assert_eq!(openai["source"], "file");
    assert_eq!(list["runtime_enabled"], true);
    assert!(
        list["presets"]["kinds"].as_array().unwrap().len() > 3,
        "{list}"
    );
    let generation = list["generation"].as_u64().unwrap();

    assert_eq!(chat(&gw, "extra/gpt-x", false).await.0, 404);
    let secret = "sk-runtime-key-0123456789";
    let body = json!({
        "name": "extra", "kind": "openai_compatible",
        "base_url": format!("http://{second}/v1"), "api_key": secret,
    });
    let (status, created) = call(admin(&base, Method::POST, "/admin/providers").json(&body)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["key_hint"], "…6789");
    assert!(!created.to_string().contains(secret));

    let (status, provider, _) = chat(&gw, "extra/gpt-x", false).await;
    assert_eq!((status, provider.as_deref()), (200, Some("extra")));

    let (status, list) = call(admin(&base, Method::GET, "/admin/providers")).await;
    assert_eq!(status, 200);
    assert!(list["generation"].as_u64().unwrap() > generation);
    let extra = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "extra")
        .unwrap()
        .clone();
    assert_eq!(extra["source"], "runtime");
    assert_eq!(extra["settings"]["kind"], "openai_compatible");
    assert!(
        !list.to_string().contains(secret),
        "the key never goes back"
    );

    // The key is sealed in the database: its bytes are not in the file.
    let db = std::fs::read(gw.app.database_path().unwrap()).unwrap_or_default();
    let wal = std::fs::read(format!("{}-wal", gw.app.database_path().unwrap().display()))
        .unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }

    let (status, probe) = call(admin(&base, Method::POST, "/admin/providers/extra/test")).await;
    assert_eq!(status, 200);
    assert_eq!(probe["ok"], true, "{probe}");
    assert_eq!(probe["status"], 200);
    assert!(!probe["models"].as_array().unwrap().is_empty(), "{probe}");
    let (status, models) = call(admin(&base, Method::GET, "/admin/providers/extra/models")).await;
    assert_eq!(status, 200);
    assert_eq!(models["data"], probe["models"]);

    // A bad setting names itself; the provider keeps working as it was.
    let (status, err) =
        call(admin(&base, Method::PATCH, "/admin/providers/extra").json(&json!({"kind": "nope"})))
            .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["param"], "kind", "{err}");
    assert_eq!(chat(&gw, "extra/gpt-x", false).await.0, 200);

    // Pointed elsewhere: requests follow at once.
    // Nothing listens there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (status, _) = call(
        admin(&base, Method::PATCH, "/admin/providers/extra")
            .json(&json!({"base_url": format!("http://{dead}/v1")})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(chat(&gw, "extra/gpt-x", false).await.0 >= 500);
    let (_, probe) = call(admin(&base, Method::POST, "/admin/providers/extra/test")).await;
    assert_eq!(probe["ok"], false);
    assert_eq!(probe["status"], Value::Null, "{probe}");
    assert!(probe["error"].as_str().unwrap().len() > 5, "{probe}");

    // The file's providers are read-only here; names are unique.
    let (status, _) = call(
        admin(&base, Method::PATCH, "/admin/providers/openai")
            .json(&json!({"base_url": "http://x"})),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        call(admin(&base, Method::DELETE, "/admin/providers/openai"))
            .await
            .0,
        409
    );
    let dup = json!({"name": "openai", "kind": "mock"});
    assert_eq!(
        call(admin(&base, Method::POST, "/admin/providers").json(&dup))
            .await
            .0,
        409
    );
    let bad = json!({"name": "has space", "kind": "mock"});
    let (status, err) = call(admin(&base, Method::POST, "/admin/providers").json(&bad)).await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (400, Some("name"))
    );

    let (status, _) = call(admin(&base, Method::DELETE, "/admin/providers/extra")).await;
    assert_eq!(status, 200);
    assert_eq!(chat(&gw, "extra/gpt-x", false).await.0, 404);
    assert_eq!(
        call(admin(&base, Method::DELETE, "/admin/providers/extra"))
            .await
            .0,
        404
    );
    let (status, presets) = call(admin(&base, Method::GET, "/admin/providers/presets")).await;
    assert_eq!(status, 200);
    assert!(presets["presets"].as_array().unwrap().len() > 3);
    assert!(
        presets["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kind"] == "anthropic")
    );
}

/// The config text of a gateway whose default route goes to `provider`.
fn config_text(up: &Upstreams, provider: &str, extra: &str) -> String {
    format!(
        "[storage]\npath = \":memory:\"\n[access_log]\nformat = \"off\"\n{}\n\
         [[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"{provider}\" }}]\n{extra}",
        up.toml()
    )
}

#[tokio::test]
async fn a_reload_serves_new_requests_while_one_in_flight_finishes_on_the_old_table() {
    let slow = MockConfig {
        chunks: 6,
        chunk_delay_ms: 150,
        ..MockConfig::default()
    };
    let up = Upstreams::start(slow).await;
    let gw = Gateway::start(&format!(
        "{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    ))
    .await;
    let app: Arc<App> = gw.app.clone();
    let before = app.table().generation();

    let gw = Arc::new(gw);
    let streaming = {
        let gw = gw.clone();
        tokio::spawn(async move { chat(&gw, "any-model", true).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The same file with the default route sent to the Anthropic upstream.
    let text = config_text(&up, "anthropic", "");
    let report = app.reload_with(Config::from_toml_str(&text, &|_| None), Trigger::Admin);
    assert!(report.ok, "{report:?}");
    assert_eq!(app.table().generation(), before + 1);
    let (status, provider, _) = chat(&gw, "any-model", false).await;
    assert_eq!((status, provider.as_deref()), (200, Some("anthropic")));

    let (status, provider, body) = streaming.await.unwrap();
    assert_eq!((status, provider.as_deref()), (200, Some("openai")));
    assert!(body.contains("[DONE]"), "the stream ran to its end: {body}");

    // A file that does not validate changes nothing and says where it is wrong.
    let broken = config_text(&up, "nowhere", "");
    let report = app.reload_with(Config::from_toml_str(&broken, &|_| None), Trigger::Admin);
    assert!(!report.ok);
    let error = report.error.unwrap();
    assert!(error.contains("routes[0].targets[0].provider"), "{error}");
    assert_eq!(app.table().generation(), before + 1);
    let (status, provider, _) = chat(&gw, "any-model", false).await;
    assert_eq!((status, provider.as_deref()), (200, Some("anthropic")));
    let history = app.reload_status().history;
    assert!(!history[0].ok && history[1].ok, "{history:?}");

    // Start-only sections are named, and stay as they were.
    let changed = config_text(&up, "anthropic", "[server]\nmax_body_bytes = 1000\n");
    let report = app.reload_with(Config::from_toml_str(&changed, &|_| None), Trigger::Admin);
    assert!(report.ok);
    assert_eq!(report.restart_needed, vec!["server"]);
}

#[tokio::test]
async fn the_config_file_is_watched_and_a_bad_edit_keeps_the_old_one() {
    let up = Upstreams::start(MockConfig::default()).await;
    let dir = std::env::temp_dir().join(format!("pb-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("patchbay.toml");
    std::fs::write(&file, config_text(&up, "openai", "")).unwrap();
    let config = Config::load(&file).unwrap();
    let app = Arc::new(App::from_config(&config).unwrap());
    app.set_config_path(file.clone());
    let watcher = tokio::spawn(gateway_server::reload::watch(app.clone()));
    let wait_for = |generation: u64| {
        let app = app.clone();
        async move {
            for _ in 0..100 {
                if app.reload_status().history.len() as u64 >= generation {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("no reload seen: {:?}", app.reload_status());
        }
    };
    // History so far: the start.
    let seen = app.reload_status().history.len() as u64;

    std::fs::write(&file, config_text(&up, "gemini", "")).unwrap();
    wait_for(seen + 1).await;
    let last = &app.reload_status().history[0];
    assert!(last.ok && last.trigger == Trigger::FileChanged, "{last:?}");
    let table = app.table();
    let plan = table.router().resolve("m", &Default::default()).unwrap();
    assert_eq!(plan.attempts[0].provider, "gemini");

    std::fs::write(&file, "[[routes]]\nmodel = 3\n").unwrap();
    wait_for(seen + 2).await;
    let last = &app.reload_status().history[0];
    assert!(!last.ok, "{last:?}");
    assert!(
        last.error.as_deref().unwrap().contains("routes"),
        "{last:?}"
    );
    let plan = app
        .table()
        .router()
        .resolve("m", &Default::default())
        .unwrap();
    assert_eq!(plan.attempts[0].provider, "gemini", "the old table stays");

    // The watcher reads the good text again...
    std::fs::write(&file, config_text(&up, "gemini", "")).unwrap();
    wait_for(seen + 3).await;
    // ...then a "reload now" of a new text, and the watcher's text written back at
    // once: the watcher compares with what that reload read, so it is seen again.
    std::fs::write(&file, config_text(&up, "ollama", "")).unwrap();
    let seen = app.reload_status().history.len() as u64;
    // The watcher may pick the write up first; either way one reload reads it.
    let report = app.reload_file(Trigger::Admin);
    assert!(report.ok, "{report:?}");
    std::fs::write(&file, config_text(&up, "gemini", "")).unwrap();
    wait_for(seen + 2).await;
    for _ in 0..40 {
        let plan = app
            .table()
            .router()
            .resolve("m", &Default::default())
            .unwrap();
        if plan.attempts[0].provider == "gemini" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let plan = app
        .table()
        .router()
        .resolve("m", &Default::default())
        .unwrap();
    assert_eq!(
        plan.attempts[0].provider, "gemini",
        "the file's text is in force"
    );

    watcher.abort();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_runtime_vertex_provider_takes_its_access_token_as_the_sealed_key() {
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = Gateway::start(&up.toml()).await;
    let base = start_admin(&gw, TOKEN).await;
    let settings = json!({
        "name": "vx", "kind": "vertex", "project": "runtime-proj",
        "base_url": format!("http://{}", up.gemini),
    });

    // In the settings it would be stored and shown as it is: refused.
    let mut plain = settings.clone();
    plain["access_token"] = "ya29.runtime-token-4321".into();
    let (status, err) = call(admin(&base, Method::POST, "/admin/providers").json(&plain)).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["param"], "access_token", "{err}");

    let mut sealed = settings;
    sealed["api_key"] = "ya29.runtime-token-4321".into();
    let (status, created) =
        call(admin(&base, Method::POST, "/admin/providers").json(&sealed)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["key_hint"], "…4321");
    let (status, provider, text) = chat(&gw, "vx/mock-echo", true).await;
    assert_eq!((status, provider.as_deref()), (200, Some("vx")), "{text}");
    let (_, list) = call(admin(&base, Method::GET, "/admin/providers")).await;
    assert!(!list.to_string().contains("ya29.runtime-token-4321"));
}

#[tokio::test]
async fn a_runtime_bedrock_provider_takes_its_secret_access_key_as_the_sealed_key() {
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = Gateway::start(&up.toml()).await;
    let base = start_admin(&gw, TOKEN).await;
    let settings = json!({
        "name": "aws", "kind": "bedrock", "region": "us-east-1",
        "access_key_id": gateway_providers::mock::MOCK_AWS_ACCESS_KEY_ID,
        "base_url": format!("http://{}", up.bedrock),
    });

    // Secrets in the settings would be stored and shown as they are: refused.
    for field in ["secret_access_key", "session_token"] {
        let mut plain = settings.clone();
        plain[field] = "aws-secret-5678".into();
        let (status, err) = call(admin(&base, Method::POST, "/admin/providers").json(&plain)).await;
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["error"]["param"], field, "{err}");
    }

    let mut sealed = settings;
    sealed["api_key"] = gateway_providers::mock::MOCK_AWS_SECRET_ACCESS_KEY.into();
    let (status, created) =
        call(admin(&base, Method::POST, "/admin/providers").json(&sealed)).await;
    assert_eq!(status, 201, "{created}");
    // The mock verifies the signature made with the sealed secret.
    let (status, provider, text) = chat(&gw, "aws/mock-echo", true).await;
    assert_eq!((status, provider.as_deref()), (200, Some("aws")), "{text}");
    let (_, list) = call(admin(&base, Method::GET, "/admin/providers")).await;
    assert!(!list.to_string().contains("patchbay-mock-secret"));
}

#[tokio::test]
async fn a_runtime_cohere_provider_is_listed_and_sends_its_sealed_key_as_bearer() {
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = Gateway::start(&up.toml()).await;
    let base = start_admin(&gw, TOKEN).await;
    let (_, presets) = call(admin(&base, Method::GET, "/admin/providers/presets")).await;
    let kind = presets["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "cohere")
        .cloned()
        .expect("the cohere kind is offered");
    assert_eq!(kind["base_url"], "https://api.cohere.com");
    let mut settings = json!({
        "name": "co", "kind": "cohere", "base_url": format!("http://{}", up.cohere),
    });
    // Without a key the provider is refused, naming the variable its key lives in.
    let (status, err) = call(admin(&base, Method::POST, "/admin/providers").json(&settings)).await;
    assert_eq!(status, 400, "{err}");
    assert!(err.to_string().contains("COHERE_API_KEY"), "{err}");
    // The mock refuses its invalid key with Cohere's 498: the caller gets a 401.
    settings["api_key"] = gateway_providers::mock::MOCK_COHERE_INVALID_KEY.into();
    let (status, created) =
        call(admin(&base, Method::POST, "/admin/providers").json(&settings)).await;
    assert_eq!(status, 201, "{created}");
    let (status, _, text) = chat(&gw, "co/mock-echo", false).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("invalid api token"), "{text}");
    // Any other key is answered, whole and streamed.
    let (status, updated) = call(
        admin(&base, Method::PATCH, "/admin/providers/co").json(&json!({"api_key": "co-key-2468"})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    for stream in [false, true] {
        let (status, provider, text) = chat(&gw, "co/mock-echo", stream).await;
        assert_eq!((status, provider.as_deref()), (200, Some("co")), "{text}");
    }
    let (_, list) = call(admin(&base, Method::GET, "/admin/providers")).await;
    assert!(!list.to_string().contains("co-key-2468"));
}
