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

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gateway_protocol::{
    ApiShape, ChatRequest, Family, MediaSource, Message, Part, RawJson, ResponseFormat, Role,
    ToolChoice,
};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::wire;
use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::ids::{self, IdSanitizer};
use crate::json;
use crate::media::ANTHROPIC_IMAGE_TYPES;
use crate::names::{upstream_cow, upstream_name};

const TARGET: &str = "Anthropic Messages";
const MIN_BUDGET: u64 = 1024;
/// Answer room added above the thinking budget when `max_tokens` is not above it.
const ANSWER_ROOM: u64 = 1024;
/// The instruction used for `json_object` (no native Anthropic form).
pub const JSON_OBJECT_INSTRUCTION: &str =
    "Respond with a single valid JSON object and nothing else.";
/// The text of the user turn prepended when a history starts with the assistant.
pub const CONTINUED: &str = "(continued)";
const STUB_DESCRIPTION: &str = "Used earlier in this conversation.";

// ---------------------------------------------------------------------------------
// The body as written: borrowed from the canonical request, serialised straight to
// bytes (no `Value` tree, no string copies beyond sanitised ids and names).

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<OutSystem<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop_sequences: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<OutMetadata<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<wire::ToolChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<Map<String, Value>>,
}

#[derive(Serialize)]
struct OutMetadata<'a> {
    user_id: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutSystem<'a> {
    Text(&'a str),
    Blocks(Vec<OutText<'a>>),
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Vec<OutBlock<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutBlock<'a> {
    Text(OutText<'a>),
    Image(OutMedia<'a>),
    Document(OutDocument<'a>),
    ToolUse(OutToolUse<'a>),
    ToolResult(OutToolResult<'a>),
    Thinking(OutThinking<'a>),
    RedactedThinking(OutRedacted<'a>),
}

#[derive(Serialize)]
struct OutText<'a> {
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a Value>,
}

#[derive(Serialize)]
struct OutMedia<'a> {
    source: OutSource<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a Value>,
}

#[derive(Serialize)]
struct OutDocument<'a> {
    source: OutSource<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a Value>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutSource<'a> {
    Base64 {
        media_type: &'a str,
        data: &'a str,
    },
    Url {
        url: &'a str,
    },
    File {
        file_id: &'a str,
    },
    Text {
        media_type: &'static str,
        data: String,
    },
}

#[derive(Serialize)]
struct OutToolUse<'a> {
    id: String,
    name: Cow<'a, str>,
    input: Input<'a>,
}

/// A tool call's `input`: the canonical arguments text as is, or `{}`.
enum Input<'a> {
    /// Checked JSON text ([`crate::json_text::raw_value`]).
    Raw(&'a str),
    Empty,
}

impl Serialize for Input<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Input::Raw(raw) => crate::canonical_json::Verbatim(raw).serialize(serializer),
            Input::Empty => serializer.collect_map(std::iter::empty::<((), ())>()),
        }
    }
}

#[derive(Serialize)]
struct OutToolResult<'a> {
    tool_use_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<OutToolResultContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_error: Option<bool>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutToolResultContent<'a> {
    Text(&'a str),
    Blocks(Vec<OutBlock<'a>>),
}

#[derive(Serialize)]
struct OutThinking<'a> {
    thinking: &'a str,
    signature: &'a str,
}

#[derive(Serialize)]
struct OutRedacted<'a> {
    data: &'a str,
}

/// A `tools` entry: a server tool replayed as the caller sent it, or a custom tool.
#[derive(Serialize)]
#[serde(untagged)]
enum OutTool<'a> {
    Server(&'a Value),
    Function(FunctionTool<'a>),
}

#[derive(Serialize)]
struct FunctionTool<'a> {
    name: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: Schema<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a Value>,
}

/// `input_schema`: the canonical schema text, or the empty object schema.
enum Schema<'a> {
    Raw(&'a RawJson),
    Empty,
}

impl Serialize for Schema<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Schema::Raw(raw) => raw.serialize(serializer),
            Schema::Empty => EmptySchema {
                kind: "object",
                properties: Map::new(),
            }
            .serialize(serializer),
        }
    }
}

