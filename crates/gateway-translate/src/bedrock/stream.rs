//! `ConverseStream` events (event stream frames, see
//! [`crate::framing::eventstream`]) → canonical [`StreamEvent`]s; the [`Encoder`]
//! (canonical events → event stream bytes) is in `stream_encode.rs`.
//!
//! The grammar: `messageStart`, then per content block an optional
//! `contentBlockStart` (tool calls only: text and reasoning blocks begin with their
//! first delta), `contentBlockDelta`s (`text`, `toolUse.input`, `reasoningContent`
//! with `text`, `signature` or `redactedContent`) and `contentBlockStop`; then
//! `messageStop` with the stop reason and `metadata` with usage. The stop is held
//! until the usage has been read (the canonical stream ends with `MessageStop`).
//! An `exception` message ends the stream with that error.

use gateway_protocol::{Delta, Family, GatewayError, PartStart, StopReason, StreamEvent};

use super::convert::usage_of;
use super::response::{matched_stop_sequence, stop_reason};
use super::{error, wire};
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::framing::FrameRef;
use crate::framing::eventstream::{ERROR_PREFIX, EXCEPTION_PREFIX};
use crate::json;
use crate::open_part::OpenPart;

pub use super::stream_encode::Encoder;

/// What kind of part the decoder has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Reasoning,
    ToolCall,
    /// Redacted reasoning: opened and closed on its one delta.
    Redacted,
}

/// Turns `ConverseStream` frames into canonical events.
#[derive(Debug, Clone)]
pub struct Decoder {
    ctx: ResponseContext,
    started: bool,
    /// The open part, keyed by Bedrock's block index and its kind.
    parts: OpenPart<(usize, Open)>,
    /// The stop reason (and matched stop sequence) of `messageStop`, held until
    /// `metadata`.
    stop: Option<(StopReason, Option<String>)>,
    finished: bool,
}

impl Decoder {
    /// A decoder for one answer to the request behind `ctx`.
    pub fn new(ctx: &ResponseContext) -> Self {
        Decoder {
            ctx: ctx.clone(),
            started: false,
            parts: OpenPart::new(),
            stop: None,
            finished: false,
        }
    }

    /// Decodes one frame. Frames after the end are ignored; unknown event types too.
    pub fn decode<'f>(
        &mut self,
        frame: impl Into<FrameRef<'f>>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let frame = frame.into();
        if self.finished {
            return Ok(());
        }
        let event = frame.event.unwrap_or("");
        let data = frame.data.as_bytes();
        if let Some(kind) = event.strip_prefix(EXCEPTION_PREFIX) {
            let body: wire::ErrorBody = serde_json::from_slice(data).unwrap_or_default();
            let message = body
                .message
                .unwrap_or_else(|| format!("Bedrock stream failed with {kind}"));
            self.fail(error::from_type(500, Some(kind), message), out);
            return Ok(());
        }
        if let Some(code) = event.strip_prefix(ERROR_PREFIX) {
            let mut err =
                GatewayError::from_upstream(502, format!("Bedrock stream error: {}", frame.data));
            err.code = (!code.is_empty()).then(|| code.to_owned());
            self.fail(err, out);
            return Ok(());
        }
        match event {
            "messageStart" => self.start(out),
            "contentBlockStart" => {
                let ev: wire::ContentBlockStart = json::decode_upstream("stream event", data)?;
                self.start(out);
                if let Some(call) = &ev.start.tool_use {
                    let part = PartStart::ToolCall {
                        id: call.tool_use_id.clone(),
                        name: self.ctx.tool_names.caller_name(&call.name).to_owned(),
                        signature: None,
                    };
                    self.parts
                        .open((ev.content_block_index, Open::ToolCall), part, out);
                }
            }
            "contentBlockDelta" => {
                let ev: wire::ContentBlockDelta = json::decode_upstream("stream event", data)?;
                self.start(out);
                self.delta(ev, out)?;
            }
            "contentBlockStop" => {
                let ev: wire::ContentBlockStop = json::decode_upstream("stream event", data)?;
                if self
                    .parts
                    .current()
                    .is_some_and(|((block, _), _)| block == ev.content_block_index)
                {
                    self.parts.close(out);
                }
            }
            "messageStop" => {
                let ev: wire::MessageStop = json::decode_upstream("stream event", data)?;
                self.start(out);
                self.parts.close(out);
                let seq = matched_stop_sequence(ev.additional_model_response_fields.as_ref());
                self.stop = Some((stop_reason(&ev.stop_reason), seq));
            }
            "metadata" => {
                let ev: wire::Metadata = json::decode_upstream("stream event", data)?;
                self.start(out);
                if let Some(u) = &ev.usage {
                    out.push(StreamEvent::Usage(usage_of(u)));
                }
                if let Some((stop_reason, stop_sequence)) = self.stop.take() {
                    self.finished = true;
                    out.push(StreamEvent::MessageStop {
                        stop_reason,
                        stop_sequence,
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn delta(
        &mut self,
        ev: wire::ContentBlockDelta,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let block = ev.content_block_index;
        let d = ev.delta;
        if let Some(text) = d.text {
            let index = self
                .parts
                .ensure((block, Open::Text), || PartStart::Text, out);
            out.push(StreamEvent::Delta {
                index,
                delta: Delta::Text(text),
            });
        } else if let Some(call) = d.tool_use {
            match self.parts.current() {
                Some(((b, Open::ToolCall), index)) if b == block => out.push(StreamEvent::Delta {
                    index,
                    delta: Delta::ToolArguments(call.input),
                }),
                _ => {
                    return Err(TranslateError::upstream(
                        "stream event",
                        format!("tool input for block {block}, which did not start as a tool call"),
                    ));
                }
            }
        } else if let Some(r) = d.reasoning_content {
            if let Some(data) = r.redacted_content {
                let part = PartStart::RedactedReasoning {
                    data,
                    source: Some(Family::Bedrock),
                };
                self.parts.open((block, Open::Redacted), part, out);
                self.parts.close(out);
                return Ok(());
            }
            let index = self
                .parts
                .ensure((block, Open::Reasoning), reasoning_part, out);
            if let Some(text) = r.text {
                out.push(StreamEvent::Delta {
                    index,
                    delta: Delta::Reasoning(text),
                });
            }
            if let Some(sig) = r.signature {
                out.push(StreamEvent::Delta {
                    index,
                    delta: Delta::Signature(sig),
                });
            }
        }
        Ok(())
    }

    /// Ends the input. A stream whose `messageStop` came without `metadata` ends with
    /// its stop reason (no usage); one without `messageStop` was cut off.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.finished {
            return;
        }
        self.finished = true;
        match self.stop.take() {
            Some((stop_reason, stop_sequence)) => out.push(StreamEvent::MessageStop {
                stop_reason,
                stop_sequence,
            }),
            None => out.push(StreamEvent::Error(GatewayError::from_upstream(
                502,
                "upstream stream ended before it finished",
            ))),
        }
    }

    fn fail(&mut self, err: GatewayError, out: &mut Vec<StreamEvent>) {
        self.finished = true;
        out.push(StreamEvent::Error(err));
    }

    fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::MessageStart {
                id: String::new(),
                model: self.ctx.model.clone(),
            });
        }
    }
}

fn reasoning_part() -> PartStart {
    PartStart::Reasoning {
        id: None,
        source: Some(Family::Bedrock),
    }
}
