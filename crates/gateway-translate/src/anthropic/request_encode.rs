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

use gateway_protocol::{ApiShape, ChatRequest, Family, Message, Part, ResponseFormat, ToolChoice};
use serde_json::{Map, Value, json};

use super::request_write::{self, cache_control, separate, value};
use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::json_text::write_u64;
use crate::json_writer::{escape_into, float_member};
use crate::names::{upstream_cow, upstream_name};

pub(super) const TARGET: &str = "Anthropic Messages";
const MIN_BUDGET: u64 = 1024;
/// Answer room added above the thinking budget when `max_tokens` is not above it.
const ANSWER_ROOM: u64 = 1024;
/// The instruction used for `json_object` (no native Anthropic form).
pub const JSON_OBJECT_INSTRUCTION: &str =
    "Respond with a single valid JSON object and nothing else.";
/// The text of the user turn prepended when a history starts with the assistant.
pub const CONTINUED: &str = "(continued)";
const STUB_DESCRIPTION: &str = "Used earlier in this conversation.";
/// The `input_schema` of a tool defined without one.
const EMPTY_SCHEMA: &[u8] = b"{\"type\":\"object\",\"properties\":{}}";

// ---------------------------------------------------------------------------------
// The body is written as JSON text straight from the canonical request (its
// `messages` by `request_write.rs`): no wire structs, no `Value` tree but for caller
// parameters to merge. Fields and their skip rules are those of the serde structs this
// replaced; the tests pin the bytes.

