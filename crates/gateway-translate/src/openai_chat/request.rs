//! Chat Completions requests: a caller's body → canonical, and canonical → an
//! upstream body.

use gateway_protocol::{
    BindingField, ChatRequest, Document, Effort, Family, Image, MediaSource, Message, Part,
    ReasoningConfig, ResponseFormat, Role, Tool, ToolCall, ToolChoice, ToolResult,
};
use serde_json::{Map, Value};

use super::wire;
use crate::error::TranslateError;
use crate::{ids, json, media};

pub use super::request_encode::encode;

/// Fields only OpenAI understands that change the answer; the value test says when
/// a present field binds (e.g. `n` only above 1).
const BINDING: [(&str, &str); 6] = [
    (
        "n",
        "several choices (`n` > 1) can only be produced by OpenAI",
    ),
    (
        "logprobs",
        "log probabilities can only be produced by OpenAI",
    ),
    ("audio", "audio output can only be produced by OpenAI"),
    (
        "modalities",
        "non-text output modalities can only be produced by OpenAI",
    ),
    ("prediction", "predicted outputs are an OpenAI-only feature"),
    (
        "web_search_options",
        "the hosted web search tool is an OpenAI-only feature",
    ),
];

/// Reads a caller's Chat Completions body into the canonical request.
pub fn decode(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let w: wire::Request = json::decode_request(body)?;
    let mut req = ChatRequest {
        model: w.model,
        stream: w.stream.unwrap_or(false),
        parallel_tool_calls: w.parallel_tool_calls,
        user: w.user,
        ..ChatRequest::default()
    };
    req.include_usage = req.stream
        && w.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);

    decode_messages(&w.messages, &mut req)?;

    let s = &mut req.sampling;
    s.max_output_tokens = w.max_completion_tokens.or(w.max_tokens);
    s.temperature = w.temperature;
    s.top_p = w.top_p;
    s.seed = w.seed;
    s.presence_penalty = w.presence_penalty;
    s.frequency_penalty = w.frequency_penalty;
    s.stop = match w.stop {
        Some(wire::Stop::One(one)) => vec![one],
        Some(wire::Stop::Many(many)) => many,
        None => Vec::new(),
    };

    if let Some(rf) = w.response_format {
        req.response_format = Some(decode_response_format(rf)?);
    }
    if let Some(effort) = w.reasoning_effort {
        let effort = Effort::parse(&effort).ok_or_else(|| {
            TranslateError::invalid(
                "reasoning_effort",
                format!(
                    "unknown reasoning effort `{effort}`; use none, minimal, low, medium, high, xhigh or max"
                ),
            )
        })?;
        req.reasoning = Some(ReasoningConfig {
            effort: Some(effort),
            budget_tokens: None,
            include_thoughts: false,
        });
    }

    decode_tools(w.tools, w.functions, &mut req)?;
    if let Some(choice) = &w.tool_choice {
        req.tool_choice = Some(decode_tool_choice(choice, "tool_choice")?);
    } else if let Some(choice) = &w.function_call {
        req.tool_choice = Some(decode_tool_choice(choice, "function_call")?);
    }

    decode_extra(w.extra, &mut req)?;
    Ok(req)
}

/// Unknown top-level fields → `extensions.params["openai"]`, binding fields flagged,
/// and the `patchbay.ext` key merged per provider.
fn decode_extra(extra: Map<String, Value>, req: &mut ChatRequest) -> Result<(), TranslateError> {
    let family = Family::OpenAi.as_str();
    for (key, value) in extra {
        if key == "patchbay" {
            merge_patchbay(&value, req)?;
            continue;
        }
        if let Some((_, reason)) = BINDING.iter().find(|(k, _)| *k == key) {
            if binds(&key, &value) {
                req.extensions.binding.push(BindingField {
                    only_shape: None,
                    family: Family::OpenAi,
                    path: key.clone(),
                    reason: (*reason).to_owned(),
                });
            }
        }
        req.extensions.insert(family, key, value);
    }
    Ok(())
}

/// Whether a present binding field actually changes the answer.
fn binds(key: &str, value: &Value) -> bool {
    match key {
        "n" => value.as_u64().is_none_or(|n| n > 1),
        "logprobs" => value.as_bool() != Some(false) && !value.is_null(),
        "modalities" => value
            .as_array()
            .is_none_or(|m| m.iter().any(|v| v.as_str() != Some("text"))),
        _ => !value.is_null(),
    }
}

