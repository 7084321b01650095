//! The Anthropic body writer's bytes, against what the serde-struct encoder wrote.
#![allow(clippy::unwrap_used)]

use gateway_protocol::{
    Document, Effort, Image, MediaSource, RawJson, Reasoning, ReasoningConfig, Tool, ToolResult,
};
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

fn cached(text: &str) -> Part {
    Part::Text {
        text: text.into(),
        cache_control: Some(json!({"type": "ephemeral"})),
    }
}

fn image(source: MediaSource) -> Part {
    Part::Image(Image {
        source,
        detail: None,
        cache_control: None,
    })
}

fn document(source: MediaSource, title: Option<&str>, filename: Option<&str>) -> Part {
    Part::Document(Document {
        source,
        filename: filename.map(Into::into),
        title: title.map(Into::into),
        cache_control: None,
    })
}

fn base64(media_type: &str, data: &str) -> MediaSource {
    MediaSource::Base64 {
        media_type: media_type.into(),
        data: data.into(),
    }
}

fn thinking(text: &str, signature: Option<&str>, redacted: Option<&str>, source: Family) -> Part {
    Part::Reasoning(Reasoning {
        text: text.into(),
        signature: signature.map(Into::into),
        redacted: redacted.map(Into::into),
        source: Some(source),
        ..Reasoning::default()
    })
}

fn tool(name: &str, description: Option<&str>, parameters: Option<&str>) -> Tool {
    Tool {
        name: name.into(),
        description: description.map(Into::into),
        parameters: parameters.map(|p| RawJson::parse(p).unwrap()),
        strict: description.map(|_| false),
        cache_control: parameters.map(|_| json!({"type": "ephemeral"})),
    }
}

