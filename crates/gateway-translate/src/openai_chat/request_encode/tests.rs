//! The Chat body writer's bytes, against what the serde-struct encoder wrote.
#![allow(clippy::unwrap_used)]

use gateway_protocol::{Effort, Image, RawJson, Reasoning, ReasoningConfig, Tool};
use serde_json::json;

use super::*;
use crate::test_parts::{assistant, call, result, user};

fn encode_str(req: &ChatRequest) -> String {
    String::from_utf8(encode(req, &EncodeOptions::default()).unwrap()).unwrap()
}

fn error(req: &ChatRequest) -> String {
    encode(req, &EncodeOptions::default())
        .unwrap_err()
        .to_string()
}

fn image(source: MediaSource, detail: Option<&str>) -> Part {
    Part::Image(Image {
        source,
        detail: detail.map(Into::into),
        cache_control: None,
    })
}

fn document(source: MediaSource, filename: Option<&str>) -> Part {
    Part::Document(Document {
        source,
        filename: filename.map(Into::into),
        title: None,
        cache_control: None,
    })
}

fn base64(media_type: &str) -> MediaSource {
    MediaSource::Base64 {
        media_type: media_type.into(),
        data: "AAAA".into(),
    }
}

fn reasoning(text: &str, source: Family) -> Part {
    Part::Reasoning(Reasoning {
        text: text.into(),
        source: Some(source),
        ..Reasoning::default()
    })
}

fn tool(name: &str, description: Option<&str>, parameters: Option<&str>) -> Tool {
    Tool {
        name: name.into(),
        description: description.map(Into::into),
        parameters: parameters.map(|p| RawJson::parse(p).unwrap()),
        strict: description.map(|_| true),
        cache_control: None,
    }
}

/// Every kind of message and part, in the bytes the serde-struct encoder wrote.
#[test]
fn every_message_and_part_writes_the_old_bytes() {
    let req = ChatRequest {
        model: "gpt-\"x\"".into(),
        system: vec![Part::text("be brief"), Part::text("be kind")],
        messages: vec![
            user(vec![
                Part::text("look"),
                image(MediaSource::Url("https://x.test/a.png".into()), Some("low")),
                image(base64("image/png"), None),
                document(base64("audio/wav"), None),
                document(base64("application/pdf"), Some("a.pdf")),
                document(MediaSource::FileId("file-1".into()), None),
                document(MediaSource::FileId("file-2".into()), Some("b.txt")),
            ]),
            assistant(vec![
                reasoning("step one, ", Family::OpenAi),
                reasoning("not ours", Family::Anthropic),
                reasoning("step two", Family::OpenAi),
                Part::text("first"),
                Part::text("second\n"),
                call("call_1", "get_weather", r#"{"city":"Oslo"}"#),
                call("call_2|sig", "lookup", "  "),
            ]),
            user(vec![
                result(
                    "call_1",
                    vec![
                        Part::text("it rains"),
                        image(MediaSource::Url("https://x.test/r.png".into()), None),
                        Part::text(" hard"),
                    ],
                    false,
                ),
                result("call_2|sig", vec![Part::text("boom")], true),
                Part::text("thanks"),
            ]),
            assistant(vec![reasoning("only thinking", Family::OpenAi)]),
            assistant(vec![Part::text("")]),
            user(vec![result("call_3", vec![], false)]),
            user(vec![Part::text("one")]),
        ],
        ..ChatRequest::default()
    };
    assert_eq!(
        encode_str(&req),
        r#"{"model":"gpt-\"x\"","messages":[{"role":"system","content":[{"type":"text","text":"be brief"},{"type":"text","text":"be kind"}]},{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"https://x.test/a.png","detail":"low"}},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,AAAA","filename":"a.pdf"}},{"type":"file","file":{"file_id":"file-1"}},{"type":"file","file":{"file_id":"file-2","filename":"b.txt"}}]},{"role":"assistant","content":[{"type":"text","text":"first"},{"type":"text","text":"second\n"}],"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},{"id":"call_2|sig","type":"function","function":{"name":"lookup","arguments":"{}"}}],"reasoning_content":"step one, step two"},{"role":"tool","content":"it rains hard","tool_call_id":"call_1"},{"role":"tool","content":"Error: boom","tool_call_id":"call_2|sig"},{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x.test/r.png"}},{"type":"text","text":"thanks"}]},{"role":"assistant","content":""},{"role":"tool","content":"","tool_call_id":"call_3"},{"role":"user","content":"one"}]}"#
    );
}

/// The request fields around the messages, each in its place.
#[test]
fn every_request_field_writes_the_old_bytes() {
    let mut req = ChatRequest {
        model: "m".into(),
        system: vec![Part::text("sys")],
        messages: vec![user(vec![Part::text("hi")])],
        tools: vec![
            tool(
                "get_weather",
                Some("Weather"),
                Some(r#"{"type": "object"}"#),
            ),
            tool("lookup", None, None),
        ],
        tool_choice: Some(ToolChoice::Tool("lookup".into())),
        parallel_tool_calls: Some(false),
        response_format: Some(ResponseFormat::JsonSchema {
            name: String::new(),
            description: Some("d".into()),
            schema: json!({"type": "object", "a": [1.5]}),
            strict: Some(true),
        }),
        reasoning: Some(ReasoningConfig {
            effort: Some(Effort::High),
            ..ReasoningConfig::default()
        }),
        stream: true,
        user: Some("u-1".into()),
        ..ChatRequest::default()
    };
    req.sampling.max_output_tokens = Some(1024);
    req.sampling.temperature = Some(0.7);
    req.sampling.top_p = Some(1.0);
    req.sampling.top_k = Some(5);
    req.sampling.stop = vec!["END".into(), "\n\n".into()];
    req.sampling.seed = Some(-3);
    req.sampling.presence_penalty = Some(0.25);
    req.sampling.frequency_penalty = Some(-1e-7);
    assert_eq!(
        encode_str(&req),
        r#"{"model":"m","messages":[{"role":"system","content":"sys"},{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":1024,"temperature":0.7,"top_p":1.0,"stop":["END","\n\n"],"seed":-3,"presence_penalty":0.25,"frequency_penalty":-1e-7,"response_format":{"type":"json_schema","json_schema":{"name":"response","description":"d","schema":{"a":[1.5],"type":"object"},"strict":true}},"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type": "object"},"strict":true}},{"type":"function","function":{"name":"lookup"}}],"tool_choice":{"function":{"name":"lookup"},"type":"function"},"parallel_tool_calls":false,"reasoning_effort":"high","user":"u-1"}"#
    );

    let mut small = ChatRequest {
        model: "m".into(),
        messages: vec![user(vec![Part::text("hi")])],
        ..ChatRequest::default()
    };
    let mut bodies = Vec::new();
    for (choice, format) in [
        (ToolChoice::Auto, ResponseFormat::Text),
        (ToolChoice::None, ResponseFormat::JsonObject),
        (ToolChoice::Required, ResponseFormat::Text),
        (
            ToolChoice::Allowed {
                names: vec!["a".into(), "b".into()],
                required: true,
            },
            ResponseFormat::JsonSchema {
                name: "n".into(),
                description: None,
                schema: json!(true),
                strict: None,
            },
        ),
        (
            ToolChoice::Allowed {
                names: vec![],
                required: false,
            },
            ResponseFormat::Text,
        ),
    ] {
        small.tool_choice = Some(choice);
        small.response_format = Some(format);
        bodies.push(encode_str(&small));
    }
    assert_eq!(
        bodies,
        [
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"text"},"tool_choice":"auto"}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"},"tool_choice":"none"}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"text"},"tool_choice":"required"}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":true}},"tool_choice":{"allowed_tools":{"mode":"required","tools":[{"function":{"name":"a"},"type":"function"},{"function":{"name":"b"},"type":"function"}]},"type":"allowed_tools"}}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"text"},"tool_choice":{"allowed_tools":{"mode":"auto","tools":[]},"type":"allowed_tools"}}"#,
        ]
    );
}

