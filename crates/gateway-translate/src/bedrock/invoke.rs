//! Claude on Bedrock through `InvokeModel` (kind `bedrock_anthropic`): the request
//! and the whole answer are Anthropic's own Messages bodies, but the stream of
//! `InvokeModelWithResponseStream` is an event stream of `chunk` messages whose
//! payload is `{"bytes": "<base64 of one Anthropic stream event's JSON>"}`.
//!
//! [`Unwrapper`] turns that stream into the Anthropic SSE it carries (each event
//! named by its JSON's `type`), so the rest of the gateway sees an Anthropic upstream;
//! an exception, an error message or a broken event stream becomes Anthropic's
//! `error` event. [`Wrapper`] does the reverse for the Bedrock-shaped mock.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gateway_protocol::GatewayError;
use serde::{Deserialize, Serialize};

use crate::framing::eventstream::{self, CORRUPT_EVENT, ERROR_PREFIX, EXCEPTION_PREFIX, Header};
use crate::framing::{EventStreamParser, FrameRef, SseParser, write_sse};
use crate::{anthropic, json};

/// The `anthropic_version` Bedrock's Messages bodies carry.
pub const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// A `chunk` payload.
#[derive(Debug, Serialize, Deserialize)]
struct PayloadPart {
    /// Base64 of the event's JSON.
    bytes: String,
}

/// `{"type": ...}` of an Anthropic event.
#[derive(Deserialize)]
struct Typed<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<&'a str>,
}

/// `InvokeModelWithResponseStream` bytes in, Anthropic SSE bytes out.
#[derive(Debug, Default)]
pub struct Unwrapper {
    framer: EventStreamParser,
    /// Set once an error event was written: nothing follows it.
    ended: bool,
}

impl Unwrapper {
    /// A fresh unwrapper.
    pub fn new() -> Self {
        Unwrapper::default()
    }

    /// Feeds upstream bytes; appends the SSE they carry to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        let ended = &mut self.ended;
        let pushed = self
            .framer
            .push_with(chunk, &mut |frame| unwrap_frame(frame, ended, out));
        if let Err(too_large) = pushed {
            let err = GatewayError::from_upstream(502, too_large.to_string());
            write_error(&err, &mut self.ended, out);
        }
    }

    /// Ends the upstream bytes: a message cut off is reported as an error event.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        let ended = &mut self.ended;
        self.framer
            .finish_with(&mut |frame| unwrap_frame(frame, ended, out));
    }
}

fn write_error(err: &GatewayError, ended: &mut bool, out: &mut Vec<u8>) {
    if !*ended {
        *ended = true;
        let (_, body) = anthropic::error::encode(err);
        write_sse(out, Some("error"), &body);
    }
}

fn unwrap_frame(frame: FrameRef<'_>, ended: &mut bool, out: &mut Vec<u8>) {
    if *ended {
        return;
    }
    let event = frame.event.unwrap_or("");
    if let Some(kind) = event.strip_prefix(EXCEPTION_PREFIX) {
        let body: super::wire::ErrorBody = serde_json::from_str(frame.data).unwrap_or_default();
        let message = body
            .message
            .unwrap_or_else(|| format!("Bedrock stream failed with {kind}"));
        let err = super::error::from_type(500, Some(kind), message);
        return write_error(&err, ended, out);
    }
    if event == CORRUPT_EVENT || event.starts_with(ERROR_PREFIX) {
        let err = GatewayError::from_upstream(502, format!("Bedrock stream error: {}", frame.data));
        return write_error(&err, ended, out);
    }
    if event != "chunk" {
        return;
    }
    let decoded = serde_json::from_str::<PayloadPart>(frame.data)
        .ok()
        .and_then(|p| STANDARD.decode(p.bytes).ok());
    let Some(bytes) = decoded else {
        let err =
            GatewayError::from_upstream(502, "Bedrock sent a stream chunk without base64 `bytes`");
        return write_error(&err, ended, out);
    };
    let name = serde_json::from_slice::<Typed<'_>>(&bytes)
        .ok()
        .and_then(|t| t.kind);
    write_sse(out, name, &bytes);
}

