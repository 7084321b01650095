//! Anthropic Messages requests: a caller's body → canonical. The encoder (canonical →
//! upstream body) is in `request_encode.rs`, re-exported here as [`encode`].
//!
//! Decoding reads the body as a JSON map and each known field at its own path, so
//! every error names the exact field (`messages[3].content[0].source.data`). Fields the
//! canonical model has no slot for go to `extensions.params["anthropic"]`; server tools
//! and server-tool blocks are binding (only an Anthropic upstream can honour them).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gateway_protocol::RawJson;
use gateway_protocol::{
    BindingField, ChatRequest, Document, Effort, Family, Image, MediaSource, Message, Part,
    Reasoning, ReasoningConfig, ResponseFormat, Role, Tool, ToolCall, ToolChoice, ToolResult,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::wire;
use crate::error::TranslateError;
use crate::ids;
use crate::json;

pub use super::request_encode::encode;

pub(super) const FAMILY: &str = "anthropic";

/// Top-level fields the decoder maps; everything else is carried as an extension.
pub(super) const KNOWN: [&str; 15] = [
    "model",
    "max_tokens",
    "messages",
    "system",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "stream",
    "metadata",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
    "patchbay",
];

#[cfg(test)]
pub(crate) use super::request_view::decode_both;

/// Decodes a caller's `/v1/messages` body (`max_tokens` required).
pub fn decode(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    decode_with(body, true)
}

/// Decodes a body; `count_tokens` bodies do not require `max_tokens`.
///
/// Common bodies take the typed fast path (`request_view.rs`), which reads the bytes
/// straight into borrowed structs; anything it does not cover, and every failure, goes
/// through the field-by-field walk below, so results and errors are the walk's.
pub(crate) fn decode_with(
    body: &[u8],
    require_max_tokens: bool,
) -> Result<ChatRequest, TranslateError> {
    if let Some(req) = super::request_view::decode(body, require_max_tokens) {
        return Ok(req);
    }
    decode_walk(body, require_max_tokens)
}

/// The reference decoder: the body as a JSON map, each field read at its own path.
pub(super) fn decode_walk(
    body: &[u8],
    require_max_tokens: bool,
) -> Result<ChatRequest, TranslateError> {
    let map: Map<String, Value> = json::decode_request(body)?;
    let mut req = ChatRequest {
        model: required::<String>(&map, "model")?,
        ..ChatRequest::default()
    };
    req.sampling.max_output_tokens = if require_max_tokens {
        Some(required::<u64>(&map, "max_tokens")?)
    } else {
        optional::<u64>(&map, "max_tokens")?
    };
    req.sampling.temperature = optional(&map, "temperature")?;
    req.sampling.top_p = optional(&map, "top_p")?;
    req.sampling.top_k = optional(&map, "top_k")?;
    req.sampling.stop = optional::<Vec<String>>(&map, "stop_sequences")?.unwrap_or_default();
    req.stream = optional::<bool>(&map, "stream")?.unwrap_or(false);
    req.include_usage = req.stream;
    if let Some(meta) = optional::<wire::Metadata>(&map, "metadata")? {
        req.user = meta.user_id;
    }
    if let Some(system) = optional::<wire::System>(&map, "system")? {
        req.system = match system {
            wire::System::Text(t) => vec![Part::text(t)],
            wire::System::Blocks(blocks) => blocks
                .into_iter()
                .map(|b| Part::Text {
                    text: b.text,
                    cache_control: b.cache_control,
                })
                .collect(),
        };
    }
    let messages = required::<Vec<Value>>(&map, "messages")?;
    for (i, msg) in messages.into_iter().enumerate() {
        decode_message(&mut req, msg, &format!("messages[{i}]"))?;
    }
    decode_tools(&mut req, &map)?;
    decode_reasoning(&mut req, &map)?;
    for (key, value) in &map {
        if !KNOWN.contains(&key.as_str()) {
            req.extensions.insert(FAMILY, key.clone(), value.clone());
        }
    }
    if let Some(ext) = map.get("patchbay") {
        crate::caller_ext::merge_patchbay(ext, &mut req.extensions)?;
    }
    Ok(req)
}

/// Reads `map[key]` into `T`; the error path is `key.<inner path>`.
fn optional<T: DeserializeOwned>(
    map: &Map<String, Value>,
    key: &str,
) -> Result<Option<T>, TranslateError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => at(v.clone(), key).map(Some),
    }
}

