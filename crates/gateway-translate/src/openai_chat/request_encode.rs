//! Canonical request → an OpenAI Chat Completions upstream body (PROTOCOLS §8, Chat as
//! target).

use std::borrow::Cow;

use gateway_protocol::{
    ApiShape, ChatRequest, Document, Family, MediaSource, Message, Part, RawJson, ResponseFormat,
    Role, ToolChoice,
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::names::upstream_cow;
use crate::{ids, media};

const TARGET: &str = "openai-chat";

/// Writes the body for an OpenAI Chat upstream from any canonical request.
///
/// Tool names are shortened to OpenAI's limits (restored in answers through
/// `ResponseContext::tool_names`), tool results become `tool` messages before the rest
/// of their user turn (§8.2), system parts become one leading `system` message, and a
/// streaming request always asks for the usage chunk (§8.13).
///
/// The body is written from borrowed structs whose fields serialise in the order of
/// [`super::wire::Request`] and its parts, so the bytes are those of the owned wire types.
pub fn encode(req: &ChatRequest, _opts: &EncodeOptions) -> Result<Vec<u8>, TranslateError> {
    if let Some(b) = req.extensions.first_binding_against(ApiShape::OpenAiChat) {
        return Err(TranslateError::untranslatable(&b.path, TARGET, &b.reason));
    }
    fn name(n: &str) -> Cow<'_, str> {
        upstream_cow(ApiShape::OpenAiChat, n)
    }
    let mut w = RequestOut {
        model: &req.model,
        messages: Vec::with_capacity(req.messages.len() + 1),
        stream: None,
        stream_options: None,
        max_completion_tokens: None,
        temperature: None,
        top_p: None,
        stop: None,
        seed: None,
        presence_penalty: None,
        frequency_penalty: None,
        response_format: None,
        tools: None,
        tool_choice: None,
        parallel_tool_calls: None,
        reasoning_effort: None,
        user: None,
    };

    let system: Vec<&str> = req.system.iter().filter_map(Part::as_text).collect();
    if !system.is_empty() {
        w.messages.push(MessageOut {
            role: "system",
            content: Some(text_content(&system)),
            ..MessageOut::default()
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
                .map(|t| ToolDefOut {
                    kind: "function",
                    function: FunctionDefOut {
                        name: name(&t.name),
                        description: t.description.as_deref(),
                        parameters: t.parameters.as_ref(),
                        strict: t.strict,
                    },
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
        w.stop = Some(&s.stop);
    }
    w.response_format = req.response_format.as_ref().map(|f| match f {
        ResponseFormat::Text => ResponseFormatOut {
            kind: "text",
            json_schema: None,
        },
        ResponseFormat::JsonObject => ResponseFormatOut {
            kind: "json_object",
            json_schema: None,
        },
        ResponseFormat::JsonSchema {
            name,
            description,
            schema,
            strict,
        } => ResponseFormatOut {
            kind: "json_schema",
            json_schema: Some(JsonSchemaOut {
                // OpenAI requires a name; other shapes have none.
                name: if name.is_empty() { "response" } else { name },
                description: description.as_deref(),
                schema: Some(schema),
                strict: *strict,
            }),
        },
    });
    w.reasoning_effort = req
        .reasoning
        .as_ref()
        .and_then(|r| r.effective_effort())
        .map(|e| e.as_str());
    if req.stream {
        w.stream = Some(true);
        w.stream_options = Some(StreamOptionsOut {
            include_usage: Some(true),
        });
    }
    w.user = req.user.as_deref();

    let Some(params) = req
        .extensions
        .for_key(Family::OpenAi.as_str())
        .filter(|p| !p.is_empty())
    else {
        return Ok(crate::json::encode_sized(
            &w,
            crate::json::REQUEST_BODY_CAPACITY,
        ));
    };
    let mut body = serde_json::to_value(&w).unwrap_or(Value::Null);
    if let Value::Object(obj) = &mut body {
        for (k, v) in params {
            if !obj.contains_key(k) {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(crate::json::encode_sized(
        &body,
        crate::json::REQUEST_BODY_CAPACITY,
    ))
}

/// One text → a string; several → text parts (so decoding gives the same parts back).
fn text_content<'a>(texts: &[&'a str]) -> ContentOut<'a> {
    match texts {
        [one] => ContentOut::Text(Cow::Borrowed(one)),
        many => ContentOut::Parts(
            many.iter()
                .map(|t| PartOut {
                    kind: "text",
                    text: Some(t),
                    ..PartOut::default()
                })
                .collect(),
        ),
    }
}

/// A user turn: `tool` messages for its tool results first, then one `user` message
/// with the rest (images found in tool results lead it: Chat tool messages are text only).
fn encode_user<'a>(
    m: &'a Message,
    i: usize,
    out: &mut Vec<MessageOut<'a>>,
) -> Result<(), TranslateError> {
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
        out.push(MessageOut {
            role: "tool",
            tool_call_id: Some(ids::split_signature(&r.call_id).0),
            content: Some(ContentOut::Text(Cow::Owned(text))),
            ..MessageOut::default()
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
        ContentOut::Text(Cow::Borrowed(text))
    } else {
        let mut wparts = Vec::with_capacity(parts.len());
        for (j, p) in parts.iter().enumerate() {
            wparts.push(user_part(p, i, j)?);
        }
        ContentOut::Parts(wparts)
    };
    out.push(MessageOut {
        role: "user",
        content: Some(content),
        ..MessageOut::default()
    });
    Ok(())
}

fn part_path(i: usize, j: usize) -> String {
    format!("messages[{i}].parts[{j}]")
}

fn user_part(p: &Part, i: usize, j: usize) -> Result<PartOut<'_>, TranslateError> {
    let mut w = PartOut::default();
    match p {
        Part::Text { text, .. } => {
            w.kind = "text";
            w.text = Some(text);
        }
        Part::Image(img) => {
            if let MediaSource::FileId(_) = img.source {
                return Err(TranslateError::untranslatable(
                    part_path(i, j),
                    TARGET,
                    "images given by provider file id cannot be sent; send a URL or base64 data",
                ));
            }
            w.kind = "image_url";
            w.image_url = Some(ImageUrlOut {
                url: match &img.source {
                    MediaSource::Url(u) => Cow::Borrowed(u),
                    other => Cow::Owned(media::to_url(other)),
                },
                detail: img.detail.as_deref(),
            });
        }
        Part::Document(doc) => return document_part(doc, i, j),
        _ => {}
    }
    Ok(w)
}

fn document_part(doc: &Document, i: usize, j: usize) -> Result<PartOut<'_>, TranslateError> {
    let mut w = PartOut::default();
    match &doc.source {
        MediaSource::Base64 { media_type, data } if media_type.starts_with("audio/") => {
            let format = match media_type.as_str() {
                "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
                "audio/mpeg" | "audio/mp3" => "mp3",
                other => {
                    return Err(TranslateError::untranslatable(
                        part_path(i, j),
                        TARGET,
                        format!("audio of type `{other}` cannot be sent; use wav or mp3"),
                    ));
                }
            };
            w.kind = "input_audio";
            w.input_audio = Some(InputAudioOut { data, format });
        }
        MediaSource::Base64 { .. } => {
            w.kind = "file";
            w.file = Some(FileRefOut {
                file_data: Some(media::to_url(&doc.source)),
                file_id: None,
                filename: doc.filename.as_deref(),
            });
        }
        MediaSource::FileId(id) => {
            w.kind = "file";
            w.file = Some(FileRefOut {
                file_data: None,
                file_id: Some(id),
                filename: doc.filename.as_deref(),
            });
        }
        MediaSource::Url(_) => {
            return Err(TranslateError::untranslatable(
                part_path(i, j),
                TARGET,
                "documents given by URL cannot be sent; send them as base64 data",
            ));
        }
    }
    Ok(w)
}

/// An assistant turn: one message with its text as `content`, its tool calls, and
/// (OpenAI-made reasoning only) non-standard `reasoning_content`.
fn encode_assistant<'a>(
    m: &'a Message,
    name: &dyn Fn(&str) -> Cow<'_, str>,
    out: &mut Vec<MessageOut<'a>>,
) {
    let texts: Vec<&str> = m.parts.iter().filter_map(Part::as_text).collect();
    let reasoning: String = m
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Reasoning(r) if r.source == Some(Family::OpenAi) => Some(r.text.as_str()),
            _ => None,
        })
        .collect();
    let calls: Vec<ToolCallOut<'a>> = m
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall(c) => Some(ToolCallOut {
                id: ids::split_signature(&c.id).0,
                kind: "function",
                function: FunctionCallOut {
                    name: name(&c.name),
                    // OpenAI wants a JSON string; other shapes may leave it empty.
                    arguments: if c.arguments.trim().is_empty() {
                        "{}"
                    } else {
                        &c.arguments
                    },
                },
            }),
            _ => None,
        })
        .collect();
    if texts.is_empty() && calls.is_empty() {
        return;
    }
    out.push(MessageOut {
        role: "assistant",
        content: (!texts.is_empty()).then(|| text_content(&texts)),
        tool_calls: (!calls.is_empty()).then_some(calls),
        reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
        ..MessageOut::default()
    });
}