/// Every kind of block, in the bytes the serde-struct encoder wrote.
#[test]
fn every_block_writes_the_old_bytes() {
    let mut image_cached = image(MediaSource::Url("https://x.test/a.png".into()));
    if let Part::Image(img) = &mut image_cached {
        img.cache_control = Some(json!({"type": "ephemeral"}));
    }
    let req = ChatRequest {
        model: "claude-\"x\"".into(),
        system: vec![Part::text("be brief"), Part::text(""), cached("be kind")],
        messages: vec![
            assistant(vec![Part::text("earlier")]),
            user(vec![
                Part::text("look"),
                cached("cached"),
                image(base64("image/png", "AAAA")),
                image_cached,
                image(MediaSource::FileId("file_1".into())),
                document(base64("application/pdf", "AAAA"), Some("T"), Some("a.pdf")),
                document(base64("text/plain", "aGk="), None, Some("b.txt")),
                document(MediaSource::Url("https://x.test/c.pdf".into()), None, None),
                document(MediaSource::FileId("file_2".into()), None, None),
            ]),
            assistant(vec![
                thinking("hmm", Some("sig"), None, Family::Anthropic),
                thinking("", None, Some("opaque"), Family::Anthropic),
                thinking("theirs", Some("s"), None, Family::Gemini),
                Part::text(""),
                call("call.1", "get_weather", " {\"city\": \"Oslo\"} "),
                call("toolu_2", "lookup", ""),
            ]),
            user(vec![
                result("call.1", vec![Part::text("rain")], false),
                result("toolu_2", vec![cached("c")], true),
                result(
                    "toolu_2",
                    vec![
                        Part::text(""),
                        Part::text("x"),
                        image(base64("image/gif", "R0")),
                    ],
                    false,
                ),
                result("toolu_2", vec![], false),
                result("toolu_2", vec![Part::text(""), Part::text("only")], false),
                result("toolu_2", vec![Part::text("")], false),
                result("toolu_2", vec![Part::text("a"), Part::text("b")], false),
            ]),
            assistant(vec![Part::text("Sure: "), Part::text("the answer is  \n ")]),
        ],
        ..ChatRequest::default()
    };
    assert_eq!(
        encode_str(&req),
        r#"{"model":"claude-\"x\"","messages":[{"role":"user","content":[{"type":"text","text":"(continued)"}]},{"role":"assistant","content":[{"type":"text","text":"earlier"}]},{"role":"user","content":[{"type":"text","text":"look"},{"type":"text","text":"cached","cache_control":{"type":"ephemeral"}},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"image","source":{"type":"url","url":"https://x.test/a.png"},"cache_control":{"type":"ephemeral"}},{"type":"image","source":{"type":"file","file_id":"file_1"}},{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"AAAA"},"title":"T"},{"type":"document","source":{"type":"text","media_type":"text/plain","data":"hi"},"title":"b.txt"},{"type":"document","source":{"type":"url","url":"https://x.test/c.pdf"}},{"type":"document","source":{"type":"file","file_id":"file_2"}}]},{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig"},{"type":"redacted_thinking","data":"opaque"},{"type":"tool_use","id":"call_1","name":"get_weather","input":{"city": "Oslo"}},{"type":"tool_use","id":"toolu_2","name":"lookup","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"rain"},{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"c","cache_control":{"type":"ephemeral"}}],"is_error":true},{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"x"},{"type":"image","source":{"type":"base64","media_type":"image/gif","data":"R0"}}]},{"type":"tool_result","tool_use_id":"toolu_2"},{"type":"tool_result","tool_use_id":"toolu_2","content":"only"},{"type":"tool_result","tool_use_id":"toolu_2"},{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]},{"role":"assistant","content":[{"type":"text","text":"Sure: "},{"type":"text","text":"the answer is"}]}],"max_tokens":4096,"system":[{"text":"be brief"},{"text":"be kind","cache_control":{"type":"ephemeral"}}],"tools":[{"name":"get_weather","description":"Used earlier in this conversation.","input_schema":{"type":"object","properties":{}}},{"name":"lookup","description":"Used earlier in this conversation.","input_schema":{"type":"object","properties":{}}}]}"#
    );
    // A prefill of whitespace only is dropped, and its turn with it.
    let mut req2 = req.clone();
    req2.messages.truncate(2);
    req2.messages.push(assistant(vec![Part::text(" \n")]));
    assert_eq!(
        encode_str(&req2),
        r#"{"model":"claude-\"x\"","messages":[{"role":"user","content":[{"type":"text","text":"(continued)"}]},{"role":"assistant","content":[{"type":"text","text":"earlier"}]},{"role":"user","content":[{"type":"text","text":"look"},{"type":"text","text":"cached","cache_control":{"type":"ephemeral"}},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"image","source":{"type":"url","url":"https://x.test/a.png"},"cache_control":{"type":"ephemeral"}},{"type":"image","source":{"type":"file","file_id":"file_1"}},{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"AAAA"},"title":"T"},{"type":"document","source":{"type":"text","media_type":"text/plain","data":"hi"},"title":"b.txt"},{"type":"document","source":{"type":"url","url":"https://x.test/c.pdf"}},{"type":"document","source":{"type":"file","file_id":"file_2"}}]}],"max_tokens":4096,"system":[{"text":"be brief"},{"text":"be kind","cache_control":{"type":"ephemeral"}}]}"#
    );
    let mut req3 = req.clone();
    req3.messages.truncate(2);
    req3.messages
        .push(assistant(vec![Part::text("a"), Part::text(" ")]));
    assert_eq!(
        encode_str(&req3),
        r#"{"model":"claude-\"x\"","messages":[{"role":"user","content":[{"type":"text","text":"(continued)"}]},{"role":"assistant","content":[{"type":"text","text":"earlier"}]},{"role":"user","content":[{"type":"text","text":"look"},{"type":"text","text":"cached","cache_control":{"type":"ephemeral"}},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"image","source":{"type":"url","url":"https://x.test/a.png"},"cache_control":{"type":"ephemeral"}},{"type":"image","source":{"type":"file","file_id":"file_1"}},{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"AAAA"},"title":"T"},{"type":"document","source":{"type":"text","media_type":"text/plain","data":"hi"},"title":"b.txt"},{"type":"document","source":{"type":"url","url":"https://x.test/c.pdf"}},{"type":"document","source":{"type":"file","file_id":"file_2"}}]},{"role":"assistant","content":[{"type":"text","text":"a"}]}],"max_tokens":4096,"system":[{"text":"be brief"},{"text":"be kind","cache_control":{"type":"ephemeral"}}]}"#
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
            tool("hidden", None, None),
        ],
        tool_choice: Some(ToolChoice::Allowed {
            names: vec!["get_weather".into(), "lookup".into()],
            required: false,
        }),
        parallel_tool_calls: Some(false),
        response_format: Some(ResponseFormat::JsonSchema {
            name: "n".into(),
            description: None,
            schema: json!({"type": "object", "a": [1.5]}),
            strict: Some(true),
        }),
        stream: true,
        user: Some("u-1".into()),
        ..ChatRequest::default()
    };
    req.sampling.max_output_tokens = Some(100);
    req.sampling.temperature = Some(1.7);
    req.sampling.top_p = Some(0.9);
    req.sampling.top_k = Some(5);
    req.sampling.stop = vec!["END".into(), " \n".into(), "\"q\"".into()];
    assert_eq!(
        encode_str(&req),
        r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":100,"system":"sys","stop_sequences":["END","\"q\""],"temperature":1.0,"top_p":0.9,"top_k":5,"stream":true,"metadata":{"user_id":"u-1"},"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type": "object"},"strict":false,"cache_control":{"type":"ephemeral"}},{"name":"lookup","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true},"output_config":{"format":{"schema":{"a":[1.5],"type":"object"},"type":"json_schema"}}}"#
    );

    // Thinking on: sampling trimmed, forced choices downgraded, max_tokens raised.
    let mut on = req.clone();
    on.reasoning = Some(ReasoningConfig {
        budget_tokens: Some(2000),
        ..ReasoningConfig::default()
    });
    on.tool_choice = Some(ToolChoice::Tool("lookup".into()));
    on.response_format = Some(ResponseFormat::JsonObject);
    on.user = Some("someone@example.com".into());
    assert_eq!(
        encode_str(&on),
        r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":3024,"system":[{"text":"sys"},{"text":"Respond with a single valid JSON object and nothing else."}],"stop_sequences":["END","\"q\""],"stream":true,"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type": "object"},"strict":false,"cache_control":{"type":"ephemeral"}},{"name":"lookup","input_schema":{"type":"object","properties":{}}},{"name":"hidden","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true},"thinking":{"budget_tokens":2000,"type":"enabled"}}"#
    );
    on.sampling.top_p = Some(0.97);
    on.reasoning = Some(ReasoningConfig {
        effort: Some(Effort::Low),
        ..ReasoningConfig::default()
    });
    on.tool_choice = Some(ToolChoice::Required);
    on.system.clear();
    assert_eq!(
        encode_str(&on),
        r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":2048,"system":"Respond with a single valid JSON object and nothing else.","stop_sequences":["END","\"q\""],"top_p":0.97,"stream":true,"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type": "object"},"strict":false,"cache_control":{"type":"ephemeral"}},{"name":"lookup","input_schema":{"type":"object","properties":{}}},{"name":"hidden","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true},"thinking":{"budget_tokens":1024,"type":"enabled"}}"#
    );

    let mut small = ChatRequest {
        model: "m".into(),
        messages: vec![user(vec![Part::text("hi")])],
        ..ChatRequest::default()
    };
    let mut bodies = Vec::new();
    for (choice, parallel, effort) in [
        (None, Some(false), None),
        (Some(ToolChoice::None), None, Some(Effort::None)),
        (Some(ToolChoice::Auto), Some(true), None),
        (Some(ToolChoice::Required), Some(false), None),
        (Some(ToolChoice::Tool("t".into())), Some(false), None),
        (
            Some(ToolChoice::Allowed {
                names: vec![],
                required: true,
            }),
            None,
            None,
        ),
    ] {
        small.tool_choice = choice;
        small.parallel_tool_calls = parallel;
        small.reasoning = effort.map(|e| ReasoningConfig {
            effort: Some(e),
            ..ReasoningConfig::default()
        });
        small.tools = vec![tool("t", None, None)];
        bodies.push(encode_str(&small));
    }
    small.tools.clear();
    small.tool_choice = None;
    small.parallel_tool_calls = Some(false);
    small.reasoning = None;
    small.user = Some("+47 (22) 33-44-55".into());
    small.response_format = Some(ResponseFormat::JsonObject);
    bodies.push(encode_str(&small));
    assert_eq!(
        bodies,
        [
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":4096,"tools":[{"name":"t","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}"#,
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":4096,"tools":[{"name":"t","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"none"},"thinking":{"type":"disabled"}}"#,
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":4096,"tools":[{"name":"t","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"auto"}}"#,
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":4096,"tools":[{"name":"t","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"any","disable_parallel_tool_use":true}}"#,
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":4096,"tools":[{"name":"t","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"tool","name":"t","disable_parallel_tool_use":true}}"#,
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":4096,"tool_choice":{"type":"any"}}"#,
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":4096,"system":"Respond with a single valid JSON object and nothing else."}"#,
        ]
    );
}