fn required<T: DeserializeOwned>(map: &Map<String, Value>, key: &str) -> Result<T, TranslateError> {
    optional(map, key)?
        .ok_or_else(|| TranslateError::invalid(key, format!("missing required field `{key}`")))
}

/// Deserialises `value` as `T`, prefixing serde's inner path with `prefix`.
pub(crate) fn at<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T, TranslateError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = if inner == "." {
            prefix.to_owned()
        } else if inner.starts_with('[') {
            format!("{prefix}{inner}")
        } else {
            format!("{prefix}.{inner}")
        };
        TranslateError::invalid(path, e.into_inner().to_string())
    })
}

fn decode_message(req: &mut ChatRequest, msg: Value, path: &str) -> Result<(), TranslateError> {
    let Value::Object(mut obj) = msg else {
        return Err(TranslateError::invalid(path, "a message must be an object"));
    };
    let role: String = match obj.remove("role") {
        Some(v) => at(v, &format!("{path}.role"))?,
        None => {
            return Err(TranslateError::invalid(
                format!("{path}.role"),
                "missing required field `role`",
            ));
        }
    };
    let content_path = format!("{path}.content");
    let content = obj.remove("content").ok_or_else(|| {
        TranslateError::invalid(&content_path, "missing required field `content`")
    })?;
    let parts = decode_content(req, content, &content_path, false)?;
    match role.as_str() {
        "user" => req.messages.push(Message {
            role: Role::User,
            parts,
        }),
        "assistant" => req.messages.push(Message {
            role: Role::Assistant,
            parts,
        }),
        // Newer SDKs allow mid-conversation system turns; hoisted like every shape's.
        "system" => req.system.extend(parts),
        other => {
            return Err(TranslateError::invalid(
                format!("{path}.role"),
                format!("unknown role `{other}`; use `user` or `assistant`"),
            ));
        }
    }
    Ok(())
}

/// Decodes `content` (a string or blocks). `nested` is true inside `tool_result`.
fn decode_content(
    req: &mut ChatRequest,
    content: Value,
    path: &str,
    nested: bool,
) -> Result<Vec<Part>, TranslateError> {
    match content {
        Value::String(text) => Ok(vec![Part::text(text)]),
        Value::Array(blocks) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (j, block) in blocks.into_iter().enumerate() {
                let bpath = format!("{path}[{j}]");
                if let Some(part) = decode_block(req, block, &bpath, nested)? {
                    parts.push(part);
                }
            }
            Ok(parts)
        }
        _ => Err(TranslateError::invalid(
            path,
            "expected a string or an array of content blocks",
        )),
    }
}

/// Server-tool blocks: replayable only to Anthropic, and not carried by the canonical
/// model, so they bind the request and are dropped.
fn is_server_block(kind: &str) -> bool {
    matches!(
        kind,
        "server_tool_use" | "mcp_tool_use" | "container_upload"
    ) || (kind.ends_with("_tool_result") && kind != "tool_result")
}

