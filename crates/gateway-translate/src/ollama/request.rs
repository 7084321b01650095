//! `/api/chat` request bodies ↔ the canonical [`ChatRequest`] (PROTOCOLS §7.1, §8).

use gateway_protocol::{
    ApiShape, BindingField, ChatRequest, Effort, Family, Image, MediaSource, Message, Part,
    Reasoning, ReasoningConfig, ResponseFormat, Role, Sampling, Tool, ToolCall, ToolChoice,
    ToolResult,
};
use serde_json::{Map, Value};

use super::util::{arguments_object, arguments_text, sniff_image_type};
use super::wire;
use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::{ids, json, media, names, turns};

/// The target name used in untranslatable-field errors.
pub const TARGET: &str = "Ollama";

/// Seed of the call ids synthesised for history tool calls that carry no `id`.
const HISTORY_ID_SEED: &str = "ollama-history";

/// Top-level fields with a canonical slot; every other field is carried in
/// `extensions.params["ollama"]`.
const KNOWN_FIELDS: [&str; 8] = [
    "model", "messages", "tools", "format", "options", "stream", "think", "patchbay",
];

/// `options` keys with a canonical slot; others stay in `params["ollama"]["options"]`.
const KNOWN_OPTIONS: [&str; 8] = [
    "temperature",
    "top_p",
    "top_k",
    "num_predict",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
];

/// Reads a caller's `/api/chat` body.
///
/// `stream` defaults to `true` as in Ollama. History tool calls without an `id` get
/// one synthesised; a `tool` message without `tool_call_id` answers the earliest
/// unanswered call of the preceding assistant turn with the same `tool_name` (or the
/// earliest unanswered call when it names none). Consecutive `tool` messages become
/// one user message of tool results. `think:true` reads as effort `medium`.
pub fn decode(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    // The untyped read first: it refuses a body that is not an object at `.`.
    let raw: Map<String, Value> = json::decode_request(body)?;
    let wire: wire::Request = json::decode_request(body)?;
    let mut req = ChatRequest {
        model: wire.model,
        stream: wire.stream.unwrap_or(true),
        ..ChatRequest::default()
    };
    decode_messages(&wire.messages, &mut req)?;
    for (i, tool) in wire.tools.into_iter().enumerate() {
        if tool.kind != "function" {
            return Err(TranslateError::invalid(
                format!("tools[{i}].type"),
                format!(
                    "unknown tool type `{}`; Ollama tools are `function`",
                    tool.kind
                ),
            ));
        }
        req.tools.push(Tool {
            name: tool.function.name,
            description: tool.function.description,
            parameters: tool.function.parameters,
            strict: None,
            cache_control: None,
        });
    }
    req.response_format = decode_format(wire.format)?;
    if let Some(options) = wire.options {
        req.sampling = Sampling {
            max_output_tokens: options.num_predict.and_then(|n| u64::try_from(n).ok()),
            temperature: options.temperature,
            top_p: options.top_p,
            top_k: options.top_k,
            stop: options.stop.unwrap_or_default(),
            seed: options.seed,
            presence_penalty: options.presence_penalty,
            frequency_penalty: options.frequency_penalty,
        };
    }
    req.reasoning = match wire.think {
        None => None,
        Some(think) => Some(decode_think(think)?),
    };
    decode_extras(raw, &mut req)?;
    Ok(req)
}

fn decode_think(think: wire::Think) -> Result<ReasoningConfig, TranslateError> {
    let effort = match think {
        wire::Think::Bool(false) => Effort::None,
        wire::Think::Bool(true) => Effort::Medium,
        wire::Think::Level(level) => match level.as_str() {
            "low" => Effort::Low,
            "medium" => Effort::Medium,
            "high" => Effort::High,
            "max" => Effort::Max,
            other => {
                return Err(TranslateError::invalid(
                    "think",
                    format!(
                        "unknown think level `{other}`; use true, false, low, medium, high or max"
                    ),
                ));
            }
        },
    };
    Ok(ReasoningConfig {
        effort: Some(effort),
        budget_tokens: None,
        include_thoughts: effort != Effort::None,
    })
}

