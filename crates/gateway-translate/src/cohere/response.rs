//! Whole `/v2/chat` answers ↔ the canonical [`ChatResponse`], and the finish reasons
//! and usage the stream codecs share.

use gateway_protocol::{ChatResponse, Part, StopReason, Usage};

use super::request::{content_part, tool_call};
use super::wire;
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::json;

/// The canonical stop reason of Cohere's `finish_reason`. `ERROR` and `TIMEOUT` (the
/// generation failed or ran out of time) are [`StopReason::Other`].
pub fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "COMPLETE" | "" => StopReason::EndTurn,
        "STOP_SEQUENCE" => StopReason::StopSequence,
        "MAX_TOKENS" => StopReason::MaxTokens,
        "TOOL_CALL" => StopReason::ToolUse,
        _ => StopReason::Other,
    }
}

/// Cohere's `finish_reason` for a canonical one (a blocked answer and other reasons
/// without a Cohere word are `ERROR`; an exceeded context is `MAX_TOKENS`).
pub fn wire_stop_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn | StopReason::PauseTurn => "COMPLETE",
        StopReason::StopSequence => "STOP_SEQUENCE",
        StopReason::MaxTokens | StopReason::ContextExceeded => "MAX_TOKENS",
        StopReason::ToolUse => "TOOL_CALL",
        StopReason::ContentFilter | StopReason::Other => "ERROR",
    }
}

/// Canonical usage of Cohere's: the billed units when present (what Cohere prices;
/// they leave out the prompt template Cohere adds), else the model's token counts;
/// `cached_tokens` are cache reads, already inside the input.
pub fn usage(u: &wire::Usage) -> Usage {
    let counts = u.billed_units.or(u.tokens).unwrap_or_default();
    let input = counts.input_tokens.unwrap_or(0);
    Usage {
        input_tokens: input,
        output_tokens: counts.output_tokens.unwrap_or(0),
        cache_read_tokens: u.cached_tokens.unwrap_or(0).min(input),
        cache_write_tokens: 0,
        reasoning_tokens: 0,
    }
}

/// Cohere's usage of canonical counts (billed units and tokens alike).
pub fn wire_usage(u: &Usage) -> wire::Usage {
    let counts = wire::Counts {
        input_tokens: Some(u.input_tokens),
        output_tokens: Some(u.output_tokens),
    };
    wire::Usage {
        billed_units: Some(counts),
        tokens: Some(counts),
        cached_tokens: (u.cache_read_tokens > 0).then_some(u.cache_read_tokens),
    }
}

/// Reads a `/v2/chat` answer. Cohere does not name the model in it: the model is
/// `ctx.model`. Content parts come first, then the tool plan as text, then the calls
/// (their names restored to the caller's).
pub fn decode(body: &[u8], ctx: &ResponseContext) -> Result<ChatResponse, TranslateError> {
    let wire: wire::Response = json::decode_upstream("response", body)?;
    let msg = &wire.message;
    let mut parts = Vec::new();
    match &msg.content {
        None => {}
        Some(wire::Content::Text(t)) => parts.push(Part::text(t.clone())),
        Some(wire::Content::Parts(ps)) => parts.extend(ps.iter().filter_map(content_part)),
    }
    if let Some(plan) = msg.tool_plan.as_ref().filter(|p| !p.is_empty()) {
        parts.push(Part::text(plan.clone()));
    }
    for (k, call) in msg.tool_calls.iter().enumerate() {
        let mut call = tool_call(call, &format!("message.tool_calls[{k}]"))
            .map_err(|e| TranslateError::upstream("response", e.to_string()))?;
        call.name = ctx.tool_names.caller_name(&call.name).to_owned();
        parts.push(Part::ToolCall(call));
    }
    Ok(ChatResponse {
        id: wire.id,
        model: ctx.model.clone(),
        created: None,
        parts,
        stop_reason: stop_reason(&wire.finish_reason),
        stop_sequence: None,
        usage: wire.usage.as_ref().map(usage).unwrap_or_default(),
    })
}

/// Writes a `/v2/chat` answer (the Cohere-shaped mock's). With calls, the text is the
/// tool plan; parts Cohere cannot carry in an answer (media, tool results, redacted
/// reasoning) are left out.
pub fn encode(resp: &ChatResponse, ctx: &ResponseContext) -> Vec<u8> {
    let has_calls = resp.parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    let mut content = Vec::new();
    let mut plan = String::new();
    let mut tool_calls = Vec::new();
    for part in &resp.parts {
        match part {
            Part::Text { text, .. } if has_calls => plan.push_str(text),
            Part::Text { text, .. } => content.push(wire::ContentPart {
                kind: "text".to_owned(),
                text: Some(text.clone()),
                ..wire::ContentPart::default()
            }),
            Part::Reasoning(r) if r.redacted.is_none() => content.push(wire::ContentPart {
                kind: "thinking".to_owned(),
                thinking: Some(r.text.clone()),
                ..wire::ContentPart::default()
            }),
            Part::ToolCall(call) => tool_calls.push(wire::ToolCall {
                id: call.id.clone(),
                kind: Some("function".to_owned()),
                function: Some(wire::FunctionCall {
                    name: Some(call.name.clone()),
                    arguments: Some(call.arguments.clone()),
                }),
            }),
            Part::Reasoning(_) | Part::Image(_) | Part::Document(_) | Part::ToolResult(_) => {}
        }
    }
    let id = if resp.id.is_empty() {
        ctx.id_seed.clone()
    } else {
        resp.id.clone()
    };
    let body = wire::Response {
        id,
        finish_reason: wire_stop_reason(resp.stop_reason).to_owned(),
        message: wire::Message {
            role: "assistant".to_owned(),
            content: Some(wire::Content::Parts(content)),
            tool_calls,
            tool_plan: (!plan.is_empty()).then_some(plan),
            ..wire::Message::default()
        },
        usage: Some(wire_usage(&resp.usage)),
        extra: serde_json::Map::new(),
    };
    json::encode(&body)
}
