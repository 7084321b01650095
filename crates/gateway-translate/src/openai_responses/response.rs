//! Non-stream Responses bodies ↔ canonical [`ChatResponse`], and the pieces of a
//! response snapshot the stream encoder shares (ids, status, usage, output items).

use gateway_protocol::{ChatResponse, Family, Part, Reasoning, StopReason, ToolCall, Usage};
use serde_json::{Value, json};

use super::messages::{reasoning_from_item, summary_parts};
use super::wire;
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::{ids, json};

/// Reads an upstream's response object.
pub fn decode(body: &[u8], ctx: &ResponseContext) -> Result<ChatResponse, TranslateError> {
    let wire: wire::Response = json::decode_upstream("response", body)?;
    if wire.status == "failed" || (wire.status.is_empty() && wire.error.is_some()) {
        let message = wire
            .error
            .map(|e| e.message)
            .unwrap_or_else(|| "the response failed".to_owned());
        return Err(TranslateError::upstream("response", message));
    }
    let seed = if wire.id.is_empty() {
        ctx.id_seed.as_str()
    } else {
        wire.id.as_str()
    };
    let mut parts = Vec::new();
    let mut calls = 0usize;
    for item in wire.output {
        match item {
            wire::Item::Message(m) => {
                for c in m.content {
                    match c {
                        wire::ContentPart::OutputText(t) => parts.push(Part::text(t.text)),
                        wire::ContentPart::InputText(t) => parts.push(Part::text(t.text)),
                        wire::ContentPart::Refusal(r) => parts.push(Part::text(r.refusal)),
                        _ => {}
                    }
                }
            }
            wire::Item::FunctionCall(f) => {
                parts.push(Part::ToolCall(tool_call(f, seed, calls, ctx)));
                calls += 1;
            }
            wire::Item::Reasoning(r) => parts.push(Part::Reasoning(reasoning_from_item(r))),
            wire::Item::FunctionCallOutput(_) | wire::Item::Other => {}
        }
    }
    let stop_reason = stop_reason(
        &wire.status,
        wire.incomplete_details
            .as_ref()
            .and_then(|d| d.reason.as_deref()),
        calls > 0,
    );
    Ok(ChatResponse {
        id: wire.id,
        model: wire.model,
        created: (wire.created_at > 0).then_some(wire.created_at),
        parts,
        stop_reason,
        stop_sequence: None,
        usage: wire.usage.map(usage_from_wire).unwrap_or_default(),
    })
}

/// A canonical tool call from a `function_call` item (signature split off the id,
/// caller's tool name restored, id synthesised when missing).
pub(crate) fn tool_call(
    f: wire::FunctionCallItem,
    seed: &str,
    index: usize,
    ctx: &ResponseContext,
) -> ToolCall {
    let (id, signature) = if f.call_id.is_empty() {
        (ids::synthesize_call_id(seed, index), None)
    } else {
        let (id, sig) = ids::split_signature(&f.call_id);
        (id.to_owned(), sig)
    };
    ToolCall {
        id,
        name: ctx.tool_names.caller_name(&f.name).to_owned(),
        arguments: f.arguments,
        signature,
    }
}

/// The canonical stop reason of a terminal status (PROTOCOLS §8.1).
pub(crate) fn stop_reason(status: &str, incomplete: Option<&str>, has_calls: bool) -> StopReason {
    match status {
        "completed" if has_calls => StopReason::ToolUse,
        "completed" => StopReason::EndTurn,
        "incomplete" => match incomplete {
            Some("content_filter") => StopReason::ContentFilter,
            _ => StopReason::MaxTokens,
        },
        _ => StopReason::Other,
    }
}

/// Canonical usage from the wire (same inclusion rules: cached ⊂ input, reasoning ⊂ output).
pub(crate) fn usage_from_wire(u: wire::Usage) -> Usage {
    Usage {
        input_tokens: u.input_tokens,
        cache_read_tokens: u.input_tokens_details.cached_tokens,
        cache_write_tokens: u.input_tokens_details.cache_write_tokens.unwrap_or(0),
        output_tokens: u.output_tokens,
        reasoning_tokens: u.output_tokens_details.reasoning_tokens,
    }
}

/// Wire usage from canonical usage.
pub(crate) fn usage_to_wire(u: &Usage) -> wire::Usage {
    wire::Usage {
        input_tokens: u.input_tokens,
        input_tokens_details: wire::InputTokensDetails {
            cached_tokens: u.cache_read_tokens,
            cache_write_tokens: (u.cache_write_tokens > 0).then_some(u.cache_write_tokens),
        },
        output_tokens: u.output_tokens,
        output_tokens_details: wire::OutputTokensDetails {
            reasoning_tokens: u.reasoning_tokens,
        },
        total_tokens: u.total_tokens(),
    }
}

/// Terminal status and `incomplete_details` for a stop reason (PROTOCOLS §8.1).
pub(crate) fn status_for(stop: StopReason) -> (&'static str, Option<wire::IncompleteDetails>) {
    let incomplete = |reason: &str| {
        Some(wire::IncompleteDetails {
            reason: Some(reason.to_owned()),
        })
    };
    match stop {
        StopReason::MaxTokens | StopReason::ContextExceeded => {
            ("incomplete", incomplete("max_output_tokens"))
        }
        StopReason::ContentFilter => ("incomplete", incomplete("content_filter")),
        _ => ("completed", None),
    }
}

