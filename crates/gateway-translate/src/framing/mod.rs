//! Stream framings: SSE, Gemini's streamed JSON array, and NDJSON.
//!
//! Bytes arrive in arbitrary chunks; a framer turns them into [`Frame`]s (an optional
//! event name and one payload) that the shape codecs consume. Codecs never see bytes
//! and framers never see JSON semantics.

mod json_array;
mod ndjson;
mod sse;

pub use json_array::JsonArrayParser;
pub use ndjson::NdjsonParser;
pub use sse::{SseParser, write_sse};

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
}

impl Framer {
    /// A fresh parser for `framing`.
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::Sse => Framer::Sse(SseParser::default()),
            Framing::JsonArray => Framer::JsonArray(JsonArrayParser::default()),
            Framing::Ndjson => Framer::Ndjson(NdjsonParser::default()),
        }
    }

    /// Feeds a chunk; complete frames are appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) {
        match self {
            Framer::Sse(p) => p.push(chunk, out),
            Framer::JsonArray(p) => p.push(chunk, out),
            Framer::Ndjson(p) => p.push(chunk, out),
        }
    }

    /// Ends the input; a final unterminated frame, if any, is appended.
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        match self {
            Framer::Sse(p) => p.finish(out),
            Framer::JsonArray(p) => p.finish(out),
            Framer::Ndjson(p) => p.finish(out),
        }
    }
}
