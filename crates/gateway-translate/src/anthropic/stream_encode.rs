//! The Anthropic Messages stream encoder: canonical events → the SSE bytes an
//! Anthropic caller reads (PROTOCOLS §5.4, §8.13 "→ Anthropic client").
//!
//! The encoder writes `message_start` at once, blocks numbered 0,1,2… with no gaps,
//! a `ping` after the first `content_block_start`, and ends with `message_delta` +
//! `message_stop`. Reasoning is buffered until its part stops and written as a
//! `thinking` block only when it is Anthropic's own and signed (a block without a real
//! signature is rejected when the caller replays it); otherwise the part is dropped.
//! A text part is opened on its first non-empty delta, so no empty text block is sent.

use gateway_protocol::{Delta, Family, PartStart, StreamEvent, Usage};

use super::error as anthropic_error;
use super::response::{message_id, stop_to_wire, usage_to_wire};
use crate::context::ResponseContext;
use crate::framing::write_sse;
use crate::ids;

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
    crate::json_text::write_str(out, s);
}

fn push_usize(out: &mut Vec<u8>, n: usize) {
    push_u64(out, n as u64);
}

fn push_u64(out: &mut Vec<u8>, n: u64) {
    crate::json_text::write_u64(out, n);
}
