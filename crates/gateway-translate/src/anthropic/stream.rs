//! Anthropic Messages streams (PROTOCOLS §5.4, §8.13 "→ Anthropic client", §9.9).
//!
//! The decoder holds the stop reason of `message_delta` (usage there is cumulative and
//! overwrites) and emits `Usage` then `MessageStop` at `message_stop`. Server-tool
//! blocks are skipped and the following parts renumbered.
//!
//! The encoder writes `message_start` at once, blocks numbered 0,1,2… with no gaps,
//! a `ping` after the first `content_block_start`, and ends with `message_delta` +
//! `message_stop`. Reasoning is buffered until its part stops and written as a
//! `thinking` block only when it is Anthropic's own and signed (a block without a real
//! signature is rejected when the caller replays it); otherwise the part is dropped.
//! A text part is opened on its first non-empty delta, so no empty text block is sent.

use gateway_protocol::{
    Delta, ErrorKind, Family, GatewayError, PartStart, StopReason, StreamEvent, Usage,
};
use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::error as anthropic_error;
use super::response::{message_id, stop_from_wire, stop_to_wire, usage_from_wire, usage_to_wire};
use super::wire;
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::framing::{Frame, write_sse};
use crate::ids;
use crate::names::ToolNameMap;

/// Upstream Anthropic SSE frames → canonical events.
#[derive(Debug)]
pub struct Decoder {
    tool_names: ToolNameMap,
    seed: String,
    model: String,
    started: bool,
    done: bool,
    /// The upstream block being read and its canonical index (`None`: skipped block).
    current: Option<(u64, Option<usize>)>,
    next_index: usize,
    usage: wire::Usage,
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
    saw_tool: bool,
}

impl Decoder {
    /// A decoder for one answer.
    pub fn new(ctx: &ResponseContext) -> Self {
        Decoder {
            tool_names: ctx.tool_names.clone(),
            seed: ctx.id_seed.clone(),
            model: ctx.model.clone(),
            started: false,
            done: false,
            current: None,
            next_index: 0,
            usage: wire::Usage::default(),
            stop_reason: None,
            stop_sequence: None,
            saw_tool: false,
        }
    }

