//! Ollama's NDJSON chat stream ↔ canonical [`StreamEvent`]s (PROTOCOLS §7.1, §8.13).
//!
//! Every line is a JSON object: `done:false` lines carry `message.content` /
//! `message.thinking` deltas and complete tool calls; the `done:true` line carries
//! `done_reason` and the counts; an `{"error":"…"}` line ends a failed stream.

use gateway_protocol::{
    Delta, ErrorKind, Family, GatewayError, PartStart, StopReason, StreamEvent, ToolCall, Usage,
};

use super::response::{call_id, done_reason, stop_reason, tool_call, usage};
use super::util::{arguments_object, arguments_text};
use super::{error, wire};
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::framing::Frame;
use crate::json;
use crate::time::format_rfc3339;

/// The kind of the part a decoder has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Reasoning,
}

/// Turns Ollama NDJSON lines into canonical events.
#[derive(Debug)]
pub struct Decoder {
    ctx: ResponseContext,
    started: bool,
    open: Option<(usize, Open)>,
    next_index: usize,
    calls: usize,
    finished: bool,
}

impl Decoder {
    /// A decoder for one answer to the request behind `ctx`.
    pub fn new(ctx: &ResponseContext) -> Self {
        Decoder {
            ctx: ctx.clone(),
            started: false,
            open: None,
            next_index: 0,
            calls: 0,
            finished: false,
        }
    }

    /// Decodes one NDJSON line. Lines after the end are ignored.
    pub fn decode(
        &mut self,
        frame: &Frame,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        if self.finished {
            return Ok(());
        }
        let line: wire::Response = json::decode_upstream("stream event", frame.data.as_bytes())?;
        if let Some(err) = &line.error {
            self.finished = true;
            out.push(StreamEvent::Error(error::from_error_value(500, err)));
            return Ok(());
        }
        if !self.started {
            self.started = true;
            let model = if line.model.is_empty() {
                self.ctx.model.clone()
            } else {
                line.model.clone()
            };
            out.push(StreamEvent::MessageStart {
                id: String::new(),
                model,
            });
        }
        if let Some(m) = &line.message {
            if let Some(thinking) = m.thinking.as_deref().filter(|t| !t.is_empty()) {
                let index = self.ensure_open(Open::Reasoning, out);
                out.push(StreamEvent::Delta {
                    index,
                    delta: Delta::Reasoning(thinking.to_owned()),
                });
            }
            if !m.content.is_empty() {
                let index = self.ensure_open(Open::Text, out);
                out.push(StreamEvent::Delta {
                    index,
                    delta: Delta::Text(m.content.clone()),
                });
            }
            for call in &m.tool_calls {
                self.close(out);
                let index = self.take_index();
                out.push(StreamEvent::PartStart {
                    index,
                    part: PartStart::ToolCall {
                        id: call_id(call.id.as_deref(), &self.ctx, self.calls),
                        name: self
                            .ctx
                            .tool_names
                            .caller_name(&call.function.name)
                            .to_owned(),
                        signature: None,
                    },
                });
                out.push(StreamEvent::Delta {
                    index,
                    delta: Delta::ToolArguments(arguments_text(&call.function.arguments)),
                });
                out.push(StreamEvent::PartStop { index });
                self.calls = self.calls.saturating_add(1);
            }
        }
        if line.done {
            self.close(out);
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

    fn take_index(&mut self) -> usize {
        let index = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        index
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(StreamEvent::PartStop { index });
        }
    }

    /// The index of an open part of `kind`, closing another kind and starting one.
    fn ensure_open(&mut self, kind: Open, out: &mut Vec<StreamEvent>) -> usize {
        if let Some((index, open)) = self.open {
            if open == kind {
                return index;
            }
        }
        self.close(out);
        let index = self.take_index();
        let part = match kind {
            Open::Text => PartStart::Text,
            Open::Reasoning => PartStart::Reasoning {
                id: None,
                source: Some(Family::Ollama),
            },
        };
        out.push(StreamEvent::PartStart { index, part });
        self.open = Some((index, kind));
        index
    }
}

/// What the encoder knows about a started part.
#[derive(Debug)]
enum EncPart {
    Text,
    Reasoning,
    Call {
        id: String,
        name: String,
        args: String,
    },
    Other,
}

/// Writes canonical events as Ollama NDJSON lines.
///
/// Text and reasoning deltas become `done:false` lines at once; a tool call is
/// buffered until its `PartStop` and written complete with its arguments as an
/// object (arguments that are not a JSON object end the stream with an error line).
/// `MessageStop` writes the `done:true` line with the last `Usage`; an `Error` writes
/// `{"error":"…"}`. Nothing is written after either.
#[derive(Debug)]
pub struct Encoder {
    model: String,
    created_at: String,
    parts: Vec<(usize, EncPart)>,
    calls: usize,
    usage: Usage,
    done: bool,
}

impl Encoder {
    /// An encoder answering the request behind `ctx`.
    pub fn new(ctx: &ResponseContext) -> Self {
        Encoder {
            model: ctx.model.clone(),
            created_at: format_rfc3339(ctx.created),
            parts: Vec::new(),
            calls: 0,
            usage: Usage::default(),
            done: false,
        }
    }

