//! The Responses stream encoder: canonical events → the exact SSE grammar of
//! PROTOCOLS §3.4 and §8.13 "→ Responses client".
//!
//! `response.created` and `response.in_progress` come first; every output item gets
//! the next `output_index`; message items nest `content_part.*` and `output_text.*`
//! events, function calls `function_call_arguments.*`, reasoning items
//! `reasoning_summary_*`; `response.completed` / `response.incomplete` carries the
//! full output and usage. `sequence_number` starts at 0 and grows by one per event.

use gateway_protocol::{Delta, Family, PartStart, StreamEvent, Usage};
use serde::Serialize;
use serde_json::{Value, json};

use super::response::{
    function_call_item, item_id, message_item, reasoning_item, response_id, shows_reasoning,
    snapshot, status_for, usage_to_wire,
};
use super::{error, wire};
use crate::context::ResponseContext;
use crate::json_text::{write_str, write_u64};

/// Writes canonical events as a Responses SSE stream.
#[derive(Debug)]
pub struct Encoder {
    ctx: ResponseContext,
    seq: u64,
    id: String,
    started: bool,
    done: bool,
    /// Finished output items, in `output_index` order.
    output: Vec<wire::Item>,
    open: Option<OpenItem>,
    usage: Usage,
}

#[derive(Debug)]
enum OpenItem {
    Message {
        id: String,
        texts: Vec<String>,
        part_open: bool,
    },
    Call {
        id: String,
        call_id: String,
        signature: Option<String>,
        name: String,
        arguments: String,
    },
    Reasoning {
        id: String,
        text: String,
        source: Option<Family>,
        signature: Option<String>,
        announced: bool,
        part_open: bool,
    },
}

impl Encoder {
    /// An encoder for the answer to a request described by `ctx`.
    pub fn new(ctx: &ResponseContext) -> Self {
        Encoder {
            ctx: ctx.clone(),
            seq: 0,
            id: String::new(),
            started: false,
            done: false,
            output: Vec::new(),
            open: None,
            usage: Usage::default(),
        }
    }

