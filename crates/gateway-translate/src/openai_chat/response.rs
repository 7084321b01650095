//! Chat Completions answers: an upstream `chat.completion` → canonical, and canonical →
//! the body a Chat caller receives.

use gateway_protocol::{ChatResponse, Family, Part, Reasoning, StopReason, ToolCall, Usage};

use super::wire;
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::{ids, json};

/// Reads an upstream `chat.completion` (choice 0) into the canonical response.
pub fn decode(body: &[u8], ctx: &ResponseContext) -> Result<ChatResponse, TranslateError> {
    let value: serde_json::Value = json::decode_upstream("response", body)?;
    if let Some(err) = value.get("error").filter(|e| !e.is_null()) {
        return Err(TranslateError::upstream(
            "response",
            format!(
                "an error body instead of a completion: {}",
                err.get("message").and_then(|m| m.as_str()).unwrap_or("")
            ),
        ));
    }
    let w: wire::Response = serde_json::from_value(value)
        .map_err(|e| TranslateError::upstream("response", e.to_string()))?;
    let seed = if w.id.is_empty() {
        ctx.id_seed.as_str()
    } else {
        w.id.as_str()
    };
    let mut parts = Vec::new();
    let mut finish = None;
    if let Some(choice) = w
        .choices
        .iter()
        .find(|c| c.index == 0)
        .or(w.choices.first())
    {
        let m = &choice.message;
        if let Some(r) = m.reasoning_content.as_ref().filter(|r| !r.is_empty()) {
            parts.push(Part::Reasoning(Reasoning {
                text: r.clone(),
                source: Some(Family::OpenAi),
                ..Reasoning::default()
            }));
        }
        match &m.content {
            Some(wire::Content::Text(t)) if !t.is_empty() => parts.push(Part::text(t.clone())),
            Some(wire::Content::Parts(ps)) => {
                for p in ps {
                    if let Some(t) = p.text.as_ref().or(p.refusal.as_ref()) {
                        parts.push(Part::text(t.clone()));
                    }
                }
            }
            _ => {}
        }
        if let Some(r) = m.refusal.as_ref().filter(|r| !r.is_empty()) {
            parts.push(Part::text(r.clone()));
        }
        let mut k = 0usize;
        for c in m.tool_calls.iter().flatten() {
            let args = c.function.arguments.clone();
            parts.push(Part::ToolCall(call(
                &c.id,
                &c.function.name,
                args,
                seed,
                k,
                ctx,
            )));
            k = k.saturating_add(1);
        }
        if let Some(f) = &m.function_call {
            let args = f.arguments.clone();
            parts.push(Part::ToolCall(call("", &f.name, args, seed, k, ctx)));
        }
        finish = choice.finish_reason.clone();
    }
    let has_calls = parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    Ok(ChatResponse {
        id: w.id.clone(),
        model: if w.model.is_empty() {
            ctx.model.clone()
        } else {
            w.model.clone()
        },
        created: w.created,
        parts,
        stop_reason: stop_reason(finish.as_deref(), has_calls),
        stop_sequence: None,
        usage: w.usage.as_ref().map(usage_from).unwrap_or_default(),
    })
}

/// A canonical tool call from an upstream one: signature split off the id, a missing
/// id synthesised, the caller's tool name restored.
pub(crate) fn call(
    raw_id: &str,
    name: &str,
    arguments: String,
    seed: &str,
    k: usize,
    ctx: &ResponseContext,
) -> ToolCall {
    let (id, signature) = if raw_id.is_empty() {
        (ids::synthesize_call_id(seed, k), None)
    } else {
        let (id, sig) = ids::split_signature(raw_id);
        (id.to_owned(), sig)
    };
    ToolCall {
        id,
        name: ctx.tool_names.caller_name(name).to_owned(),
        arguments,
        signature,
    }
}

