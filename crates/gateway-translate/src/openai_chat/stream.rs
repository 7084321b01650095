//! Chat Completions streams: upstream `chat.completion.chunk` frames → canonical events,
//! and canonical events → the exact SSE bytes a Chat caller expects (PROTOCOLS §2.5,
//! §8.13).

use std::collections::BTreeMap;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use gateway_protocol::{
    Delta, ErrorKind, Family, GatewayError, PartStart, StopReason, StreamEvent, Usage,
};

use super::borrow::{Skip, Str, lenient_opt};
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
        let chunk = match serde_json::from_str::<ChunkIn<'_>>(data) {
            Ok(chunk) => chunk,
            // The full wire type names the failure exactly as before.
            Err(_) => return self.decode_wire(data, out),
        };
        self.decode_chunk(chunk, out);
        Ok(())
    }

    /// Slow path: the frame through the owned wire type (for its error message).
    #[cold]
    fn decode_wire(
        &mut self,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let chunk: wire::Chunk = json::decode_upstream("stream event", data.as_bytes())?;
        let borrowed = ChunkIn {
            id: Str(Cow::Borrowed(&chunk.id)),
            _object: Str::default(),
            _created: 0,
            model: Str(Cow::Borrowed(&chunk.model)),
            choices: chunk
                .choices
                .iter()
                .map(|c| ChoiceIn {
                    index: c.index,
                    delta: DeltaIn {
                        _role: None,
                        content: c.delta.content.as_deref().map(borrowed),
                        refusal: c.delta.refusal.as_deref().map(borrowed),
                        reasoning_content: c.delta.reasoning_content.as_deref().map(borrowed),
                        tool_calls: c.delta.tool_calls.as_ref().map(|calls| {
                            calls
                                .iter()
                                .map(|t| ToolCallDeltaIn {
                                    index: t.index,
                                    id: t.id.as_deref().map(borrowed),
                                    _kind: None,
                                    function: t.function.as_ref().map(function_in),
                                })
                                .collect()
                        }),
                        function_call: c.delta.function_call.as_ref().map(function_in),
                    },
                    _logprobs: None,
                    finish_reason: c.finish_reason.as_deref().map(borrowed),
                })
                .collect(),
            usage: chunk.usage.clone(),
            error: chunk.error.clone(),
        };
        self.decode_chunk(borrowed, out);
        Ok(())
    }

    fn decode_chunk(&mut self, chunk: ChunkIn<'_>, out: &mut Vec<StreamEvent>) {
        if let Some(e) = &chunk.error {
            out.push(StreamEvent::Error(error::from_object(
                error::stream_status(e),
                e,
            )));
            self.done = true;
            return;
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
                self.finish = Some(reason.to_string());
                self.close(out);
            }
        }
        if let Some(Some(u)) = &chunk.usage {
            out.push(StreamEvent::Usage(response::usage_from(u)));
        }
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

fn borrowed(s: &str) -> Str<'_> {
    Str(Cow::Borrowed(s))
}

fn function_in(f: &wire::FunctionDelta) -> FunctionDeltaIn<'_> {
    FunctionDeltaIn {
        name: f.name.as_deref().map(borrowed),
        arguments: f.arguments.as_deref().map(borrowed),
    }
}

/// A borrowed [`wire::Chunk`]: every field the wire type reads is read with the same
/// type rules (so the same frames are accepted), unused ones are not kept.
#[derive(Deserialize)]
struct ChunkIn<'a> {
    #[serde(default, borrow)]
    id: Str<'a>,
    #[serde(default, borrow, rename = "object")]
    _object: Str<'a>,
    #[serde(default, rename = "created")]
    _created: u64,
    #[serde(default, borrow)]
    model: Str<'a>,
    #[serde(default, borrow)]
    choices: Vec<ChoiceIn<'a>>,
    #[serde(default)]
    usage: Option<Option<wire::Usage>>,
    #[serde(default)]
    error: Option<wire::ErrorObject>,
}

