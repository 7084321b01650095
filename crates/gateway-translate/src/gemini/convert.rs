//! Conversions shared by the Gemini request and response codecs: parts, schemas,
//! finish reasons, usage and thought signatures.

use gateway_protocol::{
    Document, Family, Image, MediaSource, Part, Reasoning, StopReason, ToolCall, Usage,
};
use serde_json::Value;

use super::wire::{Blob, EnumValue, FINISH_REASON_NAMES, FileData, WirePart};
use super::wire_response::UsageMetadata;

/// The `thoughtSignature` value Google documents for function calls whose real
/// signature is unknown (history from another provider). It is inserted on encode and
/// read back as "no signature".
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// A signature as read from the wire: the bypass value means none.
pub fn read_signature(sig: Option<&String>) -> Option<String> {
    sig.filter(|s| s.as_str() != SKIP_SIGNATURE && !s.is_empty())
        .cloned()
}

/// True when `id` has the exact form of [`crate::ids::synthesize_call_id`]
/// (`call_` + 24 lowercase hex digits): such ids were invented by a gateway decoder
/// and are never sent to Gemini as `functionCall.id` / `functionResponse.id`.
pub fn is_synthesized_id(id: &str) -> bool {
    id.strip_prefix("call_").is_some_and(|hex| {
        hex.len() == 24
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// An image or document from inline bytes: `image/*` → image, anything else → document.
pub fn media_from_blob(blob: &Blob) -> Part {
    let source = MediaSource::Base64 {
        media_type: blob.mime_type.clone(),
        data: blob.data.clone(),
    };
    media_part(source, Some(&blob.mime_type))
}

/// A media part from a `fileData` URI: Files-API URIs and non-web schemes are file
/// ids, other URLs stay URLs.
pub fn media_from_file(file: &FileData) -> Part {
    let uri = file.file_uri.clone();
    let source = if is_files_api_uri(&uri) || !uri.starts_with("http") {
        MediaSource::FileId(uri)
    } else {
        MediaSource::Url(uri)
    };
    media_part(source, file.mime_type.as_deref())
}

fn media_part(source: MediaSource, mime: Option<&str>) -> Part {
    if mime.is_some_and(|m| m.starts_with("image/")) {
        Part::Image(Image {
            source,
            detail: None,
            cache_control: None,
        })
    } else {
        Part::Document(Document {
            source,
            filename: None,
            title: None,
            cache_control: None,
        })
    }
}

/// A Files-API URI (`https://generativelanguage.googleapis.com/v1beta/files/…`).
pub fn is_files_api_uri(uri: &str) -> bool {
    uri.starts_with("https://generativelanguage.googleapis.com/") && uri.contains("/files/")
}

/// A YouTube video URL (accepted as `fileData` by the Developer API).
pub fn is_youtube_uri(uri: &str) -> bool {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
        .unwrap_or("");
    let host = rest.split('/').next().unwrap_or("");
    matches!(
        host,
        "youtube.com" | "www.youtube.com" | "m.youtube.com" | "youtu.be"
    )
}

/// Gemini's OpenAPI-subset schema as JSON Schema: upper-case `type` names
/// (`OBJECT`, `STRING`, ...) become lower case; everything else is kept.
pub fn schema_to_json(mut v: Value) -> Value {
    lower_types(&mut v, 0);
    v
}

fn lower_types(v: &mut Value, depth: usize) {
    if depth > 64 {
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "type" {
                    if let Value::String(s) = child {
                        if s.chars().all(|c| c.is_ascii_uppercase()) {
                            *s = s.to_ascii_lowercase();
                        }
                        continue;
                    }
                }
                lower_types(child, depth + 1);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| lower_types(i, depth + 1)),
        _ => {}
    }
}

/// Pushes a signature found on a non-thought, non-call part: it belongs to the thoughts
/// just before it when they have none (`before_part`), otherwise it becomes an empty
/// Gemini reasoning part of its own after the part.
pub fn attach_signature(out: &mut Vec<Part>, sig: String, before_part: bool) -> bool {
    if before_part {
        if let Some(Part::Reasoning(r)) = out.last_mut() {
            if r.signature.is_none() && r.source == Some(Family::Gemini) && r.redacted.is_none() {
                r.signature = Some(sig);
                return true;
            }
        }
        return false;
    }
    out.push(Part::Reasoning(Reasoning {
        text: String::new(),
        signature: Some(sig),
        redacted: None,
        id: None,
        source: Some(Family::Gemini),
    }));
    true
}

/// Converts the parts of a model turn (request history or response) that are common
/// to both: text, thoughts, media, calls. `call_id` gives the id of each call in
/// order; `name` maps the wire name to the caller's. Returns `false` for parts that
/// are not model content (function responses, code execution), which callers handle.
pub fn model_part(
    p: &WirePart,
    out: &mut Vec<Part>,
    call_id: &mut dyn FnMut(Option<&str>) -> String,
    name: &dyn Fn(&str) -> String,
) -> bool {
    let sig = read_signature(p.thought_signature.as_ref());
    if let Some(text) = &p.text {
        if p.thought == Some(true) {
            out.push(Part::Reasoning(Reasoning {
                text: text.clone(),
                signature: sig,
                redacted: None,
                id: None,
                source: Some(Family::Gemini),
            }));
            return true;
        }
        let attached = match &sig {
            Some(s) => attach_signature(out, s.clone(), true),
            None => true,
        };
        if !text.is_empty() {
            out.push(Part::text(text.clone()));
        }
        if let (false, Some(s)) = (attached, sig) {
            attach_signature(out, s, false);
        }
        return true;
    }
    if let Some(call) = &p.function_call {
        let args = call
            .args
            .as_ref()
            .map_or_else(|| "{}".to_owned(), Value::to_string);
        out.push(Part::ToolCall(ToolCall {
            id: call_id(call.id.as_deref().filter(|i| !i.is_empty())),
            name: name(&call.name),
            arguments: args,
            signature: sig,
        }));
        return true;
    }
    let media = if let Some(blob) = &p.inline_data {
        media_from_blob(blob)
    } else if let Some(file) = &p.file_data {
        media_from_file(file)
    } else {
        return false;
    };
    out.push(media);
    if let Some(s) = sig {
        attach_signature(out, s, false);
    }
    true
}

/// Canonical stop reason for a Gemini `finishReason` (§8.1), before the tool-use
/// override.
pub fn stop_reason(reason: &EnumValue) -> StopReason {
    match reason.resolve(FINISH_REASON_NAMES).as_str() {
        "STOP" | "FINISH_REASON_UNSPECIFIED" => StopReason::EndTurn,
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "LANGUAGE"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "IMAGE_OTHER" => StopReason::ContentFilter,
        _ => StopReason::Other,
    }
}

/// The Gemini `finishReason` for a canonical stop reason (§8.1).
pub fn finish_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn
        | StopReason::StopSequence
        | StopReason::ToolUse
        | StopReason::PauseTurn => "STOP",
        StopReason::MaxTokens | StopReason::ContextExceeded => "MAX_TOKENS",
        StopReason::ContentFilter => "SAFETY",
        StopReason::Other => "OTHER",
    }
}

