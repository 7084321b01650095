//! The `agent` scenario: a scripted model that lets a test drive a real agent (an AI
//! tool or an SDK loop) through a tool round trip.
//!
//! - The conversation ends in tool results → one text line per result,
//!   `Result of <tool>: <text>`, so the caller can see the result came back.
//! - A JSON answer asked for (a schema) → a value built from the schema, so the side
//!   calls agents make (routing classifiers, "who speaks next" checks) parse.
//! - The newest user message holding `CALL <tool> <json object>` lines → one tool
//!   call per line (two lines: two parallel calls), if the request offers that tool.
//! - Otherwise → the last user text, echoed.

use gateway_protocol::{ChatRequest, Message, Part, ResponseFormat, Role, StopReason, ToolCall};
use serde_json::Value;

use super::fnv;

/// The directive that asks for a tool call.
const DIRECTIVE: &str = "CALL ";
/// How much of each tool result the answer quotes.
const RESULT_QUOTE_CHARS: usize = 2_000;

/// The answer's parts and stop reason.
pub(super) fn turn(req: &ChatRequest, body: &[u8]) -> (Vec<Part>, StopReason) {
    if let Some(last) = req.messages.last() {
        let results: Vec<String> = last
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::ToolResult(r) => Some(format!(
                    "Result of {}: {}",
                    r.name
                        .clone()
                        .or_else(|| name_of_call(&req.messages, &r.call_id))
                        .unwrap_or_else(|| r.call_id.clone()),
                    quote(&r.content)
                )),
                _ => None,
            })
            .collect();
        if !results.is_empty() {
            return (vec![Part::text(results.join("\n"))], StopReason::EndTurn);
        }
    }
    match &req.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            let value = super::chat::example_of(schema, 0);
            return (vec![Part::text(value.to_string())], StopReason::EndTurn);
        }
        Some(ResponseFormat::JsonObject) => {
            return (vec![Part::text("{}")], StopReason::EndTurn);
        }
        _ => {}
    }
    let directives = req
        .messages
        .iter()
        .rev()
        .filter(|m| m.role == Role::User)
        .map(directives_in)
        .find(|d| !d.is_empty())
        .unwrap_or_default();
    if directives.is_empty() {
        return (vec![Part::text(last_user_text(req))], StopReason::EndTurn);
    }
    let mut calls = Vec::with_capacity(directives.len());
    for (i, directive) in directives.into_iter().enumerate() {
        let (name, arguments) = match directive {
            Ok(call) => call,
            Err(text) => return (vec![Part::text(text)], StopReason::EndTurn),
        };
        if !req.tools.iter().any(|t| t.name == name) {
            let offered: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
            let text = format!(
                "mock-agent: tool {name} is not offered; offered: {}",
                offered.join(", ")
            );
            return (vec![Part::text(text)], StopReason::EndTurn);
        }
        calls.push(Part::ToolCall(ToolCall {
            id: format!("call_agent_{:08x}_{i}", fnv(body, 2) as u32),
            name,
            arguments,
            signature: None,
        }));
    }
    (calls, StopReason::ToolUse)
}

/// The `CALL` lines of a message: `Ok((tool, arguments))`, or `Err(explanation)` for
/// a line whose arguments are not a JSON object.
fn directives_in(message: &Message) -> Vec<Result<(String, String), String>> {
    message
        .parts
        .iter()
        .filter_map(Part::as_text)
        .flat_map(str::lines)
        .filter_map(|line| line.trim().strip_prefix(DIRECTIVE))
        .map(|rest| {
            let rest = rest.trim();
            let (name, json) = rest.split_once(char::is_whitespace).unwrap_or((rest, "{}"));
            match serde_json::from_str::<Value>(json.trim()) {
                Ok(args @ Value::Object(_)) => Ok((name.to_owned(), args.to_string())),
                _ => Err(format!(
                    "mock-agent: the arguments of CALL {name} are not a JSON object: {json}"
                )),
            }
        })
        .collect()
}

/// The name of the tool call `call_id` answers, from the assistant turns.
fn name_of_call(messages: &[Message], call_id: &str) -> Option<String> {
    messages.iter().rev().find_map(|m| {
        m.parts.iter().find_map(|p| match p {
            Part::ToolCall(c) if c.id == call_id => Some(c.name.clone()),
            _ => None,
        })
    })
}