/// Caller parameters kept for OpenAI go into the body unless it sets them already.
#[test]
fn carried_parameters_are_merged_as_before() {
    let mut req = ChatRequest {
        model: "m".into(),
        messages: vec![user(vec![Part::text("hi")])],
        ..ChatRequest::default()
    };
    req.sampling.temperature = Some(0.5);
    req.extensions
        .insert(Family::OpenAi.as_str(), "temperature", json!(2));
    req.extensions.insert(
        Family::OpenAi.as_str(),
        "logit_bias",
        json!({"50256": -100}),
    );
    req.extensions
        .insert(Family::OpenAi.as_str(), "store", json!(false));
    assert_eq!(
        encode_str(&req),
        r#"{"logit_bias":{"50256":-100},"messages":[{"content":"hi","role":"user"}],"model":"m","store":false,"temperature":0.5}"#
    );
}

#[test]
fn media_chat_cannot_take_are_refused_with_their_path() {
    let refused = [
        image(MediaSource::FileId("file-1".into()), None),
        document(MediaSource::Url("https://x.test/a.pdf".into()), None),
        document(base64("audio/ogg"), None),
    ];
    let mut errors = Vec::new();
    for part in refused {
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![
                user(vec![Part::text("a")]),
                assistant(vec![Part::text("b")]),
                user(vec![Part::text("c"), part]),
            ],
            ..ChatRequest::default()
        };
        errors.push(error(&req));
    }
    assert_eq!(
        errors,
        [
            "`messages[2].parts[1]` cannot be sent to a openai-chat upstream: images given by provider file id cannot be sent; send a URL or base64 data",
            "`messages[2].parts[1]` cannot be sent to a openai-chat upstream: documents given by URL cannot be sent; send them as base64 data",
            "`messages[2].parts[1]` cannot be sent to a openai-chat upstream: audio of type `audio/ogg` cannot be sent; use wav or mp3",
        ]
    );
}