fn decode_block(
    req: &mut ChatRequest,
    block: Value,
    path: &str,
    nested: bool,
) -> Result<Option<Part>, TranslateError> {
    let kind = match block.get("type") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(TranslateError::invalid(
                format!("{path}.type"),
                "`type` must be a string",
            ));
        }
        None => {
            return Err(TranslateError::invalid(
                format!("{path}.type"),
                "missing required field `type`",
            ));
        }
    };
    let allowed_nested = matches!(kind.as_str(), "text" | "image" | "document");
    if nested && !allowed_nested && kind != "search_result" {
        return Err(TranslateError::invalid(
            format!("{path}.type"),
            format!(
                "`{kind}` is not allowed inside tool_result content; use text, image or document"
            ),
        ));
    }
    let part = match kind.as_str() {
        "text" => {
            let b: wire::TextBlock = at(block, path)?;
            Part::Text {
                text: b.text,
                cache_control: b.cache_control,
            }
        }
        "image" => {
            let b: wire::MediaBlock = at(block, path)?;
            Part::Image(Image {
                source: source_to_canonical(b.source, &format!("{path}.source"), false)?,
                detail: None,
                cache_control: b.cache_control,
            })
        }
        "document" => {
            let b: wire::DocumentBlock = at(block, path)?;
            Part::Document(Document {
                source: source_to_canonical(b.source, &format!("{path}.source"), true)?,
                filename: None,
                title: b.title,
                cache_control: b.cache_control,
            })
        }
        "tool_use" => {
            let b: wire::ToolUseBlock = at(block, path)?;
            let (id, signature) = ids::split_signature(&b.id);
            let arguments = if b.input.is_null() {
                "{}".to_owned()
            } else {
                b.input.to_string()
            };
            Part::ToolCall(ToolCall {
                id: id.to_owned(),
                name: b.name,
                arguments,
                signature,
            })
        }
        "tool_result" => {
            let Value::Object(mut obj) = block else {
                return Err(TranslateError::invalid(path, "expected an object"));
            };
            let content = obj.remove("content");
            let b: wire::ToolResultBlock = at(Value::Object(obj), path)?;
            let content = match content {
                None | Some(Value::Null) => Vec::new(),
                Some(c) => decode_content(req, c, &format!("{path}.content"), true)?,
            };
            Part::ToolResult(ToolResult {
                call_id: ids::split_signature(&b.tool_use_id).0.to_owned(),
                name: None,
                content,
                is_error: b.is_error.unwrap_or(false),
            })
        }
        "thinking" => {
            let b: wire::ThinkingBlock = at(block, path)?;
            Part::Reasoning(Reasoning {
                text: b.thinking,
                signature: Some(b.signature),
                source: Some(Family::Anthropic),
                ..Reasoning::default()
            })
        }
        "redacted_thinking" => {
            let b: wire::RedactedThinkingBlock = at(block, path)?;
            Part::Reasoning(Reasoning {
                redacted: Some(b.data),
                source: Some(Family::Anthropic),
                ..Reasoning::default()
            })
        }
        "search_result" => {
            // Search results inside tool results have no canonical form: only an
            // Anthropic upstream understands them.
            bind(
                req,
                path,
                "search_result blocks are only understood by Anthropic",
            );
            return Ok(None);
        }
        k if is_server_block(k) => {
            bind(
                req,
                path,
                &format!("`{k}` blocks belong to Anthropic server tools"),
            );
            return Ok(None);
        }
        other => {
            return Err(TranslateError::invalid(
                format!("{path}.type"),
                format!("unknown content block type `{other}`"),
            ));
        }
    };
    Ok(Some(part))
}

fn bind(req: &mut ChatRequest, path: &str, reason: &str) {
    req.extensions.binding.push(BindingField {
        only_shape: None,
        family: Family::Anthropic,
        path: path.to_owned(),
        reason: reason.to_owned(),
    });
}

pub(super) fn source_to_canonical(
    source: wire::Source,
    path: &str,
    document: bool,
) -> Result<MediaSource, TranslateError> {
    Ok(match source {
        wire::Source::Base64 { media_type, data } => MediaSource::Base64 { media_type, data },
        wire::Source::Url { url } => MediaSource::Url(url),
        wire::Source::File { file_id } => MediaSource::FileId(file_id),
        // Plain-text documents travel as base64 text/plain, which every shape can carry;
        // the encoder turns them back into a `text` source.
        wire::Source::Text { media_type, data } if document => MediaSource::Base64 {
            media_type,
            data: STANDARD.encode(data.as_bytes()),
        },
        wire::Source::Text { .. } => {
            return Err(TranslateError::invalid(
                format!("{path}.type"),
                "`text` sources are only allowed in documents",
            ));
        }
    })
}

