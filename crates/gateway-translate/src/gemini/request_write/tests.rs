//! The Gemini body writer's bytes, against what the serde-struct encoder wrote.
#![allow(clippy::unwrap_used)]

use gateway_protocol::{ChatRequest, Document, Image, Reasoning, Tool, ToolChoice, ToolResult};

use super::*;
use crate::EncodeOptions;

fn encode(req: &ChatRequest) -> String {
    let body = super::super::request_encode::encode(req, &EncodeOptions::default()).unwrap();
    String::from_utf8(body).unwrap()
}

fn call(id: &str, name: &str, arguments: &str, signature: Option<&str>) -> Part {
    Part::ToolCall(ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
        signature: signature.map(Into::into),
    })
}

fn result(call_id: &str, content: Vec<Part>, is_error: bool) -> Part {
    Part::ToolResult(ToolResult {
        call_id: call_id.into(),
        name: None,
        content,
        is_error,
    })
}

/// Every kind of part, the system and the tools, in the bytes the serde-struct
/// encoder wrote for them.
#[test]
fn a_body_of_every_part_writes_the_old_bytes() {
    const SYNTH: &str = "call_0123456789abcdef01234567";
    let gemini = |text: &str, sig: &str| {
        Part::Reasoning(Reasoning {
            text: text.into(),
            signature: Some(sig.into()),
            source: Some(Family::Gemini),
            ..Reasoning::default()
        })
    };
    let assistant = vec![
        gemini("think", "s1"),
        gemini("", "s2"),
        call(
            SYNTH,
            "get weather",
            r#" {"unit":"c", "city":"Oslo"} "#,
            None,
        ),
        call("c2", "lookup", r#"{"n":1.5,"a":"\u00e9"}"#, Some("s3")),
    ];
    let image = Part::Image(Image {
        source: MediaSource::Base64 {
            media_type: "image/png".into(),
            data: "AAAA".into(),
        },
        detail: None,
        cache_control: None,
    });
    let document = Part::Document(Document {
        source: MediaSource::FileId("files/abc".into()),
        filename: None,
        title: None,
        cache_control: None,
    });
    let user = vec![
        result(
            SYNTH,
            vec![Part::text(r#"{"b":1,"a":[true]}"#), image, document],
            false,
        ),
        result("c2", vec![Part::text("boom"), Part::text("again")], true),
        Part::text("thanks"),
    ];
    let tool = |name: &str, description: Option<&str>, parameters: Option<&str>| Tool {
        name: name.into(),
        description: description.map(Into::into),
        parameters: parameters.map(|p| RawJson::parse(p).unwrap()),
        strict: None,
        cache_control: None,
    };
    let mut req = ChatRequest {
        system: vec![
            Part::text("be brief"),
            Part::text(""),
            Part::text("be kind"),
        ],
        messages: vec![
            Message {
                role: Role::User,
                parts: vec![Part::text("hi")],
            },
            Message {
                role: Role::Assistant,
                parts: assistant,
            },
            Message {
                role: Role::User,
                parts: user,
            },
        ],
        tools: vec![
            tool(
                "get weather",
                Some("Weather"),
                Some(r#"{"type": "object"}"#),
            ),
            tool("lookup", None, None),
        ],
        tool_choice: Some(ToolChoice::Auto),
        ..ChatRequest::default()
    };
    req.sampling.temperature = Some(0.5);
    assert_eq!(
        encode(&req),
        concat!(
            r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":"#,
            r#"[{"text":"think","thought":true,"thoughtSignature":"s1"},{"text":"","#,
            r#""thoughtSignature":"s2"},{"functionCall":{"name":"get_weather_dce3870e","#,
            r#""args":{"city":"Oslo","unit":"c"}},"thoughtSignature":"#,
            r#""skip_thought_signature_validator"},{"functionCall":{"id":"c2","#,
            r#""name":"lookup","args":{"a":"é","n":1.5}},"thoughtSignature":"s3"}]},"#,
            r#"{"role":"user","parts":[{"functionResponse":{"name":"get_weather_dce3870e","#,
            r#""response":{"a":[true],"b":1},"parts":[{"inlineData":{"mimeType":"#,
            r#""image/png","data":"AAAA"}},{"fileData":{"fileUri":"files/abc"}}]}},"#,
            r#"{"functionResponse":{"id":"c2","name":"lookup","response":{"error":"#,
            r#""boom\nagain"}}},{"text":"thanks"}]}],"systemInstruction":{"parts":"#,
            r#"[{"text":"be brief"},{"text":"be kind"}]},"tools":[{"functionDeclarations":"#,
            r#"[{"name":"get_weather_dce3870e","description":"Weather","#,
            r#""parametersJsonSchema":{"type": "object"}},{"name":"lookup"}]}],"#,
            r#""toolConfig":{"functionCallingConfig":{"mode":"AUTO"}},"#,
            r#""generationConfig":{"temperature":0.5}}"#
        )
    );
}

/// Each form of a result's `response` writes the text of the `Value` the encoder
/// once built for it; call arguments likewise.
#[test]
fn responses_and_arguments_write_what_their_values_write() {
    let cases = [
        (
            r#"{"b": 1, "a": "x", "c": {"z": null, "y": [true]}}"#,
            false,
        ),
        (r#" {"a":"\u00e9","n":1.5} "#, false),
        (r#"{"a":1,"a":2}"#, false),
        (r#"{"a":1} trailing"#, false),
        ("[1,2]", false),
        ("plain \"quoted\" text", false),
        (r#"{"a":1}"#, true),
        ("", false),
    ];
    for (text, is_error) in cases {
        let want = if is_error {
            serde_json::json!({ "error": text })
        } else {
            match serde_json::from_str::<Value>(text) {
                Ok(obj @ Value::Object(_)) => obj,
                _ => serde_json::json!({ "content": text }),
            }
        };
        let req = ChatRequest {
            messages: vec![
                Message {
                    role: Role::Assistant,
                    parts: vec![call("c1", "f", text, Some("s"))],
                },
                Message {
                    role: Role::User,
                    parts: vec![result("c1", vec![Part::text(text)], is_error)],
                },
            ],
            ..ChatRequest::default()
        };
        let want = format!(r#""response":{want}}}}}]}}]}}"#);
        match args_tree(text, 0, 0) {
            Ok(args) => {
                let body = encode(&req);
                assert!(body.ends_with(&want), "{text}: {body}");
                assert!(
                    body.contains(&format!(r#""args":{args}}}"#)),
                    "{text}: {body}"
                );
            }
            Err(e) => {
                let err = super::super::request_encode::encode(&req, &EncodeOptions::default());
                assert_eq!(
                    format!("{:?}", err.unwrap_err()),
                    format!("{e:?}"),
                    "{text}"
                );
            }
        }
    }
}

/// §9.5 is checked after the parts' own errors, at the first unanswered turn.
#[test]
fn unanswered_calls_are_reported_after_part_errors() {
    let turn = |role, parts| Message { role, parts };
    let mut req = ChatRequest {
        messages: vec![
            turn(Role::User, vec![Part::text("q")]),
            turn(
                Role::Assistant,
                vec![call("a", "f", "{}", None), call("b", "f", "{}", None)],
            ),
            turn(Role::User, vec![result("a", vec![Part::text("1")], false)]),
            turn(Role::Assistant, vec![call("c", "f", "{}", None)]),
        ],
        ..ChatRequest::default()
    };
    let err = super::super::request_encode::encode(&req, &EncodeOptions::default());
    let msg = format!("{:?}", err.unwrap_err());
    assert!(
        msg.contains("assistant turn 2 made 2 tool call(s)"),
        "{msg}"
    );
    req.messages[3] = turn(Role::Assistant, vec![call("c", "f", "[1]", None)]);
    let err = super::super::request_encode::encode(&req, &EncodeOptions::default());
    let msg = format!("{:?}", err.unwrap_err());
    assert!(msg.contains("messages[3].parts[0].arguments"), "{msg}");
}
