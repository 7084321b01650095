//! The Ollama stream encoder: canonical events → NDJSON `/api/chat` lines (PROTOCOLS
//! §7.1, §8.13), for the mock provider and round-trip tests.

use gateway_protocol::{
    Delta, ErrorKind, GatewayError, PartStart, StopReason, StreamEvent, ToolCall, Usage,
};

use super::convert::arguments_object;
use super::response::{done_reason, tool_call};
use super::{error, wire};
use crate::context::ResponseContext;
use crate::json;
use crate::time::format_rfc3339;

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
///
/// With `ctx.ollama_generate` the lines take `/api/generate`'s form: text in
/// `response`, thinking in `thinking`, and no tool-call lines (a generate request has
/// no tools).
#[derive(Debug)]
pub struct Encoder {
    model: String,
    generate: bool,
    created_at: String,
    parts: Vec<(usize, EncPart)>,
    calls: usize,
    usage: Usage,
    done: bool,
    /// Nanoseconds the request has run, as last told by [`Encoder::set_clock`].
    now_ns: Option<u64>,
    /// `now_ns` when the first content line was written.
    first_ns: Option<u64>,
}

impl Encoder {
    /// An encoder answering the request behind `ctx`.
    pub fn new(ctx: &ResponseContext) -> Self {
        Encoder {
            model: ctx.model.clone(),
            generate: ctx.ollama_generate,
            created_at: format_rfc3339(ctx.created),
            parts: Vec::new(),
            calls: 0,
            usage: Usage::default(),
            done: false,
            now_ns: None,
            first_ns: None,
        }
    }

    /// Tells how long the request has run, in nanoseconds, before the events of the
    /// next upstream chunk are encoded. Once told, the `done:true` line carries
    /// `total_duration` (the whole request), `prompt_eval_duration` (until the first
    /// content line) and `eval_duration` (from there to the end), as measured at the
    /// gateway; never told, it carries no duration.
    pub fn set_clock(&mut self, elapsed_ns: u64) {
        self.now_ns = Some(elapsed_ns);
    }

    /// The three durations of the final line, when the clock was set.
    fn durations(&self) -> (Option<u64>, Option<u64>, Option<u64>) {
        let Some(now) = self.now_ns else {
            return (None, None, None);
        };
        let first = self.first_ns.unwrap_or(now);
        (Some(now), Some(first), Some(now.saturating_sub(first)))
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
        &mut self,
        message: Option<wire::Message>,
        done: bool,
        reason: Option<StopReason>,
        out: &mut Vec<u8>,
    ) {
        if !done && self.first_ns.is_none() {
            self.first_ns = self.now_ns;
        }
        if self.generate {
            self.write_generate(message, done, reason, out);
            return;
        }
        let (total, prompt, eval) = if done {
            self.durations()
        } else {
            (None, None, None)
        };
        let line = wire::Response {
            model: self.model.clone(),
            created_at: Some(self.created_at.clone()),
            message,
            done,
            done_reason: reason.map(|r| done_reason(r).to_owned()),
            total_duration: total,
            prompt_eval_count: done.then_some(self.usage.input_tokens),
            prompt_eval_duration: prompt,
            eval_count: done.then_some(self.usage.output_tokens),
            eval_duration: eval,
            error: None,
        };
        out.extend_from_slice(&json::encode(&line));
        out.push(b'\n');
    }

    /// One `/api/generate` line; a line carrying only tool calls is not written.
    fn write_generate(
        &self,
        message: Option<wire::Message>,
        done: bool,
        reason: Option<StopReason>,
        out: &mut Vec<u8>,
    ) {
        let message = message.unwrap_or_default();
        if !done && !message.tool_calls.is_empty() {
            return;
        }
        let (total, prompt, eval) = if done {
            self.durations()
        } else {
            (None, None, None)
        };
        let line = wire::GenerateResponse {
            model: self.model.clone(),
            created_at: Some(self.created_at.clone()),
            response: message.content,
            thinking: message.thinking,
            done,
            done_reason: reason.map(|r| done_reason(r).to_owned()),
            total_duration: total,
            prompt_eval_count: done.then_some(self.usage.input_tokens),
            prompt_eval_duration: prompt,
            eval_count: done.then_some(self.usage.output_tokens),
            eval_duration: eval,
        };
        out.extend_from_slice(&json::encode(&line));
        out.push(b'\n');
    }
}