/// `tool_choice`, as [`super::wire::ToolChoice`] writes it.
#[derive(Clone, Copy)]
enum Choice<'a> {
    Auto,
    Any,
    Tool(&'a str),
    None,
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
    let mut out = Vec::with_capacity(crate::json::REQUEST_BODY_CAPACITY);
    out.extend_from_slice(b"{\"model\":");
    escape_into(&mut out, &req.model);
    out.extend_from_slice(b",\"messages\":[");
    request_write::messages(&mut out, &req.messages)?;
    out.push(b']');

    // Tools: server tools carried from an Anthropic caller, then custom tools; stubs
    // for the history's tools when there are none.
    let server = match params.get("tools") {
        Some(Value::Array(server)) => server.as_slice(),
        _ => &[],
    };
    let allowed = match &req.tool_choice {
        Some(ToolChoice::Allowed { names, .. }) => Some(names),
        _ => None,
    };
    let custom = req
        .tools
        .iter()
        .filter(|t| allowed.is_none_or(|names| names.contains(&t.name)));
    let stubs = if server.is_empty() && custom.clone().next().is_none() {
        stub_names(&req.messages)
    } else {
        BTreeSet::new()
    };
    let has_tools = !server.is_empty() || custom.clone().next().is_some() || !stubs.is_empty();

    // Sampling.
    let mut max_tokens = req
        .sampling
        .max_output_tokens
        .unwrap_or(opts.default_max_tokens);
    let mut temperature = req.sampling.temperature.map(|t| t.clamp(0.0, 1.0));
    let mut top_p = req.sampling.top_p;
    let mut top_k = req.sampling.top_k;

    // Reasoning.
    let mut thinking_on = false;
    let mut thinking = None;
    if let Some(r) = &req.reasoning {
        if r.enabled() {
            thinking_on = true;
            let budget = r.effective_budget().unwrap_or(MIN_BUDGET).max(MIN_BUDGET);
            let value = match params.get("thinking") {
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
            if value.get("type") == Some(&json!("enabled")) && max_tokens <= budget {
                max_tokens = budget.saturating_add(ANSWER_ROOM);
            }
            thinking = Some(value);
        } else if r.effort == Some(gateway_protocol::Effort::None) {
            thinking = Some(json!({"type": "disabled"}));
        }
    }
    if thinking_on {
        temperature = None;
        top_k = None;
        if top_p.is_some_and(|p| p < 0.95) {
            top_p = None;
        }
    }

    // Tool choice and parallel calls; forced choices are downgraded while thinking.
    let disable = req.parallel_tool_calls == Some(false);
    let mut choice = match &req.tool_choice {
        None if disable && has_tools => Some(Choice::Auto),
        None => None,
        Some(ToolChoice::None) => Some(Choice::None),
        Some(ToolChoice::Auto)
        | Some(ToolChoice::Allowed {
            required: false, ..
        }) => Some(Choice::Auto),
        Some(ToolChoice::Required) | Some(ToolChoice::Allowed { required: true, .. }) => {
            Some(Choice::Any)
        }
        Some(ToolChoice::Tool(name)) => Some(Choice::Tool(name)),
    };
    if thinking_on && matches!(choice, Some(Choice::Any | Choice::Tool(_))) {
        choice = Some(Choice::Auto);
    }

    out.extend_from_slice(b",\"max_tokens\":");
    write_u64(&mut out, max_tokens);
    system(
        &mut out,
        req,
        matches!(req.response_format, Some(ResponseFormat::JsonObject)),
    );
    let mut stop = req.sampling.stop.iter().filter(|s| !s.trim().is_empty());
    if let Some(first) = stop.next() {
        out.extend_from_slice(b",\"stop_sequences\":[");
        escape_into(&mut out, first);
        for s in stop {
            out.push(b',');
            escape_into(&mut out, s);
        }
        out.push(b']');
    }
    float_member(&mut out, b",\"temperature\":", temperature);
    float_member(&mut out, b",\"top_p\":", top_p);
    if let Some(k) = top_k {
        out.extend_from_slice(b",\"top_k\":");
        write_u64(&mut out, k);
    }
    if req.stream {
        out.extend_from_slice(b",\"stream\":true");
    }
    if let Some(user) = req.user.as_deref().filter(|u| !looks_like_contact(u)) {
        out.extend_from_slice(b",\"metadata\":{\"user_id\":");
        escape_into(&mut out, user);
        out.push(b'}');
    }
    if has_tools {
        out.extend_from_slice(b",\"tools\":[");
        for tool in server {
            separate(&mut out);
            value(&mut out, tool);
        }
        for tool in custom {
            separate(&mut out);
            out.extend_from_slice(b"{\"name\":");
            escape_into(&mut out, &upstream_cow(ApiShape::Anthropic, &tool.name));
            if let Some(d) = &tool.description {
                out.extend_from_slice(b",\"description\":");
                escape_into(&mut out, d);
            }
            out.extend_from_slice(b",\"input_schema\":");
            match &tool.parameters {
                // Kept JSON text, written as is (as serde_json writes a `RawValue`).
                Some(schema) => out.extend_from_slice(schema.get().as_bytes()),
                None => out.extend_from_slice(EMPTY_SCHEMA),
            }
            if let Some(strict) = tool.strict {
                out.extend_from_slice(if strict {
                    b",\"strict\":true"
                } else {
                    b",\"strict\":false"
                });
            }
            cache_control(&mut out, tool.cache_control.as_ref());
            out.push(b'}');
        }
        for name in &stubs {
            separate(&mut out);
            out.extend_from_slice(b"{\"name\":");
            escape_into(&mut out, name);
            out.extend_from_slice(b",\"description\":");
            escape_into(&mut out, STUB_DESCRIPTION);
            out.extend_from_slice(b",\"input_schema\":");
            out.extend_from_slice(EMPTY_SCHEMA);
            out.push(b'}');
        }
        out.push(b']');
    }
    if let Some(choice) = choice {
        tool_choice(&mut out, choice, disable);
    }
    if let Some(thinking) = &thinking {
        out.extend_from_slice(b",\"thinking\":");
        value(&mut out, thinking);
    }
    if let Some(ResponseFormat::JsonSchema { schema, .. }) = &req.response_format {
        // A map built with `json!` once: its keys come sorted.
        out.extend_from_slice(b",\"output_config\":{\"format\":{\"schema\":");
        value(&mut out, schema);
        out.extend_from_slice(b",\"type\":\"json_schema\"}}");
    }
    out.push(b'}');

    if params.is_empty() {
        return Ok(out);
    }
    with_params(&out, [temperature, top_p], params)
}

/// The body with the caller's carried parameters merged in (not `tools` or
/// `thinking`, which have their places above): keys the body lacks are added, objects
/// on both sides get the inner keys they lack. Written as its `Value` tree is (keys
/// sorted): the body's text parsed again, with `temperature` and `top_p` put back as
/// they are (a parse of their shortest text need not give the same `f64` back without
/// serde_json's `float_roundtrip`).
#[cold]
fn with_params(
    out: &[u8],
    [temperature, top_p]: [Option<f64>; 2],
    params: &Map<String, Value>,
) -> Result<Vec<u8>, TranslateError> {
    let floats = [("temperature", temperature), ("top_p", top_p)];
    let mut obj = crate::json::reopened(out, &floats, |e| {
        TranslateError::untranslatable(
            "messages",
            TARGET,
            format!("the body cannot take the carried Anthropic fields ({e})"),
        )
    })?;
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
    Ok(crate::json::encode_sized(
        &obj,
        crate::json::REQUEST_BODY_CAPACITY,
    ))
}

/// `"system"` after a comma: the system's non-empty texts (and the `json_object`
/// instruction), one text without cache control as a string, else as text blocks.
fn system(out: &mut Vec<u8>, req: &ChatRequest, json_object: bool) {
    let blocks = req
        .system
        .iter()
        .filter_map(|p| match p {
            Part::Text {
                text,
                cache_control,
            } if !text.is_empty() => Some((text.as_str(), cache_control.as_ref())),
            _ => None,
        })
        .chain(json_object.then_some((JSON_OBJECT_INSTRUCTION, None)));
    let mut rest = blocks.clone();
    let Some(first) = rest.next() else {
        return;
    };
    out.extend_from_slice(b",\"system\":");
    if let ((text, None), None) = (first, rest.next()) {
        escape_into(out, text);
        return;
    }
    out.push(b'[');
    for (n, (text, cc)) in blocks.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"text\":");
        escape_into(out, text);
        cache_control(out, cc);
        out.push(b'}');
    }
    out.push(b']');
}

/// `,"tool_choice":…`.
fn tool_choice(out: &mut Vec<u8>, choice: Choice<'_>, disable: bool) {
    out.extend_from_slice(b",\"tool_choice\":{\"type\":");
    match choice {
        Choice::Auto => out.extend_from_slice(b"\"auto\""),
        Choice::Any => out.extend_from_slice(b"\"any\""),
        Choice::Tool(name) => {
            out.extend_from_slice(b"\"tool\",\"name\":");
            escape_into(out, &upstream_cow(ApiShape::Anthropic, name));
        }
        Choice::None => {
            out.extend_from_slice(b"\"none\"}");
            return;
        }
    }
    if disable {
        out.extend_from_slice(b",\"disable_parallel_tool_use\":true");
    }
    out.push(b'}');
}

/// Names of the tools used in the history, for stub definitions when the request
/// defines none.
fn stub_names(messages: &[Message]) -> BTreeSet<String> {
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

#[cfg(test)]
mod tests;