    /// Decodes one frame. Pings and unknown event types are ignored.
    pub fn decode(
        &mut self,
        frame: &Frame,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        // Typed, borrowed decoding for well-formed frames; anything unusual (odd types,
        // duplicate keys, errors) takes the lenient `Value` walk below, unchanged.
        if frame.data.trim_start().starts_with('{') {
            if let Ok(ev) = serde_json::from_str::<FastEvent<'_>>(&frame.data) {
                if self.decode_fast(ev, frame, out) {
                    return Ok(());
                }
            }
        }
        self.decode_slow(frame, out)
    }

    /// The typed path; returns false (having done nothing) when the frame needs the
    /// lenient path.
    fn decode_fast(
        &mut self,
        ev: FastEvent<'_>,
        frame: &Frame,
        out: &mut Vec<StreamEvent>,
    ) -> bool {
        let kind = ev.kind.or(frame.event.as_deref()).unwrap_or("");
        match kind {
            "content_block_delta" => {
                let Some(delta) = ev.delta else {
                    return false;
                };
                let index = ev.index.unwrap_or(0);
                let Some((open, Some(canonical))) = self.current else {
                    return true;
                };
                if open != index {
                    return true;
                }
                let text = |t: Option<Cow<'_, str>>| t.map(Cow::into_owned).unwrap_or_default();
                let d = match delta.kind {
                    Some("text_delta") => Delta::Text(text(delta.text)),
                    Some("input_json_delta") => Delta::ToolArguments(text(delta.partial_json)),
                    Some("thinking_delta") => Delta::Reasoning(text(delta.thinking)),
                    Some("signature_delta") => Delta::Signature(text(delta.signature)),
                    _ => return true,
                };
                if !matches!(&d, Delta::Text(s) | Delta::ToolArguments(s) | Delta::Reasoning(s) if s.is_empty())
                {
                    out.push(StreamEvent::Delta {
                        index: canonical,
                        delta: d,
                    });
                }
            }
            "content_block_start" => {
                let Some(Ok(block)) = ev
                    .content_block
                    .map(|raw| serde_json::from_str::<FastBlock<'_>>(raw.get()))
                else {
                    return false;
                };
                let input = match (block.kind, block.input) {
                    (Some("tool_use"), Some(raw)) => match serde_json::from_str::<Value>(raw.get())
                    {
                        Ok(v) => Some(v),
                        Err(_) => return false,
                    },
                    _ => None,
                };
                self.ensure_started(out);
                self.close(out);
                let index = ev.index.unwrap_or(0);
                let view = BlockIn {
                    kind: block.kind,
                    text: block.text.as_deref().unwrap_or(""),
                    thinking: block.thinking.as_deref().unwrap_or(""),
                    data: block.data.as_deref().unwrap_or(""),
                    id: block.id.as_deref().unwrap_or(""),
                    name: block.name.as_deref().unwrap_or(""),
                    input: input.as_ref(),
                };
                let canonical = self.start_block(&view, out);
                self.current = Some((index, canonical));
            }
            "content_block_stop" => {
                let index = ev.index.unwrap_or(0);
                if self.current.is_some_and(|(open, _)| open == index) {
                    self.close(out);
                }
            }
            "message_start" => {
                let Some(raw) = ev.message else {
                    return false;
                };
                let Ok(msg) = serde_json::from_str::<wire::Message>(raw.get()) else {
                    return false;
                };
                self.on_message_start(msg, out);
            }
            "message_delta" => {
                let usage = match ev.usage {
                    None => None,
                    Some(raw) => match serde_json::from_str::<wire::Usage>(raw.get()) {
                        Ok(u) if raw.get() != "null" => Some(u),
                        _ => return false,
                    },
                };
                if let Some(d) = ev.delta {
                    if let Some(r) = d.stop_reason {
                        self.stop_reason = Some(r.into_owned());
                    }
                    if let Some(s) = d.stop_sequence {
                        self.stop_sequence = Some(s.into_owned());
                    }
                }
                if let Some(u) = usage {
                    self.merge_usage(&u);
                }
            }
            "message_stop" => self.on_message_stop(out),
            "error" => return false,
            _ => {}
        }
        true
    }

    fn on_message_start(&mut self, msg: wire::Message, out: &mut Vec<StreamEvent>) {
        self.merge_usage(&msg.usage);
        if !self.started {
            self.started = true;
            let model = if msg.model.is_empty() {
                self.model.clone()
            } else {
                msg.model
            };
            out.push(StreamEvent::MessageStart { id: msg.id, model });
        }
    }

    fn on_message_stop(&mut self, out: &mut Vec<StreamEvent>) {
        self.ensure_started(out);
        self.close(out);
        let mut stop_reason = stop_from_wire(self.stop_reason.as_deref());
        if stop_reason == StopReason::EndTurn && self.saw_tool {
            stop_reason = StopReason::ToolUse;
        }
        out.push(StreamEvent::Usage(usage_from_wire(&self.usage)));
        out.push(StreamEvent::MessageStop {
            stop_reason,
            stop_sequence: self.stop_sequence.take(),
        });
        self.done = true;
    }

    /// The lenient path: every field read from a `Value`, wrong types read as absent.
    fn decode_slow(
        &mut self,
        frame: &Frame,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let v: Value = serde_json::from_str(&frame.data)
            .map_err(|e| TranslateError::upstream("stream event", e.to_string()))?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(frame.event.as_deref())
            .unwrap_or("");
        match kind {
            "message_start" => {
                let msg = v.get("message").cloned().unwrap_or(Value::Null);
                let msg: wire::Message = serde_json::from_value(msg)
                    .map_err(|e| TranslateError::upstream("stream event", e.to_string()))?;
                self.on_message_start(msg, out);
            }
            "content_block_start" => {
                self.ensure_started(out);
                self.close(out);
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let block = v.get("content_block").cloned().unwrap_or(Value::Null);
                let str_of = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or("");
                let view = BlockIn {
                    kind: block.get("type").and_then(Value::as_str),
                    text: str_of("text"),
                    thinking: str_of("thinking"),
                    data: str_of("data"),
                    id: str_of("id"),
                    name: str_of("name"),
                    input: block.get("input"),
                };
                let canonical = self.start_block(&view, out);
                self.current = Some((index, canonical));
            }
            "content_block_delta" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let Some((open, Some(canonical))) = self.current else {
                    return Ok(());
                };
                if open != index {
                    return Ok(());
                }
                let delta = v.get("delta").cloned().unwrap_or(Value::Null);
                let text = |key: &str| {
                    delta
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                let d = match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => Delta::Text(text("text")),
                    Some("input_json_delta") => Delta::ToolArguments(text("partial_json")),
                    Some("thinking_delta") => Delta::Reasoning(text("thinking")),
                    Some("signature_delta") => Delta::Signature(text("signature")),
                    _ => return Ok(()),
                };
                if !matches!(&d, Delta::Text(s) | Delta::ToolArguments(s) | Delta::Reasoning(s) if s.is_empty())
                {
                    out.push(StreamEvent::Delta {
                        index: canonical,
                        delta: d,
                    });
                }
            }
            "content_block_stop" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                if self.current.is_some_and(|(open, _)| open == index) {
                    self.close(out);
                }
            }
            "message_delta" => {
                if let Some(d) = v.get("delta") {
                    if let Some(r) = d.get("stop_reason").and_then(Value::as_str) {
                        self.stop_reason = Some(r.to_owned());
                    }
                    if let Some(s) = d.get("stop_sequence").and_then(Value::as_str) {
                        self.stop_sequence = Some(s.to_owned());
                    }
                }
                if let Some(u) = v.get("usage") {
                    let u: wire::Usage = serde_json::from_value(u.clone())
                        .map_err(|e| TranslateError::upstream("stream event", e.to_string()))?;
                    self.merge_usage(&u);
                }
            }
            "message_stop" => self.on_message_stop(out),
            "error" => {
                let kind = v
                    .pointer("/error/type")
                    .and_then(Value::as_str)
                    .unwrap_or("api_error");
                let message = v
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let err = anthropic_error::from_parts(
                    anthropic_error::status_for_type(kind),
                    kind,
                    message,
                );
                out.push(StreamEvent::Error(err));
                self.done = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// Ends the input: a stream cut before `message_stop` ends in an error.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.done {
            self.done = true;
            out.push(StreamEvent::Error(GatewayError::new(
                ErrorKind::Upstream,
                "upstream stream ended before it finished",
            )));
        }
    }

    fn ensure_started(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::MessageStart {
                id: String::new(),
                model: self.model.clone(),
            });
        }
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((_, Some(index))) = self.current.take() {
            out.push(StreamEvent::PartStop { index });
        }
    }

    fn merge_usage(&mut self, u: &wire::Usage) {
        let m = &mut self.usage;
        m.input_tokens = u.input_tokens.or(m.input_tokens);
        m.cache_creation_input_tokens = u
            .cache_creation_input_tokens
            .or(m.cache_creation_input_tokens);
        m.cache_read_input_tokens = u.cache_read_input_tokens.or(m.cache_read_input_tokens);
        m.output_tokens = u.output_tokens.or(m.output_tokens);
        m.output_tokens_details = u
            .output_tokens_details
            .clone()
            .or(m.output_tokens_details.take());
    }

    /// Emits the start of a block; `None` for kinds with no canonical form.
    fn start_block(&mut self, block: &BlockIn<'_>, out: &mut Vec<StreamEvent>) -> Option<usize> {
        let index = self.next_index;
        let (part, first) = match block.kind {
            Some("text") => (PartStart::Text, Some(Delta::Text(block.text.to_owned()))),
            Some("thinking") => (
                PartStart::Reasoning {
                    id: None,
                    source: Some(Family::Anthropic),
                },
                Some(Delta::Reasoning(block.thinking.to_owned())),
            ),
            Some("redacted_thinking") => (
                PartStart::RedactedReasoning {
                    data: block.data.to_owned(),
                    source: Some(Family::Anthropic),
                },
                None,
            ),
            Some("tool_use") => {
                self.saw_tool = true;
                let (plain, signature) = ids::split_signature(block.id);
                let id = if plain.is_empty() {
                    ids::synthesize_call_id(&self.seed, index)
                } else {
                    plain.to_owned()
                };
                let name = self.tool_names.caller_name(block.name).to_owned();
                let input = match block.input {
                    Some(Value::Object(m)) if !m.is_empty() => {
                        Some(Delta::ToolArguments(Value::Object(m.clone()).to_string()))
                    }
                    _ => None,
                };
                (
                    PartStart::ToolCall {
                        id,
                        name,
                        signature,
                    },
                    input,
                )
            }
            _ => return None,
        };
        self.next_index += 1;
        out.push(StreamEvent::PartStart { index, part });
        if let Some(d) = first {
            if !matches!(&d, Delta::Text(s) | Delta::Reasoning(s) if s.is_empty()) {
                out.push(StreamEvent::Delta { index, delta: d });
            }
        }
        Some(index)
    }
}

