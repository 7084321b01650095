//! Entry points for the fuzz targets in `fuzz/` and for the corpus replay in
//! `cargo test`: arbitrary bytes in, any result out, never a panic.
//!
//! The first input byte picks the shape, so one target covers every decoder.

use gateway_protocol::{ApiShape, StreamEvent};

use crate::codec::{self, StreamDecoder};
use crate::context::{EncodeOptions, ResponseContext};
use crate::framing::Framer;

fn pick_shape(selector: u8) -> ApiShape {
    ApiShape::ALL[usize::from(selector) % ApiShape::ALL.len()]
}

fn split(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&first, rest)) => (first, rest),
        None => (0, data),
    }
}

/// Decodes a caller request of the selected shape and, when it decodes, re-encodes it
/// for every upstream shape.
pub fn request(data: &[u8]) {
    let (selector, body) = split(data);
    request_as(pick_shape(selector), body);
}

/// [`request`] for a known shape. Ollama bodies are also read as the Ollama
/// caller's other requests (`/api/generate`, `/api/embeddings`, `/api/show`).
pub fn request_as(shape: ApiShape, body: &[u8]) {
    let encode_all = |req: &gateway_protocol::ChatRequest| {
        for target in ApiShape::ALL {
            let _ = codec::encode_request(target, req, &EncodeOptions::default());
        }
    };
    if let Ok(req) = codec::decode_request(shape, body) {
        encode_all(&req);
    }
    if shape == ApiShape::Ollama {
        if let Ok(req) = crate::ollama::generate::decode_request(body) {
            encode_all(&req);
        }
        let _ = crate::ollama::embeddings::decode_legacy_request(body);
        let _ = crate::ollama::models::decode_show_request(body);
    }
}

/// Decodes an upstream response of the selected shape and re-encodes it for every
/// caller shape; also reads the bytes as an error body.
pub fn response(data: &[u8]) {
    let (selector, body) = split(data);
    response_as(pick_shape(selector), body);
}

/// [`response`] for a known shape.
pub fn response_as(shape: ApiShape, body: &[u8]) {
    let ctx = ResponseContext::default();
    if let Ok(resp) = codec::decode_response(shape, body, &ctx) {
        for caller in ApiShape::ALL {
            let _ = codec::encode_response(caller, &resp, &ctx);
        }
        let generate = ResponseContext {
            ollama_generate: true,
            ..ResponseContext::default()
        };
        let _ = codec::encode_response(ApiShape::Ollama, &resp, &generate);
    }
    let _ = codec::decode_error(shape, 500, body);
}

/// Frames and decodes a stream of the selected shape in chunks whose sizes come from
/// the second byte, then encodes the events in every caller shape.
pub fn stream(data: &[u8]) {
    let (selector, rest) = split(data);
    let (chunk, bytes) = split(rest);
    stream_as(pick_shape(selector), bytes, usize::from(chunk).max(1));
}

/// [`stream`] for a known shape and chunk size; returns the decoded events.
pub fn stream_as(shape: ApiShape, bytes: &[u8], chunk: usize) -> Vec<StreamEvent> {
    let ctx = ResponseContext::default();
    let mut framer = Framer::new(codec::upstream_framing(shape));
    let mut decoder = StreamDecoder::new(shape, &ctx);
    let mut frames = Vec::new();
    let mut events = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        if framer.push(piece, &mut frames).is_err() {
            break;
        }
    }
    framer.finish(&mut frames);
    for frame in &frames {
        if decoder.decode(frame, &mut events).is_err() {
            break;
        }
    }
    decoder.finish(&mut events);
    for caller in ApiShape::ALL {
        let mut encoder = codec::StreamEncoder::new(caller, &ctx);
        let mut out = Vec::new();
        for event in &events {
            encoder.encode(event, &mut out);
        }
    }
    events
}