fn decode_format(format: Option<Value>) -> Result<Option<ResponseFormat>, TranslateError> {
    Ok(match format {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s == "json" => Some(ResponseFormat::JsonObject),
        Some(Value::Object(schema)) => {
            // Ollama schemas have no name; the schema's `title` is the best one there is.
            let name = schema
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("response")
                .to_owned();
            Some(ResponseFormat::JsonSchema {
                name,
                description: None,
                schema: Value::Object(schema),
                strict: None,
            })
        }
        Some(_) => {
            return Err(TranslateError::invalid(
                "format",
                "expected \"json\" or a JSON Schema object",
            ));
        }
    })
}

fn decode_extras(raw: Map<String, Value>, req: &mut ChatRequest) -> Result<(), TranslateError> {
    let family = Family::Ollama.as_str();
    for (key, value) in raw {
        match key.as_str() {
            "patchbay" => merge_patchbay(&value, req)?,
            "options" => {
                if let Value::Object(options) = value {
                    for (k, v) in options {
                        let negative_limit =
                            k == "num_predict" && v.as_i64().is_some_and(|n| n < 0);
                        if !KNOWN_OPTIONS.contains(&k.as_str()) || negative_limit {
                            let entry = req
                                .extensions
                                .params
                                .entry(family.to_owned())
                                .or_default()
                                .entry("options")
                                .or_insert_with(|| Value::Object(Map::new()));
                            if let Value::Object(map) = entry {
                                map.insert(k, v);
                            }
                        }
                    }
                }
            }
            k if KNOWN_FIELDS.contains(&k) => {}
            _ => {
                let changes_answer = matches!(key.as_str(), "logprobs" | "top_logprobs")
                    && !matches!(value, Value::Null | Value::Bool(false));
                if changes_answer {
                    req.extensions.binding.push(BindingField {
                        family: Family::Ollama,
                        path: key.clone(),
                        reason: "log probabilities are returned in Ollama's own format only"
                            .to_owned(),
                    });
                }
                req.extensions.insert(family, key, value);
            }
        }
    }
    Ok(())
}

/// Merges `{"patchbay": {"ext": {"<provider>": {...}}}}` into `extensions.params`.
fn merge_patchbay(value: &Value, req: &mut ChatRequest) -> Result<(), TranslateError> {
    let Some(ext) = value.get("ext") else {
        return Ok(());
    };
    let Value::Object(providers) = ext else {
        return Err(TranslateError::invalid(
            "patchbay.ext",
            "expected an object of provider parameters",
        ));
    };
    for (provider, params) in providers {
        let Value::Object(params) = params else {
            return Err(TranslateError::invalid(
                format!("patchbay.ext.{provider}"),
                "expected an object of parameters",
            ));
        };
        for (k, v) in params {
            req.extensions.insert(provider, k.clone(), v.clone());
        }
    }
    Ok(())
}

/// A call of the latest assistant turn, for pairing `tool` messages without ids.
struct PendingCall {
    id: String,
    name: String,
    answered: bool,
}

