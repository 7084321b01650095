//! Chat Completions streams: upstream `chat.completion.chunk` frames → canonical events,
//! and canonical events → the exact SSE bytes a Chat caller expects (PROTOCOLS §2.5,
//! §8.13).

use std::collections::BTreeMap;

use gateway_protocol::{
    Delta, ErrorKind, Family, GatewayError, PartStart, StopReason, StreamEvent, Usage,
};

use super::{error, response, wire};
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::framing::{Frame, write_sse};
use crate::json;

/// What the open canonical part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Reasoning,
    /// A tool call, by its OpenAI `index`.
    Tool(usize),
}

/// Where a tool call (keyed by OpenAI `index`) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Its part is open and fragments stream through.
    Live,
    /// Another call is live: fragments are held until it closes.
    Held,
    /// Its part is closed.
    Done,
}

#[derive(Debug, Clone)]
struct CallState {
    id: String,
    name: String,
    signature: Option<String>,
    args: String,
    phase: Phase,
}

/// Upstream Chat frames → canonical events.
///
/// Tool-call fragments are keyed by `index`. A call streams live; when the next call
/// starts, the live one is closed if its arguments are already complete JSON (OpenAI
/// sends calls one after the other). Otherwise the new call is held (OpenAI-compatible
/// servers may interleave fragments of parallel calls) and emitted whole, in `index`
/// order, when the live call closes. The stop reason is held until `[DONE]` because the usage
/// chunk comes after the finish chunk.
#[derive(Debug)]
pub struct Decoder {
    ctx: ResponseContext,
    started: bool,
    done: bool,
    id: String,
    next_index: usize,
    open: Option<(usize, Open)>,
    calls: BTreeMap<usize, CallState>,
    /// Arguments of the live call so far.
    live_args: String,
    finish: Option<String>,
}

impl Decoder {
    /// A decoder for the answer to the request `ctx` describes.
    pub fn new(ctx: &ResponseContext) -> Self {
        Decoder {
            ctx: ctx.clone(),
            started: false,
            done: false,
            id: String::new(),
            next_index: 0,
            open: None,
            calls: BTreeMap::new(),
            live_args: String::new(),
            finish: None,
        }
    }

