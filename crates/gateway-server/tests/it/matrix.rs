//! Every caller shape × every upstream shape, whole and streamed, plain text and
//! tool calls, through the gateway to mock upstreams served over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use gateway_protocol::{ApiShape, StopReason};
use gateway_providers::MockConfig;
use support::*;

/// The four shapes' own kinds, Vertex AI's two (Gemini and Claude on Vertex,
/// speaking the Gemini and Anthropic shapes at Vertex's paths), Bedrock's two
/// (Converse, and Claude through InvokeModel; SigV4-signed, the mocks verify each
/// signature), and Cohere's v2 Chat (the mock wants the Bearer key).
const PROVIDERS: [&str; 9] = [
    "openai",
    "anthropic",
    "gemini",
    "ollama",
    "vertex",
    "vertex_claude",
    "bedrock",
    "bedrock_claude",
    "cohere",
];
const TEXT: &str = "Hello from the matrix";

async fn setup() -> Gateway {
    let up = Upstreams::start(MockConfig::default()).await;
    let config = format!(
        "{}{}{}{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml(),
        up.vertex_toml(),
        up.bedrock_toml(),
        up.cohere_toml()
    );
    Gateway::start(&config).await
}

async fn one(gw: &Gateway, caller: ApiShape, provider: &str, stream: bool, tools: bool) {
    let scenario = if tools { "mock-tools" } else { "mock-echo" };
    let model = format!("{provider}/{scenario}");
    let (path, body) = chat_request(caller, &model, TEXT, stream, tools);
    let resp = send(gw, caller, &path, &body).await;
    let what = format!("{caller:?} → {provider} stream={stream} tools={tools}");
    assert_eq!(resp.status(), 200, "{what}: {:?}", resp.text().await);
    assert_eq!(resp.headers()["x-patchbay-provider"], provider, "{what}");
    assert_eq!(resp.headers()["x-patchbay-model"], scenario, "{what}");
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
    let bytes = resp.bytes().await.unwrap();
    let answer = if stream {
        let grammar = respond_stream_type(caller);
        assert!(ctype.starts_with(grammar), "{what}: {ctype}");
        parse_stream(caller, &bytes, false).unwrap_or_else(|e| panic!("{what}: {e}"))
    } else {
        assert!(ctype.starts_with("application/json"), "{what}: {ctype}");
        parse_whole(caller, &bytes)
    };
    if tools {
        assert_eq!(tool_calls(&answer), ["get_weather"], "{what}: {answer:?}");
        assert_eq!(answer.stop_reason, StopReason::ToolUse, "{what}");
    } else {
        assert_eq!(text_of(&answer), TEXT, "{what}: {answer:?}");
        assert_eq!(answer.stop_reason, StopReason::EndTurn, "{what}");
        // OpenAI Chat streams carry usage only when asked (stream_options).
        if !(caller == ApiShape::OpenAiChat && stream) {
            assert!(answer.usage.output_tokens > 0, "{what}: {:?}", answer.usage);
        }
    }
}

/// The content type of a stream to a caller of `shape`.
fn respond_stream_type(shape: ApiShape) -> &'static str {
    if shape == ApiShape::Ollama {
        "application/x-ndjson"
    } else {
        "text/event-stream"
    }
}

#[tokio::test]
async fn every_caller_to_every_upstream_whole_and_streamed() {
    let gw = setup().await;
    for caller in CALLERS {
        for provider in PROVIDERS {
            for stream in [false, true] {
                for tools in [false, true] {
                    one(&gw, caller, provider, stream, tools).await;
                }
            }
        }
    }
}

#[tokio::test]
async fn gemini_streams_without_alt_sse_are_one_json_array() {
    let gw = setup().await;
    for provider in PROVIDERS {
        let (path, body) = chat_request(
            ApiShape::Gemini,
            &format!("{provider}/mock-echo"),
            TEXT,
            true,
            false,
        );
        let path = path.replace("?alt=sse", "");
        let resp = send(&gw, ApiShape::Gemini, &path, &body).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(bytes.first(), Some(&b'['), "{provider}");
        let answer = parse_stream(ApiShape::Gemini, &bytes, true).unwrap();
        assert_eq!(text_of(&answer), TEXT, "{provider}");
    }
}

#[tokio::test]
async fn same_shape_streams_relay_the_upstream_bytes() {
    // OpenAI Chat → OpenAI upstream: the fast path. The usage chunk the gateway forces
    // upstream is not shown to a caller that did not ask for it, and is when it did.
    let gw = setup().await;
    let (path, mut body) =
        chat_request(ApiShape::OpenAiChat, "openai/mock-echo", TEXT, true, false);
    let plain = send(&gw, ApiShape::OpenAiChat, &path, &body)
        .await
        .text()
        .await
        .unwrap();
    assert!(!plain.contains("\"choices\":[]"), "{plain}");
    assert!(plain.trim_end().ends_with("data: [DONE]"), "{plain}");
    body["stream_options"] = serde_json::json!({"include_usage": true});
    let with_usage = send(&gw, ApiShape::OpenAiChat, &path, &body)
        .await
        .text()
        .await
        .unwrap();
    assert!(with_usage.contains("\"choices\":[]"), "{with_usage}");
    assert!(with_usage.contains("\"completion_tokens\""), "{with_usage}");
}
