//! The Chat Completions stream encoder: canonical events → the exact SSE bytes a Chat
//! caller expects (PROTOCOLS §2.5, §8.13).

use std::collections::BTreeMap;

use serde::Serialize;

use gateway_protocol::{Delta, PartStart, StopReason, StreamEvent, Usage};

use super::{error, response, wire};
use crate::context::ResponseContext;
use crate::framing::write_sse;
use crate::json;

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
                        let id = response::caller_call_id(id, signature.as_deref());
                        let delta = DeltaOut {
                            tool_calls: Some([ToolCallDeltaOut {
                                index: k,
                                id: Some(&id),
                                kind: Some("function"),
                                function: FunctionDeltaOut {
                                    name: Some(name),
                                    arguments: "",
                                },
                            }]),
                            ..DeltaOut::default()
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
                        let d = DeltaOut {
                            content: Some(t),
                            ..DeltaOut::default()
                        };
                        self.chunk(d, None, out);
                    }
                    (Delta::ToolArguments(a), Some(Shown::Tool(k))) if !a.is_empty() => {
                        let d = DeltaOut {
                            tool_calls: Some([ToolCallDeltaOut {
                                index: k,
                                id: None,
                                kind: None,
                                function: FunctionDeltaOut {
                                    name: None,
                                    arguments: a,
                                },
                            }]),
                            ..DeltaOut::default()
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
        let finish = response::finish_reason(reason);
        self.chunk(DeltaOut::default(), Some(finish), out);
        if self.ctx.include_usage {
            let usage = response::usage_to(&self.usage);
            let c = ChunkOut {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.ctx.created,
                model: &self.ctx.model,
                choices: &[],
                usage: Some(Some(&usage)),
            };
            write_data(out, &c);
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
        let d = DeltaOut {
            role: Some("assistant"),
            content: Some(""),
            ..DeltaOut::default()
        };
        self.chunk(d, None, out);
    }

    /// Writes one `chat.completion.chunk` with a single choice straight into `out`.
    fn chunk(&self, delta: DeltaOut<'_>, finish: Option<&str>, out: &mut Vec<u8>) {
        let c = ChunkOut {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.ctx.created,
            model: &self.ctx.model,
            choices: &[ChoiceOut {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: finish,
            }],
            usage: self.ctx.include_usage.then_some(None),
        };
        write_data(out, &c);
    }
}

/// `data: <json>\n\n`, the JSON written in place (compact JSON has no raw newline, so
/// this is what `write_sse` would write).
fn write_data<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    out.extend_from_slice(b"data: ");
    let mark = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(mark);
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b"\n\n");
}

/// A borrowed `chat.completion.chunk`, fields in [`wire::Chunk`]'s order.
#[derive(Serialize)]
struct ChunkOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [ChoiceOut<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<&'a wire::Usage>>,
}

/// A borrowed [`wire::ChunkChoice`].
#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    delta: DeltaOut<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

/// A borrowed [`wire::ChunkDelta`] (the fields a caller stream uses).
#[derive(Serialize, Default)]
struct DeltaOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallDeltaOut<'a>; 1]>,
}

/// A borrowed [`wire::ToolCallDelta`].
#[derive(Serialize)]
struct ToolCallDeltaOut<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    function: FunctionDeltaOut<'a>,
}

/// A borrowed [`wire::FunctionDelta`].
#[derive(Serialize)]
struct FunctionDeltaOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}