    /// Decodes one frame; events are appended to `out`.
    pub fn decode(
        &mut self,
        frame: &Frame,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        let data = frame.data.trim();
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.end(out);
            return Ok(());
        }
        let chunk: wire::Chunk = json::decode_upstream("stream event", data.as_bytes())?;
        if let Some(e) = &chunk.error {
            out.push(StreamEvent::Error(error::from_object(
                error::stream_status(e),
                e,
            )));
            self.done = true;
            return Ok(());
        }
        self.start(&chunk.id, &chunk.model, out);
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            let d = &choice.delta;
            if let Some(r) = d.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
                self.content(Open::Reasoning, Delta::Reasoning(r.to_owned()), out);
            }
            for t in [d.content.as_deref(), d.refusal.as_deref()]
                .into_iter()
                .flatten()
            {
                if !t.is_empty() {
                    self.content(Open::Text, Delta::Text(t.to_owned()), out);
                }
            }
            for (pos, tc) in d.tool_calls.iter().flatten().enumerate() {
                let f = tc.function.as_ref();
                self.tool(
                    tc.index.unwrap_or(pos),
                    tc.id.as_deref(),
                    f.and_then(|f| f.name.as_deref()),
                    f.and_then(|f| f.arguments.as_deref()),
                    out,
                );
            }
            if let Some(f) = &d.function_call {
                self.tool(0, None, f.name.as_deref(), f.arguments.as_deref(), out);
            }
            if let Some(reason) = &choice.finish_reason {
                self.finish = Some(reason.clone());
                self.close(out);
            }
        }
        if let Some(Some(u)) = &chunk.usage {
            out.push(StreamEvent::Usage(response::usage_from(u)));
        }
        Ok(())
    }

    /// Ends the input: a stream that finished without `[DONE]` is closed; one cut off
    /// before its finish chunk ends in an error.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        if self.finish.is_some() {
            self.end(out);
        } else {
            self.done = true;
            out.push(StreamEvent::Error(GatewayError::new(
                ErrorKind::Upstream,
                "upstream stream ended before it finished",
            )));
        }
    }

    fn start(&mut self, id: &str, model: &str, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = id.to_owned();
        out.push(StreamEvent::MessageStart {
            id: id.to_owned(),
            model: if model.is_empty() {
                self.ctx.model.clone()
            } else {
                model.to_owned()
            },
        });
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        self.start("", "", out);
        self.close(out);
        out.push(StreamEvent::MessageStop {
            stop_reason: response::stop_reason(self.finish.as_deref(), !self.calls.is_empty()),
            stop_sequence: None,
        });
        self.done = true;
    }

    fn begin(&mut self, kind: Open, part: PartStart, out: &mut Vec<StreamEvent>) -> usize {
        let index = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        self.open = Some((index, kind));
        out.push(StreamEvent::PartStart { index, part });
        index
    }

    /// Closes the open part, then emits every held tool call whole.
    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((index, kind)) = self.open.take() {
            out.push(StreamEvent::PartStop { index });
            if let Open::Tool(key) = kind {
                if let Some(c) = self.calls.get_mut(&key) {
                    c.phase = Phase::Done;
                }
            }
        }
        let held: Vec<usize> = self
            .calls
            .iter()
            .filter(|(_, c)| c.phase == Phase::Held)
            .map(|(k, _)| *k)
            .collect();
        for key in held {
            let Some(c) = self.calls.get_mut(&key) else {
                continue;
            };
            c.phase = Phase::Done;
            let c = c.clone();
            let index = self.begin(
                Open::Tool(key),
                PartStart::ToolCall {
                    id: c.id,
                    name: c.name,
                    signature: c.signature,
                },
                out,
            );
            if !c.args.is_empty() {
                out.push(StreamEvent::Delta {
                    index,
                    delta: Delta::ToolArguments(c.args),
                });
            }
            self.open = None;
            out.push(StreamEvent::PartStop { index });
        }
    }

    fn content(&mut self, kind: Open, delta: Delta, out: &mut Vec<StreamEvent>) {
        let index = match self.open {
            Some((index, open)) if open == kind => index,
            _ => {
                self.close(out);
                let part = match kind {
                    Open::Reasoning => PartStart::Reasoning {
                        id: None,
                        source: Some(Family::OpenAi),
                    },
                    _ => PartStart::Text,
                };
                self.begin(kind, part, out)
            }
        };
        out.push(StreamEvent::Delta { index, delta });
    }

    fn tool(
        &mut self,
        key: usize,
        id: Option<&str>,
        name: Option<&str>,
        args: Option<&str>,
        out: &mut Vec<StreamEvent>,
    ) {
        let args = args.unwrap_or("");
        if let Some(c) = self.calls.get_mut(&key) {
            match c.phase {
                Phase::Live => {
                    self.live_args.push_str(args);
                    if let (false, Some((index, _))) = (args.is_empty(), self.open) {
                        out.push(StreamEvent::Delta {
                            index,
                            delta: Delta::ToolArguments(args.to_owned()),
                        });
                    }
                }
                Phase::Held => {
                    c.args.push_str(args);
                    if c.name.is_empty() {
                        if let Some(n) = name {
                            c.name = self.ctx.tool_names.caller_name(n).to_owned();
                        }
                    }
                }
                // A fragment for a closed call cannot be placed any more.
                Phase::Done => {}
            }
            return;
        }
        let seed = if self.id.is_empty() {
            self.ctx.id_seed.as_str()
        } else {
            self.id.as_str()
        };
        let call = response::call(
            id.unwrap_or(""),
            name.unwrap_or(""),
            String::new(),
            seed,
            key,
            &self.ctx,
        );
        let live_tool = matches!(self.open, Some((_, Open::Tool(_))))
            && serde_json::from_str::<serde::de::IgnoredAny>(&self.live_args).is_err();
        let mut state = CallState {
            id: call.id,
            name: call.name,
            signature: call.signature,
            args: String::new(),
            phase: Phase::Held,
        };
        if live_tool {
            state.args.push_str(args);
            self.calls.insert(key, state);
            return;
        }
        self.close(out);
        state.phase = Phase::Live;
        self.live_args = args.to_owned();
        let part = PartStart::ToolCall {
            id: state.id.clone(),
            name: state.name.clone(),
            signature: state.signature.clone(),
        };
        self.calls.insert(key, state);
        let index = self.begin(Open::Tool(key), part, out);
        if !args.is_empty() {
            out.push(StreamEvent::Delta {
                index,
                delta: Delta::ToolArguments(args.to_owned()),
            });
        }
    }
}

/// What a canonical part becomes for a Chat caller.
#[derive(Debug, Clone, Copy)]
enum Shown {
    Text,
    /// Tool call number `k` (counting tool calls only).
    Tool(usize),
    /// Reasoning: not shown to Chat callers (§8.9).
    Hidden,
}

