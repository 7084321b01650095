//! Chat chunks read by hand: the [`ChunkIn`] view serde would read, for the common
//! frames (text, reasoning and tool-call deltas, role and finish chunks), several
//! times faster than serde; what it leaves (error objects, logprobs,
//! floats, escaped keys) goes through the serde views. Texts and arguments, `created`
//! and unknown strings are recorded as holes for the decoder's
//! [`Template`](crate::json_text::Template).

use super::stream_view::{ChoiceIn, ChunkIn, DeltaIn, FunctionDeltaIn, ToolCallDeltaIn};
use super::wire;
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
            // The usage chunk ends every stream the gateway asks usage of.
            "usage" => {
                seen.first(5)?;
                if !s.null() {
                    chunk.usage = Some(Some(scan_usage(s)?));
                }
            }
            // Only as `null` (absent): error objects are left to serde.
            "error" => {
                seen.first(6)?;
                s.null().then_some(())?;
            }
            _ => s.skip_hole(holes)?,
        }
        Some(())
    })?;
    s.end()?;
    Some(chunk)
}

/// A whole `usage` object's text read as [`scan_usage`] reads it (for a whole answer's
/// usage); `None` for `null` and whatever it leaves to serde.
pub(crate) fn usage_text(text: &str) -> Option<wire::Usage> {
    let mut s = Scan::new(text);
    let usage = scan_usage(&mut s)?;
    s.end()?;
    Some(usage)
}

/// `usage`: the token counts, as serde reads [`wire::Usage`] (counts absent are 0,
/// details absent or `null` are `None`, unknown members are skipped).
fn scan_usage(s: &mut Scan<'_>) -> Option<wire::Usage> {
    let mut usage = wire::Usage::default();
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "prompt_tokens" => {
                seen.first(0)?;
                usage.prompt_tokens = s.u64()?;
            }
            "completion_tokens" => {
                seen.first(1)?;
                usage.completion_tokens = s.u64()?;
            }
            "total_tokens" => {
                seen.first(2)?;
                usage.total_tokens = s.u64()?;
            }
            "prompt_tokens_details" => {
                seen.first(3)?;
                usage.prompt_tokens_details = s.opt(scan_prompt_details)?;
            }
            "completion_tokens_details" => {
                seen.first(4)?;
                usage.completion_tokens_details = s.opt(scan_completion_details)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(usage)
}

fn scan_prompt_details(s: &mut Scan<'_>) -> Option<wire::PromptTokensDetails> {
    let mut details = wire::PromptTokensDetails::default();
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "cached_tokens" => {
                seen.first(0)?;
                details.cached_tokens = s.opt(Scan::u64)?;
            }
            "cache_write_tokens" => {
                seen.first(1)?;
                details.cache_write_tokens = s.opt(Scan::u64)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(details)
}

fn scan_completion_details(s: &mut Scan<'_>) -> Option<wire::CompletionTokensDetails> {
    let mut details = wire::CompletionTokensDetails::default();
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "reasoning_tokens" => {
                seen.first(0)?;
                details.reasoning_tokens = s.opt(Scan::u64)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(details)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_of(frame: &str) -> Option<Option<wire::Usage>> {
        scan(frame, &mut Holes::default()).map(|chunk| chunk.usage.flatten())
    }

    #[test]
    fn the_usage_chunk_is_read_by_hand_as_serde_reads_it() {
        let frame = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":2,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":1,"accepted_prediction_tokens":0}}}"#;
        let ours = usage_of(frame).expect("read by hand").expect("a usage");
        let theirs: ChunkIn<'_> = serde_json::from_str(frame).unwrap();
        let theirs = theirs.usage.flatten().unwrap();
        assert_eq!(
            serde_json::to_value(&ours).unwrap(),
            serde_json::to_value(&theirs).unwrap()
        );
        assert_eq!(ours.prompt_tokens_details.unwrap().cached_tokens, Some(2));
        // Details that are null, and usage that is null.
        let nulls = r#"{"choices":[],"usage":{"prompt_tokens":1,"prompt_tokens_details":null,"completion_tokens_details":{"reasoning_tokens":null}}}"#;
        let usage = usage_of(nulls).unwrap().unwrap();
        assert!(usage.prompt_tokens_details.is_none());
        assert_eq!(
            usage.completion_tokens_details.unwrap().reasoning_tokens,
            None
        );
        assert!(matches!(
            usage_of(r#"{"choices":[],"usage":null}"#),
            Some(None)
        ));
        // What serde would refuse or read otherwise is left to it.
        for odd in [
            r#"{"usage":{"prompt_tokens":1.5}}"#,
            r#"{"usage":{"prompt_tokens":-1}}"#,
            r#"{"usage":{"prompt_tokens":1,"prompt_tokens":2}}"#,
            r#"{"usage":{"prompt_tokens":null}}"#,
        ] {
            assert!(usage_of(odd).is_none(), "{odd}");
        }
    }
}
