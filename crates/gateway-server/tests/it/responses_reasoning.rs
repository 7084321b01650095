//! Reasoning state kept in stored Responses and replayed to the family that made it:
//! Anthropic thinking blocks with their signature (from a whole and from a streamed
//! answer) and redacted thinking, a Gemini thought signature on its function call —
//! each checked on what the upstream is sent when a tool loop continues by
//! `previous_response_id`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::responses_state::{Seen, post};
use crate::support;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use support::*;

/// The answers of the reasoning tests' upstreams.
fn fixture(name: &str) -> Bytes {
    let path = format!(
        "{}/tests/fixtures/responses_state/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// An upstream that answers its first call with `first` (`first_stream` when the
/// call streams) and later ones with `then`, recording what it is sent.
async fn scripted(seen: Seen, first: &str, first_stream: &str, then: Value) -> SocketAddr {
    let (first, first_stream) = (fixture(first), fixture(first_stream));
    serve_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let (seen, first, first_stream, then) = (
            seen.clone(),
            first.clone(),
            first_stream.clone(),
            then.clone(),
        );
        async move {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&body).unwrap();
            let stream = body["stream"] == json!(true);
            let mut seen = seen.lock().unwrap();
            seen.push(body);
            let (kind, answer) = match (seen.len(), stream) {
                (1, true) => ("text/event-stream", first_stream),
                (1, false) => ("application/json", first),
                _ => ("application/json", Bytes::from(then.to_string())),
            };
            hyper::Response::builder()
                .header("content-type", kind)
                .body(Full::new(answer))
                .unwrap()
        }
    })
    .await
}

const TOOLS: &str = r#"[{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]"#;

/// Asks `model` (whole or streamed) for the weather, then continues by
/// `previous_response_id` with the tool's result; the first answer.
async fn tool_loop(gw: &Gateway, model: &str, stream: bool) -> Value {
    let tools: Value = serde_json::from_str(TOOLS).unwrap();
    let (status, first) = post(
        gw,
        KEY,
        "/v1/responses",
        &json!({"model": model, "input": "Weather in Oslo?", "tools": tools,
            "reasoning": {"effort": "low"}, "stream": stream}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let call = first["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap_or_else(|| panic!("no call: {first}"))
        .clone();
    let (status, second) = post(
        gw,
        KEY,
        "/v1/responses",
        &json!({"model": model, "tools": tools, "reasoning": {"effort": "low"},
            "previous_response_id": first["id"],
            "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "4°C"}]}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    first
}

#[tokio::test]
async fn anthropic_thinking_and_its_signature_are_replayed_in_a_tool_loop() {
    for stream in [false, true] {
        let seen: Seen = Arc::default();
        let then = json!({"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-up",
            "content": [{"type": "text", "text": "It is 4°C."}], "stop_reason": "end_turn",
            "stop_sequence": null, "usage": {"input_tokens": 20, "output_tokens": 5}});
        let addr = scripted(
            seen.clone(),
            "anthropic_thinking.json",
            "anthropic_thinking.sse",
            then,
        )
        .await;
        let config = format!(
            r#"
[providers.anthropic]
kind = "anthropic"
base_url = "http://{addr}"
api_key = "k"
[[routes]]
model = "thinker"
targets = [{{ provider = "anthropic", model = "claude-up" }}]
[[keys]]
name = "test"
secret = "{KEY}"
"#
        );
        let gw = Gateway::start(&config).await;
        let first = tool_loop(&gw, "thinker", stream).await;
        // The caller (a Responses client) never sees Anthropic's signature.
        assert!(!first.to_string().contains("SIG-ant-123"), "{first}");
        let seen = seen.lock().unwrap();
        let replayed = &seen[1]["messages"];
        assert_eq!(replayed[0]["role"], "user");
        let assistant = &replayed[1];
        assert_eq!(assistant["role"], "assistant", "stream {stream}");
        assert_eq!(
            assistant["content"][0],
            json!({"type": "thinking", "thinking": "The user wants weather.", "signature": "SIG-ant-123"}),
            "stream {stream}"
        );
        assert_eq!(
            assistant["content"][1],
            json!({"type": "redacted_thinking", "data": "REDACTED-456"})
        );
        assert_eq!(assistant["content"][2]["type"], "tool_use");
        assert_eq!(assistant["content"][2]["id"], "toolu_01");
        assert_eq!(assistant["content"][2]["input"], json!({"city": "Oslo"}));
        let results = &replayed[2];
        assert_eq!(results["content"][0]["type"], "tool_result");
        assert_eq!(results["content"][0]["tool_use_id"], "toolu_01");
    }
}

#[tokio::test]
async fn a_gemini_thought_signature_is_replayed_on_its_function_call() {
    let seen: Seen = Arc::default();
    let then = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "It is 4°C."}]},
        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 5, "totalTokenCount": 25}});
    let addr = scripted(
        seen.clone(),
        "gemini_signed_call.json",
        "gemini_signed_call.json",
        then,
    )
    .await;
    let config = format!(
        r#"
[providers.gemini]
kind = "gemini"
base_url = "http://{addr}"
api_key = "k"
[[routes]]
model = "gem"
targets = [{{ provider = "gemini", model = "gemini-up" }}]
[[keys]]
name = "test"
secret = "{KEY}"
"#
    );
    let gw = Gateway::start(&config).await;
    tool_loop(&gw, "gem", false).await;
    let seen = seen.lock().unwrap();
    let contents = &seen[1]["contents"];
    assert_eq!(contents[1]["role"], "model");
    assert_eq!(
        contents[1]["parts"][0]["thoughtSignature"], "GEM-SIG-789",
        "{contents}"
    );
    assert_eq!(
        contents[1]["parts"][0]["functionCall"]["name"],
        "get_weather"
    );
    assert_eq!(
        contents[2]["parts"][0]["functionResponse"]["name"],
        "get_weather"
    );
}
