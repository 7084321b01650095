//! Anthropic non-streamed answers: upstream body → canonical, canonical → caller body.
//!
//! Usage arithmetic (PROTOCOLS §8.12): canonical input = `input_tokens` +
//! `cache_read_input_tokens` + `cache_creation_input_tokens`; the encoder subtracts the
//! cache counts again. Reasoning is shown to Anthropic callers only when it is
//! Anthropic's own (signed or redacted): a foreign thinking block would be rejected
//! when the caller replays it.

use gateway_protocol::{ChatResponse, Family, Part, Reasoning, StopReason, ToolCall, Usage};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::wire;
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::ids;
use crate::json;

/// Decodes an upstream `/v1/messages` answer.
pub fn decode(body: &[u8], ctx: &ResponseContext) -> Result<ChatResponse, TranslateError> {
    let msg: wire::Message = json::decode_upstream("response", body)?;
    if msg.kind == "error" {
        return Err(TranslateError::upstream(
            "response",
            "the body is an error envelope",
        ));
    }
    let seed = if msg.id.is_empty() {
        ctx.id_seed.as_str()
    } else {
        msg.id.as_str()
    };
    let mut parts = Vec::with_capacity(msg.content.len());
    for (i, block) in msg.content.into_iter().enumerate() {
        if let Some(part) = decode_block(block, ctx, seed, i)? {
            parts.push(part);
        }
    }
    let mut stop_reason = stop_from_wire(msg.stop_reason.as_deref());
    if stop_reason == StopReason::EndTurn && parts.iter().any(|p| matches!(p, Part::ToolCall(_))) {
        stop_reason = StopReason::ToolUse;
    }
    Ok(ChatResponse {
        id: msg.id,
        model: msg.model,
        created: None,
        parts,
        stop_reason,
        stop_sequence: msg.stop_sequence,
        usage: usage_from_wire(&msg.usage),
    })
}

/// One upstream content block; unknown kinds (server-tool blocks) are skipped.
fn decode_block(
    block: Value,
    ctx: &ResponseContext,
    seed: &str,
    index: usize,
) -> Result<Option<Part>, TranslateError> {
    let kind = block
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let bad = |e: serde_json::Error| {
        TranslateError::upstream("response", format!("content[{index}]: {e}"))
    };
    Ok(Some(match kind.as_str() {
        "text" => {
            let b: wire::TextBlock = serde_json::from_value(block).map_err(bad)?;
            Part::text(b.text)
        }
        "thinking" => {
            let b: wire::ThinkingBlock = serde_json::from_value(block).map_err(bad)?;
            Part::Reasoning(Reasoning {
                text: b.thinking,
                signature: Some(b.signature),
                source: Some(Family::Anthropic),
                ..Reasoning::default()
            })
        }
        "redacted_thinking" => {
            let b: wire::RedactedThinkingBlock = serde_json::from_value(block).map_err(bad)?;
            Part::Reasoning(Reasoning {
                redacted: Some(b.data),
                source: Some(Family::Anthropic),
                ..Reasoning::default()
            })
        }
        "tool_use" => {
            let b: wire::ToolUseBlock = serde_json::from_value(block).map_err(bad)?;
            let (id, signature) = ids::split_signature(&b.id);
            let id = if id.is_empty() {
                ids::synthesize_call_id(seed, index)
            } else {
                id.to_owned()
            };
            let arguments = if b.input.is_null() {
                "{}".to_owned()
            } else {
                b.input.to_string()
            };
            Part::ToolCall(ToolCall {
                id,
                name: ctx.tool_names.caller_name(&b.name).to_owned(),
                arguments,
                signature,
            })
        }
        _ => return Ok(None),
    }))
}

/// Anthropic `stop_reason` → canonical (§8.1).
pub(crate) fn stop_from_wire(reason: Option<&str>) -> StopReason {
    match reason {
        Some("end_turn") | None => StopReason::EndTurn,
        Some("max_tokens") => StopReason::MaxTokens,
        Some("stop_sequence") => StopReason::StopSequence,
        Some("tool_use") => StopReason::ToolUse,
        Some("refusal") => StopReason::ContentFilter,
        Some("pause_turn") => StopReason::PauseTurn,
        Some("model_context_window_exceeded") => StopReason::ContextExceeded,
        Some(_) => StopReason::Other,
    }
}