/// Without tools, a history that uses some gets stubs for them.
#[test]
fn stub_tools_write_the_old_bytes() {
    let mut req = ChatRequest {
        model: "m".into(),
        messages: vec![
            user(vec![Part::text("hi")]),
            assistant(vec![call("a", "zeta", "{}"), call("b", "alpha", "{}")]),
            user(vec![Part::ToolResult(ToolResult {
                call_id: "c".into(),
                name: Some("named".into()),
                content: vec![],
                is_error: false,
            })]),
        ],
        ..ChatRequest::default()
    };
    assert_eq!(
        encode_str(&req),
        r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"zeta","input":{}},{"type":"tool_use","id":"b","name":"alpha","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"c"}]}],"max_tokens":4096,"tools":[{"name":"alpha","description":"Used earlier in this conversation.","input_schema":{"type":"object","properties":{}}},{"name":"named","description":"Used earlier in this conversation.","input_schema":{"type":"object","properties":{}}},{"name":"zeta","description":"Used earlier in this conversation.","input_schema":{"type":"object","properties":{}}}]}"#
    );
    req.messages = vec![user(vec![result("x", vec![Part::text("r")], false)])];
    assert_eq!(
        encode_str(&req),
        r#"{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":"r"}]}],"max_tokens":4096,"tools":[{"name":"tool","description":"Used earlier in this conversation.","input_schema":{"type":"object","properties":{}}}]}"#
    );
}

