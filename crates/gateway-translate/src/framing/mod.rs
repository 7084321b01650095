//! Stream framings: SSE, Gemini's streamed JSON array, NDJSON, and AWS's binary event
//! stream (Bedrock).
//!
//! Bytes arrive in arbitrary chunks; a framer turns them into [`Frame`]s (an optional
//! event name and one payload) that the shape codecs consume, or hands them out
//! borrowed as [`FrameRef`]s ([`Framer::push_with`]: no copy for a frame inside the
//! chunk). Codecs never see bytes and framers never see JSON semantics.
//!
//! A frame is buffered until it is complete, so each framer holds at most
//! [`DEFAULT_MAX_FRAME_BYTES`] (or the limit it was made with) of one frame: past
//! it, the push fails with [`FrameTooLarge`] and the buffer is dropped.

pub mod eventstream;
mod json_array;
mod ndjson;
mod sse;

pub use eventstream::EventStreamParser;
pub use json_array::JsonArrayParser;
pub use ndjson::NdjsonParser;
pub use sse::{SseParser, write_sse};

/// The most one frame may buffer by default: 16 MiB.
///
/// LLM stream events are small (a token, a fragment of tool-call arguments); the
/// largest real ones repeat a whole answer (OpenAI Responses `response.completed`) or
/// carry a generated image, a few MiB at most. Without a cap, an upstream that sends a
/// line without end makes the framer buffer until the process runs out of memory.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 << 20;

/// A frame grew past its framer's limit. The framer dropped what it held and stays
/// failed: later pushes fail the same way, since the stream cannot be resynchronised
/// in the middle of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an upstream stream event is larger than {limit} bytes")]
pub struct FrameTooLarge {
    /// The framer's limit, in bytes.
    pub limit: usize,
}

impl From<FrameTooLarge> for crate::TranslateError {
    fn from(err: FrameTooLarge) -> Self {
        crate::TranslateError::upstream("stream event", err.to_string())
    }
}

/// Makes room in `buf` for `extra` more bytes without its capacity passing `limit`
/// (the usual doubling stops at the limit); a frame that would pass it fails, and
/// `buf` is released.
pub(crate) fn reserve_within(
    buf: &mut Vec<u8>,
    extra: usize,
    limit: usize,
) -> Result<(), FrameTooLarge> {
    let needed = buf.len().saturating_add(extra);
    if needed > limit {
        *buf = Vec::new();
        return Err(FrameTooLarge { limit });
    }
    if needed > buf.capacity() {
        buf.reserve_exact(capped_growth(buf.capacity(), needed, limit) - buf.len());
    }
    Ok(())
}

/// The capacity a buffer of `capacity` grows to for `needed` bytes: doubled as usual,
/// but never past `limit` (`needed` is within it).
pub(crate) fn capped_growth(capacity: usize, needed: usize, limit: usize) -> usize {
    needed.max(capacity.saturating_mul(2)).min(limit)
}

/// One framed event: an SSE event, one element of a JSON array, or one NDJSON line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    /// The SSE `event:` name, if any.
    pub event: Option<String>,
    /// The payload (SSE `data:` lines joined with `\n`).
    pub data: String,
}

impl Frame {
    /// A frame with only data.
    pub fn data(data: impl Into<String>) -> Self {
        Frame {
            event: None,
            data: data.into(),
        }
    }

    /// The frame, borrowed.
    pub fn view(&self) -> FrameRef<'_> {
        FrameRef {
            event: self.event.as_deref(),
            data: &self.data,
        }
    }
}

/// A framed event, borrowed: from the chunk just pushed when the whole event lies in
/// it (the common case: no copy, no allocation), else from the framer's buffer. What
/// [`Framer::push_with`] hands out and the stream decoders read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameRef<'a> {
    /// The SSE `event:` name, if any.
    pub event: Option<&'a str>,
    /// The payload (SSE `data:` lines joined with `\n`).
    pub data: &'a str,
}

impl<'a> From<&'a Frame> for FrameRef<'a> {
    fn from(frame: &'a Frame) -> Self {
        frame.view()
    }
}

