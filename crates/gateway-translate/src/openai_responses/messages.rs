//! The conversation: Responses input items ↔ canonical messages, in both directions: message items with their content parts,
//! `function_call`, `function_call_output` and `reasoning` items, in order.

use gateway_protocol::{
    ApiShape, BindingField, ChatRequest, Document, Family, Image, MediaSource, Message, Part,
    Reasoning, Role, ToolCall, ToolResult,
};
use serde_json::Value;

use super::paths::{invalid, parse_at};
use super::wire;
use crate::error::TranslateError;
use crate::{ids, media};

/// Item types that refer to OpenAI server state or hosted tools: accepted, but they
/// bind the request to OpenAI.
const BINDING_ITEMS: [&str; 18] = [
    "item_reference",
    "web_search_call",
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "code_interpreter_call",
    "image_generation_call",
    "local_shell_call",
    "local_shell_call_output",
    "shell_call",
    "shell_call_output",
    "apply_patch_call",
    "apply_patch_call_output",
    "mcp_call",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "custom_tool_call",
];

/// Decodes the input item at `path` into `req` (messages or system parts).
pub(crate) fn decode_item(
    value: &Value,
    path: &str,
    req: &mut ChatRequest,
) -> Result<(), TranslateError> {
    let obj = value
        .as_object()
        .ok_or_else(|| invalid(path, "an input item must be an object"))?;
    let kind = match obj.get("type") {
        None | Some(Value::Null) => "message",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(invalid(format!("{path}.type"), "`type` must be a string")),
    };
    match kind {
        "message" => decode_message(value, path, req),
        "function_call" => {
            let call: wire::FunctionCallItem = parse_at(value, path)?;
            let (id, signature) = ids::split_signature(&call.call_id);
            push_assistant(
                req,
                vec![Part::ToolCall(ToolCall {
                    id: id.to_owned(),
                    name: call.name,
                    arguments: call.arguments,
                    signature,
                })],
            );
            Ok(())
        }
        "function_call_output" => {
            let out: wire::FunctionCallOutputItem = parse_at(value, path)?;
            let content = match &out.output {
                Value::String(s) => vec![Part::text(s.clone())],
                Value::Array(parts) => {
                    let mut content = Vec::with_capacity(parts.len());
                    for (j, p) in parts.iter().enumerate() {
                        content.extend(decode_part(p, &format!("{path}.output[{j}]"), true)?);
                    }
                    content
                }
                _ => {
                    return Err(invalid(
                        format!("{path}.output"),
                        "`output` must be a string or a list of input parts",
                    ));
                }
            };
            let (id, _) = ids::split_signature(&out.call_id);
            crate::turns::push_tool_result(
                req,
                Part::ToolResult(ToolResult {
                    call_id: id.to_owned(),
                    name: None,
                    content,
                    is_error: false,
                }),
            );
            Ok(())
        }
        "reasoning" => {
            let item: wire::ReasoningItem = parse_at(value, path)?;
            push_assistant(req, vec![Part::Reasoning(reasoning_from_item(item))]);
            Ok(())
        }
        t if is_binding_item(t) => {
            req.extensions.binding.push(BindingField {
                only_shape: Some(ApiShape::OpenAiResponses),
                family: Family::OpenAi,
                path: path.to_owned(),
                reason: format!(
                    "input item type `{t}` refers to OpenAI server-side state or a hosted tool"
                ),
            });
            Ok(())
        }
        other => Err(invalid(
            format!("{path}.type"),
            format!(
                "unknown input item type `{other}`; expected message, function_call, \
                 function_call_output or reasoning"
            ),
        )),
    }
}

/// Whether an input item type binds the request to OpenAI.
pub(crate) fn is_binding_item(t: &str) -> bool {
    BINDING_ITEMS.contains(&t) || t.ends_with("_call") || t.ends_with("_call_output")
}

/// A canonical reasoning part from a `reasoning` item (summary texts joined by a blank
/// line; raw reasoning text when there is no summary).
pub(crate) fn reasoning_from_item(item: wire::ReasoningItem) -> Reasoning {
    let mut texts: Vec<String> = item.summary.into_iter().map(|s| s.text).collect();
    if texts.is_empty() {
        texts = item
            .content
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.text)
            .collect();
    }
    Reasoning {
        text: texts.join("\n\n"),
        signature: None,
        redacted: item.encrypted_content,
        id: (!item.id.is_empty()).then_some(item.id),
        source: Some(Family::OpenAi),
    }
}

