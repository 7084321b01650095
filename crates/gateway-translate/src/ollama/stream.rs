//! Ollama's NDJSON chat stream → canonical [`StreamEvent`]s (PROTOCOLS §7.1, §8.13);
//! the [`Encoder`] (canonical events → lines) is in `stream_encode.rs`.
//!
//! Every line is a JSON object: `done:false` lines carry `message.content` /
//! `message.thinking` deltas and complete tool calls; the `done:true` line carries
//! `done_reason` and the counts; an `{"error":"…"}` line ends a failed stream.

use gateway_protocol::{Delta, Family, GatewayError, PartStart, StreamEvent};

use super::convert::arguments_text;
use super::response::{call_id, stop_reason, usage};
use super::stream_scan::{self, CONTENT, THINKING};
use super::{error, wire};
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::framing::FrameRef;
use crate::json;
use crate::json_text::{Holes, Template, slots, take_str};
use crate::open_part::OpenPart;

pub use super::stream_encode::Encoder;

/// The kind of the part a decoder has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Reasoning,
    /// A tool call: opened and closed on its one line.
    Call,
}

/// Turns Ollama NDJSON lines into canonical events.
#[derive(Debug, Clone)]
pub struct Decoder {
    ctx: ResponseContext,
    /// Common lines are read by hand (off only in the tests that hold the scanner to
    /// the wire types).
    scan: bool,
    /// The last plain line, to read the next ones by comparison.
    template: Template<()>,
    holes: Holes,
    started: bool,
    parts: OpenPart<Open>,
    calls: usize,
    finished: bool,
}

impl Decoder {
    /// A decoder for one answer to the request behind `ctx`.
    pub fn new(ctx: &ResponseContext) -> Self {
        Decoder {
            ctx: ctx.clone(),
            scan: true,
            template: Template::default(),
            holes: Holes::default(),
            started: false,
            parts: OpenPart::new(),
            calls: 0,
            finished: false,
        }
    }

    /// Decodes one NDJSON line. Lines after the end are ignored.
    pub fn decode<'f>(
        &mut self,
        frame: impl Into<FrameRef<'f>>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let frame = frame.into();
        if self.finished {
            return Ok(());
        }
        if self.scan {
            let data = frame.data;
            let mut values = slots();
            if let (true, Some(((), labels))) =
                (self.started, self.template.read(data, &mut values))
            {
                let thinking = take_str(&labels, &mut values, THINKING);
                let content = take_str(&labels, &mut values, CONTENT);
                self.deltas(&thinking, &content, out);
                return Ok(());
            }
            self.holes.clear();
            if let Some(line) = stream_scan::scan(data, &mut self.holes) {
                self.template.learn(data, &self.holes, ());
                self.start(&line.model, out);
                let thinking = line.thinking.unwrap_or_default();
                self.deltas(&thinking, &line.content, out);
                return Ok(());
            }
        }
        let line: wire::Response = json::decode_upstream("stream event", frame.data.as_bytes())?;
        if let Some(err) = &line.error {
            self.finished = true;
            out.push(StreamEvent::Error(error::from_error_value(500, err)));
            return Ok(());
        }
        self.start(&line.model, out);
        if let Some(m) = &line.message {
            self.deltas(m.thinking.as_deref().unwrap_or(""), &m.content, out);
            for call in &m.tool_calls {
                let part = PartStart::ToolCall {
                    id: call_id(call.id.as_deref(), &self.ctx, self.calls),
                    name: self
                        .ctx
                        .tool_names
                        .caller_name(&call.function.name)
                        .to_owned(),
                    signature: None,
                };
                let index = self.parts.open(Open::Call, part, out);
                out.push(StreamEvent::Delta {
                    index,
                    delta: Delta::ToolArguments(arguments_text(&call.function.arguments)),
                });
                self.parts.close(out);
                self.calls = self.calls.saturating_add(1);
            }
        }
        if line.done {
            self.parts.close(out);
            self.finished = true;
            out.push(StreamEvent::Usage(usage(
                line.prompt_eval_count,
                line.eval_count,
            )));
            out.push(StreamEvent::MessageStop {
                stop_reason: stop_reason(line.done_reason.as_deref(), self.calls > 0),
                stop_sequence: None,
            });
        }
        Ok(())
    }

    /// The decoder without its scanner: every line through the wire types.
    #[cfg(test)]
    pub(crate) fn without_scanner(mut self) -> Self {
        self.scan = false;
        self
    }

    fn start(&mut self, model: &str, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            let model = if model.is_empty() {
                self.ctx.model.clone()
            } else {
                model.to_owned()
            };
            out.push(StreamEvent::MessageStart {
                id: String::new(),
                model,
            });
        }
    }

    /// A line's thinking, then its content, each when not empty.
    fn deltas(&mut self, thinking: &str, content: &str, out: &mut Vec<StreamEvent>) {
        if !thinking.is_empty() {
            let index = self.parts.ensure(Open::Reasoning, reasoning_part, out);
            out.push(StreamEvent::Delta {
                index,
                delta: Delta::Reasoning(thinking.to_owned()),
            });
        }
        if !content.is_empty() {
            let index = self.parts.ensure(Open::Text, || PartStart::Text, out);
            out.push(StreamEvent::Delta {
                index,
                delta: Delta::Text(content.to_owned()),
            });
        }
    }

    /// Ends the input: a stream without its `done:true` line was cut off.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.finished {
            self.finished = true;
            out.push(StreamEvent::Error(GatewayError::from_upstream(
                502,
                "upstream stream ended before it finished",
            )));
        }
    }
}

fn reasoning_part() -> PartStart {
    PartStart::Reasoning {
        id: None,
        source: Some(Family::Ollama),
    }
}
