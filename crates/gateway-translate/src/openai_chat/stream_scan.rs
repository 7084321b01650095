//! Chat chunks read by hand: the [`ChunkIn`] view serde would read, for the common
//! frames (text, reasoning and tool-call deltas, role and finish chunks), several
//! times faster than serde; what it leaves (usage and error objects, logprobs,
//! floats, escaped keys) goes through the serde views. Texts and arguments, `created`
//! and unknown strings are recorded as holes for the decoder's
//! [`Template`](crate::json_text::Template).

use super::stream_view::{ChoiceIn, ChunkIn, DeltaIn, FunctionDeltaIn, ToolCallDeltaIn};
use crate::borrow::Str;
use crate::json_text::{Fields, Hole, Holes, Scan};

/// The label of the hole holding a delta's text or arguments (see
/// [`crate::json_text::Template`]).
pub(super) const PAYLOAD: u8 = 1;

/// Reads a chunk by hand: the [`ChunkIn`] serde would read, or `None` when the frame
/// holds anything left to serde. The values that change from frame to frame (texts,
/// arguments, `created`, unknown strings) are recorded in `holes`.
pub(super) fn scan<'a>(data: &'a str, holes: &mut Holes) -> Option<ChunkIn<'a>> {
    let mut s = Scan::new(data);
    let mut chunk = ChunkIn {
        id: Str::default(),
        _object: Str::default(),
        _created: 0,
        model: Str::default(),
        choices: Vec::new(),
        usage: None,
        error: None,
    };
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "id" => {
                seen.first(0)?;
                chunk.id = Str(s.str()?);
            }
            "object" => {
                seen.first(1)?;
                chunk._object = Str(s.str()?);
            }
            "created" => {
                seen.first(2)?;
                chunk._created = s.u64_hole(holes, Hole::IGNORED)?;
            }
            "model" => {
                seen.first(3)?;
                chunk.model = Str(s.str()?);
            }
            "choices" => {
                seen.first(4)?;
                s.array(|s| {
                    chunk.choices.push(scan_choice(s, holes)?);
                    Some(())
                })?;
            }
            // Only as `null` (absent): objects are left to serde.
            "usage" | "error" => {
                seen.first(if key == "usage" { 5 } else { 6 })?;
                s.null().then_some(())?;
            }
            _ => s.skip_hole(holes)?,
        }
        Some(())
    })?;
    s.end()?;
    Some(chunk)
}

fn scan_str<'a>(s: &mut Scan<'a>) -> Option<Option<Str<'a>>> {
    s.opt(|s| s.str().map(Str))
}

fn scan_payload<'a>(s: &mut Scan<'a>, holes: &mut Holes) -> Option<Option<Str<'a>>> {
    s.opt(|s| s.str_hole(holes, PAYLOAD).map(Str))
}

fn scan_choice<'a>(s: &mut Scan<'a>, holes: &mut Holes) -> Option<ChoiceIn<'a>> {
    let mut choice = ChoiceIn {
        index: 0,
        delta: DeltaIn::default(),
        _logprobs: None,
        finish_reason: None,
    };
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "index" => {
                seen.first(0)?;
                choice.index = u32::try_from(s.u64()?).ok()?;
            }
            "delta" => {
                seen.first(1)?;
                choice.delta = scan_delta(s, holes)?;
            }
            "logprobs" => {
                seen.first(2)?;
                s.null().then_some(())?;
            }
            "finish_reason" => {
                seen.first(3)?;
                choice.finish_reason = scan_str(s)?;
            }
            _ => s.skip_hole(holes)?,
        }
        Some(())
    })?;
    Some(choice)
}

fn scan_delta<'a>(s: &mut Scan<'a>, holes: &mut Holes) -> Option<DeltaIn<'a>> {
    let mut delta = DeltaIn::default();
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "role" => {
                seen.first(0)?;
                delta._role = scan_str(s)?;
            }
            "content" => {
                seen.first(1)?;
                delta.content = scan_payload(s, holes)?;
            }
            "refusal" => {
                seen.first(2)?;
                delta.refusal = scan_payload(s, holes)?;
            }
            "reasoning_content" => {
                seen.first(3)?;
                delta.reasoning_content = scan_payload(s, holes)?;
            }
            "tool_calls" => {
                seen.first(4)?;
                delta.tool_calls = s.opt(|s| {
                    let mut calls = Vec::new();
                    s.array(|s| {
                        calls.push(scan_tool_call(s, holes)?);
                        Some(())
                    })?;
                    Some(calls)
                })?;
            }
            "function_call" => {
                seen.first(5)?;
                delta.function_call = s.opt(|s| scan_function(s, holes))?;
            }
            _ => s.skip_hole(holes)?,
        }
        Some(())
    })?;
    Some(delta)
}

fn scan_tool_call<'a>(s: &mut Scan<'a>, holes: &mut Holes) -> Option<ToolCallDeltaIn<'a>> {
    let mut call = ToolCallDeltaIn {
        index: None,
        id: None,
        _kind: None,
        function: None,
    };
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "index" => {
                seen.first(0)?;
                call.index = s.opt(|s| usize::try_from(s.u64()?).ok())?;
            }
            "id" => {
                seen.first(1)?;
                call.id = scan_str(s)?;
            }
            "type" => {
                seen.first(2)?;
                call._kind = scan_str(s)?;
            }
            "function" => {
                seen.first(3)?;
                call.function = s.opt(|s| scan_function(s, holes))?;
            }
            _ => s.skip_hole(holes)?,
        }
        Some(())
    })?;
    Some(call)
}

/// A function delta; `arguments` only as a string or `null` (the lenient reading of
/// other JSON is left to serde).
fn scan_function<'a>(s: &mut Scan<'a>, holes: &mut Holes) -> Option<FunctionDeltaIn<'a>> {
    let mut function = FunctionDeltaIn {
        name: None,
        arguments: None,
    };
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "name" => {
                seen.first(0)?;
                function.name = scan_str(s)?;
            }
            "arguments" => {
                seen.first(1)?;
                function.arguments = scan_payload(s, holes)?;
            }
            _ => s.skip_hole(holes)?,
        }
        Some(())
    })?;
    Some(function)
}
