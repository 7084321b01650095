//! The conversation: Ollama `messages` ↔ canonical messages, in both directions.

use gateway_protocol::{
    ApiShape, ChatRequest, Family, Image, MediaSource, Message, Part, Reasoning, Role, ToolCall,
    ToolResult,
};

use super::convert::{arguments_object, arguments_text, sniff_image_type};
use super::request::TARGET;
use super::wire;
use crate::error::TranslateError;
use crate::{ids, media, names, turns};

/// Seed of the call ids synthesised for history tool calls that carry no `id`.
const HISTORY_ID_SEED: &str = "ollama-history";

/// A call of the latest assistant turn, for pairing `tool` messages without ids.
struct PendingCall {
    id: String,
    name: String,
    answered: bool,
}

/// Appends the canonical form of Ollama `msgs` to `req` (system text to `req.system`;
/// see [`super::request::decode`] for the pairing of tool results).
pub(crate) fn decode(msgs: &[wire::Message], req: &mut ChatRequest) -> Result<(), TranslateError> {
    let mut calls_seen = 0usize;
    let mut pending: Vec<PendingCall> = Vec::new();
    let mut last_was_tool = false;
    for (i, m) in msgs.iter().enumerate() {
        let is_tool = m.role == "tool";
        match m.role.as_str() {
            "system" => {
                if !m.images.is_empty() {
                    return Err(TranslateError::invalid(
                        format!("messages[{i}].images"),
                        "system messages cannot carry images; put them in a user message",
                    ));
                }
                if !m.content.is_empty() {
                    req.system.push(Part::text(m.content.clone()));
                }
            }
            "user" => {
                let mut parts = Vec::new();
                if !m.content.is_empty() {
                    parts.push(Part::text(m.content.clone()));
                }
                parts.extend(m.images.iter().map(|b64| image_part(b64)));
                if !parts.is_empty() {
                    req.messages.push(Message {
                        role: Role::User,
                        parts,
                    });
                }
            }
            "assistant" => {
                let mut parts = Vec::new();
                if let Some(thinking) = m.thinking.as_deref().filter(|t| !t.is_empty()) {
                    parts.push(Part::Reasoning(Reasoning {
                        text: thinking.to_owned(),
                        source: Some(Family::Ollama),
                        ..Reasoning::default()
                    }));
                }
                if !m.content.is_empty() {
                    parts.push(Part::text(m.content.clone()));
                }
                parts.extend(m.images.iter().map(|b64| image_part(b64)));
                pending.clear();
                for call in &m.tool_calls {
                    let id = match call.id.as_deref().filter(|id| !id.is_empty()) {
                        Some(id) => id.to_owned(),
                        None => ids::synthesize_call_id(HISTORY_ID_SEED, calls_seen),
                    };
                    calls_seen = calls_seen.saturating_add(1);
                    pending.push(PendingCall {
                        id: id.clone(),
                        name: call.function.name.clone(),
                        answered: false,
                    });
                    parts.push(Part::ToolCall(ToolCall {
                        id,
                        name: call.function.name.clone(),
                        arguments: arguments_text(&call.function.arguments),
                        signature: None,
                    }));
                }
                req.messages.push(Message {
                    role: Role::Assistant,
                    parts,
                });
            }
            "tool" => {
                let call_id = pair_result(m, i, &mut pending);
                let mut content = Vec::new();
                if !m.content.is_empty() {
                    content.push(Part::text(m.content.clone()));
                }
                content.extend(m.images.iter().map(|b64| image_part(b64)));
                let result = Part::ToolResult(ToolResult {
                    call_id,
                    name: m.tool_name.clone(),
                    content,
                    is_error: false,
                });
                match req.messages.last_mut() {
                    Some(last) if last_was_tool => last.parts.push(result),
                    _ => req.messages.push(Message {
                        role: Role::User,
                        parts: vec![result],
                    }),
                }
            }
            other => {
                return Err(TranslateError::invalid(
                    format!("messages[{i}].role"),
                    format!(
                        "unknown role `{other}`; Ollama roles are system, user, assistant and tool"
                    ),
                ));
            }
        }
        last_was_tool = is_tool;
    }
    Ok(())
}

/// The call id a `tool` message answers (see [`decode`]).
fn pair_result(m: &wire::Message, i: usize, pending: &mut [PendingCall]) -> String {
    if let Some(id) = m.tool_call_id.as_deref().filter(|id| !id.is_empty()) {
        if let Some(call) = pending.iter_mut().find(|c| c.id == id) {
            call.answered = true;
        }
        return id.to_owned();
    }
    let by_name = m
        .tool_name
        .as_deref()
        .and_then(|name| pending.iter().position(|c| !c.answered && c.name == name));
    let index = by_name.or_else(|| {
        if m.tool_name.is_some() {
            None
        } else {
            pending.iter().position(|c| !c.answered)
        }
    });
    match index.and_then(|k| pending.get_mut(k)) {
        Some(call) => {
            call.answered = true;
            call.id.clone()
        }
        None => ids::synthesize_call_id("ollama-unpaired-result", i),
    }
}

fn image_part(b64: &str) -> Part {
    let source = if b64.starts_with("data:") {
        media::from_url(b64)
    } else {
        MediaSource::Base64 {
            media_type: sniff_image_type(b64).to_owned(),
            data: b64.to_owned(),
        }
    };
    Part::Image(Image {
        source,
        detail: None,
        cache_control: None,
    })
}