fn decode_messages(msgs: &[wire::Message], req: &mut ChatRequest) -> Result<(), TranslateError> {
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

/// Writes an `/api/chat` body for an Ollama upstream.
///
/// Lossy by design (PROTOCOLS §8.6, §8.16): Ollama has no `tool_choice`, so `none`
/// omits the tools, a named tool or an allowed subset filters the tools list, and
/// `required` is dropped (the model may answer without calling). Parallel-call
/// switches, `strict`, cache hints, the user id and image `detail` are dropped. Image
/// URLs, file ids and documents are refused: the server downloads and inlines image
/// URLs before encoding. Images inside tool results move to a user message after the
/// results. `is_error` results are prefixed with `Error: `. A result whose call is not
/// in the history and that carries no name is sent without `tool_name`.
pub fn encode(req: &ChatRequest, _opts: &EncodeOptions) -> Result<Vec<u8>, TranslateError> {
    if let Some(b) = req.extensions.first_binding_against(Family::Ollama) {
        return Err(TranslateError::untranslatable(&b.path, TARGET, &b.reason));
    }
    let mut messages = Vec::new();
    for (j, part) in req.system.iter().enumerate() {
        match part {
            Part::Text { text, .. } if text.is_empty() => {}
            Part::Text { text, .. } => messages.push(wire::Message {
                role: "system".to_owned(),
                content: text.clone(),
                ..wire::Message::default()
            }),
            _ => {
                return Err(TranslateError::untranslatable(
                    format!("system[{j}]"),
                    TARGET,
                    "Ollama system messages carry text only",
                ));
            }
        }
    }
    for (i, msg) in req.messages.iter().enumerate() {
        match msg.role {
            Role::User => encode_user(req, i, msg, &mut messages)?,
            Role::Assistant => encode_assistant(i, msg, &mut messages)?,
        }
    }
    let body = wire::Request {
        model: req.model.clone(),
        messages,
        tools: encode_tools(req)?,
        format: match &req.response_format {
            None | Some(ResponseFormat::Text) => None,
            Some(ResponseFormat::JsonObject) => Some(Value::String("json".to_owned())),
            Some(ResponseFormat::JsonSchema { schema, .. }) => Some(schema.clone()),
        },
        options: encode_options(&req.sampling),
        stream: Some(req.stream),
        think: req.reasoning.as_ref().and_then(encode_think),
    };
    let mut value = serde_json::to_value(&body)
        .map_err(|e| TranslateError::untranslatable(".", TARGET, e.to_string()))?;
    if let (Value::Object(obj), Some(params)) =
        (&mut value, req.extensions.for_key(Family::Ollama.as_str()))
    {
        apply_params(obj, params);
    }
    Ok(json::encode(&value))
}

/// Adds carried parameters the body does not set; `options` merges key by key.
fn apply_params(obj: &mut Map<String, Value>, params: &Map<String, Value>) {
    for (k, v) in params {
        match (obj.get_mut(k), v) {
            (Some(Value::Object(have)), Value::Object(extra)) if k == "options" => {
                for (ok, ov) in extra {
                    have.entry(ok.clone()).or_insert_with(|| ov.clone());
                }
            }
            (Some(_), _) => {}
            (None, _) => {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
}

fn encode_think(r: &ReasoningConfig) -> Option<wire::Think> {
    let level = |s: &str| Some(wire::Think::Level(s.to_owned()));
    match r.effective_effort() {
        None if r.include_thoughts => Some(wire::Think::Bool(true)),
        None => None,
        Some(Effort::None) => Some(wire::Think::Bool(false)),
        Some(Effort::Minimal | Effort::Low) => level("low"),
        Some(Effort::Medium) => level("medium"),
        Some(Effort::High) => level("high"),
        Some(Effort::XHigh | Effort::Max) => level("max"),
    }
}

fn encode_options(s: &Sampling) -> Option<wire::Options> {
    let options = wire::Options {
        temperature: s.temperature,
        top_p: s.top_p,
        top_k: s.top_k,
        num_predict: s
            .max_output_tokens
            .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
        stop: (!s.stop.is_empty()).then(|| s.stop.clone()),
        seed: s.seed,
        presence_penalty: s.presence_penalty,
        frequency_penalty: s.frequency_penalty,
    };
    (options != wire::Options::default()).then_some(options)
}

fn encode_tools(req: &ChatRequest) -> Result<Vec<wire::Tool>, TranslateError> {
    let keep: Option<Vec<&str>> = match &req.tool_choice {
        None | Some(ToolChoice::Auto | ToolChoice::Required) => None,
        Some(ToolChoice::None) => Some(Vec::new()),
        Some(ToolChoice::Tool(name)) => {
            if !req.tools.iter().any(|t| &t.name == name) {
                return Err(TranslateError::untranslatable(
                    "tool_choice",
                    TARGET,
                    format!("tool_choice names `{name}`, which is not among the tools"),
                ));
            }
            Some(vec![name.as_str()])
        }
        Some(ToolChoice::Allowed { names, .. }) => Some(names.iter().map(String::as_str).collect()),
    };
    Ok(req
        .tools
        .iter()
        .filter(|t| keep.as_ref().is_none_or(|k| k.contains(&t.name.as_str())))
        .map(|t| wire::Tool {
            kind: "function".to_owned(),
            function: wire::FunctionDef {
                name: names::upstream_name(ApiShape::Ollama, &t.name),
                description: t.description.clone(),
                parameters: t.parameters.clone(),
            },
        })
        .collect())
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

fn encode_user(
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

fn encode_assistant(
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