/// A `content_block_start` block, however it was read.
struct BlockIn<'a> {
    kind: Option<&'a str>,
    text: &'a str,
    thinking: &'a str,
    data: &'a str,
    id: &'a str,
    name: &'a str,
    /// Only read for `tool_use`.
    input: Option<&'a Value>,
}

/// A stream event as the typed path reads it (unknown keys skipped).
#[derive(Deserialize)]
struct FastEvent<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a str>,
    #[serde(default)]
    index: Option<u64>,
    #[serde(borrow, default)]
    delta: Option<FastDelta<'a>>,
    /// Read only for `content_block_start` (keeps this struct small).
    #[serde(borrow, default)]
    content_block: Option<&'a RawValue>,
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
}

/// `delta` of `content_block_delta` and `message_delta`.
#[derive(Deserialize)]
struct FastDelta<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    signature: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stop_sequence: Option<Cow<'a, str>>,
}

/// `content_block` of `content_block_start`.
#[derive(Deserialize)]
struct FastBlock<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
}

/// The block being written to the caller.
#[derive(Debug)]
enum Open {
    None,
    /// A text part with no content yet: opened on its first non-empty delta.
    PendingText {
        canonical: usize,
    },
    /// A block written with `content_block_start`.
    Written {
        canonical: usize,
        block: usize,
        kind: BlockKind,
    },
    /// Anthropic reasoning, buffered until its signature is known.
    Thinking {
        canonical: usize,
        fragments: Vec<String>,
        signature: String,
    },
    /// A part the caller cannot see (foreign reasoning).
    Dropped {
        canonical: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Text,
    Tool,
    Redacted,
}

impl Open {
    fn canonical(&self) -> Option<usize> {
        match self {
            Open::None => None,
            Open::PendingText { canonical }
            | Open::Written { canonical, .. }
            | Open::Thinking { canonical, .. }
            | Open::Dropped { canonical } => Some(*canonical),
        }
    }
}

/// Canonical events → the bytes an Anthropic caller reads.
#[derive(Debug)]
pub struct Encoder {
    model: String,
    fallback_id: String,
    started: bool,
    done: bool,
    pinged: bool,
    next_block: usize,
    open: Open,
    usage: Usage,
}

impl Encoder {
    /// An encoder for one answer.
    pub fn new(ctx: &ResponseContext) -> Self {
        Encoder {
            model: ctx.model.clone(),
            fallback_id: message_id("", ctx),
            started: false,
            done: false,
            pinged: false,
            next_block: 0,
            open: Open::None,
            usage: Usage::default(),
        }
    }

