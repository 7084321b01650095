//! Canonical [`ChatRequest`] → a `/v2/chat` body for a Cohere upstream.

use base64::Engine as _;
use gateway_protocol::{
    ApiShape, ChatRequest, Document, Family, MediaSource, Part, ResponseFormat, Role, ToolChoice,
};
use serde_json::{Map, Value, json};

use super::request::TARGET;
use super::wire;
use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::{json, media, names, turns};

/// The top-level fields [`wire::Request`] writes itself.
const TYPED_FIELDS: [&str; 17] = [
    "model",
    "messages",
    "tools",
    "strict_tools",
    "documents",
    "response_format",
    "max_tokens",
    "stop_sequences",
    "temperature",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "k",
    "p",
    "tool_choice",
    "thinking",
    "stream",
];

/// Writes a `/v2/chat` body.
///
/// System parts become one `system` message; tool results become `tool` messages
/// (before the rest of their user turn, as Cohere wants them right after the calls);
/// an assistant turn with calls sends its text as the `tool_plan` (the form Cohere
/// documents for replaying a tool-calling turn). Cohere's tool choice has `REQUIRED`
/// and `NONE` only: a named tool (or an allowed list) keeps only those tools and, when
/// a call is required, sends `REQUIRED`. Text documents (base64 `text/*` or JSON) go
/// to the top-level `documents`; other documents and media Cohere cannot read are
/// refused with the path. Reasoning becomes `thinking` (`token_budget` when the caller
/// gave a budget or an effort); only Cohere's own thinking is replayed.
///
/// Lossy by design: the user id, `parallel_tool_calls`, cache hints and a tool
/// result's error flag have no Cohere field and are dropped; a JSON schema's name and
/// description too (Cohere takes the schema alone). Carried `params["cohere"]` fields
/// are added at the top level.
pub fn encode(req: &ChatRequest, _opts: &EncodeOptions) -> Result<Vec<u8>, TranslateError> {
    if let Some(b) = req.extensions.first_binding_against(ApiShape::Cohere) {
        return Err(TranslateError::untranslatable(&b.path, TARGET, &b.reason));
    }
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    let mut documents = Vec::new();
    let system = system_message(&req.system)?;
    messages.extend(system);

    let replayable = |p: &Part| match p {
        Part::Reasoning(r) => {
            r.source == Some(Family::Cohere) && r.redacted.is_none() && !r.text.is_empty()
        }
        Part::Text { text, .. } => !text.is_empty(),
        _ => true,
    };
    for (i, (role, parts)) in turns::alternate_refs(&req.messages, replayable)
        .into_iter()
        .enumerate()
    {
        let path = format!("messages[{i}]");
        match role {
            Role::User => user_turn(&parts, &path, &mut messages, &mut documents)?,
            Role::Assistant => messages.push(assistant_turn(&parts, &path)?),
        }
    }

    let s = &req.sampling;
    let (tools, tool_choice) = tools(req)?;
    let mut body = wire::Request {
        model: req.model.clone(),
        messages,
        strict_tools: (!tools.is_empty() && req.tools.iter().any(|t| t.strict == Some(true)))
            .then_some(true),
        tools,
        documents,
        response_format: match &req.response_format {
            None => None,
            Some(ResponseFormat::Text) => Some(wire::ResponseFormat {
                kind: "text".to_owned(),
                json_schema: None,
            }),
            Some(ResponseFormat::JsonObject) => Some(wire::ResponseFormat {
                kind: "json_object".to_owned(),
                json_schema: None,
            }),
            Some(ResponseFormat::JsonSchema { schema, .. }) => Some(wire::ResponseFormat {
                kind: "json_object".to_owned(),
                json_schema: Some(schema.clone()),
            }),
        },
        max_tokens: s.max_output_tokens,
        stop_sequences: s.stop.clone(),
        temperature: s.temperature,
        seed: s.seed,
        frequency_penalty: s.frequency_penalty,
        presence_penalty: s.presence_penalty,
        k: s.top_k,
        p: s.top_p,
        tool_choice,
        thinking: req.reasoning.as_ref().and_then(|r| {
            match r.effective_budget() {
                Some(0) => Some(wire::Thinking {
                    kind: "disabled".to_owned(),
                    token_budget: None,
                }),
                Some(budget) => Some(wire::Thinking {
                    kind: "enabled".to_owned(),
                    token_budget: Some(budget),
                }),
                // Thoughts asked for with no budget: the model's own.
                None => r.include_thoughts.then(|| wire::Thinking {
                    kind: "enabled".to_owned(),
                    token_budget: None,
                }),
            }
        }),
        stream: req.stream,
        extra: Map::new(),
    };
    if let Some(params) = req.extensions.for_key(Family::Cohere.as_str()) {
        for (k, v) in params {
            match (k.as_str(), v) {
                ("documents", Value::Array(docs)) => body.documents.extend(docs.iter().cloned()),
                // The typed fields come from the canonical request; a carried copy
                // would write the key twice.
                (k, _) if TYPED_FIELDS.contains(&k) => {}
                _ => {
                    body.extra.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Ok(json::encode_sized(&body, json::REQUEST_BODY_CAPACITY))
}

/// The system parts as one `system` message (text only).
fn system_message(system: &[Part]) -> Result<Option<wire::Message>, TranslateError> {
    let mut texts = Vec::with_capacity(system.len());
    for (j, part) in system.iter().enumerate() {
        match part {
            Part::Text { text, .. } if text.is_empty() => {}
            Part::Text { text, .. } => texts.push(text.clone()),
            _ => {
                return Err(TranslateError::untranslatable(
                    format!("system[{j}]"),
                    TARGET,
                    "Cohere system messages carry text only",
                ));
            }
        }
    }
    Ok(match texts.len() {
        0 => None,
        1 => Some(message(
            "system",
            Some(wire::Content::Text(texts.remove(0))),
        )),
        _ => Some(message(
            "system",
            Some(wire::Content::Parts(
                texts.into_iter().map(text_part).collect(),
            )),
        )),
    })
}

fn message(role: &str, content: Option<wire::Content>) -> wire::Message {
    wire::Message {
        role: role.to_owned(),
        content,
        ..wire::Message::default()
    }
}

fn text_part(text: String) -> wire::ContentPart {
    wire::ContentPart {
        kind: "text".to_owned(),
        text: Some(text),
        ..wire::ContentPart::default()
    }
}

/// A user turn: its tool results as `tool` messages, then its text and images as one
/// `user` message (a string when it is one text).
fn user_turn(
    parts: &[&Part],
    path: &str,
    messages: &mut Vec<wire::Message>,
    documents: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    let mut content = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let at = format!("{path}.content[{j}]");
        match part {
            Part::ToolResult(result) => {
                let mut texts = Vec::with_capacity(result.content.len());
                for (k, p) in result.content.iter().enumerate() {
                    match p {
                        Part::Text { text, .. } => texts.push(text.as_str()),
                        _ => {
                            return Err(TranslateError::untranslatable(
                                format!("{at}.content[{k}]"),
                                TARGET,
                                "a Cohere tool result holds text and documents, not media",
                            ));
                        }
                    }
                }
                messages.push(wire::Message {
                    tool_call_id: Some(result.call_id.clone()),
                    ..message("tool", Some(wire::Content::Text(texts.concat())))
                });
            }
            Part::Text { text, .. } => content.push(text_part(text.clone())),
            Part::Image(image) => {
                if let MediaSource::FileId(_) = image.source {
                    return Err(TranslateError::untranslatable(
                        at,
                        TARGET,
                        "Cohere has no file ids: send the image as a URL or a base64 data URL",
                    ));
                }
                content.push(wire::ContentPart {
                    kind: "image_url".to_owned(),
                    image_url: Some(wire::ImageUrl {
                        url: media::to_url(&image.source),
                        detail: image.detail.clone(),
                    }),
                    ..wire::ContentPart::default()
                });
            }
            Part::Document(doc) => documents.push(document(doc, documents.len(), &at)?),
            Part::ToolCall(_) | Part::Reasoning(_) => {
                return Err(TranslateError::invalid(
                    at,
                    "a user turn cannot hold tool calls or reasoning",
                ));
            }
        }
    }
    if content.is_empty() {
        return Ok(());
    }
    let content = match content.as_slice() {
        [only] if only.kind == "text" => wire::Content::Text(only.text.clone().unwrap_or_default()),
        _ => wire::Content::Parts(content),
    };
    messages.push(message("user", Some(content)));
    Ok(())
}

/// A text document (base64 `text/*` or JSON) as a top-level Cohere document.
fn document(doc: &Document, n: usize, path: &str) -> Result<Value, TranslateError> {
    let refuse = |why: &str| TranslateError::untranslatable(path, TARGET, why);
    let MediaSource::Base64 { media_type, data } = &doc.source else {
        return Err(refuse(
            "Cohere takes documents as text: send the document inline (base64), not by URL or file id",
        ));
    };
    if !(media_type.starts_with("text/") || media_type == "application/json") {
        return Err(refuse(&format!(
            "Cohere takes text documents, not `{media_type}`"
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| TranslateError::invalid(path, "the document's data is not base64"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| TranslateError::invalid(path, "the document is not UTF-8 text"))?;
    let mut data = Map::new();
    if let Some(title) = doc.title.as_ref().or(doc.filename.as_ref()) {
        data.insert("title".into(), json!(title));
    }
    data.insert("text".into(), json!(text));
    Ok(json!({ "id": format!("doc_{n}"), "data": data }))
}

/// An assistant turn: thinking and text as content, or, with calls, the text as the
/// tool plan.
fn assistant_turn(parts: &[&Part], path: &str) -> Result<wire::Message, TranslateError> {
    let has_calls = parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    let mut content = Vec::new();
    let mut plan = String::new();
    let mut tool_calls = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        match part {
            Part::Text { text, .. } if has_calls => plan.push_str(text),
            Part::Text { text, .. } => content.push(text_part(text.clone())),
            Part::Reasoning(r) => content.push(wire::ContentPart {
                kind: "thinking".to_owned(),
                thinking: Some(r.text.clone()),
                ..wire::ContentPart::default()
            }),
            Part::ToolCall(call) => tool_calls.push(wire::ToolCall {
                id: call.id.clone(),
                kind: Some("function".to_owned()),
                function: Some(wire::FunctionCall {
                    name: Some(names::upstream_name(ApiShape::Cohere, &call.name)),
                    arguments: Some(if call.arguments.trim().is_empty() {
                        "{}".to_owned()
                    } else {
                        call.arguments.clone()
                    }),
                }),
            }),
            Part::Image(_) | Part::Document(_) | Part::ToolResult(_) => {
                return Err(TranslateError::untranslatable(
                    format!("{path}.content[{j}]"),
                    TARGET,
                    "a Cohere assistant message holds text, thinking and tool calls",
                ));
            }
        }
    }
    let content = match content.as_slice() {
        [] => None,
        [only] if only.kind == "text" => {
            Some(wire::Content::Text(only.text.clone().unwrap_or_default()))
        }
        _ => Some(wire::Content::Parts(content)),
    };
    Ok(wire::Message {
        tool_calls,
        tool_plan: (!plan.is_empty()).then_some(plan),
        ..message("assistant", content)
    })
}

/// The tools and the tool choice.
fn tools(req: &ChatRequest) -> Result<(Vec<wire::Tool>, Option<String>), TranslateError> {
    if req.tools.is_empty() {
        return Ok((Vec::new(), None));
    }
    let required = || Some("REQUIRED".to_owned());
    let (keep, choice): (Option<Vec<&str>>, Option<String>) = match &req.tool_choice {
        None | Some(ToolChoice::Auto) => (None, None),
        Some(ToolChoice::Required) => (None, required()),
        Some(ToolChoice::None) => (None, Some("NONE".to_owned())),
        Some(ToolChoice::Tool(name)) => {
            if !req.tools.iter().any(|t| &t.name == name) {
                return Err(TranslateError::untranslatable(
                    "tool_choice",
                    TARGET,
                    format!("tool_choice names `{name}`, which is not among the tools"),
                ));
            }
            (Some(vec![name.as_str()]), required())
        }
        Some(ToolChoice::Allowed { names, required: r }) => (
            Some(names.iter().map(String::as_str).collect()),
            if *r { required() } else { None },
        ),
    };
    let tools = req
        .tools
        .iter()
        .filter(|t| keep.as_ref().is_none_or(|k| k.contains(&t.name.as_str())))
        .map(|t| wire::Tool {
            kind: "function".to_owned(),
            function: Some(wire::Function {
                name: names::upstream_name(ApiShape::Cohere, &t.name),
                description: t.description.clone().filter(|d| !d.is_empty()),
                parameters: t.parameters.as_ref().map_or_else(
                    || json!({"type": "object", "properties": {}}),
                    |p| p.to_value(),
                ),
            }),
        })
        .collect();
    Ok((tools, choice))
}