/// A borrowed [`wire::ChunkChoice`].
#[derive(Deserialize)]
struct ChoiceIn<'a> {
    #[serde(default)]
    index: u32,
    #[serde(default, borrow)]
    delta: DeltaIn<'a>,
    #[serde(default, rename = "logprobs")]
    _logprobs: Option<Skip>,
    #[serde(default, borrow)]
    finish_reason: Option<Str<'a>>,
}

/// A borrowed [`wire::ChunkDelta`].
#[derive(Deserialize, Default)]
struct DeltaIn<'a> {
    #[serde(default, borrow, rename = "role")]
    _role: Option<Str<'a>>,
    #[serde(default, borrow)]
    content: Option<Str<'a>>,
    #[serde(default, borrow)]
    refusal: Option<Str<'a>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Str<'a>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<ToolCallDeltaIn<'a>>>,
    #[serde(default, borrow)]
    function_call: Option<FunctionDeltaIn<'a>>,
}

/// A borrowed [`wire::ToolCallDelta`].
#[derive(Deserialize)]
struct ToolCallDeltaIn<'a> {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default, borrow)]
    id: Option<Str<'a>>,
    #[serde(default, borrow, rename = "type")]
    _kind: Option<Str<'a>>,
    #[serde(default, borrow)]
    function: Option<FunctionDeltaIn<'a>>,
}

/// A borrowed [`wire::FunctionDelta`].
#[derive(Deserialize)]
struct FunctionDeltaIn<'a> {
    #[serde(default, borrow)]
    name: Option<Str<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient_opt")]
    arguments: Option<Str<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(data: &str, wire_path: bool) -> String {
        let mut d = Decoder::new(&ResponseContext::default());
        let mut out = Vec::new();
        let r = if wire_path {
            d.decode_wire(data.trim(), &mut out)
        } else {
            d.decode(&Frame::data(data), &mut out)
        };
        format!("{r:?} {out:?}")
    }

    /// Every `data:` line of every fixture (and variants of each): the borrowed chunk
    /// gives exactly the events (or the error) the owned wire chunk gives.
    #[test]
    fn borrowed_chunks_match_the_wire_types() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut stack = vec![root];
        let mut lines: Vec<String> = vec![
            r#"{"id":"a","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":{"a":[1,2.5]}}}]},"logprobs":{"x":[1e400]}}]}"#.to_owned(),
            r#"{"id":"a","choices":[{"index":0,"delta":{"content":"a\"b","function_call":{"arguments":true}},"finish_reason":"stop"}],"usage":null}"#.to_owned(),
            r#"{"id":"a","id":"b"}"#.to_owned(),
            r#"{"error":{"message":"m","code":429}}"#.to_owned(),
            r#"["a"]"#.to_owned(),
        ];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    lines.extend(
                        text.lines()
                            .filter_map(|l| l.strip_prefix("data:"))
                            .map(|l| l.trim().to_owned()),
                    );
                }
            }
        }
        let mut inputs = 0usize;
        for line in lines {
            if line == "[DONE]" {
                continue;
            }
            let bytes = line.as_bytes();
            let step = (bytes.len() / 8).max(1);
            let mut variants = vec![line.clone()];
            for n in (0..bytes.len()).step_by(step) {
                variants.push(String::from_utf8_lossy(&bytes[..n]).into_owned());
                for b in [b'"', b'['] {
                    let mut v = bytes.to_vec();
                    v[n] = b;
                    variants.push(String::from_utf8_lossy(&v).into_owned());
                }
            }
            for v in variants {
                if v.trim().is_empty() || v.trim() == "[DONE]" {
                    continue;
                }
                assert_eq!(run(&v, false), run(&v, true), "{v}");
                inputs += 1;
            }
        }
        assert!(inputs > 1000, "{inputs}");
    }
}