/// Merges `{"patchbay": {"ext": {"<provider>": {...}}}}` into the extension params.
fn merge_patchbay(value: &Value, req: &mut ChatRequest) -> Result<(), TranslateError> {
    merge_patchbay_into(value, &mut req.extensions)
}

/// [`merge_patchbay`] on any extensions (shared with embeddings).
pub(crate) fn merge_patchbay_into(
    value: &Value,
    ext: &mut gateway_protocol::Extensions,
) -> Result<(), TranslateError> {
    let Some(obj) = value.as_object() else {
        return Err(TranslateError::invalid("patchbay", "must be an object"));
    };
    let Some(providers) = obj.get("ext") else {
        return Ok(());
    };
    let Some(providers) = providers.as_object() else {
        return Err(TranslateError::invalid("patchbay.ext", "must be an object"));
    };
    for (provider, params) in providers {
        let Some(params) = params.as_object() else {
            return Err(TranslateError::invalid(
                format!("patchbay.ext.{provider}"),
                "must be an object of parameters",
            ));
        };
        for (k, v) in params {
            ext.insert(provider, k.clone(), v.clone());
        }
    }
    Ok(())
}

fn decode_response_format(rf: wire::ResponseFormat) -> Result<ResponseFormat, TranslateError> {
    Ok(match rf.kind.as_str() {
        "text" => ResponseFormat::Text,
        "json_object" => ResponseFormat::JsonObject,
        "json_schema" => {
            let js = rf.json_schema.ok_or_else(|| {
                TranslateError::invalid(
                    "response_format.json_schema",
                    "missing field `json_schema` for type `json_schema`",
                )
            })?;
            ResponseFormat::JsonSchema {
                name: js.name,
                description: js.description,
                schema: js.schema.unwrap_or_else(|| Value::Object(Map::new())),
                strict: js.strict,
            }
        }
        other => {
            return Err(TranslateError::invalid(
                "response_format.type",
                format!("unknown response format `{other}`; use text, json_object or json_schema"),
            ));
        }
    })
}

fn decode_tools(
    tools: Option<Vec<wire::ToolDef>>,
    functions: Option<Vec<wire::FunctionDef>>,
    req: &mut ChatRequest,
) -> Result<(), TranslateError> {
    for (i, t) in tools.into_iter().flatten().enumerate() {
        if t.kind != "function" {
            req.extensions.binding.push(BindingField {
                only_shape: None,
                family: Family::OpenAi,
                path: format!("tools[{i}]"),
                reason: format!("`{}` tools are an OpenAI-only feature", t.kind),
            });
            continue;
        }
        let f = t.function.ok_or_else(|| {
            TranslateError::invalid(format!("tools[{i}].function"), "missing field `function`")
        })?;
        req.tools.push(tool_from(f));
    }
    for f in functions.into_iter().flatten() {
        req.tools.push(tool_from(f));
    }
    Ok(())
}

fn tool_from(f: wire::FunctionDef) -> Tool {
    Tool {
        name: f.name,
        description: f.description,
        parameters: f.parameters,
        strict: f.strict,
        cache_control: None,
    }
}

fn decode_tool_choice(v: &Value, path: &str) -> Result<ToolChoice, TranslateError> {
    let named = |v: &Value, p: &str| -> Result<String, TranslateError> {
        v.get("function")
            .and_then(|f| f.get("name"))
            .or_else(|| v.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                TranslateError::invalid(format!("{p}.function.name"), "missing tool name")
            })
    };
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            other => Err(TranslateError::invalid(
                path,
                format!("unknown tool choice `{other}`; use auto, none or required"),
            )),
        },
        Value::Object(_) if path == "function_call" => v
            .get("name")
            .and_then(Value::as_str)
            .map(|n| ToolChoice::Tool(n.to_owned()))
            .ok_or_else(|| TranslateError::invalid("function_call.name", "missing function name")),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => named(v, path).map(ToolChoice::Tool),
            Some("allowed_tools") => {
                let at = o.get("allowed_tools").unwrap_or(v);
                let required = match at.get("mode").and_then(Value::as_str) {
                    Some("required") => true,
                    Some("auto") | None => false,
                    Some(other) => {
                        return Err(TranslateError::invalid(
                            format!("{path}.allowed_tools.mode"),
                            format!("unknown mode `{other}`; use auto or required"),
                        ));
                    }
                };
                let mut names = Vec::new();
                let list = at.get("tools").and_then(Value::as_array);
                for (i, t) in list.into_iter().flatten().enumerate() {
                    names.push(named(t, &format!("{path}.allowed_tools.tools[{i}]"))?);
                }
                Ok(ToolChoice::Allowed { names, required })
            }
            _ => Err(TranslateError::invalid(
                format!("{path}.type"),
                "unknown tool choice type; use function or allowed_tools",
            )),
        },
        _ => Err(TranslateError::invalid(
            path,
            "must be a string or an object",
        )),
    }
}

