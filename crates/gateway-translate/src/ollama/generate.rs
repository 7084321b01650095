//! `/api/generate` for Ollama callers: a prompt (with an optional system prompt and
//! images) read as one user turn of the canonical [`ChatRequest`], and answers
//! written in its form (`response` text instead of a `message`). The stream form is
//! written by the stream encoder when `ResponseContext::ollama_generate` is set.
//!
//! What only a local Ollama can honour is refused with a 400 naming the field rather
//! than dropped: `raw` prompts and `template`s (no upstream takes a hand-made
//! template), `suffix` (fill-in-the-middle) and `context` (token ids of the local
//! model). `keep_alive` is carried like every other unknown field and means nothing
//! to a non-Ollama upstream.

use gateway_protocol::{ChatRequest, ChatResponse, Part};
use serde_json::{Map, Value};

use super::response::done_reason;
use super::{request, wire};
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::json;
use crate::time::format_rfc3339;

/// Fields of a generate body that are not chat's; removed before the chat decoder runs.
const GENERATE_FIELDS: [&str; 7] = [
    "prompt", "suffix", "system", "images", "template", "raw", "context",
];

/// Reads a caller's `/api/generate` body. `stream` defaults to `true` as in Ollama.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let mut raw: Map<String, Value> = json::decode_request(body)?;
    let generate: wire::GenerateRequest = json::decode_request(body)?;
    refuse_local_only(&generate)?;
    if generate.prompt.is_empty() && generate.images.is_empty() {
        return Err(TranslateError::invalid(
            "prompt",
            "the prompt is empty; Patchbay keeps no models loaded, so there is nothing to \
             load or unload: send a prompt",
        ));
    }
    let mut messages = Vec::new();
    if let Some(system) = generate.system.filter(|s| !s.is_empty()) {
        messages.push(wire::Message {
            role: "system".to_owned(),
            content: system,
            ..wire::Message::default()
        });
    }
    messages.push(wire::Message {
        role: "user".to_owned(),
        content: generate.prompt,
        images: generate.images,
        ..wire::Message::default()
    });
    for field in GENERATE_FIELDS {
        raw.remove(field);
    }
    let messages = serde_json::to_value(&messages)
        .map_err(|e| TranslateError::invalid("prompt", e.to_string()))?;
    raw.insert("messages".to_owned(), messages);
    request::decode(&json::encode(&Value::Object(raw)))
}

fn refuse_local_only(generate: &wire::GenerateRequest) -> Result<(), TranslateError> {
    let refused = if generate.raw == Some(true) {
        Some((
            "raw",
            "raw prompts need the model's own template, which only a local Ollama has; \
             send the prompt without `raw` (or use /api/chat)",
        ))
    } else if generate.template.as_deref().is_some_and(|t| !t.is_empty()) {
        Some((
            "template",
            "prompt templates apply to local Ollama models only; drop `template`",
        ))
    } else if generate.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        Some((
            "suffix",
            "fill-in-the-middle (`suffix`) is not translated to other providers; drop it",
        ))
    } else if !generate.context.is_empty() {
        Some((
            "context",
            "`context` holds token ids of a local model and cannot be carried; send the \
             earlier turns with /api/chat instead",
        ))
    } else {
        None
    };
    match refused {
        Some((field, why)) => Err(TranslateError::invalid(field, why)),
        None => Ok(()),
    }
}

/// Writes the final-object form of an answer (`done:true`), stamped with
/// `ctx.created`, named `ctx.model` and timed by `ctx.elapsed_ns`: text parts concatenated into `response`,
/// reasoning into `thinking`. A generate request carries no tools, so there are no
/// tool calls to write.
pub fn encode_response(resp: &ChatResponse, ctx: &ResponseContext) -> Vec<u8> {
    let mut text = String::new();
    let mut thinking = String::new();
    for part in &resp.parts {
        match part {
            Part::Text { text: t, .. } => text.push_str(t),
            Part::Reasoning(r) => thinking.push_str(&r.text),
            _ => {}
        }
    }
    json::encode(&wire::GenerateResponse {
        model: ctx.model.clone(),
        created_at: Some(format_rfc3339(ctx.created)),
        response: text,
        thinking: (!thinking.is_empty()).then_some(thinking),
        done: true,
        done_reason: Some(done_reason(resp.stop_reason).to_owned()),
        total_duration: ctx.elapsed_ns,
        prompt_eval_count: Some(resp.usage.input_tokens),
        prompt_eval_duration: None,
        eval_count: Some(resp.usage.output_tokens),
        eval_duration: None,
    })
}
