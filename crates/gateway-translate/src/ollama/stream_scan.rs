//! Ollama stream lines read by hand: the common line (a `message` with content or
//! thinking, `done: false`, no tool calls or error) as the wire types would read it;
//! any other line gives `None` and takes the full decode. The content, the thinking
//! and the timestamp are recorded as holes for the decoder's
//! [`Template`](crate::json_text::Template).

use std::borrow::Cow;

use crate::json_text::{Fields, Hole, Holes, Scan};

/// The label of the hole holding the content.
pub(super) const CONTENT: u8 = 1;
/// The label of the hole holding the thinking.
pub(super) const THINKING: u8 = 2;

/// What a plain line carries.
pub(super) struct PlainLine<'a> {
    pub(super) model: Cow<'a, str>,
    pub(super) thinking: Option<Cow<'a, str>>,
    pub(super) content: Cow<'a, str>,
}

/// Reads a plain line, or `None` for anything else.
pub(super) fn scan<'a>(data: &'a str, holes: &mut Holes) -> Option<PlainLine<'a>> {
    let mut s = Scan::new(data);
    let mut line = PlainLine {
        model: Cow::Borrowed(""),
        thinking: None,
        content: Cow::Borrowed(""),
    };
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "model" => {
                seen.first(0)?;
                line.model = s.str()?;
            }
            "created_at" => {
                seen.first(1)?;
                s.opt(|s| s.str_hole(holes, Hole::IGNORED))?;
            }
            "message" => {
                seen.first(2)?;
                s.opt(|s| scan_message(s, holes, &mut line))?;
            }
            "done" => {
                seen.first(3)?;
                // A last line (`done: true`) takes the full decode.
                (!s.bool()?).then_some(())?;
            }
            "done_reason" => {
                seen.first(4)?;
                s.opt(Scan::str)?;
            }
            "total_duration" | "prompt_eval_count" | "eval_count" => {
                seen.first(match key {
                    "total_duration" => 5,
                    "prompt_eval_count" => 6,
                    _ => 7,
                })?;
                s.opt(Scan::u64)?;
            }
            "error" => {
                seen.first(8)?;
                s.null().then_some(())?;
            }
            _ => s.skip_hole(holes)?,
        }
        Some(())
    })?;
    s.end()?;
    Some(line)
}

fn scan_message<'a>(s: &mut Scan<'a>, holes: &mut Holes, line: &mut PlainLine<'a>) -> Option<()> {
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "role" => {
                seen.first(0)?;
                s.str()?;
            }
            "content" => {
                seen.first(1)?;
                line.content = s.opt(|s| s.str_hole(holes, CONTENT))?.unwrap_or_default();
            }
            "thinking" => {
                seen.first(2)?;
                line.thinking = s.opt(|s| s.str_hole(holes, THINKING))?;
            }
            "images" => {
                seen.first(3)?;
                s.opt(|s| s.array(Scan::skip_str))?;
            }
            // Tool calls take the full decode, unless there are none.
            "tool_calls" => {
                seen.first(4)?;
                s.opt(|s| s.array(|_| None))?;
            }
            "tool_name" | "tool_call_id" => {
                seen.first(if key == "tool_name" { 5 } else { 6 })?;
                s.opt(Scan::str)?;
            }
            _ => s.skip_hole(holes)?,
        }
        Some(())
    })?;
    // `role` has no default: a message without it is refused by the wire type.
    seen.first(0).is_none().then_some(())
}
