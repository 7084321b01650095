//! Whole `Converse` answers ↔ the canonical [`ChatResponse`], and the stop reasons the
//! stream codecs share.

use gateway_protocol::{ChatResponse, Part, StopReason};
use serde_json::json;

use super::convert::{input_value, part_of, usage_of, wire_usage};
use super::wire;
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::json;

/// The canonical stop reason of Converse's `stopReason`. A guardrail's intervention
/// and a content filter are both [`StopReason::ContentFilter`].
pub fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "end_turn" | "" => StopReason::EndTurn,
        "tool_use" => StopReason::ToolUse,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "guardrail_intervened" | "content_filtered" => StopReason::ContentFilter,
        "model_context_window_exceeded" => StopReason::ContextExceeded,
        _ => StopReason::Other,
    }
}

/// Converse's `stopReason` for a canonical one (`pause_turn` and other reasons
/// without a Converse word are `end_turn`).
pub fn wire_stop_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn | StopReason::PauseTurn | StopReason::Other => "end_turn",
        StopReason::ToolUse => "tool_use",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ContentFilter => "content_filtered",
        StopReason::ContextExceeded => "model_context_window_exceeded",
    }
}

/// Canonical usage of Converse's counts (cache reads and writes added to the input).
pub fn usage(u: &wire::Usage) -> gateway_protocol::Usage {
    usage_of(u)
}

/// The stop sequence that matched, which Claude models report in
/// `additionalModelResponseFields.stop_sequence` (Converse itself does not say).
pub(crate) fn matched_stop_sequence(fields: Option<&serde_json::Value>) -> Option<String> {
    fields?.get("stop_sequence")?.as_str().map(str::to_owned)
}

/// The `additionalModelResponseFields` that carry a matched stop sequence.
pub(crate) fn stop_sequence_fields(seq: Option<&String>) -> Option<serde_json::Value> {
    seq.map(|s| json!({ "stop_sequence": s }))
}

/// Reads a `Converse` answer. Converse has no response id and does not name the
/// model: the id stays empty (each caller shape's encoder derives its own) and the
/// model is `ctx.model`. Tool names are restored to the caller's.
pub fn decode(body: &[u8], ctx: &ResponseContext) -> Result<ChatResponse, TranslateError> {
    let wire: wire::Response = json::decode_upstream("response", body)?;
    let Some(message) = &wire.output.message else {
        return Err(TranslateError::upstream(
            "response",
            "no `output.message` in the answer",
        ));
    };
    let mut parts = Vec::with_capacity(message.content.len());
    for (j, block) in message.content.iter().enumerate() {
        let path = format!("output.message.content[{j}]");
        match part_of(block, &path) {
            Ok(Some(Part::ToolCall(mut call))) => {
                call.name = ctx.tool_names.caller_name(&call.name).to_owned();
                parts.push(Part::ToolCall(call));
            }
            Ok(Some(part)) => parts.push(part),
            Ok(None) => {}
            Err(e) => return Err(TranslateError::upstream("response", e.to_string())),
        }
    }
    Ok(ChatResponse {
        id: String::new(),
        model: ctx.model.clone(),
        created: None,
        parts,
        stop_reason: stop_reason(&wire.stop_reason),
        stop_sequence: matched_stop_sequence(wire.extra.get("additionalModelResponseFields")),
        usage: wire.usage.as_ref().map(usage_of).unwrap_or_default(),
    })
}

/// Writes a `Converse` answer (the Bedrock-shaped mock's). Parts Converse cannot
/// carry in an answer (tool results, media) are left out; arguments that are not a
/// JSON object become `{}`.
pub fn encode(resp: &ChatResponse, _ctx: &ResponseContext) -> Vec<u8> {
    let mut content = Vec::with_capacity(resp.parts.len());
    for part in &resp.parts {
        let mut b = wire::ContentBlock::default();
        match part {
            Part::Text { text, .. } => b.text = Some(text.clone()),
            Part::ToolCall(call) => {
                b.tool_use = Some(wire::ToolUse {
                    tool_use_id: call.id.clone(),
                    name: call.name.clone(),
                    input: input_value(&call.arguments, "").unwrap_or_else(|_| json!({})),
                });
            }
            Part::Reasoning(r) => {
                b.reasoning_content = Some(match &r.redacted {
                    Some(data) => wire::ReasoningContent {
                        redacted_content: Some(data.clone()),
                        ..wire::ReasoningContent::default()
                    },
                    None => wire::ReasoningContent {
                        reasoning_text: Some(wire::ReasoningText {
                            text: r.text.clone(),
                            signature: r.signature.clone(),
                        }),
                        ..wire::ReasoningContent::default()
                    },
                });
            }
            Part::Image(_) | Part::Document(_) | Part::ToolResult(_) => continue,
        }
        content.push(b);
    }
    let body = wire::Response {
        output: wire::Output {
            message: Some(wire::Message {
                role: "assistant".to_owned(),
                content,
            }),
        },
        stop_reason: wire_stop_reason(resp.stop_reason).to_owned(),
        usage: Some(wire_usage(&resp.usage)),
        metrics: Some(json!({"latencyMs": 0})),
        extra: stop_sequence_fields(resp.stop_sequence.as_ref())
            .map(|v| serde_json::Map::from_iter([("additionalModelResponseFields".to_owned(), v)]))
            .unwrap_or_default(),
    };
    json::encode(&body)
}
