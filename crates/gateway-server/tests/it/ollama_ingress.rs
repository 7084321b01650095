//! Ollama-native ingress: `/api/chat`, `/api/generate`, `/api/embed`,
//! `/api/embeddings`, `/api/tags`, `/api/show`, `/api/ps`, `/api/version`, served by
//! every upstream shape and the built-in mock provider, with NDJSON streams and
//! errors in Ollama's `{"error": …}` envelope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use gateway_providers::MockConfig;
use serde_json::{Value, json};
use support::*;

/// Every upstream shape, and the built-in mock provider (`kind = "mock"`).
const UPSTREAMS: [&str; 5] = ["openai", "anthropic", "gemini", "ollama", "builtin"];
/// Those with an embeddings API.
const EMBEDDERS: [&str; 4] = ["openai", "gemini", "ollama", "builtin"];

async fn setup() -> Gateway {
    let up = Upstreams::start(MockConfig::default()).await;
    let config = format!(
        "{}\n[providers.builtin]\nkind = \"mock\"\n\n[[routes]]\nmodel = \"echo-ollama\"\ntargets = [{{ provider = \"ollama\", model = \"mock-echo\" }}]\n\n[[routes]]\nmodel = \"o4-mini\"\ntargets = [{{ provider = \"openai\" }}]\n\n[[routes]]\nmodel = \"text-embedding-3-small\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    );
    Gateway::start(&config).await
}

async fn post(gw: &Gateway, path: &str, body: &Value) -> reqwest::Response {
    client()
        .post(gw.url(path))
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The NDJSON lines of a streamed answer, each parsed.
async fn lines(resp: reqwest::Response) -> Vec<Value> {
    assert_eq!(content_type(&resp), "application/x-ndjson");
    let text = resp.text().await.unwrap();
    assert!(text.ends_with('\n'), "{text:?}");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// Checks the final line of a stream and returns it.
fn done_line(lines: &[Value]) -> &Value {
    let (last, rest) = lines.split_last().expect("a stream has lines");
    assert_eq!(last["done"], true, "{last}");
    assert!(rest.iter().all(|l| l["done"] == false), "{lines:?}");
    assert!(last["prompt_eval_count"].as_u64().unwrap() > 0, "{last}");
    assert!(last["eval_count"].as_u64().unwrap() > 0, "{last}");
    last
}

#[tokio::test]
async fn chat_whole_and_streamed_over_every_upstream() {
    let gw = setup().await;
    for up in UPSTREAMS {
        let model = format!("{up}/mock-echo");
        let messages = json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello from an ollama client"}
        ]);
        let resp = post(
            &gw,
            "/api/chat",
            &json!({"model": model, "messages": messages, "stream": false}),
        )
        .await;
        assert_eq!(resp.status(), 200, "{up}");
        assert_eq!(content_type(&resp), "application/json");
        let body: Value = resp.json().await.unwrap();
        // The same-shape fast path relays the upstream's own bytes (its model name).
        let named = if up == "ollama" {
            "mock-echo"
        } else {
            model.as_str()
        };
        assert_eq!(body["model"], named, "{up}: {body}");
        assert_eq!(body["message"]["role"], "assistant");
        assert_eq!(body["message"]["content"], "hello from an ollama client");
        assert_eq!(body["done"], true);
        assert_eq!(body["done_reason"], "stop");
        assert!(body["prompt_eval_count"].as_u64().unwrap() > 0, "{body}");
        assert_eq!(body["eval_count"], 5, "{up}: {body}");
        if up != "ollama" {
            // Timed at the gateway, in nanoseconds.
            assert!(body["total_duration"].as_u64().unwrap() > 0, "{up}: {body}");
        }

        // `stream` left out means streamed, as in Ollama.
        let resp = post(
            &gw,
            "/api/chat",
            &json!({"model": model, "messages": messages, "options": {"temperature": 0.2, "num_predict": 64, "seed": 7}}),
        )
        .await;
        assert_eq!(resp.status(), 200, "{up}");
        let lines = lines(resp).await;
        let last = done_line(&lines);
        assert_eq!(last["done_reason"], "stop", "{up}: {last}");
        if up != "ollama" {
            let ns = |k: &str| {
                last[k]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{up}: {k} in {last}"))
            };
            assert!(ns("total_duration") > 0);
            assert_eq!(
                ns("prompt_eval_duration") + ns("eval_duration"),
                ns("total_duration"),
                "{up}: {last}"
            );
        }
        let text: String = lines
            .iter()
            .map(|l| l["message"]["content"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(text, "hello from an ollama client", "{up}");
        assert!(lines.iter().all(|l| l["model"] == named), "{up}: {lines:?}");
    }
}

#[tokio::test]
async fn tool_calls_carry_arguments_as_objects_over_every_upstream() {
    let gw = setup().await;
    let tools = json!([{"type": "function", "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    }}]);
    for up in UPSTREAMS {
        let model = format!("{up}/mock-tools");
        let messages = json!([{"role": "user", "content": "weather?"}]);
        let body = json!({"model": model, "messages": messages, "tools": tools, "stream": false});
        let resp: Value = post(&gw, "/api/chat", &body).await.json().await.unwrap();
        let call = &resp["message"]["tool_calls"][0]["function"];
        assert_eq!(call["name"], "get_weather", "{up}: {resp}");
        assert_eq!(
            call["arguments"],
            json!({"city": "example"}),
            "{up}: {resp}"
        );

        let body = json!({"model": model, "messages": messages, "tools": tools, "stream": true});
        let lines = lines(post(&gw, "/api/chat", &body).await).await;
        done_line(&lines);
        let calls: Vec<&Value> = lines
            .iter()
            .filter_map(|l| l["message"]["tool_calls"].as_array())
            .flatten()
            .collect();
        assert_eq!(calls.len(), 1, "{up}: {lines:?}");
        assert_eq!(
            calls[0]["function"]["arguments"],
            json!({"city": "example"})
        );

        // The call answered: a `tool` message goes back and the echo model answers.
        let history = json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
            {"role": "tool", "tool_name": "get_weather", "content": "Sunny"},
            {"role": "user", "content": "thanks"}
        ]);
        let body = json!({"model": format!("{up}/mock-echo"), "messages": history, "tools": tools, "stream": false});
        let resp = post(&gw, "/api/chat", &body).await;
        assert_eq!(resp.status(), 200, "{up}");
        let resp: Value = resp.json().await.unwrap();
        assert_eq!(resp["message"]["content"], "thanks", "{up}: {resp}");
    }
}

#[tokio::test]
async fn generate_reads_a_prompt_and_answers_in_response() {
    let gw = setup().await;
    for up in UPSTREAMS {
        let model = format!("{up}/mock-echo");
        let body = json!({"model": model, "prompt": "why is the sky blue", "system": "Answer briefly.", "stream": false, "keep_alive": "5m"});
        let resp = post(&gw, "/api/generate", &body).await;
        assert_eq!(resp.status(), 200, "{up}");
        let resp: Value = resp.json().await.unwrap();
        assert_eq!(resp["response"], "why is the sky blue", "{up}: {resp}");
        assert!(resp.get("message").is_none(), "{resp}");
        assert_eq!(
            (&resp["done"], &resp["done_reason"]),
            (&json!(true), &json!("stop"))
        );

        let body = json!({"model": model, "prompt": "why is the sky blue"});
        let lines = lines(post(&gw, "/api/generate", &body).await).await;
        done_line(&lines);
        let text: String = lines
            .iter()
            .map(|l| l["response"].as_str().unwrap())
            .collect();
        assert_eq!(text, "why is the sky blue", "{up}");
    }
    // What only a local Ollama can honour is refused, naming the field.
    for (field, value) in [
        ("raw", json!(true)),
        ("suffix", json!("}")),
        ("context", json!([1, 2])),
    ] {
        let mut body = json!({"model": "openai/mock-echo", "prompt": "x"});
        body[field] = value;
        let resp = post(&gw, "/api/generate", &body).await;
        assert_eq!(resp.status(), 400, "{field}");
        let err: Value = resp.json().await.unwrap();
        assert!(err["error"].as_str().unwrap().contains(field), "{err}");
    }
}

#[tokio::test]
async fn format_json_schema_reaches_the_upstream_as_structured_output() {
    let gw = setup().await;
    let schema =
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    for format in [json!("json"), schema] {
        let body = json!({"model": "openai/mock-echo", "messages": [{"role": "user", "content": "{\"city\":\"Rome\"}"}], "format": format, "stream": false});
        let resp = post(&gw, "/api/chat", &body).await;
        assert_eq!(resp.status(), 200);
        let resp: Value = resp.json().await.unwrap();
        assert_eq!(resp["message"]["content"], "{\"city\":\"Rome\"}");
    }
    let bad = json!({"model": "openai/mock-echo", "messages": [], "format": 3});
    let resp = post(&gw, "/api/chat", &bad).await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert!(err["error"].as_str().unwrap().contains("format"), "{err}");
}

#[tokio::test]
async fn embeddings_in_both_forms_over_every_embedder() {
    let gw = setup().await;
    for up in EMBEDDERS {
        let model = format!("{up}/mock-embed");
        let one: Value = post(&gw, "/api/embed", &json!({"model": model, "input": "a"}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(one["model"], model, "{up}: {one}");
        let vectors = one["embeddings"].as_array().unwrap();
        assert_eq!(vectors.len(), 1, "{up}: {one}");
        assert!(!vectors[0].as_array().unwrap().is_empty());

        let two: Value = post(
            &gw,
            "/api/embed",
            &json!({"model": model, "input": ["a", "b"]}),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(
            two["embeddings"].as_array().unwrap().len(),
            2,
            "{up}: {two}"
        );
        assert_eq!(two["embeddings"][0], one["embeddings"][0], "{up}");

        let legacy = post(
            &gw,
            "/api/embeddings",
            &json!({"model": model, "prompt": "a"}),
        )
        .await;
        assert_eq!(legacy.status(), 200, "{up}");
        let legacy: Value = legacy.json().await.unwrap();
        assert_eq!(legacy["embedding"], one["embeddings"][0], "{up}: {legacy}");
    }
    // Anthropic has no embeddings: the failure is in Ollama's envelope.
    let resp = post(
        &gw,
        "/api/embed",
        &json!({"model": "anthropic/mock-embed", "input": "a"}),
    )
    .await;
    assert!(resp.status().is_client_error() || resp.status().is_server_error());
    let err: Value = resp.json().await.unwrap();
    assert!(err["error"].is_string(), "{err}");
}

#[tokio::test]
async fn tags_show_ps_and_version() {
    let gw = setup().await;
    let c = client();
    let tags: Value = c
        .get(gw.url("/api/tags"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = tags["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"echo-ollama"), "{tags}");
    let first = &tags["models"][0];
    assert_eq!(first["model"], first["name"]);
    assert_eq!(first["digest"].as_str().unwrap().len(), 64, "{first}");

    let show = post(&gw, "/api/show", &json!({"model": "echo-ollama"})).await;
    assert_eq!(show.status(), 200);
    let show: Value = show.json().await.unwrap();
    assert_eq!(
        show["model_info"]["general.basename"], "echo-ollama",
        "{show}"
    );
    assert!(
        show["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("tools"))
    );
    assert!(show["details"]["family"].is_string(), "{show}");
    // What the catalogue knows of a model, in Ollama's words: Open WebUI offers image
    // upload for `vision` and a thinking switch for `thinking`.
    let known = post(&gw, "/api/show", &json!({"model": "o4-mini"})).await;
    let known: Value = known.json().await.unwrap();
    assert_eq!(
        known["capabilities"],
        json!(["completion", "tools", "vision", "thinking"]),
        "{known}"
    );
    let embedder = post(
        &gw,
        "/api/show",
        &json!({"model": "text-embedding-3-small"}),
    )
    .await;
    let embedder: Value = embedder.json().await.unwrap();
    assert_eq!(embedder["capabilities"], json!(["embedding"]), "{embedder}");
    // Older clients name the model in `name`.
    let by_name = post(&gw, "/api/show", &json!({"name": "echo-ollama"})).await;
    assert_eq!(by_name.status(), 200);
    let missing = post(&gw, "/api/show", &json!({"model": "no-such-model"})).await;
    assert_eq!(missing.status(), 404);
    let err: Value = missing.json().await.unwrap();
    assert!(
        err["error"].as_str().unwrap().contains("no-such-model"),
        "{err}"
    );

    let ps: Value = c
        .get(gw.url("/api/ps"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ps, json!({"models": []}));
    let version: Value = c
        .get(gw.url("/api/version"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        version["version"].as_str().unwrap().starts_with("0."),
        "{version}"
    );
}

#[tokio::test]
async fn errors_are_in_ollamas_envelope() {
    let gw = setup().await;
    let c = client();
    let envelope = |v: &Value| {
        assert!(v["error"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
        assert_eq!(v.as_object().unwrap().len(), 1, "only `error`: {v}");
    };
    // A body that is not JSON, and one with a field of the wrong type.
    for body in [
        &b"{not json"[..],
        br#"{"model":"openai/mock-echo","messages":"hi"}"#,
    ] {
        let resp = c
            .post(gw.url("/api/chat"))
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        envelope(&resp.json().await.unwrap());
    }
    let resp = post(
        &gw,
        "/api/generate",
        &json!({"model": "openai/mock-echo", "prompt": ""}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    envelope(&resp.json().await.unwrap());
    // No key, and a wrong one.
    let body =
        json!({"model": "openai/mock-echo", "messages": [{"role": "user", "content": "hi"}]});
    let none = c
        .post(gw.url("/api/chat"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    envelope(&none.json().await.unwrap());
    let wrong = c
        .post(gw.url("/api/chat"))
        .bearer_auth("pbk_nope_nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    envelope(&wrong.json().await.unwrap());
    let tags = c.get(gw.url("/api/tags")).send().await.unwrap();
    assert_eq!(tags.status(), 401);
    envelope(&tags.json().await.unwrap());
    // Model management is not offered; wrong methods say which one to use.
    let pull = post(&gw, "/api/pull", &json!({"model": "llama3"})).await;
    assert_eq!(pull.status(), 404);
    envelope(&pull.json().await.unwrap());
    let get = c
        .get(gw.url("/api/chat"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    envelope(&get.json().await.unwrap());
    // An upstream failure reaches the caller in the same envelope, with its status.
    let failing = post(&gw, "/api/chat", &json!({"model": "ollama/mock-fail-503", "messages": [{"role": "user", "content": "hi"}], "stream": false})).await;
    assert_eq!(failing.status(), 503);
    envelope(&failing.json().await.unwrap());
}

#[tokio::test]
async fn usage_records_name_ollama_as_the_caller_shape() {
    let gw = setup().await;
    let ask = |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "count me"}], "stream": false});
    assert_eq!(
        post(&gw, "/api/chat", &ask("ollama/mock-echo"))
            .await
            .status(),
        200
    );
    assert_eq!(
        post(&gw, "/api/chat", &ask("anthropic/mock-echo"))
            .await
            .status(),
        200
    );
    let generate = json!({"model": "gemini/mock-echo", "prompt": "count me"});
    assert_eq!(post(&gw, "/api/generate", &generate).await.status(), 200);
    let embed = json!({"model": "openai/mock-embed", "input": "count me"});
    assert_eq!(post(&gw, "/api/embed", &embed).await.status(), 200);
    gw.app.flush_usage();
    let conn = gateway_auth::migrate::open(gw.app.database_path().unwrap()).unwrap();
    let rows: Vec<(String, Option<String>, bool, i64)> = conn
        .prepare("SELECT caller_shape, upstream_shape, streamed, output_tokens FROM requests ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let shapes: Vec<(&str, Option<&str>, bool)> = rows
        .iter()
        .map(|(c, u, s, _)| (c.as_str(), u.as_deref(), *s))
        .collect();
    assert_eq!(
        shapes,
        [
            ("ollama", Some("ollama"), false),
            ("ollama", Some("anthropic"), false),
            ("ollama", Some("gemini"), true),
            ("ollama", Some("openai-chat"), false),
        ]
    );
    // The echo answers `count me`: two output tokens each, whatever the upstream.
    assert!(rows[..3].iter().all(|r| r.3 == 2), "{rows:?}");
}