    /// Encodes one event; anything after `MessageStop` or `Error` is ignored.
    pub fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::MessageStart { id, .. } => {
                if !self.started {
                    let id = if id.is_empty() {
                        self.fallback_id.clone()
                    } else {
                        message_id(id, &ResponseContext::default())
                    };
                    self.start(&id, out);
                }
            }
            StreamEvent::PartStart { index, part } => {
                self.ensure_started(out);
                self.close(out);
                self.open = match part {
                    PartStart::Text => Open::PendingText { canonical: *index },
                    PartStart::ToolCall {
                        id,
                        name,
                        signature,
                    } => {
                        let id = match signature {
                            Some(s) => ids::attach_signature(id, s),
                            None => id.clone(),
                        };
                        let block = self.start_block(BlockHead::ToolUse { id: &id, name }, out);
                        Open::Written {
                            canonical: *index,
                            block,
                            kind: BlockKind::Tool,
                        }
                    }
                    PartStart::Reasoning {
                        source: Some(Family::Anthropic),
                        ..
                    } => Open::Thinking {
                        canonical: *index,
                        fragments: Vec::new(),
                        signature: String::new(),
                    },
                    PartStart::RedactedReasoning {
                        data,
                        source: Some(Family::Anthropic),
                    } => {
                        let block = self.start_block(BlockHead::Redacted { data }, out);
                        Open::Written {
                            canonical: *index,
                            block,
                            kind: BlockKind::Redacted,
                        }
                    }
                    _ => Open::Dropped { canonical: *index },
                };
            }
            StreamEvent::Delta { index, delta } => self.delta(*index, delta, out),
            StreamEvent::PartStop { index } => {
                if self.open.canonical() == Some(*index) {
                    self.close(out);
                }
            }
            StreamEvent::Usage(u) => self.usage = *u,
            StreamEvent::MessageStop {
                stop_reason,
                stop_sequence,
            } => {
                self.ensure_started(out);
                self.close(out);
                let (reason, sequence) = stop_to_wire(*stop_reason, stop_sequence.as_deref());
                write_message_delta(out, reason, sequence.as_deref(), &self.usage);
                out.extend_from_slice(
                    b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
                );
                self.done = true;
            }
            StreamEvent::Error(err) => {
                write_sse(out, Some("error"), &anthropic_error::body(err));
                self.done = true;
            }
        }
    }

    fn start(&mut self, id: &str, out: &mut Vec<u8>) {
        self.started = true;
        out.extend_from_slice(b"event: message_start\ndata: {\"message\":{\"content\":[],\"id\":");
        push_str(out, id);
        out.extend_from_slice(b",\"model\":");
        push_str(out, &self.model);
        out.extend_from_slice(
            b",\"role\":\"assistant\",\"stop_reason\":null,\"stop_sequence\":null,\
\"type\":\"message\",\"usage\":{\"cache_creation_input_tokens\":0,\
\"cache_read_input_tokens\":0,\"input_tokens\":0,\"output_tokens\":0}},\
\"type\":\"message_start\"}\n\n",
        );
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            let id = self.fallback_id.clone();
            self.start(&id, out);
        }
    }

    fn start_block(&mut self, block: BlockHead<'_>, out: &mut Vec<u8>) -> usize {
        let index = self.next_block;
        self.next_block += 1;
        // Keys in sorted order, as the snapshots (and the earlier `Value` encoding) have them.
        out.extend_from_slice(b"event: content_block_start\ndata: {\"content_block\":");
        match block {
            BlockHead::ToolUse { id, name } => {
                out.extend_from_slice(b"{\"id\":");
                push_str(out, id);
                out.extend_from_slice(b",\"input\":{},\"name\":");
                push_str(out, name);
                out.extend_from_slice(b",\"type\":\"tool_use\"}");
            }
            BlockHead::Redacted { data } => {
                out.extend_from_slice(b"{\"data\":");
                push_str(out, data);
                out.extend_from_slice(b",\"type\":\"redacted_thinking\"}");
            }
            BlockHead::Text => out.extend_from_slice(b"{\"text\":\"\",\"type\":\"text\"}"),
            BlockHead::Thinking => out
                .extend_from_slice(b"{\"signature\":\"\",\"thinking\":\"\",\"type\":\"thinking\"}"),
        }
        out.extend_from_slice(b",\"index\":");
        push_usize(out, index);
        out.extend_from_slice(b",\"type\":\"content_block_start\"}\n\n");
        if !self.pinged {
            self.pinged = true;
            out.extend_from_slice(b"event: ping\ndata: {\"type\":\"ping\"}\n\n");
        }
        index
    }

    /// `content_block_delta` with `{<field>: text, type: <kind>}` (field sorts before `type`).
    fn write_delta(out: &mut Vec<u8>, block: usize, field: &str, kind: &str, text: &str) {
        out.extend_from_slice(b"event: content_block_delta\ndata: {\"delta\":{\"");
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(b"\":");
        push_str(out, text);
        out.extend_from_slice(b",\"type\":\"");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\"},\"index\":");
        push_usize(out, block);
        out.extend_from_slice(b",\"type\":\"content_block_delta\"}\n\n");
    }

    fn delta(&mut self, index: usize, delta: &Delta, out: &mut Vec<u8>) {
        if self.open.canonical() != Some(index) {
            // A text delta for a part never started: start it implicitly.
            if matches!(delta, Delta::Text(_)) {
                self.ensure_started(out);
                self.close(out);
                self.open = Open::PendingText { canonical: index };
            } else {
                return;
            }
        }
        match (&mut self.open, delta) {
            (Open::PendingText { canonical }, Delta::Text(t)) if !t.is_empty() => {
                let canonical = *canonical;
                let block = self.start_block(BlockHead::Text, out);
                Self::write_delta(out, block, "text", "text_delta", t);
                self.open = Open::Written {
                    canonical,
                    block,
                    kind: BlockKind::Text,
                };
            }
            (
                Open::Written {
                    block,
                    kind: BlockKind::Text,
                    ..
                },
                Delta::Text(t),
            ) if !t.is_empty() => {
                Self::write_delta(out, *block, "text", "text_delta", t);
            }
            (
                Open::Written {
                    block,
                    kind: BlockKind::Tool,
                    ..
                },
                Delta::ToolArguments(a),
            ) if !a.is_empty() => {
                Self::write_delta(out, *block, "partial_json", "input_json_delta", a);
            }
            (Open::Thinking { fragments, .. }, Delta::Reasoning(t)) if !t.is_empty() => {
                fragments.push(t.clone());
            }
            (Open::Thinking { signature, .. }, Delta::Signature(s)) => signature.push_str(s),
            _ => {}
        }
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        match std::mem::replace(&mut self.open, Open::None) {
            Open::Written { block, .. } => {
                write_block_stop(out, block);
            }
            Open::Thinking {
                fragments,
                signature,
                ..
            } if !signature.is_empty() => {
                let block = self.start_block(BlockHead::Thinking, out);
                for f in &fragments {
                    Self::write_delta(out, block, "thinking", "thinking_delta", f);
                }
                Self::write_delta(out, block, "signature", "signature_delta", &signature);
                write_block_stop(out, block);
            }
            _ => {}
        }
    }
}