/// Caller parameters kept for Anthropic: server tools and thinking have their own
/// places, the rest go into the body unless it sets them already.
#[test]
fn carried_parameters_are_merged_as_before() {
    let mut req = ChatRequest {
        model: "m".into(),
        messages: vec![user(vec![Part::text("hi")])],
        tools: vec![tool("t", Some("d"), None)],
        user: Some("u".into()),
        reasoning: Some(ReasoningConfig {
            budget_tokens: Some(3000),
            ..ReasoningConfig::default()
        }),
        ..ChatRequest::default()
    };
    req.sampling.top_p = Some(0.95);
    let key = Family::Anthropic.as_str();
    req.extensions.insert(
        key,
        "tools",
        json!([{"type": "web_search_20250305", "name": "web_search"}]),
    );
    req.extensions.insert(
        key,
        "thinking",
        json!({"type": "enabled", "budget_tokens": 1, "display": "x"}),
    );
    req.extensions
        .insert(key, "metadata", json!({"user_id": "other", "extra": 1}));
    req.extensions.insert(key, "max_tokens", json!(5));
    req.extensions.insert(key, "container", json!("c1"));
    assert_eq!(
        encode_str(&req),
        r#"{"container":"c1","max_tokens":4096,"messages":[{"content":[{"text":"hi","type":"text"}],"role":"user"}],"metadata":{"extra":1,"user_id":"u"},"model":"m","thinking":{"budget_tokens":3000,"display":"x","type":"enabled"},"tools":[{"name":"web_search","type":"web_search_20250305"},{"description":"d","input_schema":{"properties":{},"type":"object"},"name":"t","strict":false}],"top_p":0.95}"#
    );
    req.extensions
        .insert(key, "thinking", json!({"type": "adaptive"}));
    req.sampling.max_output_tokens = Some(10);
    assert_eq!(
        encode_str(&req),
        r#"{"container":"c1","max_tokens":10,"messages":[{"content":[{"text":"hi","type":"text"}],"role":"user"}],"metadata":{"extra":1,"user_id":"u"},"model":"m","thinking":{"type":"adaptive"},"tools":[{"name":"web_search","type":"web_search_20250305"},{"description":"d","input_schema":{"properties":{},"type":"object"},"name":"t","strict":false}],"top_p":0.95}"#
    );
}

#[test]
fn blocks_anthropic_cannot_take_are_refused_with_their_path() {
    let refused = [
        call("c", "f", "{nope"),
        call("c", "f", "[1]"),
        image(base64("image/bmp", "AA")),
        document(base64("text/plain", "%%%"), None, None),
        document(base64("video/mp4", "AA"), None, None),
        result("c", vec![call("d", "f", "{}")], false),
        result("c", vec![image(base64("image/bmp", "AA"))], false),
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
    errors.push(error(&ChatRequest {
        model: "m".into(),
        ..ChatRequest::default()
    }));
    assert_eq!(
        errors,
        [
            "`messages[2].content[1]` cannot be sent to a Anthropic Messages upstream: tool call arguments are not valid JSON (key must be a string at line 1 column 2)",
            "`messages[2].content[1]` cannot be sent to a Anthropic Messages upstream: tool call arguments must be a JSON object",
            "`messages[2].content[1]` cannot be sent to a Anthropic Messages upstream: image type `image/bmp` is not accepted; use JPEG, PNG, GIF or WebP",
            "`messages[2].content[1]` cannot be sent to a Anthropic Messages upstream: text document is not base64 UTF-8",
            "`messages[2].content[1]` cannot be sent to a Anthropic Messages upstream: documents of type `video/mp4` are not accepted; use PDF or plain text",
            "`messages[2].content[0].content[0]` cannot be sent to a Anthropic Messages upstream: tool results may only hold text, images and documents",
            "`messages[2].content[0].content[0]` cannot be sent to a Anthropic Messages upstream: image type `image/bmp` is not accepted; use JPEG, PNG, GIF or WebP",
            "`messages` cannot be sent to a Anthropic Messages upstream: at least one non-empty user message is required",
        ]
    );
}