fn decode_message(value: &Value, path: &str, req: &mut ChatRequest) -> Result<(), TranslateError> {
    let head: wire::MessageHeader = parse_at(value, path)?;
    let role = head.role.as_str();
    if !matches!(role, "user" | "assistant" | "system" | "developer") {
        return Err(invalid(
            format!("{path}.role"),
            format!("unknown role `{role}`; expected user, assistant, system or developer"),
        ));
    }
    let parts = match &head.content {
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::String(s) => vec![Part::text(s.clone())],
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for (j, p) in items.iter().enumerate() {
                parts.extend(decode_part(p, &format!("{path}.content[{j}]"), false)?);
            }
            parts
        }
        _ => {
            return Err(invalid(
                format!("{path}.content"),
                "`content` must be a string or a list of content parts",
            ));
        }
    };
    match role {
        "system" | "developer" => req.system.extend(parts),
        "assistant" => push_assistant(req, parts),
        _ if parts.is_empty() => {
            return Err(invalid(
                format!("{path}.content"),
                "a user message must not be empty",
            ));
        }
        _ => req.messages.push(Message {
            role: Role::User,
            parts,
        }),
    }
    Ok(())
}

/// One content part (`None` for an empty text, which is dropped).
fn decode_part(
    value: &Value,
    path: &str,
    tool_output: bool,
) -> Result<Option<Part>, TranslateError> {
    let kind = value.get("type").and_then(Value::as_str).ok_or_else(|| {
        invalid(
            format!("{path}.type"),
            "a content part needs a string `type`",
        )
    })?;
    let part = match kind {
        "input_text" | "output_text" if !tool_output || kind == "input_text" => {
            let t: wire::TextPart = parse_at(value, path)?;
            if t.text.is_empty() {
                return Ok(None);
            }
            Part::text(t.text)
        }
        "refusal" if !tool_output => {
            let r: wire::RefusalPart = parse_at(value, path)?;
            Part::text(r.refusal)
        }
        "input_image" => {
            let img: wire::InputImage = parse_at(value, path)?;
            let source = match (img.image_url, img.file_id) {
                (Some(url), _) => {
                    if url.starts_with("data:") {
                        media::parse_data_url(&url)
                            .map_err(|m| invalid(format!("{path}.image_url"), m))?
                    } else {
                        MediaSource::Url(url)
                    }
                }
                (None, Some(id)) => MediaSource::FileId(id),
                (None, None) => {
                    return Err(invalid(
                        format!("{path}.image_url"),
                        "an input_image needs `image_url` or `file_id`",
                    ));
                }
            };
            Part::Image(Image {
                source,
                detail: img.detail,
                cache_control: None,
            })
        }
        "input_file" => {
            let f: wire::InputFile = parse_at(value, path)?;
            let source = match (f.file_data, f.file_url, f.file_id) {
                (Some(data), _, _) => {
                    if data.starts_with("data:") {
                        media::parse_data_url(&data)
                            .map_err(|m| invalid(format!("{path}.file_data"), m))?
                    } else {
                        MediaSource::Base64 {
                            media_type: media_type_for(f.filename.as_deref()).to_owned(),
                            data,
                        }
                    }
                }
                (None, Some(url), _) => MediaSource::Url(url),
                (None, None, Some(id)) => MediaSource::FileId(id),
                (None, None, None) => {
                    return Err(invalid(
                        format!("{path}.file_data"),
                        "an input_file needs `file_data`, `file_url` or `file_id`",
                    ));
                }
            };
            Part::Document(Document {
                source,
                filename: f.filename,
                title: None,
                cache_control: None,
            })
        }
        other => {
            return Err(invalid(
                format!("{path}.type"),
                format!("unknown content part type `{other}`"),
            ));
        }
    };
    Ok(Some(part))
}

