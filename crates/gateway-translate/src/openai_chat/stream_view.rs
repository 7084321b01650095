//! Borrowed views of `chat.completion.chunk` frames, for the stream decoder's fast
//! path: the same fields with the same type rules as the [`wire`] chunk types (so the
//! same frames are accepted), strings borrowed from the frame, unused fields checked
//! and dropped. Frames the views refuse are read again with the wire types.
//!
//! `stream_scan.rs` reads the common frames into the same views by hand; what it
//! leaves goes through these as before.

use std::borrow::Cow;

use serde::Deserialize;

use super::wire;
use crate::borrow::{Skip, Str, lenient_opt};

pub(super) fn borrowed(s: &str) -> Str<'_> {
    Str(Cow::Borrowed(s))
}

pub(super) fn function_in(f: &wire::FunctionDelta) -> FunctionDeltaIn<'_> {
    FunctionDeltaIn {
        name: f.name.as_deref().map(borrowed),
        arguments: f.arguments.as_deref().map(borrowed),
    }
}

/// A borrowed [`wire::Chunk`]: every field the wire type reads is read with the same
/// type rules (so the same frames are accepted), unused ones are not kept.
#[derive(Deserialize)]
pub(super) struct ChunkIn<'a> {
    #[serde(default, borrow)]
    pub(super) id: Str<'a>,
    #[serde(default, borrow, rename = "object")]
    pub(super) _object: Str<'a>,
    #[serde(default, rename = "created")]
    pub(super) _created: u64,
    #[serde(default, borrow)]
    pub(super) model: Str<'a>,
    #[serde(default, borrow)]
    pub(super) choices: Vec<ChoiceIn<'a>>,
    #[serde(default)]
    pub(super) usage: Option<Option<wire::Usage>>,
    #[serde(default)]
    pub(super) error: Option<wire::ErrorObject>,
}

/// A borrowed [`wire::ChunkChoice`].
#[derive(Deserialize)]
pub(super) struct ChoiceIn<'a> {
    #[serde(default)]
    pub(super) index: u32,
    #[serde(default, borrow)]
    pub(super) delta: DeltaIn<'a>,
    #[serde(default, rename = "logprobs")]
    pub(super) _logprobs: Option<Skip>,
    #[serde(default, borrow)]
    pub(super) finish_reason: Option<Str<'a>>,
}

/// A borrowed [`wire::ChunkDelta`].
#[derive(Deserialize, Default)]
pub(super) struct DeltaIn<'a> {
    #[serde(default, borrow, rename = "role")]
    pub(super) _role: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub(super) content: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub(super) refusal: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub(super) reasoning_content: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub(super) tool_calls: Option<Vec<ToolCallDeltaIn<'a>>>,
    #[serde(default, borrow)]
    pub(super) function_call: Option<FunctionDeltaIn<'a>>,
}

/// A borrowed [`wire::ToolCallDelta`].
#[derive(Deserialize)]
pub(super) struct ToolCallDeltaIn<'a> {
    #[serde(default)]
    pub(super) index: Option<usize>,
    #[serde(default, borrow)]
    pub(super) id: Option<Str<'a>>,
    #[serde(default, borrow, rename = "type")]
    pub(super) _kind: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub(super) function: Option<FunctionDeltaIn<'a>>,
}

/// A borrowed [`wire::FunctionDelta`].
#[derive(Deserialize)]
pub(super) struct FunctionDeltaIn<'a> {
    #[serde(default, borrow)]
    pub(super) name: Option<Str<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient_opt")]
    pub(super) arguments: Option<Str<'a>>,
}