fn decode_messages(msgs: &[wire::Message], req: &mut ChatRequest) -> Result<(), TranslateError> {
    // The id of the latest legacy `function_call`, answered by the next `function` message.
    let mut legacy_call: Option<String> = None;
    for (i, m) in msgs.iter().enumerate() {
        let path = format!("messages[{i}]");
        match m.role.as_str() {
            "system" | "developer" => {
                for p in text_parts(m.content.as_ref(), &path)? {
                    req.system.push(p);
                }
            }
            "user" => {
                let parts = user_parts(m.content.as_ref(), &path)?;
                req.messages.push(Message {
                    role: Role::User,
                    parts,
                });
            }
            "assistant" => {
                let mut parts = Vec::new();
                if let Some(r) = m.reasoning_content.as_ref().filter(|r| !r.is_empty()) {
                    parts.push(Part::Reasoning(gateway_protocol::Reasoning {
                        text: r.clone(),
                        source: Some(Family::OpenAi),
                        ..Default::default()
                    }));
                }
                parts.extend(assistant_text(m.content.as_ref(), &path)?);
                if let Some(r) = m.refusal.as_ref().filter(|r| !r.is_empty()) {
                    parts.push(Part::text(r.clone()));
                }
                for (j, c) in m.tool_calls.iter().flatten().enumerate() {
                    if c.id.is_empty() {
                        return Err(TranslateError::invalid(
                            format!("{path}.tool_calls[{j}].id"),
                            "tool call id must not be empty",
                        ));
                    }
                    let (id, signature) = ids::split_signature(&c.id);
                    parts.push(Part::ToolCall(ToolCall {
                        id: id.to_owned(),
                        name: c.function.name.clone(),
                        arguments: c.function.arguments.clone(),
                        signature,
                    }));
                }
                if let Some(fc) = &m.function_call {
                    let id = ids::synthesize_call_id("legacy", i);
                    legacy_call = Some(id.clone());
                    parts.push(Part::ToolCall(ToolCall {
                        id,
                        name: fc.name.clone(),
                        arguments: fc.arguments.clone(),
                        signature: None,
                    }));
                }
                req.messages.push(Message {
                    role: Role::Assistant,
                    parts,
                });
            }
            "tool" | "function" => {
                let call_id = if m.role == "tool" {
                    let id = m.tool_call_id.as_deref().ok_or_else(|| {
                        TranslateError::invalid(
                            format!("{path}.tool_call_id"),
                            "missing field `tool_call_id`",
                        )
                    })?;
                    ids::split_signature(id).0.to_owned()
                } else {
                    legacy_call
                        .take()
                        .unwrap_or_else(|| ids::synthesize_call_id("legacy", i))
                };
                let content = text_parts(m.content.as_ref(), &path)?;
                let name = if m.role == "function" {
                    m.name.clone()
                } else {
                    None
                };
                let result = Part::ToolResult(ToolResult {
                    call_id,
                    name,
                    content,
                    is_error: false,
                });
                match req.messages.last_mut() {
                    Some(last)
                        if last.role == Role::User
                            && last.parts.iter().all(|p| matches!(p, Part::ToolResult(_))) =>
                    {
                        last.parts.push(result);
                    }
                    _ => req.messages.push(Message {
                        role: Role::User,
                        parts: vec![result],
                    }),
                }
            }
            other => {
                return Err(TranslateError::invalid(
                    format!("{path}.role"),
                    format!(
                        "unknown role `{other}`; use system, developer, user, assistant or tool"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Text-only content (system, developer, tool): a string or text parts.
fn text_parts(content: Option<&wire::Content>, path: &str) -> Result<Vec<Part>, TranslateError> {
    match content {
        None => Ok(Vec::new()),
        Some(wire::Content::Text(t)) => Ok(vec![Part::text(t.clone())]),
        Some(wire::Content::Parts(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| match (p.kind.as_str(), &p.text) {
                ("text", Some(t)) => Ok(Part::text(t.clone())),
                ("text", None) => Err(TranslateError::invalid(
                    format!("{path}.content[{j}].text"),
                    "missing field `text`",
                )),
                (other, _) => Err(TranslateError::invalid(
                    format!("{path}.content[{j}].type"),
                    format!("`{other}` parts are not allowed here; only `text`"),
                )),
            })
            .collect(),
    }
}

/// Assistant content: a string or text/refusal parts.
fn assistant_text(
    content: Option<&wire::Content>,
    path: &str,
) -> Result<Vec<Part>, TranslateError> {
    match content {
        Some(wire::Content::Text(t)) if t.is_empty() => Ok(Vec::new()),
        Some(wire::Content::Parts(parts)) => {
            let mut out = Vec::new();
            for (j, p) in parts.iter().enumerate() {
                let text = match p.kind.as_str() {
                    "text" => p.text.as_ref(),
                    "refusal" => p.refusal.as_ref(),
                    other => {
                        return Err(TranslateError::invalid(
                            format!("{path}.content[{j}].type"),
                            format!("`{other}` parts are not allowed in assistant messages"),
                        ));
                    }
                };
                let text = text.ok_or_else(|| {
                    TranslateError::invalid(
                        format!("{path}.content[{j}].{}", p.kind),
                        format!("missing field `{}`", p.kind),
                    )
                })?;
                out.push(Part::text(text.clone()));
            }
            Ok(out)
        }
        other => text_parts(other, path),
    }
}

fn user_parts(content: Option<&wire::Content>, path: &str) -> Result<Vec<Part>, TranslateError> {
    let Some(wire::Content::Parts(parts)) = content else {
        return text_parts(content, path);
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let pp = format!("{path}.content[{j}]");
        let missing = |field: &str| {
            TranslateError::invalid(format!("{pp}.{field}"), format!("missing field `{field}`"))
        };
        let part = match p.kind.as_str() {
            "text" => Part::text(p.text.clone().ok_or_else(|| missing("text"))?),
            "image_url" => {
                let img = p.image_url.as_ref().ok_or_else(|| missing("image_url"))?;
                let source = if img.url.starts_with("data:") {
                    media::parse_data_url(&img.url)
                        .map_err(|e| TranslateError::invalid(format!("{pp}.image_url.url"), e))?
                } else {
                    MediaSource::Url(img.url.clone())
                };
                Part::Image(Image {
                    source,
                    detail: img.detail.clone(),
                    cache_control: None,
                })
            }
            "input_audio" => {
                let a = p
                    .input_audio
                    .as_ref()
                    .ok_or_else(|| missing("input_audio"))?;
                let media_type = match a.format.as_str() {
                    "wav" => "audio/wav",
                    "mp3" => "audio/mpeg",
                    other => {
                        return Err(TranslateError::invalid(
                            format!("{pp}.input_audio.format"),
                            format!("unknown audio format `{other}`; use wav or mp3"),
                        ));
                    }
                };
                Part::Document(Document {
                    source: MediaSource::Base64 {
                        media_type: media_type.to_owned(),
                        data: a.data.clone(),
                    },
                    filename: None,
                    title: None,
                    cache_control: None,
                })
            }
            "file" => {
                let f = p.file.as_ref().ok_or_else(|| missing("file"))?;
                let source = match (&f.file_data, &f.file_id) {
                    (Some(data), _) => media::parse_data_url(data)
                        .map_err(|e| TranslateError::invalid(format!("{pp}.file.file_data"), e))?,
                    (None, Some(id)) => MediaSource::FileId(id.clone()),
                    (None, None) => {
                        return Err(TranslateError::invalid(
                            format!("{pp}.file"),
                            "a file part needs `file_data` or `file_id`",
                        ));
                    }
                };
                Part::Document(Document {
                    source,
                    filename: f.filename.clone(),
                    title: None,
                    cache_control: None,
                })
            }
            other => {
                return Err(TranslateError::invalid(
                    format!("{pp}.type"),
                    format!(
                        "unknown content part type `{other}`; use text, image_url, input_audio or file"
                    ),
                ));
            }
        };
        out.push(part);
    }
    Ok(out)
}