/// `finish_reason` → canonical (§8.1), with the tool-use override.
pub(crate) fn stop_reason(finish: Option<&str>, has_calls: bool) -> StopReason {
    let reason = match finish {
        None | Some("stop") => StopReason::EndTurn,
        Some("length") => StopReason::MaxTokens,
        Some("tool_calls") | Some("function_call") => StopReason::ToolUse,
        Some("content_filter") => StopReason::ContentFilter,
        Some(_) => StopReason::Other,
    };
    if has_calls && reason == StopReason::EndTurn {
        StopReason::ToolUse
    } else {
        reason
    }
}

/// Canonical → `finish_reason` (§8.1).
pub(crate) fn finish_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn
        | StopReason::StopSequence
        | StopReason::PauseTurn
        | StopReason::Other => "stop",
        StopReason::MaxTokens | StopReason::ContextExceeded => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter => "content_filter",
    }
}

/// Wire usage → canonical (same arithmetic: cached ⊂ prompt, reasoning ⊂ completion).
pub(crate) fn usage_from(u: &wire::Usage) -> Usage {
    let p = u.prompt_tokens_details.as_ref();
    Usage {
        input_tokens: u.prompt_tokens,
        cache_read_tokens: p.and_then(|d| d.cached_tokens).unwrap_or(0),
        cache_write_tokens: p.and_then(|d| d.cache_write_tokens).unwrap_or(0),
        output_tokens: u.completion_tokens,
        reasoning_tokens: u
            .completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0),
    }
}

/// Canonical usage → wire.
pub(crate) fn usage_to(u: &Usage) -> wire::Usage {
    wire::Usage {
        prompt_tokens: u.input_tokens,
        completion_tokens: u.output_tokens,
        total_tokens: u.input_tokens.saturating_add(u.output_tokens),
        prompt_tokens_details: Some(wire::PromptTokensDetails {
            cached_tokens: Some(u.cache_read_tokens),
            cache_write_tokens: (u.cache_write_tokens > 0).then_some(u.cache_write_tokens),
        }),
        completion_tokens_details: Some(wire::CompletionTokensDetails {
            reasoning_tokens: Some(u.reasoning_tokens),
        }),
    }
}

/// The response id a Chat caller sees: always `chatcmpl-` prefixed, whatever the
/// upstream's own id looked like (`msg_…`, a Gemini `responseId`).
pub(crate) fn response_id(id: &str, ctx: &ResponseContext) -> String {
    if id.starts_with("chatcmpl-") {
        id.to_owned()
    } else if id.is_empty() {
        format!("chatcmpl-{}", ctx.id_seed)
    } else {
        format!("chatcmpl-{id}")
    }
}

/// The id a Chat caller sees for a tool call (a Gemini signature rides inside it).
pub(crate) fn caller_call_id(id: &str, signature: Option<&str>) -> String {
    match signature {
        Some(s) => ids::attach_signature(id, s),
        None => id.to_owned(),
    }
}

/// Writes the `chat.completion` a Chat caller receives. Reasoning is not shown
/// (§8.9) but counted in usage.
pub fn encode(resp: &ChatResponse, ctx: &ResponseContext) -> Vec<u8> {
    let text: String = resp.parts.iter().filter_map(Part::as_text).collect();
    let calls: Vec<wire::ToolCall> = resp
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall(c) => Some(wire::ToolCall {
                id: caller_call_id(&c.id, c.signature.as_deref()),
                kind: "function".to_owned(),
                function: wire::FunctionCall {
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                },
            }),
            _ => None,
        })
        .collect();
    let w = wire::Response {
        id: response_id(&resp.id, ctx),
        object: "chat.completion".to_owned(),
        created: Some(ctx.created),
        model: ctx.model.clone(),
        choices: vec![wire::Choice {
            index: 0,
            message: wire::ResponseMessage {
                role: "assistant".to_owned(),
                content: (!text.is_empty()).then_some(wire::Content::Text(text)),
                refusal: None,
                reasoning_content: None,
                tool_calls: (!calls.is_empty()).then_some(calls),
                function_call: None,
                annotations: Some(Vec::new()),
            },
            logprobs: None,
            finish_reason: Some(finish_reason(resp.stop_reason).to_owned()),
        }],
        usage: Some(usage_to(&resp.usage)),
    };
    json::encode(&w)
}