/// Canonical events → Chat SSE bytes for a caller.
///
/// One `id`/`created`/`model` for the whole stream; first chunk
/// `delta:{role:"assistant",content:""}`; tool calls numbered among tool calls; the
/// finish chunk, then (only when the caller asked, `ctx.include_usage`) the
/// `choices:[]` usage chunk, then `data: [DONE]`. With `include_usage` every earlier
/// chunk carries `"usage":null`; without it no chunk has a `usage` key.
#[derive(Debug)]
pub struct Encoder {
    ctx: ResponseContext,
    id: String,
    started: bool,
    done: bool,
    parts: BTreeMap<usize, Shown>,
    tools: usize,
    usage: Usage,
}

impl Encoder {
    /// An encoder for the answer to the request `ctx` describes.
    pub fn new(ctx: &ResponseContext) -> Self {
        Encoder {
            ctx: ctx.clone(),
            id: String::new(),
            started: false,
            done: false,
            parts: BTreeMap::new(),
            tools: 0,
            usage: Usage::default(),
        }
    }

    /// Encodes one event; bytes are appended to `out`.
    pub fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::MessageStart { id, .. } => {
                if !self.started {
                    self.id = response::response_id(id, &self.ctx);
                }
                self.ensure_started(out);
            }
            StreamEvent::PartStart { index, part } => {
                self.ensure_started(out);
                let shown = match part {
                    PartStart::Text => Shown::Text,
                    PartStart::ToolCall {
                        id,
                        name,
                        signature,
                    } => {
                        let k = self.tools;
                        self.tools = self.tools.saturating_add(1);
                        let delta = wire::ChunkDelta {
                            tool_calls: Some(vec![wire::ToolCallDelta {
                                index: Some(k),
                                id: Some(response::caller_call_id(id, signature.as_deref())),
                                kind: Some("function".to_owned()),
                                function: Some(wire::FunctionDelta {
                                    name: Some(name.clone()),
                                    arguments: Some(String::new()),
                                }),
                            }]),
                            ..wire::ChunkDelta::default()
                        };
                        self.chunk(delta, None, out);
                        Shown::Tool(k)
                    }
                    PartStart::Reasoning { .. } | PartStart::RedactedReasoning { .. } => {
                        Shown::Hidden
                    }
                };
                self.parts.insert(*index, shown);
            }
            StreamEvent::Delta { index, delta } => {
                self.ensure_started(out);
                let shown = self.parts.get(index).copied();
                match (delta, shown) {
                    (Delta::Text(t), Some(Shown::Text) | None) if !t.is_empty() => {
                        let d = wire::ChunkDelta {
                            content: Some(t.clone()),
                            ..Default::default()
                        };
                        self.chunk(d, None, out);
                    }
                    (Delta::ToolArguments(a), Some(Shown::Tool(k))) if !a.is_empty() => {
                        let d = wire::ChunkDelta {
                            tool_calls: Some(vec![wire::ToolCallDelta {
                                index: Some(k),
                                function: Some(wire::FunctionDelta {
                                    name: None,
                                    arguments: Some(a.clone()),
                                }),
                                ..Default::default()
                            }]),
                            ..Default::default()
                        };
                        self.chunk(d, None, out);
                    }
                    _ => {}
                }
            }
            StreamEvent::PartStop { .. } => {}
            StreamEvent::Usage(u) => self.usage = *u,
            StreamEvent::MessageStop { stop_reason, .. } => self.stop(*stop_reason, out),
            StreamEvent::Error(e) => {
                let frame = wire::ErrorEnvelope {
                    error: error::object(e),
                };
                write_sse(out, None, &json::encode(&frame));
                self.done = true;
            }
        }
    }

    fn stop(&mut self, reason: StopReason, out: &mut Vec<u8>) {
        self.ensure_started(out);
        let finish = response::finish_reason(reason).to_owned();
        self.chunk(wire::ChunkDelta::default(), Some(finish), out);
        if self.ctx.include_usage {
            let mut c = self.base();
            c.usage = Some(Some(response::usage_to(&self.usage)));
            write_sse(out, None, &json::encode(&c));
        }
        write_sse(out, None, b"[DONE]");
        self.done = true;
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        if self.id.is_empty() {
            self.id = response::response_id("", &self.ctx);
        }
        let d = wire::ChunkDelta {
            role: Some("assistant".to_owned()),
            content: Some(String::new()),
            ..Default::default()
        };
        self.chunk(d, None, out);
    }

    fn base(&self) -> wire::Chunk {
        wire::Chunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created: self.ctx.created,
            model: self.ctx.model.clone(),
            choices: Vec::new(),
            usage: self.ctx.include_usage.then_some(None),
            error: None,
        }
    }

    fn chunk(&self, delta: wire::ChunkDelta, finish: Option<String>, out: &mut Vec<u8>) {
        let mut c = self.base();
        c.choices.push(wire::ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason: finish,
        });
        write_sse(out, None, &json::encode(&c));
    }
}
