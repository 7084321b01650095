//! Anthropic `content_block_delta` frames (nearly all of a stream) read by hand, as
//! [`FastEvent`](super::stream_view::FastEvent) would read them; any other frame, or
//! anything left to serde, gives `None`. Texts and unknown strings are recorded as
//! holes for the decoder's [`Template`](crate::json_text::Template).

use std::borrow::Cow;

use crate::json_text::{Fields, Hole, Holes, Scan};

/// The kind of a `content_block_delta`, and the label of the hole holding its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeltaKind {
    /// `text_delta`, text in `text`.
    Text = 1,
    /// `input_json_delta`, text in `partial_json`.
    InputJson = 2,
    /// `thinking_delta`, text in `thinking`.
    Thinking = 3,
    /// `signature_delta`, text in `signature`.
    Signature = 4,
}

/// A `content_block_delta` frame: the block's index (0 when `null`) and the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PlainDelta {
    pub(super) index: u64,
    pub(super) kind: DeltaKind,
}

/// Reads a `content_block_delta` frame (with its `type` in the JSON) as `FastEvent`
/// would: the delta and its text, or `None` for any other frame or anything left to
/// serde. Texts, and unknown strings, are recorded in `holes`.
pub(super) fn scan_delta<'a>(
    data: &'a str,
    holes: &mut Holes,
) -> Option<(PlainDelta, Cow<'a, str>)> {
    let mut s = Scan::new(data);
    let mut kind = None;
    let mut index = None;
    let mut delta = None;
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "type" => {
                seen.first(0)?;
                kind = s.opt(borrowed_str)?;
            }
            "index" => {
                seen.first(1)?;
                index = s.opt(Scan::u64)?;
            }
            "delta" => {
                seen.first(2)?;
                delta = s.opt(|s| scan_fast_delta(s, holes))?;
            }
            "content_block" | "message" | "usage" => {
                let bit = match key {
                    "content_block" => 3,
                    "message" => 4,
                    _ => 5,
                };
                seen.first(bit)?;
                s.skip()?;
            }
            _ => s.skip_hole(holes)?,
        }
        Some(())
    })?;
    s.end()?;
    if kind? != "content_block_delta" {
        return None;
    }
    let (delta_kind, texts) = delta?;
    let delta_kind = match delta_kind? {
        "text_delta" => DeltaKind::Text,
        "input_json_delta" => DeltaKind::InputJson,
        "thinking_delta" => DeltaKind::Thinking,
        "signature_delta" => DeltaKind::Signature,
        _ => return None,
    };
    let [text, partial_json, thinking, signature] = texts;
    let text = match delta_kind {
        DeltaKind::Text => text,
        DeltaKind::InputJson => partial_json,
        DeltaKind::Thinking => thinking,
        DeltaKind::Signature => signature,
    };
    let plain = PlainDelta {
        index: index.unwrap_or(0),
        kind: delta_kind,
    };
    Some((plain, text?))
}

/// A string read as `&str` is: without escapes (serde cannot borrow those).
fn borrowed_str<'a>(s: &mut Scan<'a>) -> Option<&'a str> {
    match s.str()? {
        Cow::Borrowed(text) => Some(text),
        Cow::Owned(_) => None,
    }
}

type DeltaTexts<'a> = [Option<Cow<'a, str>>; 4];

/// A `FastDelta`: its `type` and its four texts (each in a hole labelled by its
/// [`DeltaKind`]).
fn scan_fast_delta<'a>(
    s: &mut Scan<'a>,
    holes: &mut Holes,
) -> Option<(Option<&'a str>, DeltaTexts<'a>)> {
    let mut kind = None;
    let mut texts: DeltaTexts<'a> = [None, None, None, None];
    let mut seen = Fields::default();
    s.object(|s, key| {
        let slot = match key {
            "type" => {
                seen.first(0)?;
                kind = s.opt(borrowed_str)?;
                return Some(());
            }
            "text" => DeltaKind::Text,
            "partial_json" => DeltaKind::InputJson,
            "thinking" => DeltaKind::Thinking,
            "signature" => DeltaKind::Signature,
            "stop_reason" | "stop_sequence" => {
                seen.first(if key == "stop_reason" { 5 } else { 6 })?;
                s.opt(|s| s.str_hole(holes, Hole::IGNORED))?;
                return Some(());
            }
            _ => return s.skip_hole(holes),
        };
        seen.first(slot as u32)?;
        texts[slot as usize - 1] = s.opt(|s| s.str_hole(holes, slot as u8))?;
        Some(())
    })?;
    Some((kind, texts))
}