/// Canonical → Anthropic `stop_reason` and `stop_sequence` (§8.1: an unknown matched
/// sequence becomes `end_turn`).
pub(crate) fn stop_to_wire(
    reason: StopReason,
    sequence: Option<&str>,
) -> (&'static str, Option<String>) {
    match reason {
        StopReason::EndTurn | StopReason::Other => ("end_turn", None),
        StopReason::StopSequence => match sequence {
            Some(s) => ("stop_sequence", Some(s.to_owned())),
            None => ("end_turn", None),
        },
        StopReason::MaxTokens => ("max_tokens", None),
        StopReason::ToolUse => ("tool_use", None),
        StopReason::ContentFilter => ("refusal", None),
        StopReason::PauseTurn => ("pause_turn", None),
        StopReason::ContextExceeded => ("model_context_window_exceeded", None),
    }
}

/// Anthropic usage → canonical arithmetic.
pub(crate) fn usage_from_wire(u: &wire::Usage) -> Usage {
    let cache_read = u.cache_read_input_tokens.unwrap_or(0);
    let cache_write = u.cache_creation_input_tokens.unwrap_or(0);
    Usage {
        input_tokens: u
            .input_tokens
            .unwrap_or(0)
            .saturating_add(cache_read)
            .saturating_add(cache_write),
        cache_read_tokens: cache_read,
        cache_write_tokens: cache_write,
        output_tokens: u.output_tokens.unwrap_or(0),
        reasoning_tokens: u
            .output_tokens_details
            .as_ref()
            .map_or(0, |d| d.thinking_tokens),
    }
}

/// Canonical usage → Anthropic (input excludes cache reads and writes).
pub(crate) fn usage_to_wire(u: &Usage) -> wire::Usage {
    wire::Usage {
        input_tokens: Some(u.uncached_input_tokens()),
        cache_creation_input_tokens: Some(u.cache_write_tokens),
        cache_read_input_tokens: Some(u.cache_read_tokens),
        output_tokens: Some(u.output_tokens),
        output_tokens_details: (u.reasoning_tokens > 0).then_some(wire::OutputTokensDetails {
            thinking_tokens: u.reasoning_tokens,
        }),
    }
}

/// The `msg_…` id to show: the answer's id when it has the prefix, otherwise prefixed,
/// or derived from the context's seed when there is none.
pub(crate) fn message_id(id: &str, ctx: &ResponseContext) -> String {
    if id.starts_with("msg_") {
        id.to_owned()
    } else if !id.is_empty() {
        format!("msg_{id}")
    } else {
        let digest = Sha256::digest(ctx.id_seed.as_bytes());
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        format!("msg_{hex}")
    }
}

/// Tool-call arguments as Anthropic's `input` object (`{}` when empty or unreadable —
/// Anthropic has no place for anything but an object).
pub(crate) fn arguments_to_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Object(Map::new()),
    }
}

/// Whether a reasoning part may be shown to an Anthropic caller.
pub(crate) fn showable(r: &Reasoning) -> bool {
    r.source == Some(Family::Anthropic) && (r.redacted.is_some() || r.signature.is_some())
}

/// Encodes a canonical answer for an Anthropic caller.
pub fn encode(resp: &ChatResponse, ctx: &ResponseContext) -> Vec<u8> {
    let mut content = Vec::with_capacity(resp.parts.len());
    for part in &resp.parts {
        let block = match part {
            Part::Text { text, .. } if !text.is_empty() => wire::Block::Text(wire::TextBlock {
                text: text.clone(),
                cache_control: None,
            }),
            Part::Reasoning(r) if showable(r) => match (&r.redacted, &r.signature) {
                (Some(data), _) => wire::Block::RedactedThinking(wire::RedactedThinkingBlock {
                    data: data.clone(),
                }),
                (None, sig) => wire::Block::Thinking(wire::ThinkingBlock {
                    thinking: r.text.clone(),
                    signature: sig.clone().unwrap_or_default(),
                }),
            },
            Part::ToolCall(c) => wire::Block::ToolUse(wire::ToolUseBlock {
                id: match &c.signature {
                    Some(s) => ids::attach_signature(&c.id, s),
                    None => c.id.clone(),
                },
                name: c.name.clone(),
                input: arguments_to_input(&c.arguments),
                cache_control: None,
            }),
            _ => continue,
        };
        content.push(serde_json::to_value(block).unwrap_or(Value::Null));
    }
    let (stop_reason, stop_sequence) =
        stop_to_wire(resp.stop_reason, resp.stop_sequence.as_deref());
    let msg = wire::Message {
        id: message_id(&resp.id, ctx),
        kind: "message".into(),
        role: "assistant".into(),
        model: ctx.model.clone(),
        content,
        stop_reason: Some(stop_reason.into()),
        stop_sequence,
        usage: usage_to_wire(&resp.usage),
    };
    json::encode(&msg)
}