/// The response id to show, always `resp_` prefixed: the one the context names, else
/// the upstream's, else one derived from the seed.
pub(crate) fn response_id(id: &str, ctx: &ResponseContext) -> String {
    if let Some(id) = &ctx.response_id {
        id.clone()
    } else if id.starts_with("resp_") {
        id.to_owned()
    } else if id.is_empty() {
        format!("resp_{}", ctx.id_seed)
    } else {
        format!("resp_{id}")
    }
}

/// A stable item id: `<prefix>_<response id without resp_>_<output index>`.
pub(crate) fn item_id(prefix: &str, response_id: &str, output_index: usize) -> String {
    let base = response_id.strip_prefix("resp_").unwrap_or(response_id);
    format!("{prefix}_{base}_{output_index}")
}

/// A snapshot with nothing in it yet (`status` and `output` filled in by the caller).
pub(crate) fn snapshot(id: &str, ctx: &ResponseContext, status: &str) -> wire::Response {
    wire::Response {
        id: id.to_owned(),
        object: "response".to_owned(),
        created_at: ctx.created,
        status: status.to_owned(),
        error: None,
        incomplete_details: None,
        instructions: None,
        model: ctx.model.clone(),
        output: Vec::new(),
        parallel_tool_calls: true,
        tool_choice: json!("auto"),
        tools: Vec::new(),
        usage: None,
        metadata: Value::Object(Default::default()),
    }
}

/// Whether a reasoning part is shown to a Responses caller: OpenAI's own items always
/// (the real API lists them even without a summary), others' thinking only when the
/// caller asked for summaries.
pub(crate) fn shows_reasoning(
    source: Option<Family>,
    has_text: bool,
    ctx: &ResponseContext,
) -> bool {
    source == Some(Family::OpenAi) || (ctx.include_thoughts && has_text)
}

/// A finished reasoning item. Encrypted content is only passed on from OpenAI.
pub(crate) fn reasoning_item(
    id: String,
    text: &str,
    source: Option<Family>,
    encrypted: Option<String>,
) -> wire::Item {
    wire::Item::Reasoning(wire::ReasoningItem {
        id,
        summary: summary_parts(text),
        content: None,
        encrypted_content: encrypted.filter(|_| source == Some(Family::OpenAi)),
    })
}

/// A finished message item with one `output_text` part per text.
pub(crate) fn message_item(id: String, texts: Vec<String>, status: &str) -> wire::Item {
    wire::Item::Message(wire::MessageItem {
        id: Some(id),
        role: "assistant".to_owned(),
        status: Some(status.to_owned()),
        content: texts
            .into_iter()
            .map(|text| {
                wire::ContentPart::OutputText(wire::OutputText {
                    text,
                    annotations: Vec::new(),
                })
            })
            .collect(),
    })
}

/// A `function_call` item; a Gemini signature travels inside `call_id`.
pub(crate) fn function_call_item(
    id: String,
    call_id: &str,
    signature: Option<&str>,
    name: &str,
    arguments: String,
    status: &str,
) -> wire::Item {
    wire::Item::FunctionCall(wire::FunctionCallItem {
        id: Some(id),
        call_id: match signature {
            Some(sig) => ids::attach_signature(call_id, sig),
            None => call_id.to_owned(),
        },
        name: name.to_owned(),
        arguments,
        status: Some(status.to_owned()),
    })
}

/// Writes the response object for a Responses caller.
pub fn encode(resp: &ChatResponse, ctx: &ResponseContext) -> Vec<u8> {
    let id = response_id(&resp.id, ctx);
    let (status, incomplete) = status_for(resp.stop_reason);
    let mut body = snapshot(&id, ctx, status);
    body.incomplete_details = incomplete;
    // A message cut short is itself `incomplete`, as OpenAI reports it.
    let message_status = if status == "incomplete" {
        "incomplete"
    } else {
        "completed"
    };
    let mut texts: Vec<String> = Vec::new();
    for part in &resp.parts {
        if !matches!(part, Part::Text { .. }) && !texts.is_empty() {
            let idx = body.output.len();
            body.output.push(message_item(
                item_id("msg", &id, idx),
                std::mem::take(&mut texts),
                message_status,
            ));
        }
        let idx = body.output.len();
        match part {
            Part::Text { text, .. } => texts.push(text.clone()),
            Part::ToolCall(c) => body.output.push(function_call_item(
                item_id("fc", &id, idx),
                &c.id,
                c.signature.as_deref(),
                &c.name,
                c.arguments.clone(),
                "completed",
            )),
            Part::Reasoning(r) => {
                if let Some(item) = encode_reasoning(r, &id, idx, ctx) {
                    body.output.push(item);
                }
            }
            Part::Image(_) | Part::Document(_) | Part::ToolResult(_) => {}
        }
    }
    if !texts.is_empty() {
        let idx = body.output.len();
        body.output.push(message_item(
            item_id("msg", &id, idx),
            texts,
            message_status,
        ));
    }
    body.usage = Some(usage_to_wire(&resp.usage));
    json::encode(&body)
}

fn encode_reasoning(
    r: &Reasoning,
    resp_id: &str,
    idx: usize,
    ctx: &ResponseContext,
) -> Option<wire::Item> {
    if !shows_reasoning(r.source, !r.text.is_empty(), ctx) {
        return None;
    }
    let id = r.id.clone().unwrap_or_else(|| item_id("rs", resp_id, idx));
    let encrypted = r.redacted.clone().or_else(|| r.signature.clone());
    Some(reasoning_item(id, &r.text, r.source, encrypted))
}