/// The MIME type of a bare-base64 file from its name.
fn media_type_for(filename: Option<&str>) -> &'static str {
    let ext = filename
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("md") => "text/markdown",
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Appends model-side parts to a trailing assistant message, or starts one (an output
/// turn is a run of reasoning, message and function_call items).
pub(crate) fn push_assistant(req: &mut ChatRequest, parts: Vec<Part>) {
    match req.messages.last_mut() {
        Some(last) if last.role == Role::Assistant => last.parts.extend(parts),
        _ => req.messages.push(Message {
            role: Role::Assistant,
            parts,
        }),
    }
}

/// Canonical messages → input items, in order.
pub(crate) fn encode_messages(messages: &[Message], out: &mut Vec<Value>) {
    for msg in messages {
        let role = match msg.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut pending: Vec<wire::ContentPart> = Vec::new();
        for part in &msg.parts {
            match part {
                Part::Text { text, .. } if text.is_empty() => {}
                Part::Text { text, .. } => pending.push(match msg.role {
                    Role::User => {
                        wire::ContentPart::InputText(wire::TextPart { text: text.clone() })
                    }
                    Role::Assistant => wire::ContentPart::OutputText(wire::OutputText {
                        text: text.clone(),
                        annotations: Vec::new(),
                    }),
                }),
                Part::Image(img) if msg.role == Role::User => pending.push(encode_image(img)),
                Part::Document(doc) if msg.role == Role::User => pending.push(encode_document(doc)),
                Part::Image(_) | Part::Document(_) => {}
                Part::ToolCall(call) => {
                    flush(role, &mut pending, out);
                    let (id, _) = ids::split_signature(&call.id);
                    out.push(item_value(wire::Item::FunctionCall(
                        wire::FunctionCallItem {
                            id: None,
                            call_id: id.to_owned(),
                            name: crate::names::upstream_name(
                                gateway_protocol::ApiShape::OpenAiResponses,
                                &call.name,
                            ),
                            arguments: if call.arguments.is_empty() {
                                "{}".to_owned()
                            } else {
                                call.arguments.clone()
                            },
                            status: None,
                        },
                    )));
                }
                Part::ToolResult(result) => {
                    flush(role, &mut pending, out);
                    let (id, _) = ids::split_signature(&result.call_id);
                    out.push(item_value(wire::Item::FunctionCallOutput(
                        wire::FunctionCallOutputItem {
                            call_id: id.to_owned(),
                            output: encode_tool_output(&result.content),
                        },
                    )));
                }
                Part::Reasoning(r) => {
                    if let Some(item) = reasoning_item(r) {
                        flush(role, &mut pending, out);
                        out.push(item_value(wire::Item::Reasoning(item)));
                    }
                }
            }
        }
        flush(role, &mut pending, out);
    }
}

/// The replayable `reasoning` item of an OpenAI reasoning part (others are dropped:
/// their ids and signatures mean nothing to OpenAI).
fn reasoning_item(r: &Reasoning) -> Option<wire::ReasoningItem> {
    if r.source != Some(Family::OpenAi) {
        return None;
    }
    let id = r.id.clone()?;
    Some(wire::ReasoningItem {
        id,
        summary: summary_parts(&r.text),
        content: None,
        encrypted_content: r.redacted.clone().or_else(|| r.signature.clone()),
    })
}

/// `[{type:"summary_text", text}]`, or nothing for empty text.
pub(crate) fn summary_parts(text: &str) -> Vec<wire::SummaryText> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![wire::SummaryText {
            kind: "summary_text".to_owned(),
            text: text.to_owned(),
        }]
    }
}

fn flush(role: &str, pending: &mut Vec<wire::ContentPart>, out: &mut Vec<Value>) {
    if pending.is_empty() {
        return;
    }
    out.push(item_value(wire::Item::Message(wire::MessageItem {
        id: None,
        role: role.to_owned(),
        status: None,
        content: std::mem::take(pending),
    })));
}

/// System parts after the first (which becomes `instructions`) as one developer message.
pub(crate) fn encode_developer(parts: &[Part]) -> Option<Value> {
    let content: Vec<wire::ContentPart> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } if !text.is_empty() => {
                Some(wire::ContentPart::InputText(wire::TextPart {
                    text: text.clone(),
                }))
            }
            Part::Image(img) => Some(encode_image(img)),
            Part::Document(doc) => Some(encode_document(doc)),
            _ => None,
        })
        .collect();
    (!content.is_empty()).then(|| {
        item_value(wire::Item::Message(wire::MessageItem {
            id: None,
            role: "developer".to_owned(),
            status: None,
            content,
        }))
    })
}

fn encode_tool_output(content: &[Part]) -> Value {
    match content {
        [] => Value::String(String::new()),
        [Part::Text { text, .. }] => Value::String(text.clone()),
        parts => Value::Array(
            parts
                .iter()
                .filter_map(|p| match p {
                    Part::Text { text, .. } => Some(wire::ContentPart::InputText(wire::TextPart {
                        text: text.clone(),
                    })),
                    Part::Image(img) => Some(encode_image(img)),
                    Part::Document(doc) => Some(encode_document(doc)),
                    _ => None,
                })
                .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
                .collect(),
        ),
    }
}

fn encode_image(img: &Image) -> wire::ContentPart {
    let (image_url, file_id) = match &img.source {
        MediaSource::FileId(id) => (None, Some(id.clone())),
        other => (Some(media::to_url(other)), None),
    };
    wire::ContentPart::InputImage(wire::InputImage {
        image_url,
        file_id,
        detail: Some(img.detail.clone().unwrap_or_else(|| "auto".to_owned())),
    })
}

fn encode_document(doc: &Document) -> wire::ContentPart {
    let mut file = wire::InputFile {
        file_data: None,
        file_id: None,
        file_url: None,
        filename: doc.filename.clone(),
    };
    match &doc.source {
        MediaSource::Base64 { media_type, .. } => {
            file.file_data = Some(media::to_url(&doc.source));
            // OpenAI requires a file name with inline data.
            if file.filename.is_none() {
                let ext = match media_type.as_str() {
                    "application/pdf" => "pdf",
                    "text/plain" => "txt",
                    _ => "bin",
                };
                file.filename = Some(format!("document.{ext}"));
            }
        }
        MediaSource::Url(url) => file.file_url = Some(url.clone()),
        MediaSource::FileId(id) => file.file_id = Some(id.clone()),
    }
    wire::ContentPart::InputFile(file)
}

fn item_value(item: wire::Item) -> Value {
    serde_json::to_value(item).unwrap_or(Value::Null)
}
