//! `/v2/chat` stream events (SSE, the `event:` name equal to the data's `type`) →
//! canonical [`StreamEvent`]s; the [`Encoder`] (canonical events → Cohere SSE) is in
//! `stream_encode.rs`.
//!
//! The grammar: `message-start`; per content part `content-start` (its `type`, `text`
//! or `thinking`), `content-delta`s and `content-end`; for calls `tool-plan-delta`s,
//! then per call `tool-call-start` (id and name), `tool-call-delta`s (pieces of the
//! arguments) and `tool-call-end`; `citation-start`/`citation-end` (not read); and
//! `message-end` with the finish reason and usage. Content and calls are numbered
//! apart (`index`); the canonical stream numbers every part. A `message-end` whose
//! reason is `ERROR` ends the stream with its `error`.

use gateway_protocol::{Delta, Family, GatewayError, PartStart, StreamEvent};
use serde::Deserialize;

use super::response::{stop_reason, usage};
use super::{error, wire};
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::framing::FrameRef;
use crate::json;
use crate::open_part::OpenPart;

pub use super::stream_encode::Encoder;

/// What the decoder has open: a content part (Cohere's index), the tool plan, or a
/// call (Cohere's index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(usize),
    Thinking(usize),
    Plan,
    Call(usize),
}

/// Turns `/v2/chat` stream frames into canonical events.
#[derive(Debug, Clone)]
pub struct Decoder {
    ctx: ResponseContext,
    started: bool,
    /// The open part and our index of it.
    parts: OpenPart<Open>,
    finished: bool,
}

/// The `type` of an event's data, for frames without an `event:` name.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type", default)]
    kind: String,
}

impl Decoder {
    /// A decoder for one answer to the request behind `ctx`.
    pub fn new(ctx: &ResponseContext) -> Self {
        Decoder {
            ctx: ctx.clone(),
            started: false,
            parts: OpenPart::new(),
            finished: false,
        }
    }