    /// Encodes one event; after `MessageStop` or `Error` everything is ignored.
    pub fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if let StreamEvent::MessageStart { id, .. } = event {
            self.start(id, out);
            return;
        }
        self.start("", out);
        match event {
            StreamEvent::MessageStart { .. } => {}
            StreamEvent::PartStart { part, .. } => self.part_start(part, out),
            StreamEvent::Delta { delta, .. } => self.delta(delta, out),
            StreamEvent::PartStop { .. } => self.part_stop(out),
            StreamEvent::Usage(u) => self.usage = *u,
            StreamEvent::MessageStop { stop_reason, .. } => {
                self.close_item(out);
                let (status, incomplete) = status_for(*stop_reason);
                let mut snap = snapshot(&self.id, &self.ctx, status);
                snap.incomplete_details = incomplete;
                snap.output = std::mem::take(&mut self.output);
                snap.usage = Some(usage_to_wire(&self.usage));
                let kind = if status == "incomplete" {
                    "response.incomplete"
                } else {
                    "response.completed"
                };
                self.emit(
                    out,
                    wire::Event {
                        kind: kind.to_owned(),
                        response: Some(Box::new(snap)),
                        ..wire::Event::default()
                    },
                );
                self.done = true;
            }
            StreamEvent::Error(err) => {
                let (_, code) = error::type_and_code(err);
                let ev = wire::ErrorEvent {
                    kind: "error".to_owned(),
                    sequence_number: self.next_seq(),
                    code,
                    message: err.message.clone(),
                    param: err.param.clone(),
                };
                write_event(out, "error", &ev);
                self.done = true;
            }
        }
    }

    fn start(&mut self, id: &str, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = response_id(id, &self.ctx);
        for kind in ["response.created", "response.in_progress"] {
            let snap = snapshot(&self.id, &self.ctx, "in_progress");
            self.emit(
                out,
                wire::Event {
                    kind: kind.to_owned(),
                    response: Some(Box::new(snap)),
                    ..wire::Event::default()
                },
            );
        }
    }

    fn part_start(&mut self, part: &PartStart, out: &mut Vec<u8>) {
        match part {
            PartStart::Text => self.open_text(out),
            PartStart::ToolCall {
                id,
                name,
                signature,
            } => {
                self.close_item(out);
                let item_id = item_id("fc", &self.id, self.output.len());
                let item = function_call_item(
                    item_id.clone(),
                    id,
                    signature.as_deref(),
                    name,
                    String::new(),
                    "in_progress",
                );
                self.item_event(out, "response.output_item.added", item);
                self.open = Some(OpenItem::Call {
                    id: item_id,
                    call_id: id.clone(),
                    signature: signature.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                });
            }
            PartStart::Reasoning { id, source } => {
                self.close_item(out);
                let rid = id
                    .clone()
                    .unwrap_or_else(|| item_id("rs", &self.id, self.output.len()));
                self.open = Some(OpenItem::Reasoning {
                    id: rid,
                    text: String::new(),
                    source: *source,
                    signature: None,
                    announced: false,
                    part_open: false,
                });
                if *source == Some(Family::OpenAi) {
                    self.announce_reasoning(out);
                }
            }
            PartStart::RedactedReasoning { data, source } => {
                self.close_item(out);
                if *source == Some(Family::OpenAi) {
                    let rid = item_id("rs", &self.id, self.output.len());
                    let item = reasoning_item(rid, "", *source, Some(data.clone()));
                    let mut added = item.clone();
                    if let wire::Item::Reasoning(r) = &mut added {
                        r.encrypted_content = None;
                    }
                    self.item_event(out, "response.output_item.added", added);
                    self.finish_item(out, item);
                }
            }
        }
    }

    fn delta(&mut self, delta: &Delta, out: &mut Vec<u8>) {
        match delta {
            Delta::Text(t) => {
                if !matches!(
                    self.open,
                    Some(OpenItem::Message {
                        part_open: true,
                        ..
                    })
                ) {
                    self.open_text(out);
                }
                let output_index = self.output.len();
                if let Some(OpenItem::Message { id, texts, .. }) = &mut self.open {
                    if let Some(last) = texts.last_mut() {
                        last.push_str(t);
                    }
                    let sequence_number = self.seq;
                    self.seq = self.seq.saturating_add(1);
                    write_delta(
                        out,
                        DeltaHead {
                            kind: "response.output_text.delta",
                            sequence_number,
                            item_id: id,
                            output_index,
                            index: Some(("content_index", texts.len().saturating_sub(1))),
                            logprobs: true,
                        },
                        t,
                    );
                }
            }
            Delta::ToolArguments(a) => {
                let output_index = self.output.len();
                if let Some(OpenItem::Call { id, arguments, .. }) = &mut self.open {
                    arguments.push_str(a);
                    let sequence_number = self.seq;
                    self.seq = self.seq.saturating_add(1);
                    let head = DeltaHead {
                        kind: "response.function_call_arguments.delta",
                        sequence_number,
                        item_id: id,
                        output_index,
                        index: None,
                        logprobs: false,
                    };
                    write_delta(out, head, a);
                }
            }
            Delta::Reasoning(t) => {
                let Some(OpenItem::Reasoning {
                    text, announced, ..
                }) = &mut self.open
                else {
                    return;
                };
                text.push_str(t);
                if !*announced {
                    if t.is_empty() || !self.ctx.include_thoughts {
                        return;
                    }
                    self.announce_reasoning(out);
                }
                let output_index = self.output.len();
                let Some(OpenItem::Reasoning { id, part_open, .. }) = &mut self.open else {
                    return;
                };
                let id = id.clone();
                if !*part_open {
                    *part_open = true;
                    self.summary_event(out, "response.reasoning_summary_part.added", &id, |e| {
                        e.part = Some(json!({"type": "summary_text", "text": ""}));
                    });
                }
                let sequence_number = self.next_seq();
                let head = DeltaHead {
                    kind: "response.reasoning_summary_text.delta",
                    sequence_number,
                    item_id: &id,
                    output_index,
                    index: Some(("summary_index", 0)),
                    logprobs: false,
                };
                write_delta(out, head, t);
            }
            Delta::Signature(s) => {
                if let Some(OpenItem::Reasoning { signature, .. }) = &mut self.open {
                    *signature = Some(s.clone());
                }
            }
        }
    }

    fn part_stop(&mut self, out: &mut Vec<u8>) {
        match &self.open {
            Some(OpenItem::Message {
                part_open: true, ..
            }) => self.close_text_part(out),
            Some(OpenItem::Message { .. }) | None => {}
            Some(_) => self.close_item(out),
        }
    }

    /// Opens a text part: a new content part of the open message item, or a new
    /// message item.
    fn open_text(&mut self, out: &mut Vec<u8>) {
        if matches!(
            self.open,
            Some(OpenItem::Message {
                part_open: true,
                ..
            })
        ) {
            self.close_text_part(out);
        }
        if !matches!(self.open, Some(OpenItem::Message { .. })) {
            self.close_item(out);
            let id = item_id("msg", &self.id, self.output.len());
            let item = message_item(id.clone(), Vec::new(), "in_progress");
            self.item_event(out, "response.output_item.added", item);
            self.open = Some(OpenItem::Message {
                id,
                texts: Vec::new(),
                part_open: false,
            });
        }
        let output_index = self.output.len();
        if let Some(OpenItem::Message {
            id,
            texts,
            part_open,
        }) = &mut self.open
        {
            texts.push(String::new());
            *part_open = true;
            let ev = wire::Event {
                kind: "response.content_part.added".to_owned(),
                item_id: Some(id.clone()),
                output_index: Some(output_index),
                content_index: Some(texts.len() - 1),
                part: Some(output_text_part("")),
                ..wire::Event::default()
            };
            self.emit(out, ev);
        }
    }

    fn close_text_part(&mut self, out: &mut Vec<u8>) {
        let output_index = self.output.len();
        let Some(OpenItem::Message {
            id,
            texts,
            part_open,
        }) = &mut self.open
        else {
            return;
        };
        *part_open = false;
        let id = id.clone();
        let content_index = texts.len().saturating_sub(1);
        let text = texts.last().cloned().unwrap_or_default();
        let base = wire::Event {
            item_id: Some(id),
            output_index: Some(output_index),
            content_index: Some(content_index),
            ..wire::Event::default()
        };
        self.emit(
            out,
            wire::Event {
                kind: "response.output_text.done".to_owned(),
                text: Some(text.clone()),
                logprobs: Some(Vec::new()),
                ..base.clone()
            },
        );
        self.emit(
            out,
            wire::Event {
                kind: "response.content_part.done".to_owned(),
                part: Some(output_text_part(&text)),
                ..base
            },
        );
    }

    fn announce_reasoning(&mut self, out: &mut Vec<u8>) {
        let Some(OpenItem::Reasoning { id, announced, .. }) = &mut self.open else {
            return;
        };
        *announced = true;
        let item = reasoning_item(id.clone(), "", None, None);
        self.item_event(out, "response.output_item.added", item);
    }

    /// Finishes the open item with its `*.done` events and `output_item.done`.
    fn close_item(&mut self, out: &mut Vec<u8>) {
        if matches!(
            self.open,
            Some(OpenItem::Message {
                part_open: true,
                ..
            })
        ) {
            self.close_text_part(out);
        }
        let output_index = self.output.len();
        match self.open.take() {
            None => {}
            Some(OpenItem::Message { id, texts, .. }) => {
                self.finish_item(out, message_item(id, texts, "completed"));
            }
            Some(OpenItem::Call {
                id,
                call_id,
                signature,
                name,
                arguments,
            }) => {
                let item = function_call_item(
                    id.clone(),
                    &call_id,
                    signature.as_deref(),
                    &name,
                    arguments.clone(),
                    "completed",
                );
                let ev = wire::Event {
                    kind: "response.function_call_arguments.done".to_owned(),
                    item_id: Some(id),
                    output_index: Some(output_index),
                    name: Some(name),
                    arguments: Some(arguments),
                    ..wire::Event::default()
                };
                self.emit(out, ev);
                self.finish_item(out, item);
            }
            Some(OpenItem::Reasoning {
                id,
                text,
                source,
                signature,
                announced,
                part_open,
            }) => {
                if !announced || !shows_reasoning(source, !text.is_empty(), &self.ctx) {
                    return;
                }
                if part_open {
                    self.summary_event(out, "response.reasoning_summary_text.done", &id, |e| {
                        e.text = Some(text.clone());
                    });
                    self.summary_event(out, "response.reasoning_summary_part.done", &id, |e| {
                        e.part = Some(json!({"type": "summary_text", "text": text}));
                    });
                }
                let item = reasoning_item(id, &text, source, signature);
                self.finish_item(out, item);
            }
        }
    }

    fn finish_item(&mut self, out: &mut Vec<u8>, item: wire::Item) {
        self.item_event_ref(out, "response.output_item.done", &item);
        self.output.push(item);
    }

    fn item_event(&mut self, out: &mut Vec<u8>, kind: &str, item: wire::Item) {
        self.item_event_ref(out, kind, &item);
    }

    fn item_event_ref(&mut self, out: &mut Vec<u8>, kind: &str, item: &wire::Item) {
        let sequence_number = self.next_seq();
        write_event(
            out,
            kind,
            &ItemEvent {
                kind,
                sequence_number,
                output_index: self.output.len(),
                item,
            },
        );
    }

    fn summary_event(
        &mut self,
        out: &mut Vec<u8>,
        kind: &str,
        item_id: &str,
        fill: impl FnOnce(&mut wire::Event),
    ) {
        let mut ev = wire::Event {
            kind: kind.to_owned(),
            item_id: Some(item_id.to_owned()),
            output_index: Some(self.output.len()),
            summary_index: Some(0),
            ..wire::Event::default()
        };
        fill(&mut ev);
        self.emit(out, ev);
    }

    fn next_seq(&mut self) -> u64 {
        let n = self.seq;
        self.seq = self.seq.saturating_add(1);
        n
    }

    fn emit(&mut self, out: &mut Vec<u8>, mut ev: wire::Event) {
        ev.sequence_number = self.next_seq();
        write_event(out, &ev.kind, &ev);
    }
}

