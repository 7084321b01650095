//! Canonical request → Anthropic upstream body (PROTOCOLS §5.2, §8, §9.1/9.2/9.4/9.7/9.16/9.20).
//!
//! Decisions beyond the spec, pinned by tests:
//! * A history that starts with an assistant turn gets a minimal user turn
//!   `"(continued)"` prepended (Anthropic wants user first; LiteLLM documents the same).
//! * `json_object` has no native form: a system instruction asking for one JSON
//!   object is appended (the answer is still checked by nobody — as with OpenAI).
//! * If the history holds tool calls/results but no tools are defined, a stub tool
//!   per used name is added (Anthropic rejects tool blocks without `tools`).
//! * Thinking on: budget ≥ 1024, `max_tokens` raised to budget + 1024 when it is not
//!   above the budget, `temperature`/`top_k` removed, `top_p` < 0.95 removed, forced
//!   tool choice downgraded to `auto`.
//! * `temperature` > 1 is clamped to 1; whitespace-only stop sequences are dropped.
//! * `output_config.effort` is only sent when it came from an Anthropic caller (kept
//!   in extensions): older models reject it.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gateway_protocol::{
    ApiShape, ChatRequest, Family, MediaSource, Message, Part, RawJson, ResponseFormat, Role,
    ToolChoice,
};
use serde_json::{Map, Value, json};

use super::wire;
use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::ids::{self, IdSanitizer};
use crate::json;
use crate::media::ANTHROPIC_IMAGE_TYPES;
use crate::names::upstream_name;
use crate::turns;

const TARGET: &str = "Anthropic Messages";
const MIN_BUDGET: u64 = 1024;
/// Answer room added above the thinking budget when `max_tokens` is not above it.
const ANSWER_ROOM: u64 = 1024;
/// The instruction used for `json_object` (no native Anthropic form).
pub const JSON_OBJECT_INSTRUCTION: &str =
    "Respond with a single valid JSON object and nothing else.";
/// The text of the user turn prepended when a history starts with the assistant.
pub const CONTINUED: &str = "(continued)";