/// The head of a `content_block_start`.
enum BlockHead<'a> {
    ToolUse { id: &'a str, name: &'a str },
    Redacted { data: &'a str },
    Text,
    Thinking,
}

fn write_block_stop(out: &mut Vec<u8>, block: usize) {
    out.extend_from_slice(b"event: content_block_stop\ndata: {\"index\":");
    push_usize(out, block);
    out.extend_from_slice(b",\"type\":\"content_block_stop\"}\n\n");
}

fn write_message_delta(out: &mut Vec<u8>, reason: &str, sequence: Option<&str>, usage: &Usage) {
    let u = usage_to_wire(usage);
    out.extend_from_slice(b"event: message_delta\ndata: {\"delta\":{\"stop_reason\":");
    push_str(out, reason);
    out.extend_from_slice(b",\"stop_sequence\":");
    match sequence {
        Some(s) => push_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b"},\"type\":\"message_delta\",\"usage\":{");
    // Sorted keys; absent counts are omitted as `usage_to_wire` leaves them out.
    let mut first = true;
    let mut field = |out: &mut Vec<u8>, key: &str, n: Option<u64>| {
        if let Some(n) = n {
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            push_u64(out, n);
        }
    };
    field(
        out,
        "cache_creation_input_tokens",
        u.cache_creation_input_tokens,
    );
    field(out, "cache_read_input_tokens", u.cache_read_input_tokens);
    field(out, "input_tokens", u.input_tokens);
    field(out, "output_tokens", u.output_tokens);
    if let Some(d) = u.output_tokens_details {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"\"output_tokens_details\":{\"thinking_tokens\":");
        push_u64(out, d.thinking_tokens);
        out.push(b'}');
    }
    out.extend_from_slice(b"}}\n\n");
}

/// A JSON string literal (serde_json's escaping, as `Value` used).
fn push_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn push_usize(out: &mut Vec<u8>, n: usize) {
    push_u64(out, n as u64);
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}
