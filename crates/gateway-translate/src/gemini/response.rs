//! Gemini `GenerateContentResponse` ↔ the canonical [`ChatResponse`].
//!
//! Decoding (PROTOCOLS §6.3, §9.5/9.6/9.12/9.25): calls without `functionCall.id` get
//! ids synthesised from `responseId` (else `ctx.id_seed`) and their position; `STOP`
//! with calls is `ToolUse`; a blocked prompt (no candidates, `promptFeedback.blockReason`)
//! is `ContentFilter` with no parts. Encoding writes one candidate, thoughts only when
//! the caller asked for them (`ctx.include_thoughts`), and usage per §8.12.

use gateway_protocol::{ChatResponse, Family, Part, StopReason};

use super::convert::{finish_reason, model_part, stop_reason, usage_from_wire, usage_to_wire};
use super::wire::{self, EnumValue};
use super::wire_response::{Candidate, Response};
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::ids::synthesize_call_id;
use crate::json;

/// Decodes an upstream Gemini answer.
pub fn decode(body: &[u8], ctx: &ResponseContext) -> Result<ChatResponse, TranslateError> {
    let value: serde_json::Value = json::decode_upstream("response", body)?;
    if value.get("error").is_some() {
        return Err(TranslateError::upstream(
            "response",
            "the body is an error envelope, not a response",
        ));
    }
    let wire: Response = serde_json::from_value(value)
        .map_err(|e| TranslateError::upstream("response", e.to_string()))?;
    Ok(from_wire(&wire, ctx))
}

/// The canonical answer of a parsed response (shared with stream aggregation tests).
pub fn from_wire(wire: &Response, ctx: &ResponseContext) -> ChatResponse {
    let seed = wire
        .response_id
        .clone()
        .unwrap_or_else(|| ctx.id_seed.clone());
    let mut resp = ChatResponse {
        id: seed.clone(),
        model: wire
            .model_version
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| ctx.model.clone()),
        created: None,
        parts: Vec::new(),
        stop_reason: StopReason::EndTurn,
        stop_sequence: None,
        usage: wire
            .usage_metadata
            .as_ref()
            .map(usage_from_wire)
            .unwrap_or_default(),
    };
    let Some(candidate) = wire.candidates.first() else {
        resp.stop_reason = if wire
            .prompt_feedback
            .as_ref()
            .is_some_and(|f| f.block_reason.is_some())
        {
            StopReason::ContentFilter
        } else {
            StopReason::Other
        };
        return resp;
    };
    let mut index = 0usize;
    let mut ids = |given: Option<&str>| {
        let id = given.map_or_else(|| synthesize_call_id(&seed, index), str::to_owned);
        index += 1;
        id
    };
    let names = |n: &str| ctx.tool_names.caller_name(n).to_owned();
    for p in candidate.content.iter().flat_map(|c| &c.parts) {
        // Function responses and code-execution parts are not model output we carry.
        model_part(p, &mut resp.parts, &mut ids, &names);
    }
    let has_calls = resp.parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    resp.stop_reason = match &candidate.finish_reason {
        Some(r) => stop_reason(r),
        None => StopReason::EndTurn,
    };
    if has_calls && resp.stop_reason == StopReason::EndTurn {
        resp.stop_reason = StopReason::ToolUse;
    }
    resp
}

/// Encodes a canonical answer for a Gemini caller.
pub fn encode(resp: &ChatResponse, ctx: &ResponseContext) -> Vec<u8> {
    json::encode(&to_wire(resp, ctx))
}

/// The wire form of a canonical answer.
pub fn to_wire(resp: &ChatResponse, ctx: &ResponseContext) -> Response {
    let mut parts: Vec<wire::WirePart> = Vec::with_capacity(resp.parts.len());
    for part in &resp.parts {
        encode_part(part, ctx, &mut parts);
    }
    Response {
        candidates: vec![Candidate {
            content: Some(wire::Content {
                role: Some("model".into()),
                parts,
            }),
            finish_reason: Some(EnumValue::name(finish_reason(resp.stop_reason))),
            index: Some(0),
        }],
        prompt_feedback: None,
        usage_metadata: Some(usage_to_wire(&resp.usage)),
        model_version: Some(ctx.model.clone()),
        response_id: Some(response_id(resp, ctx)),
    }
}

/// The response id a Gemini caller sees: the canonical id, else the seed.
pub fn response_id(resp: &ChatResponse, ctx: &ResponseContext) -> String {
    if resp.id.is_empty() {
        ctx.id_seed.clone()
    } else {
        resp.id.clone()
    }
}

/// One canonical part as Gemini parts (none for hidden reasoning).
pub fn encode_part(part: &Part, ctx: &ResponseContext, out: &mut Vec<wire::WirePart>) {
    match part {
        Part::Text { text, .. } => out.push(wire::WirePart {
            text: Some(text.clone()),
            ..Default::default()
        }),
        Part::ToolCall(call) => {
            let (plain, carried) = crate::ids::split_signature(&call.id);
            let args = serde_json::from_str::<serde_json::Value>(&call.arguments)
                .ok()
                .filter(serde_json::Value::is_object)
                .unwrap_or_else(|| serde_json::json!({}));
            out.push(wire::WirePart {
                function_call: Some(wire::FunctionCall {
                    id: Some(plain.to_owned()),
                    name: call.name.clone(),
                    args: Some(args),
                }),
                thought_signature: call.signature.clone().or(carried),
                ..Default::default()
            });
        }
        Part::Reasoning(r) => {
            let signature = r
                .signature
                .clone()
                .filter(|_| r.source == Some(Family::Gemini));
            if ctx.include_thoughts && !r.text.is_empty() {
                out.push(wire::WirePart {
                    text: Some(r.text.clone()),
                    thought: Some(true),
                    thought_signature: signature,
                    ..Default::default()
                });
            } else if let Some(sig) = signature {
                out.push(wire::WirePart {
                    text: Some(String::new()),
                    thought_signature: Some(sig),
                    ..Default::default()
                });
            }
        }
        Part::Image(img) => out.extend(media(&img.source)),
        Part::Document(doc) => out.extend(media(&doc.source)),
        // Tool results never appear in an answer.
        Part::ToolResult(_) => {}
    }
}

fn media(source: &gateway_protocol::MediaSource) -> Option<wire::WirePart> {
    use gateway_protocol::MediaSource;
    Some(match source {
        MediaSource::Base64 { media_type, data } => wire::WirePart {
            inline_data: Some(wire::Blob {
                mime_type: media_type.clone(),
                data: data.clone(),
            }),
            ..Default::default()
        },
        MediaSource::Url(u) | MediaSource::FileId(u) => wire::WirePart {
            file_data: Some(wire::FileData {
                mime_type: None,
                file_uri: u.clone(),
            }),
            ..Default::default()
        },
    })
}