    /// Encodes one event, appending whole lines to `out`.
    pub fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::MessageStart { .. } => {}
            StreamEvent::PartStart { index, part } => {
                let state = match part {
                    PartStart::Text => EncPart::Text,
                    PartStart::Reasoning { .. } => EncPart::Reasoning,
                    PartStart::ToolCall { id, name, .. } => EncPart::Call {
                        id: id.clone(),
                        name: name.clone(),
                        args: String::new(),
                    },
                    PartStart::RedactedReasoning { .. } => EncPart::Other,
                };
                self.parts.retain(|(i, _)| i != index);
                self.parts.push((*index, state));
            }
            StreamEvent::Delta { index, delta } => self.delta(*index, delta, out),
            StreamEvent::PartStop { index } => {
                if let Some(pos) = self.parts.iter().position(|(i, _)| i == index) {
                    let (_, part) = self.parts.remove(pos);
                    self.flush(part, out);
                }
            }
            StreamEvent::Usage(u) => self.usage = *u,
            StreamEvent::MessageStop { stop_reason, .. } => self.stop(*stop_reason, out),
            StreamEvent::Error(err) => {
                self.done = true;
                let (_, body) = error::encode(err);
                out.extend_from_slice(&body);
                out.push(b'\n');
            }
        }
    }

    fn delta(&mut self, index: usize, delta: &Delta, out: &mut Vec<u8>) {
        let part = self.parts.iter_mut().find(|(i, _)| *i == index);
        match (part, delta) {
            (Some((_, EncPart::Call { args, .. })), Delta::ToolArguments(more)) => {
                args.push_str(more);
            }
            // A text or reasoning delta is written whatever part it claims to be in.
            (_, Delta::Text(text)) if !text.is_empty() => self.line(text, None, out),
            (_, Delta::Reasoning(text)) if !text.is_empty() => self.line("", Some(text), out),
            _ => {}
        }
    }

    fn flush(&mut self, part: EncPart, out: &mut Vec<u8>) {
        let EncPart::Call { id, name, args } = part else {
            return;
        };
        if let Err(message) = arguments_object(&args) {
            self.done = true;
            let err = GatewayError::new(
                ErrorKind::Upstream,
                format!("tool call `{name}` has unusable arguments: {message}"),
            );
            out.extend_from_slice(&error::encode(&err).1);
            out.push(b'\n');
            return;
        }
        let call = ToolCall {
            id,
            name,
            arguments: args,
            signature: None,
        };
        let message = wire::Message {
            role: "assistant".to_owned(),
            tool_calls: vec![tool_call(&call, self.calls)],
            ..wire::Message::default()
        };
        self.calls = self.calls.saturating_add(1);
        self.write(Some(message), false, None, out);
    }

    fn stop(&mut self, reason: StopReason, out: &mut Vec<u8>) {
        let pending: Vec<EncPart> = self.parts.drain(..).map(|(_, p)| p).collect();
        for part in pending {
            self.flush(part, out);
            if self.done {
                return;
            }
        }
        let message = wire::Message {
            role: "assistant".to_owned(),
            ..wire::Message::default()
        };
        self.write(Some(message), true, Some(reason), out);
        self.done = true;
    }

    fn line(&mut self, content: &str, thinking: Option<&str>, out: &mut Vec<u8>) {
        let message = wire::Message {
            role: "assistant".to_owned(),
            content: content.to_owned(),
            thinking: thinking.map(str::to_owned),
            ..wire::Message::default()
        };
        self.write(Some(message), false, None, out);
    }

    fn write(
        &self,
        message: Option<wire::Message>,
        done: bool,
        reason: Option<StopReason>,
        out: &mut Vec<u8>,
    ) {
        let line = wire::Response {
            model: self.model.clone(),
            created_at: Some(self.created_at.clone()),
            message,
            done,
            done_reason: reason.map(|r| done_reason(r).to_owned()),
            total_duration: None,
            prompt_eval_count: done.then_some(self.usage.input_tokens),
            eval_count: done.then_some(self.usage.output_tokens),
            error: None,
        };
        out.extend_from_slice(&json::encode(&line));
        out.push(b'\n');
    }
}