/// Writes one SSE frame (`event: <kind>`, one `data:` line, blank line) with the JSON of
/// `ev` serialised straight into `out`. Compact JSON has no raw newline, so this is the
/// same bytes as `write_sse(out, Some(kind), &json::encode(ev))`.
fn write_event<T: Serialize>(out: &mut Vec<u8>, kind: &str, ev: &T) {
    out.reserve(kind.len() + 64);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    let mark = out.len();
    if serde_json::to_writer(&mut *out, ev).is_err() {
        out.truncate(mark);
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b"\n\n");
}

/// The members of a `*.delta` event before its `delta`, in the key order of
/// [`wire::Event`].
struct DeltaHead<'a> {
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    /// `content_index` or `summary_index`, when the event has one.
    index: Option<(&'static str, usize)>,
    /// Whether `"logprobs":[]` follows the delta (text deltas).
    logprobs: bool,
}

/// Writes a `*.delta` event (nearly every event of a stream) by hand: the bytes
/// `write_event` writes for it.
fn write_delta(out: &mut Vec<u8>, head: DeltaHead<'_>, delta: &str) {
    out.reserve(head.kind.len() * 2 + head.item_id.len() + delta.len() + 128);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(head.kind.as_bytes());
    out.extend_from_slice(b"\ndata: {\"type\":\"");
    out.extend_from_slice(head.kind.as_bytes());
    out.extend_from_slice(b"\",\"sequence_number\":");
    write_u64(out, head.sequence_number);
    out.extend_from_slice(b",\"item_id\":");
    write_str(out, head.item_id);
    out.extend_from_slice(b",\"output_index\":");
    write_u64(out, head.output_index as u64);
    if let Some((name, index)) = head.index {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        write_u64(out, index as u64);
    }
    out.extend_from_slice(b",\"delta\":");
    write_str(out, delta);
    if head.logprobs {
        out.extend_from_slice(b",\"logprobs\":[]");
    }
    out.extend_from_slice(b"}\n\n");
}

/// `response.output_item.added` / `.done`, in the key order of [`wire::Event`].
#[derive(Serialize)]
struct ItemEvent<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    sequence_number: u64,
    output_index: usize,
    item: &'a wire::Item,
}

fn output_text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": []})
}

#[cfg(test)]
mod tests;
