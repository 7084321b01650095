//! Streamed Gemini chunks read by hand: the [`ChunkView`] the serde views would read,
//! for chunks of text parts, usage and the usual metadata; anything else (function
//! calls, media, prompt feedback, floats, errors) is left to the views. The values
//! that change from chunk to chunk are recorded as holes for the decoder's
//! [`Template`](crate::json_text::Template): the text, and the usage counts.

use super::stream_view::{CandidateView, ChunkView, PartView};
use super::wire::EnumValue;
use super::wire_response::UsageMetadata;
use crate::json_text::{Fields, Holes, Scan};

/// The label of the hole holding a part's text.
pub(super) const TEXT: u8 = 1;

/// The label of the hole holding usage count `field` (see [`usage_field`]).
pub(super) const fn usage_label(field: usize) -> u8 {
    2 + field as u8
}

/// The usage counts, in label order.
pub(super) fn usage_field(u: &mut UsageMetadata, field: usize) -> Option<&mut Option<u64>> {
    Some(match field {
        0 => &mut u.prompt_token_count,
        1 => &mut u.cached_content_token_count,
        2 => &mut u.candidates_token_count,
        3 => &mut u.tool_use_prompt_token_count,
        4 => &mut u.thoughts_token_count,
        5 => &mut u.total_token_count,
        _ => return None,
    })
}

/// Reads a chunk as the views would, or `None` when it holds anything left to them.
pub(super) fn scan<'a>(data: &'a str, holes: &mut Holes) -> Option<ChunkView<'a>> {
    let mut s = Scan::new(data);
    let mut out = ChunkView::default();
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "candidates" => {
                seen.first(0)?;
                let mut first = true;
                s.array(|s| {
                    let candidate = scan_candidate(s, holes)?;
                    if std::mem::take(&mut first) {
                        out.candidate = Some(candidate);
                    }
                    Some(())
                })?;
            }
            "promptFeedback" | "prompt_feedback" => {
                seen.first(1)?;
                s.null().then_some(())?;
            }
            "usageMetadata" | "usage_metadata" => {
                seen.first(2)?;
                out.usage_metadata = s.opt(|s| scan_usage(s, holes))?;
            }
            "modelVersion" | "model_version" => {
                seen.first(3)?;
                out.model_version = s.opt(Scan::str)?;
            }
            "responseId" | "response_id" => {
                seen.first(4)?;
                out.response_id = s.opt(Scan::str)?;
            }
            "error" => return None,
            _ => s.skip_hole(holes)?,
        }
        Some(())
    })?;
    s.end()?;
    Some(out)
}

fn scan_candidate<'a>(s: &mut Scan<'a>, holes: &mut Holes) -> Option<CandidateView<'a>> {
    let mut out = CandidateView::default();
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "content" => {
                seen.first(0)?;
                if let Some(parts) = s.opt(|s| scan_content(s, holes))? {
                    out.parts = parts;
                }
            }
            "finishReason" | "finish_reason" => {
                seen.first(1)?;
                out.finish_reason = s.opt(|s| match s.peek()? {
                    b'"' => Some(EnumValue(s.str()?.into_owned())),
                    _ => Some(EnumValue(s.u64()?.to_string())),
                })?;
            }
            "index" => {
                seen.first(2)?;
                s.opt(Scan::u64)?;
            }
            _ => s.skip_hole(holes)?,
        }
        Some(())
    })?;
    Some(out)
}

fn scan_content<'a>(s: &mut Scan<'a>, holes: &mut Holes) -> Option<Vec<PartView<'a>>> {
    let mut parts = Vec::new();
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "role" => {
                seen.first(0)?;
                s.opt(Scan::str)?;
            }
            "parts" => {
                seen.first(1)?;
                s.array(|s| {
                    parts.push(scan_part(s, holes)?);
                    Some(())
                })?;
            }
            _ => s.skip_hole(holes)?,
        }
        Some(())
    })?;
    Some(parts)
}

fn scan_part<'a>(s: &mut Scan<'a>, holes: &mut Holes) -> Option<PartView<'a>> {
    let mut out = PartView::default();
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "text" => {
                seen.first(0)?;
                out.text = s.opt(|s| s.str_hole(holes, TEXT))?;
            }
            "thought" => {
                seen.first(1)?;
                out.thought = s.opt(Scan::bool)?;
            }
            "thoughtSignature" | "thought_signature" => {
                seen.first(2)?;
                out.thought_signature = s.opt(Scan::str)?;
            }
            // Typed values (calls, media) are left to the views unless absent.
            "functionCall" | "function_call" | "inlineData" | "inline_data" | "fileData"
            | "file_data" | "functionResponse" | "function_response" => {
                let bit = match key {
                    "functionCall" | "function_call" => 3,
                    "inlineData" | "inline_data" => 4,
                    "fileData" | "file_data" => 5,
                    _ => 6,
                };
                seen.first(bit)?;
                s.null().then_some(())?;
            }
            "executableCode"
            | "executable_code"
            | "codeExecutionResult"
            | "code_execution_result" => {
                seen.first(if key.starts_with('e') { 7 } else { 8 })?;
                s.skip()?;
            }
            _ => s.skip_hole(holes)?,
        }
        Some(())
    })?;
    Some(out)
}

fn scan_usage(s: &mut Scan<'_>, holes: &mut Holes) -> Option<UsageMetadata> {
    let mut u = UsageMetadata::default();
    let mut seen = Fields::default();
    s.object(|s, key| {
        let field = match key {
            "promptTokenCount" | "prompt_token_count" => 0,
            "cachedContentTokenCount" | "cached_content_token_count" => 1,
            "candidatesTokenCount" | "candidates_token_count" => 2,
            "toolUsePromptTokenCount" | "tool_use_prompt_token_count" => 3,
            "thoughtsTokenCount" | "thoughts_token_count" => 4,
            "totalTokenCount" | "total_token_count" => 5,
            _ => return s.skip_hole(holes),
        };
        seen.first(field as u32)?;
        *usage_field(&mut u, field)? = s.opt(|s| s.u64_hole(holes, usage_label(field)))?;
        Some(())
    })?;
    Some(u)
}