    /// Decodes one frame. The event type is the SSE `event:` name, else the data's
    /// `type`. Frames after the end, `[DONE]`, unknown and citation events are
    /// ignored.
    pub fn decode<'f>(
        &mut self,
        frame: impl Into<FrameRef<'f>>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let frame = frame.into();
        if self.finished || frame.data.trim() == "[DONE]" {
            return Ok(());
        }
        let data = frame.data.as_bytes();
        let head;
        let event = match frame.event {
            Some(name) => name,
            None => {
                head = json::decode_upstream::<Head>("stream event", data)?;
                head.kind.as_str()
            }
        };
        match event {
            "message-start" => {
                let ev: wire::MessageStart = json::decode_upstream("stream event", data)?;
                if !self.started {
                    self.started = true;
                    out.push(StreamEvent::MessageStart {
                        id: ev.id,
                        model: self.ctx.model.clone(),
                    });
                }
            }
            "content-start" | "content-delta" => {
                let ev: wire::ContentEvent = json::decode_upstream("stream event", data)?;
                self.start(out);
                let content = ev
                    .delta
                    .and_then(|d| d.message)
                    .and_then(|m| m.content)
                    .unwrap_or_default();
                let thinking = match content.kind.as_deref() {
                    Some("thinking") => true,
                    Some(_) => false,
                    None => content.thinking.is_some() && content.text.is_none(),
                };
                let kind = if thinking {
                    Open::Thinking(ev.index)
                } else {
                    Open::Text(ev.index)
                };
                let index = self.parts.ensure(kind, || part_start(kind), out);
                let delta = if thinking {
                    content
                        .thinking
                        .filter(|t| !t.is_empty())
                        .map(Delta::Reasoning)
                } else {
                    content.text.filter(|t| !t.is_empty()).map(Delta::Text)
                };
                if let Some(delta) = delta {
                    out.push(StreamEvent::Delta { index, delta });
                }
            }
            "content-end" => {
                let ev: wire::EndEvent = json::decode_upstream("stream event", data)?;
                if matches!(self.parts.current(), Some((Open::Text(i) | Open::Thinking(i), _)) if i == ev.index)
                {
                    self.parts.close(out);
                }
            }
            "tool-plan-delta" => {
                let ev: wire::ToolPlanEvent = json::decode_upstream("stream event", data)?;
                self.start(out);
                let plan = ev.delta.and_then(|d| d.message).and_then(|m| m.tool_plan);
                if let Some(text) = plan.filter(|t| !t.is_empty()) {
                    let index = self.parts.ensure(Open::Plan, || PartStart::Text, out);
                    out.push(StreamEvent::Delta {
                        index,
                        delta: Delta::Text(text),
                    });
                }
            }
            "tool-call-start" => {
                let ev: wire::ToolCallEvent = json::decode_upstream("stream event", data)?;
                self.start(out);
                self.parts.close(out);
                let call = ev
                    .delta
                    .and_then(|d| d.message)
                    .and_then(|m| m.tool_calls)
                    .unwrap_or_default();
                let f = call.function.unwrap_or_default();
                let name = f.name.ok_or_else(|| {
                    TranslateError::upstream("stream event", "tool-call-start names no tool")
                })?;
                let part = PartStart::ToolCall {
                    id: call.id,
                    name: self.ctx.tool_names.caller_name(&name).to_owned(),
                    signature: None,
                };
                let index = self.parts.open(Open::Call(ev.index), part, out);
                if let Some(args) = f.arguments.filter(|a| !a.is_empty()) {
                    out.push(StreamEvent::Delta {
                        index,
                        delta: Delta::ToolArguments(args),
                    });
                }
            }
            "tool-call-delta" => {
                let ev: wire::ToolCallEvent = json::decode_upstream("stream event", data)?;
                let args = ev
                    .delta
                    .and_then(|d| d.message)
                    .and_then(|m| m.tool_calls)
                    .and_then(|c| c.function)
                    .and_then(|f| f.arguments)
                    .unwrap_or_default();
                match self.parts.current() {
                    Some((Open::Call(i), index)) if i == ev.index => {
                        if !args.is_empty() {
                            out.push(StreamEvent::Delta {
                                index,
                                delta: Delta::ToolArguments(args),
                            });
                        }
                    }
                    _ => {
                        return Err(TranslateError::upstream(
                            "stream event",
                            format!("tool-call-delta for call {}, which did not start", ev.index),
                        ));
                    }
                }
            }
            "tool-call-end" => {
                let ev: wire::EndEvent = json::decode_upstream("stream event", data)?;
                if matches!(self.parts.current(), Some((Open::Call(i), _)) if i == ev.index) {
                    self.parts.close(out);
                }
            }
            "message-end" => {
                let ev: wire::MessageEnd = json::decode_upstream("stream event", data)?;
                self.start(out);
                self.finished = true;
                let delta = ev.delta.unwrap_or_default();
                let reason = delta.finish_reason.unwrap_or_default();
                let failed =
                    reason == "ERROR" && delta.error.as_deref().is_some_and(|e| !e.is_empty());
                if !failed {
                    self.parts.close(out);
                }
                if let Some(u) = &delta.usage {
                    out.push(StreamEvent::Usage(usage(u)));
                }
                if failed {
                    // A failed generation: the open part stays unfinished, as in a cut
                    // stream.
                    out.push(StreamEvent::Error(error::stream_error(
                        delta.error.as_deref(),
                    )));
                } else {
                    out.push(StreamEvent::MessageStop {
                        stop_reason: stop_reason(&reason),
                        stop_sequence: None,
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Ends the input: a stream without `message-end` was cut off.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.finished {
            return;
        }
        self.finished = true;
        out.push(StreamEvent::Error(GatewayError::from_upstream(
            502,
            "upstream stream ended before it finished",
        )));
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

/// How the part `kind` is announced.
fn part_start(kind: Open) -> PartStart {
    match kind {
        Open::Thinking(_) => PartStart::Reasoning {
            id: None,
            source: Some(Family::Cohere),
        },
        Open::Text(_) | Open::Plan | Open::Call(_) => PartStart::Text,
    }
}
