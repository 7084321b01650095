//! `/v2/chat` request bodies → the canonical [`ChatRequest`]. Cohere is an upstream
//! shape: this decoder serves the Cohere-shaped mock and the round-trip tests. The
//! encoder (canonical → Cohere body) is in `request_encode.rs`, re-exported here as
//! [`encode`].

use gateway_protocol::{
    ChatRequest, Family, Image, Message, Part, RawJson, Reasoning, ReasoningConfig, ResponseFormat,
    Role, Sampling, Tool, ToolCall, ToolChoice, ToolResult,
};
use serde_json::Value;

use super::wire;
use crate::error::TranslateError;
use crate::{json, media};

pub use super::request_encode::encode;

/// The target name used in untranslatable-field errors.
pub const TARGET: &str = "Cohere v2 Chat";

/// Reads a `/v2/chat` body. System messages are hoisted; `tool` messages become tool
/// results in a user turn (consecutive ones share it); an assistant's `tool_plan` is
/// text before its calls; `thinking` parts are Cohere-family reasoning. Top-level
/// `documents` and the fields with no canonical equivalent (`citation_options`,
/// `safety_mode`, `logprobs`, `priority`, ...) are carried in
/// `extensions.params["cohere"]`.
pub fn decode(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let wire: wire::Request = json::decode_request(body)?;
    let mut req = ChatRequest {
        model: wire.model,
        stream: wire.stream,
        ..ChatRequest::default()
    };
    for (i, msg) in wire.messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        match msg.role.as_str() {
            "system" => req.system.extend(text_parts(msg.content.as_ref(), &path)?),
            "user" => {
                let parts = user_parts(msg.content.as_ref(), &path)?;
                req.messages.push(Message {
                    role: Role::User,
                    parts,
                });
            }
            "assistant" => req.messages.push(Message {
                role: Role::Assistant,
                parts: assistant_parts(msg, &path)?,
            }),
            "tool" => {
                let call_id = msg.tool_call_id.clone().ok_or_else(|| {
                    TranslateError::invalid(
                        format!("{path}.tool_call_id"),
                        "a tool message names the call it answers",
                    )
                })?;
                let result = Part::ToolResult(ToolResult {
                    call_id,
                    name: None,
                    content: tool_content(msg.content.as_ref()),
                    is_error: false,
                });
                crate::turns::push_tool_result(&mut req, result);
            }
            other => {
                return Err(TranslateError::invalid(
                    format!("{path}.role"),
                    format!("unknown role `{other}`: system, user, assistant or tool"),
                ));
            }
        }
    }
    for (k, tool) in wire.tools.iter().enumerate() {
        let Some(f) = &tool.function else {
            return Err(TranslateError::invalid(
                format!("tools[{k}].function"),
                "a tool needs a `function`",
            ));
        };
        req.tools.push(Tool {
            name: f.name.clone(),
            description: f.description.clone(),
            parameters: (!f.parameters.is_null()).then(|| RawJson::from_value(&f.parameters)),
            // `false` is Cohere's default: no canonical mark.
            strict: wire.strict_tools.filter(|s| *s),
            cache_control: None,
        });
    }
    req.tool_choice = match wire.tool_choice.as_deref() {
        None => None,
        Some("REQUIRED") => Some(ToolChoice::Required),
        Some("NONE") => Some(ToolChoice::None),
        Some(other) => {
            return Err(TranslateError::invalid(
                "tool_choice",
                format!("unknown tool_choice `{other}`: REQUIRED or NONE"),
            ));
        }
    };
    req.sampling = Sampling {
        max_output_tokens: wire.max_tokens,
        temperature: wire.temperature,
        top_p: wire.p,
        top_k: wire.k,
        stop: wire.stop_sequences,
        seed: wire.seed,
        presence_penalty: wire.presence_penalty,
        frequency_penalty: wire.frequency_penalty,
    };
    req.response_format = match &wire.response_format {
        None => None,
        Some(f) => Some(match (f.kind.as_str(), &f.json_schema) {
            ("text", _) => ResponseFormat::Text,
            ("json_object", None) => ResponseFormat::JsonObject,
            ("json_object", Some(schema)) => ResponseFormat::JsonSchema {
                name: String::new(),
                description: None,
                schema: schema.clone(),
                strict: None,
            },
            (other, _) => {
                return Err(TranslateError::invalid(
                    "response_format.type",
                    format!("unknown response format `{other}`: text or json_object"),
                ));
            }
        }),
    };
    if let Some(t) = &wire.thinking {
        req.reasoning = Some(match t.kind.as_str() {
            "enabled" => ReasoningConfig {
                budget_tokens: t.token_budget,
                include_thoughts: true,
                ..ReasoningConfig::default()
            },
            "disabled" => ReasoningConfig {
                budget_tokens: Some(0),
                ..ReasoningConfig::default()
            },
            other => {
                return Err(TranslateError::invalid(
                    "thinking.type",
                    format!("unknown thinking type `{other}`: enabled or disabled"),
                ));
            }
        });
    }
    let key = Family::Cohere.as_str();
    if !wire.documents.is_empty() {
        req.extensions
            .insert(key, "documents", Value::Array(wire.documents));
    }
    for (k, v) in wire.extra {
        if k != "patchbay" {
            req.extensions.insert(key, k, v);
        }
    }
    Ok(req)
}