#[derive(Serialize)]
struct EmptySchema {
    #[serde(rename = "type")]
    kind: &'static str,
    properties: Map<String, Value>,
}

/// A block's path (`messages[i].content[j]`, nested `.content[k]`), formatted only
/// when an error needs it.
#[derive(Clone, Copy)]
enum At<'p> {
    Block(usize, usize),
    Nested(&'p At<'p>, usize),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Block(i, j) => write!(f, "messages[{i}].content[{j}]"),
            At::Nested(outer, k) => write!(f, "{outer}.content[{k}]"),
        }
    }
}

/// Encodes a canonical request as an Anthropic upstream body (PROTOCOLS §8, §9), with
/// the decisions beyond the spec listed at the top of `request_encode.rs`.
pub fn encode(req: &ChatRequest, opts: &EncodeOptions) -> Result<Vec<u8>, TranslateError> {
    if let Some(b) = req.extensions.first_binding_against(ApiShape::Anthropic) {
        return Err(TranslateError::untranslatable(&b.path, TARGET, &b.reason));
    }
    let no_params = Map::new();
    let params = req
        .extensions
        .for_key(Family::Anthropic.as_str())
        .unwrap_or(&no_params);
    let mut body = Body {
        model: &req.model,
        messages: Vec::new(),
        max_tokens: None,
        system: encode_system(req),
        stop_sequences: Vec::new(),
        temperature: None,
        top_p: None,
        top_k: None,
        stream: req.stream,
        metadata: None,
        tools: Vec::new(),
        tool_choice: None,
        thinking: None,
        output_config: None,
    };
    let mut sanitizer = IdSanitizer::default();
    let continued = Part::text(CONTINUED);
    body.messages = encode_messages(&req.messages, &continued, &mut sanitizer)?;

    // Tools: server tools carried from an Anthropic caller, then custom tools.
    if let Some(Value::Array(server)) = params.get("tools") {
        body.tools.extend(server.iter().map(OutTool::Server));
    }
    let mut allowed: Option<&Vec<String>> = None;
    if let Some(ToolChoice::Allowed { names, .. }) = &req.tool_choice {
        allowed = Some(names);
    }
    for tool in &req.tools {
        if allowed.is_some_and(|names| !names.contains(&tool.name)) {
            continue;
        }
        body.tools.push(OutTool::Function(FunctionTool {
            name: upstream_cow(ApiShape::Anthropic, &tool.name),
            description: tool.description.as_deref(),
            input_schema: tool.parameters.as_ref().map_or(Schema::Empty, Schema::Raw),
            strict: tool.strict,
            cache_control: tool.cache_control.as_ref(),
        }));
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
        .map(String::as_str)
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
                Some(OutSystem::Blocks(b)) => b,
                Some(OutSystem::Text(t)) => vec![OutText {
                    text: t,
                    cache_control: None,
                }],
                None => Vec::new(),
            };
            blocks.push(OutText {
                text: JSON_OBJECT_INSTRUCTION,
                cache_control: None,
            });
            body.system = Some(system_from_blocks(blocks));
        }
        Some(ResponseFormat::Text) | None => {}
    }

    if let Some(user) = &req.user {
        if !looks_like_contact(user) {
            body.metadata = Some(OutMetadata { user_id: user });
        }
    }

    if params.is_empty() {
        return Ok(json::encode_sized(&body, json::REQUEST_BODY_CAPACITY));
    }
    let mut value = serde_json::to_value(&body).unwrap_or(Value::Null);
    if let Value::Object(obj) = &mut value {
        for (key, v) in params {
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
    Ok(json::encode_sized(&value, json::REQUEST_BODY_CAPACITY))
}

fn system_from_blocks(blocks: Vec<OutText<'_>>) -> OutSystem<'_> {
    match blocks.as_slice() {
        [one] if one.cache_control.is_none() => OutSystem::Text(one.text),
        _ => OutSystem::Blocks(blocks),
    }
}

fn encode_system(req: &ChatRequest) -> Option<OutSystem<'_>> {
    let blocks: Vec<OutText<'_>> = req
        .system
        .iter()
        .filter_map(|p| match p {
            Part::Text {
                text,
                cache_control,
            } if !text.is_empty() => Some(OutText {
                text,
                cache_control: cache_control.as_ref(),
            }),
            _ => None,
        })
        .collect();
    (!blocks.is_empty()).then(|| system_from_blocks(blocks))
}

/// Stub definitions for tools used in the history when the request defines none.
fn stub_tools(messages: &[Message]) -> Vec<OutTool<'static>> {
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
            OutTool::Function(FunctionTool {
                name: Cow::Owned(name),
                description: Some(STUB_DESCRIPTION),
                input_schema: Schema::Empty,
                strict: None,
                cache_control: None,
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

fn encode_messages<'a>(
    messages: &'a [Message],
    continued: &'a Part,
    sanitizer: &mut IdSanitizer,
) -> Result<Vec<OutMessage<'a>>, TranslateError> {
    // Drop what Anthropic cannot replay before merging turns, so emptied turns vanish.
    let mut turns = crate::turns::alternate_refs(messages, replayable);
    if turns.first().is_some_and(|m| m.0 == Role::Assistant) {
        turns.insert(0, (Role::User, vec![continued]));
    }
    if turns.is_empty() {
        return Err(TranslateError::untranslatable(
            "messages",
            TARGET,
            "at least one non-empty user message is required",
        ));
    }
    // A trailing assistant turn is a prefill: it must not end with whitespace. Its
    // last text is trimmed (a text emptied so is dropped, and the turn if it empties).
    let mut prefill: Option<&'a str> = None;
    if let Some(last) = turns.last_mut().filter(|m| m.0 == Role::Assistant) {
        if let Some(Part::Text { text, .. }) = last.1.last().copied() {
            let trimmed = text.trim_end();
            if trimmed.is_empty() {
                last.1.pop();
                if last.1.is_empty() {
                    turns.pop();
                }
            } else {
                prefill = Some(trimmed);
            }
        }
    }
    let count = turns.len();
    let mut out = Vec::with_capacity(count);
    for (i, (role, parts)) in turns.iter().enumerate() {
        let mut content = Vec::with_capacity(parts.len());
        for (j, part) in parts.iter().enumerate() {
            if let Some(block) = encode_part(part, &At::Block(i, j), sanitizer)? {
                content.push(block);
            }
        }
        if i + 1 == count {
            if let (Some(trimmed), Some(OutBlock::Text(t))) = (prefill, content.last_mut()) {
                t.text = trimmed;
            }
        }
        out.push(OutMessage {
            role: match role {
                Role::User => "user",
                Role::Assistant => "assistant",
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

fn encode_part<'a>(
    part: &'a Part,
    path: &At<'_>,
    sanitizer: &mut IdSanitizer,
) -> Result<Option<OutBlock<'a>>, TranslateError> {
    Ok(Some(match part {
        Part::Text {
            text,
            cache_control,
        } => {
            if text.is_empty() {
                return Ok(None);
            }
            OutBlock::Text(OutText {
                text,
                cache_control: cache_control.as_ref(),
            })
        }
        Part::Image(img) => OutBlock::Image(OutMedia {
            source: image_source(&img.source, path)?,
            cache_control: img.cache_control.as_ref(),
        }),
        Part::Document(doc) => OutBlock::Document(OutDocument {
            source: document_source(&doc.source, path)?,
            title: doc.title.as_deref().or(doc.filename.as_deref()),
            cache_control: doc.cache_control.as_ref(),
        }),
        Part::ToolCall(call) => {
            let (plain, _) = ids::split_signature(&call.id);
            let input = if call.arguments.trim().is_empty() {
                Input::Empty
            } else {
                match crate::json_text::raw_value(&call.arguments) {
                    Some(raw) => Input::Raw(raw),
                    None => return Err(bad_arguments(&call.arguments, path)),
                }
            };
            if let Input::Raw(raw) = input {
                if !raw.starts_with('{') {
                    return Err(TranslateError::untranslatable(
                        path.to_string(),
                        TARGET,
                        "tool call arguments must be a JSON object",
                    ));
                }
            }
            OutBlock::ToolUse(OutToolUse {
                id: sanitizer.sanitize(plain),
                name: upstream_cow(ApiShape::Anthropic, &call.name),
                input,
            })
        }
        Part::ToolResult(res) => {
            let (plain, _) = ids::split_signature(&res.call_id);
            let mut blocks = Vec::with_capacity(res.content.len());
            for (k, p) in res.content.iter().enumerate() {
                let inner = At::Nested(path, k);
                match p {
                    Part::Text { .. } | Part::Image(_) | Part::Document(_) => {
                        if let Some(b) = encode_part(p, &inner, sanitizer)? {
                            blocks.push(b);
                        }
                    }
                    _ => {
                        return Err(TranslateError::untranslatable(
                            inner.to_string(),
                            TARGET,
                            "tool results may only hold text, images and documents",
                        ));
                    }
                }
            }
            let content = match blocks.as_slice() {
                [] => None,
                [OutBlock::Text(t)] if t.cache_control.is_none() => {
                    Some(OutToolResultContent::Text(t.text))
                }
                _ => Some(OutToolResultContent::Blocks(blocks)),
            };
            OutBlock::ToolResult(OutToolResult {
                tool_use_id: sanitizer.sanitize(plain),
                content,
                is_error: res.is_error.then_some(true),
            })
        }
        Part::Reasoning(r) => {
            if r.source != Some(Family::Anthropic) {
                return Ok(None);
            }
            match (&r.redacted, &r.signature) {
                (Some(data), _) => OutBlock::RedactedThinking(OutRedacted { data }),
                (None, Some(sig)) => OutBlock::Thinking(OutThinking {
                    thinking: &r.text,
                    signature: sig,
                }),
                (None, None) => return Ok(None),
            }
        }
    }))
}

/// The error for arguments that are not JSON, worded by the `Value` parser as before.
#[cold]
fn bad_arguments(arguments: &str, path: &At<'_>) -> TranslateError {
    let reason = match serde_json::from_str::<Value>(arguments) {
        Err(e) => format!("tool call arguments are not valid JSON ({e})"),
        Ok(_) => "tool call arguments are not valid JSON".to_owned(),
    };
    TranslateError::untranslatable(path.to_string(), TARGET, reason)
}

fn image_source<'a>(
    source: &'a MediaSource,
    path: &At<'_>,
) -> Result<OutSource<'a>, TranslateError> {
    Ok(match source {
        MediaSource::Base64 { media_type, data } => {
            if !ANTHROPIC_IMAGE_TYPES.contains(&media_type.as_str()) {
                return Err(TranslateError::untranslatable(
                    path.to_string(),
                    TARGET,
                    format!(
                        "image type `{media_type}` is not accepted; use JPEG, PNG, GIF or WebP"
                    ),
                ));
            }
            OutSource::Base64 { media_type, data }
        }
        MediaSource::Url(url) => OutSource::Url { url },
        MediaSource::FileId(id) => OutSource::File { file_id: id },
    })
}

fn document_source<'a>(
    source: &'a MediaSource,
    path: &At<'_>,
) -> Result<OutSource<'a>, TranslateError> {
    Ok(match source {
        MediaSource::Base64 { media_type, data } if media_type.starts_with("text/") => {
            let text = STANDARD
                .decode(data.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    TranslateError::untranslatable(
                        path.to_string(),
                        TARGET,
                        "text document is not base64 UTF-8",
                    )
                })?;
            OutSource::Text {
                media_type: "text/plain",
                data: text,
            }
        }
        MediaSource::Base64 { media_type, data } if media_type == "application/pdf" => {
            OutSource::Base64 { media_type, data }
        }
        MediaSource::Base64 { media_type, .. } => {
            return Err(TranslateError::untranslatable(
                path.to_string(),
                TARGET,
                format!("documents of type `{media_type}` are not accepted; use PDF or plain text"),
            ));
        }
        MediaSource::Url(url) => OutSource::Url { url },
        MediaSource::FileId(id) => OutSource::File { file_id: id },
    })
}
