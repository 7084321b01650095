//! Canonical request → an OpenAI Chat Completions upstream body (PROTOCOLS §8, Chat as
//! target).

use gateway_protocol::{
    ApiShape, ChatRequest, Document, Family, MediaSource, Message, Part, ResponseFormat, Role,
    ToolChoice,
};
use serde_json::{Map, Value, json};

use super::wire;
use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::names::upstream_name;
use crate::{ids, media};

const TARGET: &str = "openai-chat";

/// Writes the body for an OpenAI Chat upstream from any canonical request.
///
/// Tool names are shortened to OpenAI's limits (restored in answers through
/// `ResponseContext::tool_names`), tool results become `tool` messages before the rest
/// of their user turn (§8.2), system parts become one leading `system` message, and a
/// streaming request always asks for the usage chunk (§8.13).
pub fn encode(req: &ChatRequest, _opts: &EncodeOptions) -> Result<Vec<u8>, TranslateError> {
    if let Some(b) = req.extensions.first_binding_against(ApiShape::OpenAiChat) {
        return Err(TranslateError::untranslatable(&b.path, TARGET, &b.reason));
    }
    let name = |n: &str| upstream_name(ApiShape::OpenAiChat, n);
    let mut w = wire::Request {
        model: req.model.clone(),
        ..wire::Request::default()
    };

    let system: Vec<&str> = req.system.iter().filter_map(Part::as_text).collect();
    if !system.is_empty() {
        w.messages.push(wire::Message {
            role: "system".to_owned(),
            content: Some(text_content(&system)),
            ..wire::Message::default()
        });
    }
    for (i, m) in req.messages.iter().enumerate() {
        match m.role {
            Role::User => encode_user(m, i, &mut w.messages)?,
            Role::Assistant => encode_assistant(m, &name, &mut w.messages),
        }
    }

    if !req.tools.is_empty() {
        w.tools = Some(
            req.tools
                .iter()
                .map(|t| wire::ToolDef {
                    kind: "function".to_owned(),
                    function: Some(wire::FunctionDef {
                        name: name(&t.name),
                        description: t.description.clone(),
                        parameters: t.parameters.clone(),
                        strict: t.strict,
                    }),
                    extra: Map::new(),
                })
                .collect(),
        );
    }
    w.tool_choice = req.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool(n) => json!({"type": "function", "function": {"name": name(n)}}),
        ToolChoice::Allowed { names, required } => json!({
            "type": "allowed_tools",
            "allowed_tools": {
                "mode": if *required { "required" } else { "auto" },
                "tools": names
                    .iter()
                    .map(|n| json!({"type": "function", "function": {"name": name(n)}}))
                    .collect::<Vec<_>>(),
            }
        }),
    });
    w.parallel_tool_calls = req.parallel_tool_calls;

    let s = &req.sampling;
    w.max_completion_tokens = s.max_output_tokens;
    w.temperature = s.temperature;
    w.top_p = s.top_p;
    w.seed = s.seed;
    w.presence_penalty = s.presence_penalty;
    w.frequency_penalty = s.frequency_penalty;
    if !s.stop.is_empty() {
        w.stop = Some(wire::Stop::Many(s.stop.clone()));
    }
    w.response_format = req.response_format.as_ref().map(|f| match f {
        ResponseFormat::Text => wire::ResponseFormat {
            kind: "text".to_owned(),
            json_schema: None,
        },
        ResponseFormat::JsonObject => wire::ResponseFormat {
            kind: "json_object".to_owned(),
            json_schema: None,
        },
        ResponseFormat::JsonSchema {
            name,
            description,
            schema,
            strict,
        } => wire::ResponseFormat {
            kind: "json_schema".to_owned(),
            json_schema: Some(wire::JsonSchema {
                // OpenAI requires a name; other shapes have none.
                name: if name.is_empty() {
                    "response".to_owned()
                } else {
                    name.clone()
                },
                description: description.clone(),
                schema: Some(schema.clone()),
                strict: *strict,
            }),
        },
    });
    w.reasoning_effort = req
        .reasoning
        .as_ref()
        .and_then(|r| r.effective_effort())
        .map(|e| e.as_str().to_owned());
    if req.stream {
        w.stream = Some(true);
        w.stream_options = Some(wire::StreamOptions {
            include_usage: Some(true),
            extra: Map::new(),
        });
    }
    w.user = req.user.clone();

    let Some(params) = req
        .extensions
        .for_key(Family::OpenAi.as_str())
        .filter(|p| !p.is_empty())
    else {
        return Ok(crate::json::encode(&w));
    };
    let mut body = serde_json::to_value(&w).unwrap_or(Value::Null);
    if let Value::Object(obj) = &mut body {
        for (k, v) in params {
            if !obj.contains_key(k) {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(crate::json::encode(&body))
}

/// One text → a string; several → text parts (so decoding gives the same parts back).
fn text_content(texts: &[&str]) -> wire::Content {
    match texts {
        [one] => wire::Content::Text((*one).to_owned()),
        many => wire::Content::Parts(
            many.iter()
                .map(|t| wire::ContentPart {
                    kind: "text".to_owned(),
                    text: Some((*t).to_owned()),
                    ..wire::ContentPart::default()
                })
                .collect(),
        ),
    }
}

/// A user turn: `tool` messages for its tool results first, then one `user` message
/// with the rest (images found in tool results lead it: Chat tool messages are text only).
fn encode_user(m: &Message, i: usize, out: &mut Vec<wire::Message>) -> Result<(), TranslateError> {
    let mut rest: Vec<&Part> = Vec::new();
    let mut moved: Vec<&Part> = Vec::new();
    for p in &m.parts {
        let Part::ToolResult(r) = p else {
            rest.push(p);
            continue;
        };
        let mut text = String::new();
        if r.is_error {
            text.push_str("Error: ");
        }
        for c in &r.content {
            match c {
                Part::Text { text: t, .. } => text.push_str(t),
                Part::Image(_) | Part::Document(_) => moved.push(c),
                _ => {}
            }
        }
        out.push(wire::Message {
            role: "tool".to_owned(),
            tool_call_id: Some(ids::split_signature(&r.call_id).0.to_owned()),
            content: Some(wire::Content::Text(text)),
            ..wire::Message::default()
        });
    }
    moved.extend(rest);
    let parts: Vec<&Part> = moved
        .into_iter()
        .filter(|p| matches!(p, Part::Text { .. } | Part::Image(_) | Part::Document(_)))
        .collect();
    if parts.is_empty() {
        return Ok(());
    }
    let content = if let [Part::Text { text, .. }] = parts.as_slice() {
        wire::Content::Text(text.clone())
    } else {
        let mut wparts = Vec::with_capacity(parts.len());
        for (j, p) in parts.iter().enumerate() {
            wparts.push(user_part(p, &format!("messages[{i}].parts[{j}]"))?);
        }
        wire::Content::Parts(wparts)
    };
    out.push(wire::Message {
        role: "user".to_owned(),
        content: Some(content),
        ..wire::Message::default()
    });
    Ok(())
}

fn user_part(p: &Part, path: &str) -> Result<wire::ContentPart, TranslateError> {
    let mut w = wire::ContentPart::default();
    match p {
        Part::Text { text, .. } => {
            w.kind = "text".to_owned();
            w.text = Some(text.clone());
        }
        Part::Image(img) => {
            if let MediaSource::FileId(_) = img.source {
                return Err(TranslateError::untranslatable(
                    path,
                    TARGET,
                    "images given by provider file id cannot be sent; send a URL or base64 data",
                ));
            }
            w.kind = "image_url".to_owned();
            w.image_url = Some(wire::ImageUrl {
                url: media::to_url(&img.source),
                detail: img.detail.clone(),
            });
        }
        Part::Document(doc) => return document_part(doc, path),
        _ => {}
    }
    Ok(w)
}

fn document_part(doc: &Document, path: &str) -> Result<wire::ContentPart, TranslateError> {
    let mut w = wire::ContentPart::default();
    match &doc.source {
        MediaSource::Base64 { media_type, data } if media_type.starts_with("audio/") => {
            let format = match media_type.as_str() {
                "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
                "audio/mpeg" | "audio/mp3" => "mp3",
                other => {
                    return Err(TranslateError::untranslatable(
                        path,
                        TARGET,
                        format!("audio of type `{other}` cannot be sent; use wav or mp3"),
                    ));
                }
            };
            w.kind = "input_audio".to_owned();
            w.input_audio = Some(wire::InputAudio {
                data: data.clone(),
                format: format.to_owned(),
            });
        }
        MediaSource::Base64 { .. } => {
            w.kind = "file".to_owned();
            w.file = Some(wire::FileRef {
                file_data: Some(media::to_url(&doc.source)),
                file_id: None,
                filename: doc.filename.clone(),
            });
        }
        MediaSource::FileId(id) => {
            w.kind = "file".to_owned();
            w.file = Some(wire::FileRef {
                file_data: None,
                file_id: Some(id.clone()),
                filename: doc.filename.clone(),
            });
        }
        MediaSource::Url(_) => {
            return Err(TranslateError::untranslatable(
                path,
                TARGET,
                "documents given by URL cannot be sent; send them as base64 data",
            ));
        }
    }
    Ok(w)
}

/// An assistant turn: one message with its text as `content`, its tool calls, and
/// (OpenAI-made reasoning only) non-standard `reasoning_content`.
fn encode_assistant(m: &Message, name: &dyn Fn(&str) -> String, out: &mut Vec<wire::Message>) {
    let texts: Vec<&str> = m.parts.iter().filter_map(Part::as_text).collect();
    let reasoning: String = m
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Reasoning(r) if r.source == Some(Family::OpenAi) => Some(r.text.as_str()),
            _ => None,
        })
        .collect();
    let calls: Vec<wire::ToolCall> = m
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall(c) => Some(wire::ToolCall {
                id: ids::split_signature(&c.id).0.to_owned(),
                kind: "function".to_owned(),
                function: wire::FunctionCall {
                    name: name(&c.name),
                    // OpenAI wants a JSON string; other shapes may leave it empty.
                    arguments: if c.arguments.trim().is_empty() {
                        "{}".to_owned()
                    } else {
                        c.arguments.clone()
                    },
                },
            }),
            _ => None,
        })
        .collect();
    if texts.is_empty() && calls.is_empty() {
        return;
    }
    out.push(wire::Message {
        role: "assistant".to_owned(),
        content: (!texts.is_empty()).then(|| text_content(&texts)),
        tool_calls: (!calls.is_empty()).then_some(calls),
        reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
        ..wire::Message::default()
    });
}