/// A system message's text parts (a string, or `text` parts).
fn text_parts(content: Option<&wire::Content>, path: &str) -> Result<Vec<Part>, TranslateError> {
    match content {
        None => Ok(Vec::new()),
        Some(wire::Content::Text(t)) => Ok(vec![Part::text(t.clone())]),
        Some(wire::Content::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                match (p.kind.as_str(), &p.text) {
                    ("text", Some(t)) => out.push(Part::text(t.clone())),
                    ("text", None) => {
                        return Err(TranslateError::invalid(
                            format!("{path}.content[{j}].text"),
                            "a text part needs `text`",
                        ));
                    }
                    _ => {}
                }
            }
            Ok(out)
        }
    }
}

/// A user message's parts: text and images (`image_url`, a web or data URL).
fn user_parts(content: Option<&wire::Content>, path: &str) -> Result<Vec<Part>, TranslateError> {
    let Some(wire::Content::Parts(parts)) = content else {
        return text_parts(content, path);
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let at = format!("{path}.content[{j}]");
        match p.kind.as_str() {
            "text" => out.extend(text_parts(
                Some(&wire::Content::Parts(vec![p.clone()])),
                &at,
            )?),
            "image_url" => {
                let image = p.image_url.as_ref().ok_or_else(|| {
                    TranslateError::invalid(
                        format!("{at}.image_url"),
                        "an image_url part needs `image_url`",
                    )
                })?;
                out.push(Part::Image(Image {
                    source: media::from_url(&image.url),
                    detail: image.detail.clone(),
                    cache_control: None,
                }));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// An assistant message's parts: thinking, text, the tool plan (as text), the calls.
fn assistant_parts(msg: &wire::Message, path: &str) -> Result<Vec<Part>, TranslateError> {
    let mut out = Vec::new();
    match &msg.content {
        Some(wire::Content::Text(t)) if !t.is_empty() => out.push(Part::text(t.clone())),
        None | Some(wire::Content::Text(_)) => {}
        Some(wire::Content::Parts(parts)) => {
            for p in parts {
                out.extend(content_part(p));
            }
        }
    }
    if let Some(plan) = msg.tool_plan.as_ref().filter(|p| !p.is_empty()) {
        out.push(Part::text(plan.clone()));
    }
    for (k, call) in msg.tool_calls.iter().enumerate() {
        out.push(Part::ToolCall(tool_call(
            call,
            &format!("{path}.tool_calls[{k}]"),
        )?));
    }
    Ok(out)
}

/// The canonical part of an assistant's `text` or `thinking` part.
pub(crate) fn content_part(p: &wire::ContentPart) -> Option<Part> {
    match p.kind.as_str() {
        "text" => p.text.clone().map(Part::text),
        "thinking" => p.thinking.clone().map(|text| {
            Part::Reasoning(Reasoning {
                text,
                source: Some(Family::Cohere),
                ..Reasoning::default()
            })
        }),
        _ => None,
    }
}

/// A canonical call of a wire call (arguments default to `{}`).
pub(crate) fn tool_call(call: &wire::ToolCall, path: &str) -> Result<ToolCall, TranslateError> {
    let f = call.function.as_ref();
    let name = f.and_then(|f| f.name.clone()).ok_or_else(|| {
        TranslateError::invalid(format!("{path}.function.name"), "a call names its tool")
    })?;
    Ok(ToolCall {
        id: call.id.clone(),
        name,
        arguments: f
            .and_then(|f| f.arguments.clone())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "{}".to_owned()),
        signature: None,
    })
}

/// A tool message's content: a string, `text` parts, and `document` parts (their
/// data as JSON text).
fn tool_content(content: Option<&wire::Content>) -> Vec<Part> {
    match content {
        None => Vec::new(),
        Some(wire::Content::Text(t)) => vec![Part::text(t.clone())],
        Some(wire::Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| match (p.kind.as_str(), &p.text, &p.document) {
                ("text", Some(t), _) => Some(Part::text(t.clone())),
                ("document", _, Some(d)) => {
                    Some(Part::text(Value::Object(d.data.clone()).to_string()))
                }
                _ => None,
            })
            .collect(),
    }
}