/// Canonical usage from `usageMetadata` (§8.12), with the guard against models that
/// already count thoughts in `candidatesTokenCount` (`prompt + candidates == total`).
pub fn usage_from_wire(u: &UsageMetadata) -> Usage {
    let prompt = u.prompt_token_count.unwrap_or(0);
    let tool_prompt = u.tool_use_prompt_token_count.unwrap_or(0);
    let candidates = u.candidates_token_count.unwrap_or(0);
    let thoughts = u.thoughts_token_count.unwrap_or(0);
    let already_included = thoughts > 0
        && u.total_token_count
            .is_some_and(|t| prompt.saturating_add(candidates) == t);
    let output = if already_included {
        candidates
    } else {
        candidates.saturating_add(thoughts)
    };
    Usage {
        input_tokens: prompt.saturating_add(tool_prompt),
        cache_read_tokens: u.cached_content_token_count.unwrap_or(0),
        cache_write_tokens: 0,
        output_tokens: output,
        reasoning_tokens: thoughts.min(output),
    }
}

/// `usageMetadata` for canonical usage (`candidatesTokenCount` excludes thoughts).
pub fn usage_to_wire(u: &Usage) -> UsageMetadata {
    UsageMetadata {
        prompt_token_count: Some(u.input_tokens),
        cached_content_token_count: (u.cache_read_tokens > 0).then_some(u.cache_read_tokens),
        candidates_token_count: Some(u.visible_output_tokens()),
        tool_use_prompt_token_count: None,
        thoughts_token_count: (u.reasoning_tokens > 0).then_some(u.reasoning_tokens),
        total_token_count: Some(u.input_tokens.saturating_add(u.output_tokens)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthesized_ids_are_recognised() {
        assert!(is_synthesized_id(&crate::ids::synthesize_call_id("x", 3)));
        assert!(!is_synthesized_id("call_w1"));
        assert!(!is_synthesized_id("toolu_01"));
    }

    #[test]
    fn thoughts_already_in_candidates_are_not_counted_twice() {
        let u = UsageMetadata {
            prompt_token_count: Some(10),
            candidates_token_count: Some(50),
            thoughts_token_count: Some(30),
            total_token_count: Some(60),
            ..Default::default()
        };
        assert_eq!(usage_from_wire(&u).output_tokens, 50);
        assert_eq!(usage_from_wire(&u).reasoning_tokens, 30);
    }

    #[test]
    fn upper_case_schema_types_become_json_schema() {
        let v = serde_json::json!({"type":"OBJECT","properties":{"type":{"type":"STRING"}}});
        assert_eq!(
            schema_to_json(v),
            serde_json::json!({"type":"object","properties":{"type":{"type":"string"}}})
        );
    }
}
