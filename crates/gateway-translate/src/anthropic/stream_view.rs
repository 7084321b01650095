//! Borrowed views of Anthropic stream events, for the stream decoder's typed fast path:
//! strings borrow from the frame and nested values stay raw until a block needs them.
//! A frame the views refuse is decoded again through `serde_json::Value` (the
//! reference path), which gives the same events and the same errors.
//!
//! `stream_scan.rs` reads `content_block_delta` frames (nearly all of a stream) by
//! hand first.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

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