/// Anthropic SSE bytes in, `InvokeModelWithResponseStream` bytes out (the mock's).
#[derive(Debug, Default)]
pub struct Wrapper {
    sse: SseParser,
}

impl Wrapper {
    /// A fresh wrapper.
    pub fn new() -> Self {
        Wrapper::default()
    }

    /// Feeds SSE bytes; appends one `chunk` message per complete event to `out`.
    /// An `error` event becomes an exception message named after its kind.
    pub fn push(&mut self, sse: &[u8], out: &mut Vec<u8>) {
        let _ = self
            .sse
            .push_with(sse, &mut |frame: FrameRef<'_>| wrap_frame(frame, out));
    }

    /// Ends the SSE bytes.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.sse
            .finish_with(&mut |frame: FrameRef<'_>| wrap_frame(frame, out));
    }
}

fn wrap_frame(frame: FrameRef<'_>, out: &mut Vec<u8>) {
    if frame.event == Some("error") {
        let err = anthropic::error::decode(500, frame.data.as_bytes());
        let kind = super::error::error_type(err.kind);
        let mut name = kind[..1].to_ascii_lowercase();
        name.push_str(&kind[1..]);
        let payload = json::encode(&super::wire::ErrorBody {
            message: Some(err.message),
            kind: None,
        });
        let headers = [
            Header::string(":exception-type", name),
            Header::string(":content-type", "application/json"),
            Header::string(":message-type", "exception"),
        ];
        eventstream::encode(&headers, &payload, out);
        return;
    }
    if frame.data.is_empty() {
        return;
    }
    let payload = json::encode(&PayloadPart {
        bytes: STANDARD.encode(frame.data),
    });
    let headers = [
        Header::string(":event-type", "chunk"),
        Header::string(":content-type", "application/json"),
        Header::string(":message-type", "event"),
    ];
    eventstream::encode(&headers, &payload, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSE: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    #[test]
    fn a_wrapped_stream_unwraps_to_the_same_sse_at_any_chunking() {
        let mut wrapped = Vec::new();
        let mut w = Wrapper::new();
        w.push(SSE.as_bytes(), &mut wrapped);
        w.finish(&mut wrapped);
        let decoded = eventstream::decode(&wrapped[..be_len(&wrapped)]).unwrap();
        assert_eq!(decoded.string_header(":event-type"), Some("chunk"));
        for size in [1, 7, 64, wrapped.len()] {
            let mut u = Unwrapper::new();
            let mut out = Vec::new();
            for piece in wrapped.chunks(size) {
                u.push(piece, &mut out);
            }
            u.finish(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), SSE, "chunks of {size}");
        }
    }

    fn be_len(bytes: &[u8]) -> usize {
        usize::try_from(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])).unwrap()
    }

    #[test]
    fn exceptions_and_cuts_become_anthropic_error_events() {
        let mut bytes = Vec::new();
        let headers = [
            Header::string(":exception-type", "throttlingException"),
            Header::string(":message-type", "exception"),
        ];
        eventstream::encode(&headers, br#"{"message":"slow down"}"#, &mut bytes);
        let mut out = Vec::new();
        let mut u = Unwrapper::new();
        u.push(&bytes, &mut out);
        u.push(&bytes, &mut out);
        u.finish(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("event: error").count(), 1, "{text}");
        assert!(
            text.contains("rate_limit_error") && text.contains("slow down"),
            "{text}"
        );

        let mut out = Vec::new();
        let mut u = Unwrapper::new();
        let mut wrapped = Vec::new();
        Wrapper::new().push(SSE.as_bytes(), &mut wrapped);
        u.push(&wrapped[..wrapped.len() - 5], &mut out);
        u.finish(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with("\n\n") && text.contains("event: error"),
            "{text}"
        );
        assert!(text.contains("content_block_delta"), "{text}");
    }
}
