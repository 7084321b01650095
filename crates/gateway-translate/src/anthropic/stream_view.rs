//! Borrowed views of Anthropic stream events, for the stream decoder's typed fast path:
//! strings borrow from the frame and nested values stay raw until a block needs them.
//! A frame the views refuse is decoded again through `serde_json::Value` (the
//! reference path), which gives the same events and the same errors.
//!
//! [`scan_delta`] reads `content_block_delta` frames (nearly all of a stream) by hand,
//! as [`FastEvent`] would read them, and records their holes for the decoder's
//! [`Template`](crate::json_text::Template).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::json_text::{Fields, Hole, Holes, Scan};

/// A `content_block_start` block, however it was read.
pub(super) struct BlockIn<'a> {
    pub(super) kind: Option<&'a str>,
    pub(super) text: &'a str,
    pub(super) thinking: &'a str,
    pub(super) data: &'a str,
    pub(super) id: &'a str,
    pub(super) name: &'a str,
    /// Only read for `tool_use`.
    pub(super) input: Option<&'a Value>,
}

/// A stream event as the typed path reads it (unknown keys skipped).
#[derive(Deserialize)]
pub(super) struct FastEvent<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(super) kind: Option<&'a str>,
    #[serde(default)]
    pub(super) index: Option<u64>,
    #[serde(borrow, default)]
    pub(super) delta: Option<FastDelta<'a>>,
    /// Read only for `content_block_start` (keeps this struct small).
    #[serde(borrow, default)]
    pub(super) content_block: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) message: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) usage: Option<&'a RawValue>,
}

/// `delta` of `content_block_delta` and `message_delta`.
#[derive(Deserialize)]
pub(super) struct FastDelta<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(super) kind: Option<&'a str>,
    #[serde(borrow, default)]
    pub(super) text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) partial_json: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) signature: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) stop_reason: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) stop_sequence: Option<Cow<'a, str>>,
}

/// `content_block` of `content_block_start`.
#[derive(Deserialize)]
pub(super) struct FastBlock<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(super) kind: Option<&'a str>,
    #[serde(borrow, default)]
    pub(super) text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) data: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) input: Option<&'a RawValue>,
}

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

/// Reads a `content_block_delta` frame (with its `type` in the JSON) as [`FastEvent`]
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

/// A [`FastDelta`]: its `type` and its four texts (each in a hole labelled by its
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