/// [`super::wire::Request`], borrowed, with the fields an encoded request can have (same order).
#[derive(Serialize)]
struct RequestOut<'a> {
    model: &'a str,
    messages: Vec<MessageOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptionsOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<ResponseFormatOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<ToolDefOut<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
}

/// [`super::wire::StreamOptions`].
#[derive(Serialize)]
struct StreamOptionsOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    include_usage: Option<bool>,
}

/// [`super::wire::ResponseFormat`], borrowed.
#[derive(Serialize)]
struct ResponseFormatOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    json_schema: Option<JsonSchemaOut<'a>>,
}

/// [`super::wire::JsonSchema`], borrowed.
#[derive(Serialize)]
struct JsonSchemaOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

/// [`super::wire::ToolDef`], borrowed.
#[derive(Serialize)]
struct ToolDefOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionDefOut<'a>,
}

/// [`super::wire::FunctionDef`], borrowed.
#[derive(Serialize)]
struct FunctionDefOut<'a> {
    name: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<&'a RawJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

/// [`super::wire::Message`], borrowed (the fields an encoded request uses, same order).
#[derive(Serialize, Default)]
struct MessageOut<'a> {
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<ContentOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCallOut<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
}

/// [`super::wire::Content`], borrowed.
#[derive(Serialize)]
#[serde(untagged)]
enum ContentOut<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<PartOut<'a>>),
}

/// [`super::wire::ContentPart`], borrowed.
#[derive(Serialize, Default)]
struct PartOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_url: Option<ImageUrlOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_audio: Option<InputAudioOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<FileRefOut<'a>>,
}

/// [`super::wire::ImageUrl`], borrowed.
#[derive(Serialize)]
struct ImageUrlOut<'a> {
    url: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

/// [`super::wire::InputAudio`], borrowed.
#[derive(Serialize)]
struct InputAudioOut<'a> {
    data: &'a str,
    format: &'static str,
}

/// [`super::wire::FileRef`], borrowed.
#[derive(Serialize)]
struct FileRefOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    file_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filename: Option<&'a str>,
}

/// [`super::wire::ToolCall`], borrowed.
#[derive(Serialize)]
struct ToolCallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCallOut<'a>,
}

/// [`super::wire::FunctionCall`], borrowed.
#[derive(Serialize)]
struct FunctionCallOut<'a> {
    name: Cow<'a, str>,
    arguments: &'a str,
}