/// The text of a tool result, cut to a readable length.
fn quote(content: &[Part]) -> String {
    let text: Vec<&str> = content.iter().filter_map(Part::as_text).collect();
    let text = text.join(" ");
    match text.char_indices().nth(RESULT_QUOTE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The text of the last user message (tool results excluded).
pub(super) fn last_user_text(req: &ChatRequest) -> String {
    req.messages
        .iter()
        .rev()
        .filter(|m| m.role == Role::User)
        .find_map(|m| {
            let texts: Vec<&str> = m.parts.iter().filter_map(Part::as_text).collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use gateway_protocol::{Tool, ToolResult};

    use super::*;

    fn user(text: &str) -> Message {
        Message {
            role: Role::User,
            parts: vec![Part::text(text)],
        }
    }

    fn tool(name: &str) -> Tool {
        Tool {
            name: name.into(),
            description: None,
            parameters: None,
            strict: None,
            cache_control: None,
        }
    }

    fn request(messages: Vec<Message>, tools: &[&str]) -> ChatRequest {
        ChatRequest {
            messages,
            tools: tools.iter().map(|t| tool(t)).collect(),
            ..ChatRequest::default()
        }
    }

    #[test]
    fn call_lines_become_parallel_calls_with_their_arguments() {
        let req = request(
            vec![user(
                "context first\nCALL Read {\"file_path\":\"/tmp/a\"}\n  CALL Bash {\"command\":\"ls\"}",
            )],
            &["Bash", "Read"],
        );
        let (parts, stop) = turn(&req, b"x");
        assert_eq!(stop, StopReason::ToolUse);
        let calls: Vec<(&str, &str)> = parts
            .iter()
            .map(|p| match p {
                Part::ToolCall(c) => (c.name.as_str(), c.arguments.as_str()),
                other => panic!("not a call: {other:?}"),
            })
            .collect();
        assert_eq!(
            calls,
            [
                ("Read", r#"{"file_path":"/tmp/a"}"#),
                ("Bash", r#"{"command":"ls"}"#)
            ]
        );
        let ids: Vec<_> = parts
            .iter()
            .filter_map(|p| match p {
                Part::ToolCall(c) => Some(c.id.clone()),
                _ => None,
            })
            .collect();
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn tool_results_are_quoted_by_the_calling_tool_name() {
        let call = Part::ToolCall(ToolCall {
            id: "c1".into(),
            name: "Read".into(),
            arguments: "{}".into(),
            signature: None,
        });
        let result = Part::ToolResult(ToolResult {
            call_id: "c1".into(),
            name: None,
            content: vec![Part::text("nonce-42")],
            is_error: false,
        });
        let req = request(
            vec![
                user("CALL Read {}"),
                Message {
                    role: Role::Assistant,
                    parts: vec![call],
                },
                Message {
                    role: Role::User,
                    parts: vec![result, Part::text("<reminder/>")],
                },
            ],
            &["Read"],
        );
        let (parts, stop) = turn(&req, b"x");
        assert_eq!(stop, StopReason::EndTurn);
        assert_eq!(parts, [Part::text("Result of Read: nonce-42")]);
    }

    #[test]
    fn a_json_schema_request_gets_a_value_of_that_schema() {
        let mut req = request(vec![user("CALL Bash {}")], &["Bash"]);
        req.response_format = Some(ResponseFormat::JsonSchema {
            name: "route".into(),
            description: None,
            schema: serde_json::json!({
                "type": "object",
                "properties": {"model_choice": {"type": "string", "enum": ["flash", "pro"]}},
                "required": ["model_choice"]
            }),
            strict: None,
        });
        let (parts, stop) = turn(&req, b"x");
        assert_eq!(stop, StopReason::EndTurn);
        assert_eq!(parts, [Part::text(r#"{"model_choice":"flash"}"#)]);
    }

    #[test]
    fn unknown_tools_and_bad_arguments_are_explained() {
        let req = request(vec![user("CALL Nope {}")], &["Bash", "Read"]);
        assert_eq!(
            turn(&req, b"x").0,
            [Part::text(
                "mock-agent: tool Nope is not offered; offered: Bash, Read"
            )]
        );
        let req = request(vec![user("CALL Bash [1]")], &["Bash"]);
        let (parts, stop) = turn(&req, b"x");
        assert_eq!(stop, StopReason::EndTurn);
        assert!(
            parts[0]
                .as_text()
                .is_some_and(|t| t.contains("not a JSON object"))
        );
    }

    #[test]
    fn the_newest_user_message_with_directives_wins_and_plain_text_is_echoed() {
        let req = request(
            vec![user("CALL Old {}"), user("CALL New {}"), user("thanks")],
            &["Old", "New"],
        );
        match &turn(&req, b"x").0[0] {
            Part::ToolCall(c) => assert_eq!(c.name, "New"),
            other => panic!("{other:?}"),
        }
        let req = request(vec![user("just talk")], &["Bash"]);
        assert_eq!(turn(&req, b"x").0, [Part::text("just talk")]);
    }
}
