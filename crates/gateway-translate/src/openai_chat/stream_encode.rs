//! The Chat Completions stream encoder: canonical events → the exact SSE bytes a Chat
//! caller expects (PROTOCOLS §2.5, §8.13).

use std::collections::BTreeMap;

use serde::Serialize;

use gateway_protocol::{Delta, PartStart, StopReason, StreamEvent, Usage};

use super::{error, response, wire};
use crate::context::ResponseContext;
use crate::framing::write_sse;
use crate::json;
use crate::json_text::{write_str, write_u64};

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
    /// Every chunk up to its delta, written once the id is known:
    /// `data: {"id":…,"object":"chat.completion.chunk","created":…,"model":…,"choices":[{"index":0,"delta":`.
    head: Vec<u8>,
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
            head: Vec::new(),
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
                    // The two deltas of nearly every chunk are written by hand, as
                    // `DeltaOut` would serialise them.
                    (Delta::Text(t), Some(Shown::Text) | None) if !t.is_empty() => {
                        out.extend_from_slice(&self.head);
                        out.extend_from_slice(br#"{"content":"#);
                        write_str(out, t);
                        out.push(b'}');
                        self.end_chunk(None, out);
                    }
                    (Delta::ToolArguments(a), Some(Shown::Tool(k))) if !a.is_empty() => {
                        out.extend_from_slice(&self.head);
                        out.extend_from_slice(br#"{"tool_calls":[{"index":"#);
                        write_u64(out, k as u64);
                        out.extend_from_slice(br#","function":{"arguments":"#);
                        write_str(out, a);
                        out.extend_from_slice(b"}}]}");
                        self.end_chunk(None, out);
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
                choices: [],
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
        self.head.clear();
        self.head.extend_from_slice(br#"data: {"id":"#);
        write_str(&mut self.head, &self.id);
        self.head
            .extend_from_slice(br#","object":"chat.completion.chunk","created":"#);
        write_u64(&mut self.head, self.ctx.created);
        self.head.extend_from_slice(br#","model":"#);
        write_str(&mut self.head, &self.ctx.model);
        self.head
            .extend_from_slice(br#","choices":[{"index":0,"delta":"#);
        let d = DeltaOut {
            role: Some("assistant"),
            content: Some(""),
            ..DeltaOut::default()
        };
        self.chunk(d, None, out);
    }

    /// Writes one `chat.completion.chunk` with a single choice straight into `out`:
    /// the bytes of a serialised [`ChunkOut`], its fixed head written once per stream.
    fn chunk(&self, delta: DeltaOut<'_>, finish: Option<&str>, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        // Writing into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, &delta);
        self.end_chunk(finish, out);
    }

    /// The end of a chunk after its delta.
    fn end_chunk(&self, finish: Option<&str>, out: &mut Vec<u8>) {
        out.extend_from_slice(br#","logprobs":null,"finish_reason":"#);
        match finish {
            Some(reason) => write_str(out, reason),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"}]");
        if self.ctx.include_usage {
            out.extend_from_slice(br#","usage":null"#);
        }
        out.extend_from_slice(b"}\n\n");
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

/// The usage `chat.completion.chunk`, fields in [`wire::Chunk`]'s order (the other
/// chunks are written after [`Encoder`]'s cached head).
#[derive(Serialize)]
struct ChunkOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [(); 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<&'a wire::Usage>>,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk as the encoder serialised every chunk before its head was cached.
    #[derive(Serialize)]
    struct ChunkRef<'a> {
        id: &'a str,
        object: &'static str,
        created: u64,
        model: &'a str,
        choices: [ChoiceRef<'a>; 1],
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: Option<Option<()>>,
    }

    #[derive(Serialize)]
    struct ChoiceRef<'a> {
        index: u32,
        delta: DeltaOut<'a>,
        logprobs: Option<()>,
        finish_reason: Option<&'a str>,
    }

    fn reference(enc: &Encoder, delta: DeltaOut<'_>, finish: Option<&str>) -> Vec<u8> {
        let chunk = ChunkRef {
            id: &enc.id,
            object: "chat.completion.chunk",
            created: enc.ctx.created,
            model: &enc.ctx.model,
            choices: [ChoiceRef {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: finish,
            }],
            usage: enc.ctx.include_usage.then_some(None),
        };
        let mut out = Vec::new();
        write_data(&mut out, &chunk);
        out
    }

    /// The hand-written chunks are byte for byte the serialised ones.
    #[test]
    fn written_chunks_are_the_serialised_chunks() {
        let texts = [
            "plain",
            "quote \" slash \\ nl \n ctl \u{1} é 🎉",
            "\u{7f}\t",
        ];
        for (include_usage, text) in [false, true]
            .into_iter()
            .flat_map(|u| texts.map(|t| (u, t)))
        {
            let ctx = ResponseContext {
                model: format!("model \"{text}\""),
                include_usage,
                created: 1_760_000_000,
                ..ResponseContext::default()
            };
            let mut enc = Encoder::new(&ctx);
            let mut out = Vec::new();
            let start = StreamEvent::MessageStart {
                id: format!("id-{text}"),
                model: String::new(),
            };
            enc.encode(&start, &mut out);
            let role = DeltaOut {
                role: Some("assistant"),
                content: Some(""),
                ..DeltaOut::default()
            };
            assert_eq!(out, reference(&enc, role, None));
            out.clear();
            enc.encode(
                &StreamEvent::PartStart {
                    index: 0,
                    part: PartStart::Text,
                },
                &mut out,
            );
            enc.encode(
                &StreamEvent::Delta {
                    index: 0,
                    delta: Delta::Text(text.into()),
                },
                &mut out,
            );
            let content = DeltaOut {
                content: Some(text),
                ..DeltaOut::default()
            };
            assert_eq!(out, reference(&enc, content, None));
            let call = PartStart::ToolCall {
                id: "call_1".into(),
                name: "f".into(),
                signature: None,
            };
            enc.encode(
                &StreamEvent::PartStart {
                    index: 1,
                    part: call,
                },
                &mut out,
            );
            out.clear();
            let args = Delta::ToolArguments(text.into());
            enc.encode(
                &StreamEvent::Delta {
                    index: 1,
                    delta: args,
                },
                &mut out,
            );
            let arguments = DeltaOut {
                tool_calls: Some([ToolCallDeltaOut {
                    index: 0,
                    id: None,
                    kind: None,
                    function: FunctionDeltaOut {
                        name: None,
                        arguments: text,
                    },
                }]),
                ..DeltaOut::default()
            };
            assert_eq!(out, reference(&enc, arguments, None));
            out.clear();
            let stop = StreamEvent::MessageStop {
                stop_reason: StopReason::ToolUse,
                stop_sequence: None,
            };
            enc.encode(&stop, &mut out);
            let finish = reference(&enc, DeltaOut::default(), Some("tool_calls"));
            assert_eq!(out[..finish.len()], finish[..]);
        }
    }
}
