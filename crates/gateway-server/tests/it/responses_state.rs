//! Responses API state kept by the gateway (`crate::responses`): chains of
//! `previous_response_id` over every upstream shape, checked on what each upstream
//! receives; who may see a response; `GET`, `DELETE`, `input_items` pages;
//! `store: false`; retention; token counts of a chain. Reasoning state replayed:
//! `responses_reasoning.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use support::*;

const OTHER_KEY: &str = "pbk_integration_test_key_0002";

pub(crate) type Seen = Arc<Mutex<Vec<Value>>>;

/// A mock upstream of `shape` behind a proxy that records every request body.
pub(crate) async fn recorded(shape: ApiShape) -> (SocketAddr, Seen) {
    let mock = mock_upstream(shape, MockConfig::default()).await;
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let addr = serve_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let log = log.clone();
        async move {
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            log.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap());
            let resp = client()
                .post(format!("http://{mock}{path}"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let kind = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned();
            let bytes = resp.bytes().await.unwrap();
            hyper::Response::builder()
                .status(status)
                .header("content-type", kind)
                .body(Full::new(bytes))
                .unwrap()
        }
    })
    .await;
    (addr, seen)
}

struct Setup {
    gw: Gateway,
    /// Requests seen by the chat, anthropic, gemini and ollama upstreams.
    seen: Vec<(&'static str, Seen)>,
}

/// A gateway with one route per upstream shape: `m-chat`, `m-anthropic`,
/// `m-gemini`, `m-ollama` (recorded HTTP mocks) and `m-responses` (the built-in mock
/// speaking Responses), two keys, and `extra` appended to the config.
async fn setup(extra: &str) -> Setup {
    let (chat, chat_seen) = recorded(ApiShape::OpenAiChat).await;
    let (anthropic, anthropic_seen) = recorded(ApiShape::Anthropic).await;
    let (gemini, gemini_seen) = recorded(ApiShape::Gemini).await;
    let (ollama, ollama_seen) = recorded(ApiShape::Ollama).await;
    let config = format!(
        r#"
[providers.chat]
kind = "openai_compatible"
base_url = "http://{chat}/v1"
[providers.anthropic]
kind = "anthropic"
base_url = "http://{anthropic}"
api_key = "k"
[providers.gemini]
kind = "gemini"
base_url = "http://{gemini}"
api_key = "k"
[providers.ollama]
kind = "ollama"
base_url = "http://{ollama}"
[providers.resp]
kind = "mock"
[providers.resp.mock]
shape = "openai_responses"
[[routes]]
model = "m-chat"
targets = [{{ provider = "chat", model = "up-chat" }}]
[[routes]]
model = "m-anthropic"
targets = [{{ provider = "anthropic", model = "claude-up" }}]
[[routes]]
model = "m-gemini"
targets = [{{ provider = "gemini", model = "gemini-up" }}]
[[routes]]
model = "m-ollama"
targets = [{{ provider = "ollama", model = "llama-up" }}]
[[routes]]
model = "m-responses"
targets = [{{ provider = "resp", model = "mock-up" }}]
[[keys]]
name = "test"
secret = "{KEY}"
[[keys]]
name = "other"
secret = "{OTHER_KEY}"
{extra}
"#
    );
    Setup {
        gw: Gateway::start(&config).await,
        seen: vec![
            ("m-chat", chat_seen),
            ("m-anthropic", anthropic_seen),
            ("m-gemini", gemini_seen),
            ("m-ollama", ollama_seen),
        ],
    }
}

pub(crate) async fn post(gw: &Gateway, key: &str, path: &str, body: &Value) -> (u16, Value) {
    let resp = client()
        .post(gw.url(path))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (status, json_or_stream(&bytes))
}

async fn get(gw: &Gateway, key: &str, path: &str) -> (u16, Value) {
    let resp = client()
        .get(gw.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn delete(gw: &Gateway, key: &str, path: &str) -> (u16, Value) {
    let resp = client()
        .delete(gw.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// A JSON body, or the `response` of a stream's `response.completed` event.
fn json_or_stream(bytes: &[u8]) -> Value {
    if let Ok(v) = serde_json::from_slice(bytes) {
        return v;
    }
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|v| v["type"] == "response.completed")
        .map(|v| v["response"].clone())
        .unwrap_or_else(|| panic!("neither JSON nor a completed stream: {text}"))
}

/// The text of a Responses answer's message items.
pub(crate) fn output_text(resp: &Value) -> String {
    resp["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().unwrap().iter())
        .filter_map(|c| c["text"].as_str())
        .collect()
}

/// Asserts `texts` appear in `body`'s JSON text in this order.
fn in_order(body: &Value, texts: &[&str], what: &str) {
    let text = body.to_string();
    let mut from = 0;
    for t in texts {
        let at = text[from..]
            .find(t)
            .unwrap_or_else(|| panic!("{what}: `{t}` missing after byte {from} in {text}"));
        from += at + t.len();
    }
}

#[tokio::test]
async fn three_turns_chain_by_previous_response_id_over_every_upstream_shape() {
    let s = setup("").await;
    let models = [
        "m-chat",
        "m-anthropic",
        "m-gemini",
        "m-ollama",
        "m-responses",
    ];
    for model in models {
        let mut previous: Option<String> = None;
        for (turn, text) in ["alpha one", "beta two", "gamma three"].iter().enumerate() {
            let mut body = json!({"model": model, "input": text, "stream": turn == 1});
            if turn == 0 {
                body["instructions"] = json!("Be brief.");
            }
            if let Some(id) = &previous {
                body["previous_response_id"] = json!(id);
            }
            let (status, resp) = post(&s.gw, KEY, "/v1/responses", &body).await;
            assert_eq!(status, 200, "{model} turn {turn}: {resp}");
            let id = resp["id"].as_str().unwrap().to_owned();
            assert!(id.starts_with("resp_"), "{model}: {id}");
            assert_ne!(Some(&id), previous.as_ref());
            assert!(
                output_text(&resp).contains(text),
                "{model}: the mock echoes: {resp}"
            );
            // The stored object is the one the caller received.
            let (status, stored) = get(&s.gw, KEY, &format!("/v1/responses/{id}")).await;
            assert_eq!(status, 200, "{stored}");
            assert_eq!(stored["id"], json!(id));
            assert_eq!(output_text(&stored), output_text(&resp), "{model}");
            previous = Some(id);
        }
    }
    for (model, seen) in &s.seen {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3, "{model}: {seen:?}");
        // The third call carried the whole conversation, answers included, in order.
        in_order(
            &seen[2],
            &[
                "alpha one",
                "alpha one",
                "beta two",
                "beta two",
                "gamma three",
            ],
            model,
        );
        assert!(
            seen[0].to_string().contains("Be brief."),
            "{model}: {}",
            seen[0]
        );
        // Instructions are per call: not inherited (as OpenAI documents).
        assert!(
            !seen[2].to_string().contains("Be brief."),
            "{model}: {}",
            seen[2]
        );
        // Nothing of the state fields reaches an upstream.
        for body in seen.iter() {
            let text = body.to_string();
            assert!(!text.contains("previous_response_id") && !text.contains("\"store\""));
        }
    }
}

#[tokio::test]
async fn another_key_gets_not_found_for_a_response_it_did_not_make() {
    let s = setup("").await;
    let (_, first) = post(
        &s.gw,
        KEY,
        "/v1/responses",
        &json!({"model": "m-chat", "input": "mine"}),
    )
    .await;
    let id = first["id"].as_str().unwrap();
    let (status, err) = post(
        &s.gw,
        OTHER_KEY,
        "/v1/responses",
        &json!({"model": "m-chat", "input": "more", "previous_response_id": id}),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "previous_response_not_found");
    assert_eq!(err["error"]["param"], "previous_response_id");
    assert_eq!(err["error"]["type"], "invalid_request_error");
    assert_eq!(
        err["error"]["message"],
        format!("Previous response with id '{id}' not found.")
    );
    let path = format!("/v1/responses/{id}");
    let (status, err) = get(&s.gw, OTHER_KEY, &path).await;
    assert_eq!(status, 404, "{err}");
    assert_eq!(
        err["error"]["message"],
        format!("No response found with id '{id}'.")
    );
    assert_eq!(
        get(&s.gw, OTHER_KEY, &format!("{path}/input_items"))
            .await
            .0,
        404
    );
    assert_eq!(delete(&s.gw, OTHER_KEY, &path).await.0, 404);
    // Still there for its own key.
    assert_eq!(get(&s.gw, KEY, &path).await.0, 200);
}

#[tokio::test]
async fn an_unknown_previous_response_is_refused_before_any_upstream_is_asked() {
    let s = setup("").await;
    let (status, err) = post(
        &s.gw,
        KEY,
        "/v1/responses",
        &json!({"model": "m-chat", "input": "x", "previous_response_id": "resp_nope"}),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "previous_response_not_found");
    assert!(s.seen[0].1.lock().unwrap().is_empty());
    let (status, err) = post(
        &s.gw,
        KEY,
        "/v1/responses",
        &json!({"model": "m-chat", "input": "x", "previous_response_id": 7}),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["param"], "previous_response_id");
}

#[tokio::test]
async fn delete_removes_a_response_and_its_chain_ends_there() {
    let s = setup("").await;
    let (_, first) = post(
        &s.gw,
        KEY,
        "/v1/responses",
        &json!({"model": "m-anthropic", "input": "one"}),
    )
    .await;
    let id = first["id"].as_str().unwrap();
    let path = format!("/v1/responses/{id}");
    let (status, gone) = delete(&s.gw, KEY, &path).await;
    assert_eq!(status, 200);
    assert_eq!(
        gone,
        json!({"id": id, "object": "response.deleted", "deleted": true})
    );
    assert_eq!(get(&s.gw, KEY, &path).await.0, 404);
    assert_eq!(delete(&s.gw, KEY, &path).await.0, 404);
    let (status, _) = post(
        &s.gw,
        KEY,
        "/v1/responses",
        &json!({"model": "m-anthropic", "input": "two", "previous_response_id": id}),
    )
    .await;
    assert_eq!(status, 400);
    // Streaming a stored response back is not offered.
    let (status, err) = get(&s.gw, KEY, "/v1/responses/resp_x?stream=true").await;
    assert_eq!(
        (status, err["error"]["param"].clone()),
        (400, json!("stream"))
    );
}

#[tokio::test]
async fn input_items_are_listed_newest_first_in_pages() {
    let s = setup("").await;
    let input = json!([
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "second"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "third"}]},
    ]);
    let (_, resp) = post(
        &s.gw,
        KEY,
        "/v1/responses",
        &json!({"model": "m-gemini", "input": input}),
    )
    .await;
    let id = resp["id"].as_str().unwrap();
    let items = |q: &str| format!("/v1/responses/{id}/input_items{q}");
    let (status, page) = get(&s.gw, KEY, &items("?limit=2")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["object"], "list");
    let texts = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let c = &i["content"];
                c.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| c[0]["text"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    assert_eq!(texts(&page), ["third", "second"]);
    assert_eq!(page["has_more"], true);
    let last = page["last_id"].as_str().unwrap();
    let (_, next) = get(&s.gw, KEY, &items(&format!("?limit=2&after={last}"))).await;
    assert_eq!(texts(&next), ["first"]);
    assert_eq!(next["has_more"], false);
    let (_, asc) = get(&s.gw, KEY, &items("?order=asc")).await;
    assert_eq!(texts(&asc), ["first", "second", "third"]);
    assert!(
        asc["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["id"].is_string())
    );
    let (status, err) = get(&s.gw, KEY, &items("?limit=0")).await;
    assert_eq!(
        (status, err["error"]["param"].clone()),
        (400, json!("limit"))
    );
}

#[tokio::test]
async fn store_false_continues_a_stored_response_but_is_not_kept() {
    let s = setup("").await;
    let (_, first) = post(
        &s.gw,
        KEY,
        "/v1/responses",
        &json!({"model": "m-ollama", "input": "kept"}),
    )
    .await;
    let id = first["id"].as_str().unwrap();
    let (status, second) = post(
        &s.gw,
        KEY,
        "/v1/responses",
        &json!({"model": "m-ollama", "input": "fleeting", "store": false, "previous_response_id": id}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    in_order(
        s.seen[3].1.lock().unwrap().last().unwrap(),
        &["kept", "kept", "fleeting"],
        "store:false replay",
    );
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(
        get(&s.gw, KEY, &format!("/v1/responses/{second_id}"))
            .await
            .0,
        404
    );
    // A call with store:false and no chain is served as before, unseen by the store.
    let (status, plain) = post(
        &s.gw,
        KEY,
        "/v1/responses",
        &json!({"model": "m-chat", "input": "x", "store": false}),
    )
    .await;
    assert_eq!(status, 200);
    let plain_id = plain["id"].as_str().unwrap();
    assert_eq!(
        get(&s.gw, KEY, &format!("/v1/responses/{plain_id}"))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn expired_responses_are_not_found_and_purged() {
    let s = setup("[responses]\nretention = \"1s\"\n").await;
    let (_, first) = post(
        &s.gw,
        KEY,
        "/v1/responses",
        &json!({"model": "m-chat", "input": "old"}),
    )
    .await;
    let id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(get(&s.gw, KEY, &format!("/v1/responses/{id}")).await.0, 200);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(get(&s.gw, KEY, &format!("/v1/responses/{id}")).await.0, 404);
    let (status, _) = post(
        &s.gw,
        KEY,
        "/v1/responses",
        &json!({"model": "m-chat", "input": "new", "previous_response_id": id}),
    )
    .await;
    assert_eq!(status, 400, "an expired response cannot be continued");
    // A write purges what expired (at most once a purge period).
    let (_, fresh) = post(
        &s.gw,
        KEY,
        "/v1/responses",
        &json!({"model": "m-chat", "input": "new"}),
    )
    .await;
    assert!(fresh["id"].is_string());
    // Only the fresh one is left: counted by removing everything.
    let path = s.gw.app.database_path().unwrap();
    let store = gateway_auth::ResponseStore::open(path, gateway_auth::Share::Key).unwrap();
    assert_eq!(store.purge(i64::MAX).unwrap(), 1);
}

#[tokio::test]
async fn input_tokens_counts_a_chain_whole() {
    let s = setup("").await;
    let long = "word ".repeat(400);
    let (_, first) = post(
        &s.gw,
        KEY,
        "/v1/responses",
        &json!({"model": "m-chat", "input": long}),
    )
    .await;
    let id = first["id"].as_str().unwrap();
    let count = |body: Value| {
        let gw = &s.gw;
        async move { post(gw, KEY, "/v1/responses/input_tokens", &body).await }
    };
    let (status, alone) = count(json!({"model": "m-chat", "input": "short"})).await;
    assert_eq!(status, 200, "{alone}");
    assert_eq!(alone["object"], "response.input_tokens");
    let (_, chained) =
        count(json!({"model": "m-chat", "input": "short", "previous_response_id": id})).await;
    let (a, c) = (
        alone["input_tokens"].as_u64().unwrap(),
        chained["input_tokens"].as_u64().unwrap(),
    );
    assert!(
        c > a + 300,
        "the stored conversation counts: {a} alone, {c} chained"
    );
    let (status, _) =
        count(json!({"model": "m-chat", "input": "x", "previous_response_id": "resp_no"})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_streamed_answer_is_stored_before_its_last_event_reaches_the_caller() {
    let linger = Duration::from_secs(3);
    let (upstream, _) = lingering_upstream(linger).await;
    let gw = Gateway::start(&format!(
        "[providers.slow]\nkind = \"openai_compatible\"\nbase_url = \"http://{upstream}/v1\"\n\
         [[routes]]\nmodel = \"m\"\ntargets = [{{ provider = \"slow\" }}]\n\
         [[keys]]\nname = \"test\"\nsecret = \"{KEY}\"\n"
    ))
    .await;
    let started = std::time::Instant::now();
    let mut answer = client()
        .post(gw.url("/v1/responses"))
        .bearer_auth(KEY)
        .json(&json!({"model": "m", "input": "hi", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    // Read up to the end of the `response.completed` event, and no further.
    let mut text = String::new();
    let completed = loop {
        if let Some(at) = text.find("event: response.completed") {
            if let Some(end) = text[at..].find("\n\n") {
                break text[at..at + end].to_owned();
            }
        }
        let chunk = answer.chunk().await.unwrap().expect("the last event comes");
        text.push_str(&String::from_utf8_lossy(&chunk));
    };
    assert!(
        started.elapsed() < linger,
        "the last event did not wait for the upstream to close"
    );
    let data = completed
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    let event: Value = serde_json::from_str(data).unwrap();
    let id = event["response"]["id"].as_str().unwrap();
    // Right after the last event, the response is already there.
    let (status, stored) = get(&gw, KEY, &format!("/v1/responses/{id}")).await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["id"], id);
}