impl From<FrameRef<'_>> for Frame {
    fn from(frame: FrameRef<'_>) -> Self {
        Frame {
            event: frame.event.map(str::to_owned),
            data: frame.data.to_owned(),
        }
    }
}

/// Appends `bytes` to `out` as text. Valid UTF-8 (the normal case) is checked with
/// the fast validator and copied once; invalid sequences become U+FFFD rather than
/// failing the stream.
pub(crate) fn push_utf8(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => out.push_str(text),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// `bytes` as an owned string (see [`push_utf8`]).
pub(crate) fn to_utf8(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    push_utf8(&mut s, bytes);
    s
}

/// How a stream is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `text/event-stream`.
    Sse,
    /// One JSON array streamed element by element (Gemini without `alt=sse`).
    JsonArray,
    /// One JSON object per line (Ollama).
    Ndjson,
    /// AWS's binary `application/vnd.amazon.eventstream` (Bedrock).
    EventStream,
}

/// A parser for any [`Framing`].
#[derive(Debug)]
pub enum Framer {
    /// SSE.
    Sse(SseParser),
    /// JSON array.
    JsonArray(JsonArrayParser),
    /// NDJSON.
    Ndjson(NdjsonParser),
    /// AWS event stream.
    EventStream(EventStreamParser),
}

impl Framer {
    /// A fresh parser for `framing`, frames capped at [`DEFAULT_MAX_FRAME_BYTES`].
    pub fn new(framing: Framing) -> Self {
        Framer::with_limit(framing, DEFAULT_MAX_FRAME_BYTES)
    }

    /// A fresh parser for `framing` whose frames may buffer at most `max_frame_bytes`.
    pub fn with_limit(framing: Framing, max_frame_bytes: usize) -> Self {
        match framing {
            Framing::Sse => Framer::Sse(SseParser::with_limit(max_frame_bytes)),
            Framing::JsonArray => Framer::JsonArray(JsonArrayParser::with_limit(max_frame_bytes)),
            Framing::Ndjson => Framer::Ndjson(NdjsonParser::with_limit(max_frame_bytes)),
            Framing::EventStream => {
                Framer::EventStream(EventStreamParser::with_limit(max_frame_bytes))
            }
        }
    }

    /// Feeds a chunk; complete frames are appended to `out` (those completed before
    /// a frame too large are appended too).
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) -> Result<(), FrameTooLarge> {
        match self {
            Framer::Sse(p) => p.push(chunk, out),
            Framer::JsonArray(p) => p.push(chunk, out),
            Framer::Ndjson(p) => p.push(chunk, out),
            Framer::EventStream(p) => p.push(chunk, out),
        }
    }

    /// Feeds a chunk; each complete frame is passed to `emit`, borrowed (those
    /// completed before a frame too large are passed on too). The same frames as
    /// [`Framer::push`], without a copy or allocation for frames inside the chunk.
    pub fn push_with(
        &mut self,
        chunk: &[u8],
        mut emit: impl FnMut(FrameRef<'_>),
    ) -> Result<(), FrameTooLarge> {
        match self {
            Framer::Sse(p) => p.push_with(chunk, &mut emit),
            Framer::JsonArray(p) => p.push_with(chunk, &mut emit),
            Framer::Ndjson(p) => p.push_with(chunk, &mut emit),
            Framer::EventStream(p) => p.push_with(chunk, &mut emit),
        }
    }

    /// Ends the input; a final unterminated frame, if any, is appended.
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        self.finish_with(|frame| out.push(frame.into()));
    }

    /// Ends the input; a final unterminated frame, if any, is passed to `emit`.
    pub fn finish_with(&mut self, mut emit: impl FnMut(FrameRef<'_>)) {
        match self {
            Framer::Sse(p) => p.finish_with(&mut emit),
            Framer::JsonArray(p) => p.finish_with(&mut emit),
            Framer::Ndjson(p) => p.finish_with(&mut emit),
            Framer::EventStream(p) => p.finish_with(&mut emit),
        }
    }
}