/// See the module docs.
pub fn encode(req: &ChatRequest, opts: &EncodeOptions) -> Result<Vec<u8>, TranslateError> {
    if let Some(b) = req.extensions.first_binding_against(ApiShape::Anthropic) {
        return Err(TranslateError::untranslatable(&b.path, TARGET, &b.reason));
    }
    let params = req
        .extensions
        .for_key(Family::Anthropic.as_str())
        .cloned()
        .unwrap_or_default();
    let mut body = wire::Request {
        model: req.model.clone(),
        stream: req.stream,
        ..wire::Request::default()
    };

    body.system = encode_system(req);
    let mut sanitizer = IdSanitizer::default();
    body.messages = encode_messages(&req.messages, &mut sanitizer)?;

    // Tools: server tools carried from an Anthropic caller, then custom tools.
    if let Some(Value::Array(server)) = params.get("tools") {
        body.tools.extend(server.iter().cloned());
    }
    let mut allowed: Option<&Vec<String>> = None;
    if let Some(ToolChoice::Allowed { names, .. }) = &req.tool_choice {
        allowed = Some(names);
    }
    for tool in &req.tools {
        if allowed.is_some_and(|names| !names.contains(&tool.name)) {
            continue;
        }
        let t = wire::Tool {
            name: upstream_name(ApiShape::Anthropic, &tool.name),
            description: tool.description.clone(),
            input_schema: Some(
                tool.parameters
                    .as_ref()
                    .map_or_else(empty_schema, RawJson::to_value),
            ),
            strict: tool.strict,
            cache_control: tool.cache_control.clone(),
            kind: None,
        };
        body.tools
            .push(serde_json::to_value(t).unwrap_or(Value::Null));
    }
    if body.tools.is_empty() {
        body.tools = stub_tools(&req.messages);
    }

    // Sampling.
    let mut max_tokens = req
        .sampling
        .max_output_tokens
        .unwrap_or(opts.default_max_tokens);
    body.temperature = req.sampling.temperature.map(|t| t.clamp(0.0, 1.0));
    body.top_p = req.sampling.top_p;
    body.top_k = req.sampling.top_k;
    body.stop_sequences = req
        .sampling
        .stop
        .iter()
        .filter(|s| !s.trim().is_empty())
        .cloned()
        .collect();

    // Reasoning.
    let mut thinking_on = false;
    if let Some(r) = &req.reasoning {
        if r.enabled() {
            thinking_on = true;
            let budget = r.effective_budget().unwrap_or(MIN_BUDGET).max(MIN_BUDGET);
            let thinking = match params.get("thinking") {
                Some(Value::Object(raw)) if raw.get("type") == Some(&json!("adaptive")) => {
                    Value::Object(raw.clone())
                }
                Some(Value::Object(raw)) => {
                    let mut raw = raw.clone();
                    raw.insert("type".into(), json!("enabled"));
                    raw.insert("budget_tokens".into(), json!(budget));
                    Value::Object(raw)
                }
                _ => json!({"type": "enabled", "budget_tokens": budget}),
            };
            if thinking.get("type") == Some(&json!("enabled")) && max_tokens <= budget {
                max_tokens = budget.saturating_add(ANSWER_ROOM);
            }
            body.thinking = Some(thinking);
        } else if r.effort == Some(gateway_protocol::Effort::None) {
            body.thinking = Some(json!({"type": "disabled"}));
        }
    }
    if thinking_on {
        body.temperature = None;
        body.top_k = None;
        if body.top_p.is_some_and(|p| p < 0.95) {
            body.top_p = None;
        }
    }
    body.max_tokens = Some(max_tokens);

    // Tool choice and parallel calls.
    let disable = (req.parallel_tool_calls == Some(false)).then_some(true);
    body.tool_choice = match &req.tool_choice {
        None if disable.is_some() && !body.tools.is_empty() => Some(wire::ToolChoice::Auto {
            disable_parallel_tool_use: disable,
        }),
        None => None,
        Some(ToolChoice::None) => Some(wire::ToolChoice::None),
        Some(ToolChoice::Auto)
        | Some(ToolChoice::Allowed {
            required: false, ..
        }) => Some(wire::ToolChoice::Auto {
            disable_parallel_tool_use: disable,
        }),
        Some(ToolChoice::Required) | Some(ToolChoice::Allowed { required: true, .. }) => {
            Some(wire::ToolChoice::Any {
                disable_parallel_tool_use: disable,
            })
        }
        Some(ToolChoice::Tool(name)) => Some(wire::ToolChoice::Tool {
            name: upstream_name(ApiShape::Anthropic, name),
            disable_parallel_tool_use: disable,
        }),
    };
    if thinking_on
        && matches!(
            body.tool_choice,
            Some(wire::ToolChoice::Any { .. } | wire::ToolChoice::Tool { .. })
        )
    {
        body.tool_choice = Some(wire::ToolChoice::Auto {
            disable_parallel_tool_use: disable,
        });
    }

    // Structured output.
    match &req.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            let mut oc = Map::new();
            oc.insert(
                "format".into(),
                json!({"type": "json_schema", "schema": schema}),
            );
            body.output_config = Some(oc);
        }
        Some(ResponseFormat::JsonObject) => {
            let mut blocks = match body.system.take() {
                Some(wire::System::Blocks(b)) => b,
                Some(wire::System::Text(t)) => vec![wire::TextBlock {
                    text: t,
                    cache_control: None,
                }],
                None => Vec::new(),
            };
            blocks.push(wire::TextBlock {
                text: JSON_OBJECT_INSTRUCTION.into(),
                cache_control: None,
            });
            body.system = Some(system_from_blocks(blocks));
        }
        Some(ResponseFormat::Text) | None => {}
    }

    if let Some(user) = &req.user {
        if !looks_like_contact(user) {
            body.metadata = Some(wire::Metadata {
                user_id: Some(user.clone()),
            });
        }
    }

    if params.is_empty() {
        return Ok(json::encode(&body));
    }
    let mut value = serde_json::to_value(&body).unwrap_or(Value::Null);
    if let Value::Object(obj) = &mut value {
        for (key, v) in &params {
            if matches!(key.as_str(), "tools" | "thinking") {
                continue;
            }
            match (obj.get_mut(key), v) {
                (None, _) => {
                    obj.insert(key.clone(), v.clone());
                }
                (Some(Value::Object(have)), Value::Object(add)) => {
                    for (k, inner) in add {
                        have.entry(k.clone()).or_insert_with(|| inner.clone());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(json::encode(&value))
}

fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

fn system_from_blocks(blocks: Vec<wire::TextBlock>) -> wire::System {
    match blocks.as_slice() {
        [one] if one.cache_control.is_none() => wire::System::Text(one.text.clone()),
        _ => wire::System::Blocks(blocks),
    }
}

fn encode_system(req: &ChatRequest) -> Option<wire::System> {
    let blocks: Vec<wire::TextBlock> = req
        .system
        .iter()
        .filter_map(|p| match p {
            Part::Text {
                text,
                cache_control,
            } if !text.is_empty() => Some(wire::TextBlock {
                text: text.clone(),
                cache_control: cache_control.clone(),
            }),
            _ => None,
        })
        .collect();
    (!blocks.is_empty()).then(|| system_from_blocks(blocks))
}

/// Stub definitions for tools used in the history when the request defines none.
fn stub_tools(messages: &[Message]) -> Vec<Value> {
    let mut names = BTreeSet::new();
    let mut results = false;
    for part in messages.iter().flat_map(|m| &m.parts) {
        match part {
            Part::ToolCall(c) => {
                names.insert(upstream_name(ApiShape::Anthropic, &c.name));
            }
            Part::ToolResult(r) => {
                results = true;
                if let Some(n) = &r.name {
                    names.insert(upstream_name(ApiShape::Anthropic, n));
                }
            }
            _ => {}
        }
    }
    if names.is_empty() && results {
        names.insert("tool".to_owned());
    }
    names
        .into_iter()
        .map(|name| {
            json!({
                "name": name,
                "description": "Used earlier in this conversation.",
                "input_schema": empty_schema(),
            })
        })
        .collect()
}

/// Anthropic rejects `metadata.user_id` values that look like e-mails or phone numbers.
fn looks_like_contact(user: &str) -> bool {
    if let Some((local, domain)) = user.split_once('@') {
        if !local.is_empty() && domain.contains('.') {
            return true;
        }
    }
    let digits = user.chars().filter(char::is_ascii_digit).count();
    digits >= 7
        && user
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')' | '.'))
}

fn encode_messages(
    messages: &[Message],
    sanitizer: &mut IdSanitizer,
) -> Result<Vec<wire::MessageParam>, TranslateError> {
    // Drop what Anthropic cannot replay before merging turns, so emptied turns vanish.
    let cleaned: Vec<Message> = messages
        .iter()
        .map(|m| Message {
            role: m.role,
            parts: m.parts.iter().filter(|p| replayable(p)).cloned().collect(),
        })
        .collect();
    let mut turns = turns::alternate(&cleaned);
    if turns.first().is_some_and(|m| m.role == Role::Assistant) {
        turns.insert(0, Message::text(Role::User, CONTINUED));
    }
    if turns.is_empty() {
        return Err(TranslateError::untranslatable(
            "messages",
            TARGET,
            "at least one non-empty user message is required",
        ));
    }
    // A trailing assistant turn is a prefill: it must not end with whitespace.
    if let Some(last) = turns.last_mut().filter(|m| m.role == Role::Assistant) {
        if let Some(Part::Text { text, .. }) = last.parts.last_mut() {
            let trimmed = text.trim_end().len();
            text.truncate(trimmed);
        }
        last.parts
            .retain(|p| !matches!(p, Part::Text { text, .. } if text.is_empty()));
        if last.parts.is_empty() {
            turns.pop();
        }
    }
    let mut out = Vec::with_capacity(turns.len());
    for (i, msg) in turns.iter().enumerate() {
        let mut content = Vec::with_capacity(msg.parts.len());
        for (j, part) in msg.parts.iter().enumerate() {
            let path = format!("messages[{i}].content[{j}]");
            if let Some(block) = encode_part(part, &path, sanitizer)? {
                content.push(block);
            }
        }
        out.push(wire::MessageParam {
            role: match msg.role {
                Role::User => "user".into(),
                Role::Assistant => "assistant".into(),
            },
            content,
        });
    }
    Ok(out)
}

/// Empty text and reasoning that is not Anthropic's own (signed) are never sent.
fn replayable(part: &Part) -> bool {
    match part {
        Part::Text { text, .. } => !text.is_empty(),
        Part::Reasoning(r) => {
            r.source == Some(Family::Anthropic) && (r.redacted.is_some() || r.signature.is_some())
        }
        _ => true,
    }
}

fn encode_part(
    part: &Part,
    path: &str,
    sanitizer: &mut IdSanitizer,
) -> Result<Option<wire::Block>, TranslateError> {
    Ok(Some(match part {
        Part::Text {
            text,
            cache_control,
        } => {
            if text.is_empty() {
                return Ok(None);
            }
            wire::Block::Text(wire::TextBlock {
                text: text.clone(),
                cache_control: cache_control.clone(),
            })
        }
        Part::Image(img) => wire::Block::Image(wire::MediaBlock {
            source: image_source(&img.source, path)?,
            cache_control: img.cache_control.clone(),
        }),
        Part::Document(doc) => wire::Block::Document(wire::DocumentBlock {
            source: document_source(&doc.source, path)?,
            title: doc.title.clone().or_else(|| doc.filename.clone()),
            cache_control: doc.cache_control.clone(),
        }),
        Part::ToolCall(call) => {
            let (plain, _) = ids::split_signature(&call.id);
            let input = if call.arguments.trim().is_empty() {
                Value::Object(Map::new())
            } else {
                serde_json::from_str::<Value>(&call.arguments).map_err(|e| {
                    TranslateError::untranslatable(
                        path,
                        TARGET,
                        format!("tool call arguments are not valid JSON ({e})"),
                    )
                })?
            };
            if !input.is_object() {
                return Err(TranslateError::untranslatable(
                    path,
                    TARGET,
                    "tool call arguments must be a JSON object",
                ));
            }
            wire::Block::ToolUse(wire::ToolUseBlock {
                id: sanitizer.sanitize(plain),
                name: upstream_name(ApiShape::Anthropic, &call.name),
                input,
                cache_control: None,
            })
        }
        Part::ToolResult(res) => {
            let (plain, _) = ids::split_signature(&res.call_id);
            let mut blocks = Vec::with_capacity(res.content.len());
            for (k, p) in res.content.iter().enumerate() {
                let inner = format!("{path}.content[{k}]");
                match p {
                    Part::Text { .. } | Part::Image(_) | Part::Document(_) => {
                        if let Some(b) = encode_part(p, &inner, sanitizer)? {
                            blocks.push(b);
                        }
                    }
                    _ => {
                        return Err(TranslateError::untranslatable(
                            inner,
                            TARGET,
                            "tool results may only hold text, images and documents",
                        ));
                    }
                }
            }
            let content = match blocks.as_slice() {
                [] => None,
                [wire::Block::Text(t)] if t.cache_control.is_none() => {
                    Some(wire::ToolResultContent::Text(t.text.clone()))
                }
                _ => Some(wire::ToolResultContent::Blocks(blocks)),
            };
            wire::Block::ToolResult(wire::ToolResultBlock {
                tool_use_id: sanitizer.sanitize(plain),
                content,
                is_error: res.is_error.then_some(true),
                cache_control: None,
            })
        }
        Part::Reasoning(r) => {
            if r.source != Some(Family::Anthropic) {
                return Ok(None);
            }
            match (&r.redacted, &r.signature) {
                (Some(data), _) => wire::Block::RedactedThinking(wire::RedactedThinkingBlock {
                    data: data.clone(),
                }),
                (None, Some(sig)) => wire::Block::Thinking(wire::ThinkingBlock {
                    thinking: r.text.clone(),
                    signature: sig.clone(),
                }),
                (None, None) => return Ok(None),
            }
        }
    }))
}

fn image_source(source: &MediaSource, path: &str) -> Result<wire::Source, TranslateError> {
    Ok(match source {
        MediaSource::Base64 { media_type, data } => {
            if !ANTHROPIC_IMAGE_TYPES.contains(&media_type.as_str()) {
                return Err(TranslateError::untranslatable(
                    path,
                    TARGET,
                    format!(
                        "image type `{media_type}` is not accepted; use JPEG, PNG, GIF or WebP"
                    ),
                ));
            }
            wire::Source::Base64 {
                media_type: media_type.clone(),
                data: data.clone(),
            }
        }
        MediaSource::Url(url) => wire::Source::Url { url: url.clone() },
        MediaSource::FileId(id) => wire::Source::File {
            file_id: id.clone(),
        },
    })
}

fn document_source(source: &MediaSource, path: &str) -> Result<wire::Source, TranslateError> {
    Ok(match source {
        MediaSource::Base64 { media_type, data } if media_type.starts_with("text/") => {
            let text = STANDARD
                .decode(data.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    TranslateError::untranslatable(
                        path,
                        TARGET,
                        "text document is not base64 UTF-8",
                    )
                })?;
            wire::Source::Text {
                media_type: "text/plain".into(),
                data: text,
            }
        }
        MediaSource::Base64 { media_type, data } if media_type == "application/pdf" => {
            wire::Source::Base64 {
                media_type: media_type.clone(),
                data: data.clone(),
            }
        }
        MediaSource::Base64 { media_type, .. } => {
            return Err(TranslateError::untranslatable(
                path,
                TARGET,
                format!("documents of type `{media_type}` are not accepted; use PDF or plain text"),
            ));
        }
        MediaSource::Url(url) => wire::Source::Url { url: url.clone() },
        MediaSource::FileId(id) => wire::Source::File {
            file_id: id.clone(),
        },
    })
}