fn decode_tools(req: &mut ChatRequest, map: &Map<String, Value>) -> Result<(), TranslateError> {
    let tools = optional::<Vec<Value>>(map, "tools")?.unwrap_or_default();
    let mut server_tools = Vec::new();
    for (i, raw) in tools.into_iter().enumerate() {
        let path = format!("tools[{i}]");
        let tool: wire::Tool = at(raw.clone(), &path)?;
        match tool.kind.as_deref() {
            None | Some("custom") => req.tools.push(Tool {
                name: tool.name,
                description: tool.description,
                parameters: tool.input_schema.as_ref().map(RawJson::from_value),
                strict: tool.strict,
                cache_control: tool.cache_control,
            }),
            Some(kind) => {
                bind(req, &path, &format!("`{kind}` is an Anthropic server tool"));
                server_tools.push(raw);
            }
        }
    }
    if !server_tools.is_empty() {
        // Re-applied by the encoder when an Anthropic upstream serves the request.
        req.extensions
            .insert(FAMILY, "tools", Value::Array(server_tools));
    }
    if let Some(choice) = optional::<wire::ToolChoice>(map, "tool_choice")? {
        let (choice, disable) = match choice {
            wire::ToolChoice::Auto {
                disable_parallel_tool_use,
            } => (ToolChoice::Auto, disable_parallel_tool_use),
            wire::ToolChoice::Any {
                disable_parallel_tool_use,
            } => (ToolChoice::Required, disable_parallel_tool_use),
            wire::ToolChoice::Tool {
                name,
                disable_parallel_tool_use,
            } => (ToolChoice::Tool(name), disable_parallel_tool_use),
            wire::ToolChoice::None => (ToolChoice::None, None),
        };
        req.tool_choice = Some(choice);
        if disable == Some(true) {
            req.parallel_tool_calls = Some(false);
        }
    }
    Ok(())
}

pub(super) fn decode_reasoning(
    req: &mut ChatRequest,
    map: &Map<String, Value>,
) -> Result<(), TranslateError> {
    let output = optional::<wire::OutputConfig>(map, "output_config")?;
    let effort = match output.as_ref().and_then(|o| o.effort.as_deref()) {
        Some(e) => Some(Effort::parse(e).ok_or_else(|| {
            TranslateError::invalid("output_config.effort", format!("unknown effort `{e}`"))
        })?),
        None => None,
    };
    if let Some(Value::Object(raw)) = map.get("output_config") {
        // `effort` is only re-sent to Anthropic (not every model accepts it).
        if let Some(e) = raw.get("effort") {
            let mut kept = Map::new();
            kept.insert("effort".to_owned(), e.clone());
            req.extensions
                .insert(FAMILY, "output_config", Value::Object(kept));
        }
    }
    if let Some(format) = output.and_then(|o| o.format) {
        if format.kind != "json_schema" {
            return Err(TranslateError::invalid(
                "output_config.format.type",
                format!("unknown format type `{}`; use `json_schema`", format.kind),
            ));
        }
        req.response_format = Some(ResponseFormat::JsonSchema {
            name: "response".to_owned(),
            description: None,
            schema: format.schema.unwrap_or_else(|| Value::Object(Map::new())),
            strict: None,
        });
    }
    let Some(thinking) = optional::<wire::Thinking>(map, "thinking")? else {
        return Ok(());
    };
    let include_thoughts = thinking.display.as_deref() != Some("omitted");
    req.reasoning = Some(match thinking.kind.as_str() {
        "enabled" => {
            let budget = thinking.budget_tokens.ok_or_else(|| {
                TranslateError::invalid(
                    "thinking.budget_tokens",
                    "missing required field `budget_tokens`",
                )
            })?;
            ReasoningConfig {
                effort,
                budget_tokens: Some(budget),
                include_thoughts,
            }
        }
        "adaptive" => ReasoningConfig {
            // LiteLLM's reverse mapping: adaptive without an effort is `medium`.
            effort: Some(effort.unwrap_or(Effort::Medium)),
            budget_tokens: None,
            include_thoughts,
        },
        "disabled" => ReasoningConfig {
            effort: Some(Effort::None),
            budget_tokens: None,
            include_thoughts: false,
        },
        other => {
            return Err(TranslateError::invalid(
                "thinking.type",
                format!("unknown thinking type `{other}`; use enabled, disabled or adaptive"),
            ));
        }
    });
    if thinking.kind == "adaptive" || thinking.display.is_some() {
        // Kept so an Anthropic upstream gets `adaptive` / `display` back as sent.
        if let Some(raw) = map.get("thinking") {
            req.extensions.insert(FAMILY, "thinking", raw.clone());
        }
    }
    Ok(())
}
