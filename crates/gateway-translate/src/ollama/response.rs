//! Non-streamed `/api/chat` answers ↔ the canonical [`ChatResponse`].

use gateway_protocol::{ChatResponse, Family, Part, Reasoning, StopReason, ToolCall, Usage};

use super::convert::{arguments_object, arguments_text};
use super::wire;
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::time::{format_rfc3339, parse_rfc3339};
use crate::{ids, json};

/// The canonical stop reason of Ollama's `done_reason` (PROTOCOLS §8.1): `stop` with
/// tool calls is `ToolUse` (§9.6); a missing reason on a finished answer is `EndTurn`.
pub fn stop_reason(done_reason: Option<&str>, has_tool_calls: bool) -> StopReason {
    let reason = match done_reason {
        None | Some("stop" | "") => StopReason::EndTurn,
        Some("length") => StopReason::MaxTokens,
        Some(_) => StopReason::Other,
    };
    if has_tool_calls && reason == StopReason::EndTurn {
        StopReason::ToolUse
    } else {
        reason
    }
}

/// Ollama's `done_reason` for a canonical stop reason. Ollama knows only `stop` and
/// `length`; a blocked answer is an empty `stop`.
pub fn done_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens | StopReason::ContextExceeded => "length",
        _ => "stop",
    }
}

/// Canonical usage of Ollama's counts; omitted counts are 0 (a fully cached prompt
/// omits `prompt_eval_count`, §9.25). Ollama does not report reasoning tokens.
pub fn usage(prompt_eval_count: Option<u64>, eval_count: Option<u64>) -> Usage {
    Usage {
        input_tokens: prompt_eval_count.unwrap_or(0),
        output_tokens: eval_count.unwrap_or(0),
        ..Usage::default()
    }
}

/// Reads an Ollama answer. The response id stays empty (Ollama has none); call ids
/// missing from the answer are synthesised from `ctx.id_seed`.
pub fn decode(body: &[u8], ctx: &ResponseContext) -> Result<ChatResponse, TranslateError> {
    let wire: wire::Response = json::decode_upstream("response", body)?;
    if let Some(err) = &wire.error {
        return Err(TranslateError::upstream(
            "response",
            format!("error body instead of an answer: {err}"),
        ));
    }
    if wire.message.is_none() && !wire.done {
        return Err(TranslateError::upstream(
            "response",
            "neither a `message` nor `done` in the answer",
        ));
    }
    let mut parts = Vec::new();
    let mut has_calls = false;
    if let Some(m) = &wire.message {
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
        for (k, call) in m.tool_calls.iter().enumerate() {
            has_calls = true;
            parts.push(Part::ToolCall(ToolCall {
                id: call_id(call.id.as_deref(), ctx, k),
                name: ctx.tool_names.caller_name(&call.function.name).to_owned(),
                arguments: arguments_text(&call.function.arguments),
                signature: None,
            }));
        }
    }
    Ok(ChatResponse {
        id: String::new(),
        model: if wire.model.is_empty() {
            ctx.model.clone()
        } else {
            wire.model
        },
        created: wire.created_at.as_deref().and_then(parse_rfc3339),
        parts,
        stop_reason: stop_reason(wire.done_reason.as_deref(), has_calls),
        stop_sequence: None,
        usage: usage(wire.prompt_eval_count, wire.eval_count),
    })
}

/// The id of the `k`-th tool call of an answer: Ollama's own when it sent one.
pub(crate) fn call_id(given: Option<&str>, ctx: &ResponseContext, k: usize) -> String {
    match given.filter(|id| !id.is_empty()) {
        Some(id) => id.to_owned(),
        None => ids::synthesize_call_id(&ctx.id_seed, k),
    }
}

/// Writes the final-object form of an answer (`done:true`), stamped with
/// `ctx.created` and named `ctx.model`. Text parts are concatenated; reasoning text
/// of any source goes to `thinking`. Tool calls carry their ids and an `index`;
/// arguments that are not a JSON object are sent as `{}`.
/// `ctx.elapsed_ns` is the `total_duration`. With `ctx.ollama_generate`, the
/// `/api/generate` form instead.
pub fn encode(resp: &ChatResponse, ctx: &ResponseContext) -> Vec<u8> {
    if ctx.ollama_generate {
        return super::generate::encode_response(resp, ctx);
    }
    let mut content = String::new();
    let mut thinking = String::new();
    let mut tool_calls = Vec::new();
    for part in &resp.parts {
        match part {
            Part::Text { text, .. } => content.push_str(text),
            Part::Reasoning(r) => thinking.push_str(&r.text),
            Part::ToolCall(call) => {
                tool_calls.push(tool_call(call, tool_calls.len()));
            }
            _ => {}
        }
    }
    let body = wire::Response {
        model: ctx.model.clone(),
        created_at: Some(format_rfc3339(ctx.created)),
        message: Some(wire::Message {
            role: "assistant".to_owned(),
            content,
            thinking: (!thinking.is_empty()).then_some(thinking),
            tool_calls,
            ..wire::Message::default()
        }),
        done: true,
        done_reason: Some(done_reason(resp.stop_reason).to_owned()),
        total_duration: ctx.elapsed_ns,
        prompt_eval_count: Some(resp.usage.input_tokens),
        prompt_eval_duration: None,
        eval_count: Some(resp.usage.output_tokens),
        eval_duration: None,
        error: None,
    };
    json::encode(&body)
}

/// The wire form of a canonical call at position `index`.
pub(crate) fn tool_call(call: &ToolCall, index: usize) -> wire::ToolCall {
    let arguments = arguments_object(&call.arguments).unwrap_or_else(|_| empty_object());
    wire::ToolCall {
        id: (!call.id.is_empty()).then(|| call.id.clone()),
        function: wire::FunctionCall {
            index: Some(u64::try_from(index).unwrap_or(u64::MAX)),
            name: call.name.clone(),
            arguments,
        },
    }
}

fn empty_object() -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(&serde_json::Map::new())
        .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned())
}