/// Base64 data of an image, or why Ollama cannot take it.
fn image_data(image: &Image, path: &str) -> Result<String, TranslateError> {
    match &image.source {
        MediaSource::Base64 { data, .. } => Ok(data.clone()),
        MediaSource::Url(_) => Err(TranslateError::untranslatable(
            path,
            TARGET,
            "Ollama takes images as base64 only; image URLs must be downloaded and inlined \
             first (the gateway server does this before encoding for Ollama)",
        )),
        MediaSource::FileId(_) => Err(TranslateError::untranslatable(
            path,
            TARGET,
            "Ollama cannot read provider file ids; send the image inline as base64",
        )),
    }
}

fn document_error(path: String) -> TranslateError {
    TranslateError::untranslatable(
        path,
        TARGET,
        "Ollama accepts text and images only; documents and files are not supported",
    )
}

/// Writes a canonical user turn: one `tool` message per result, then one `user`
/// message with the joined text and all images (those of tool results included).
pub(crate) fn encode_user(
    req: &ChatRequest,
    i: usize,
    msg: &Message,
    out: &mut Vec<wire::Message>,
) -> Result<(), TranslateError> {
    let mut texts: Vec<&str> = Vec::new();
    let mut images: Vec<String> = Vec::new();
    for (j, part) in msg.parts.iter().enumerate() {
        let path = format!("messages[{i}].content[{j}]");
        match part {
            Part::Text { text, .. } => {
                if !text.is_empty() {
                    texts.push(text);
                }
            }
            Part::Image(image) => images.push(image_data(image, &path)?),
            Part::Document(_) => return Err(document_error(path)),
            Part::ToolResult(result) => {
                let mut content: Vec<&str> = Vec::new();
                for (k, inner) in result.content.iter().enumerate() {
                    let inner_path = format!("{path}.content[{k}]");
                    match inner {
                        Part::Text { text, .. } => content.push(text),
                        Part::Image(image) => images.push(image_data(image, &inner_path)?),
                        Part::Document(_) => return Err(document_error(inner_path)),
                        _ => {}
                    }
                }
                let mut text = content.join("\n\n");
                if result.is_error {
                    text.insert_str(0, "Error: ");
                }
                let (call_id, _) = ids::split_signature(&result.call_id);
                let tool_name = turns::find_call_name(&req.messages, call_id)
                    .or_else(|| {
                        // History ids may carry a Gemini signature; compare plain ids.
                        req.messages
                            .iter()
                            .flat_map(|m| &m.parts)
                            .find_map(|p| match p {
                                Part::ToolCall(c) if ids::split_signature(&c.id).0 == call_id => {
                                    Some(c.name.as_str())
                                }
                                _ => None,
                            })
                    })
                    .or(result.name.as_deref())
                    .map(|n| names::upstream_name(ApiShape::Ollama, n));
                out.push(wire::Message {
                    role: "tool".to_owned(),
                    content: text,
                    tool_name,
                    tool_call_id: (!call_id.is_empty()).then(|| call_id.to_owned()),
                    ..wire::Message::default()
                });
            }
            // Calls and reasoning have no place in a user turn; nothing to replay.
            Part::ToolCall(_) | Part::Reasoning(_) => {}
        }
    }
    if !texts.is_empty() || !images.is_empty() {
        out.push(wire::Message {
            role: "user".to_owned(),
            content: texts.join("\n\n"),
            images,
            ..wire::Message::default()
        });
    }
    Ok(())
}

/// Writes a canonical assistant turn as one `assistant` message (nothing if empty).
pub(crate) fn encode_assistant(
    i: usize,
    msg: &Message,
    out: &mut Vec<wire::Message>,
) -> Result<(), TranslateError> {
    let mut texts: Vec<&str> = Vec::new();
    let mut thinking: Vec<&str> = Vec::new();
    let mut images: Vec<String> = Vec::new();
    let mut tool_calls = Vec::new();
    for (j, part) in msg.parts.iter().enumerate() {
        let path = format!("messages[{i}].content[{j}]");
        match part {
            Part::Text { text, .. } => {
                if !text.is_empty() {
                    texts.push(text);
                }
            }
            // Only Ollama's own thinking is replayed (PROTOCOLS §8.9).
            Part::Reasoning(r) if r.source == Some(Family::Ollama) && !r.text.is_empty() => {
                thinking.push(&r.text);
            }
            Part::Reasoning(_) | Part::ToolResult(_) => {}
            Part::Image(image) => images.push(image_data(image, &path)?),
            Part::Document(_) => return Err(document_error(path)),
            Part::ToolCall(call) => {
                let arguments = arguments_object(&call.arguments).map_err(|m| {
                    TranslateError::untranslatable(format!("{path}.arguments"), TARGET, m)
                })?;
                let (id, _) = ids::split_signature(&call.id);
                tool_calls.push(wire::ToolCall {
                    id: (!id.is_empty()).then(|| id.to_owned()),
                    function: wire::FunctionCall {
                        index: None,
                        name: names::upstream_name(ApiShape::Ollama, &call.name),
                        arguments,
                    },
                });
            }
        }
    }
    if texts.is_empty() && thinking.is_empty() && images.is_empty() && tool_calls.is_empty() {
        return Ok(());
    }
    out.push(wire::Message {
        role: "assistant".to_owned(),
        content: texts.join("\n\n"),
        thinking: (!thinking.is_empty()).then(|| thinking.join("")),
        images,
        tool_calls,
        ..wire::Message::default()
    });
    Ok(())
}
