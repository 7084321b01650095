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
use serde_json::{Value, json};

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
            "content_block_start" => {
                self.ensure_started(out);
                self.close(out);
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let block = v.get("content_block").cloned().unwrap_or(Value::Null);
                let canonical = self.start_block(&block, out);
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
            "message_stop" => {
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
    fn start_block(&mut self, block: &Value, out: &mut Vec<StreamEvent>) -> Option<usize> {
        let index = self.next_index;
        let str_of = |key: &str| {
            block
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let (part, first) = match block.get("type").and_then(Value::as_str) {
            Some("text") => (PartStart::Text, Some(Delta::Text(str_of("text")))),
            Some("thinking") => (
                PartStart::Reasoning {
                    id: None,
                    source: Some(Family::Anthropic),
                },
                Some(Delta::Reasoning(str_of("thinking"))),
            ),
            Some("redacted_thinking") => (
                PartStart::RedactedReasoning {
                    data: str_of("data"),
                    source: Some(Family::Anthropic),
                },
                None,
            ),
            Some("tool_use") => {
                self.saw_tool = true;
                let raw = str_of("id");
                let (plain, signature) = ids::split_signature(&raw);
                let id = if plain.is_empty() {
                    ids::synthesize_call_id(&self.seed, index)
                } else {
                    plain.to_owned()
                };
                let name = self.tool_names.caller_name(&str_of("name")).to_owned();
                let input = match block.get("input") {
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
                        let block = self.start_block(
                            json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                            out,
                        );
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
                        let block = self
                            .start_block(json!({"type": "redacted_thinking", "data": data}), out);
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
                let data = json!({
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": sequence},
                    "usage": usage_to_wire(&self.usage),
                });
                write_event(out, "message_delta", &data);
                write_event(out, "message_stop", &json!({"type": "message_stop"}));
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
        let data = json!({
            "type": "message_start",
            "message": {
                "id": id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {
                    "input_tokens": 0,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": 0,
                },
            },
        });
        write_event(out, "message_start", &data);
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            let id = self.fallback_id.clone();
            self.start(&id, out);
        }
    }

    fn start_block(&mut self, block: Value, out: &mut Vec<u8>) -> usize {
        let index = self.next_block;
        self.next_block += 1;
        let data = json!({"type": "content_block_start", "index": index, "content_block": block});
        write_event(out, "content_block_start", &data);
        if !self.pinged {
            self.pinged = true;
            write_event(out, "ping", &json!({"type": "ping"}));
        }
        index
    }

    fn write_delta(out: &mut Vec<u8>, block: usize, delta: Value) {
        let data = json!({"type": "content_block_delta", "index": block, "delta": delta});
        write_event(out, "content_block_delta", &data);
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
                let block = self.start_block(json!({"type": "text", "text": ""}), out);
                Self::write_delta(out, block, json!({"type": "text_delta", "text": t}));
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
                Self::write_delta(out, *block, json!({"type": "text_delta", "text": t}));
            }
            (
                Open::Written {
                    block,
                    kind: BlockKind::Tool,
                    ..
                },
                Delta::ToolArguments(a),
            ) if !a.is_empty() => {
                Self::write_delta(
                    out,
                    *block,
                    json!({"type": "input_json_delta", "partial_json": a}),
                );
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
                write_event(
                    out,
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": block}),
                );
            }
            Open::Thinking {
                fragments,
                signature,
                ..
            } if !signature.is_empty() => {
                let block = self.start_block(
                    json!({"type": "thinking", "thinking": "", "signature": ""}),
                    out,
                );
                for f in fragments {
                    Self::write_delta(out, block, json!({"type": "thinking_delta", "thinking": f}));
                }
                Self::write_delta(
                    out,
                    block,
                    json!({"type": "signature_delta", "signature": signature}),
                );
                write_event(
                    out,
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": block}),
                );
            }
            _ => {}
        }
    }
}

fn write_event(out: &mut Vec<u8>, name: &str, data: &Value) {
    write_sse(out, Some(name), data.to_string().as_bytes());
}
