//! Canonical [`StreamEvent`]s → `/v2/chat` SSE, as Cohere sends it (the Cohere-shaped
//! mock streams with this).
//!
//! Every event is `event: <type>` and a `data:` object that repeats the `type`.
//! Content parts and calls are numbered apart, as Cohere numbers them; text and
//! thinking are content parts (text before calls stays content, which Cohere also
//! sends), calls are `tool-call-*` events. The usage is held until the stop, which is
//! `message-end`. An error ends the stream as Cohere ends a failed generation: a
//! `message-end` with `finish_reason: ERROR` and the message in `error`. Redacted
//! reasoning and signatures have no Cohere form and are left out.

use std::collections::HashMap;

use gateway_protocol::{Delta, PartStart, StreamEvent, Usage};
use serde::Serialize;

use super::response::{wire_stop_reason, wire_usage};
use super::wire;
use crate::context::ResponseContext;
use crate::framing::write_sse;
use crate::json;

/// A canonical part as Cohere numbers it.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Content(usize),
    Call(usize),
}

/// Writes Cohere SSE from canonical events.
#[derive(Debug)]
pub struct Encoder {
    id: String,
    slots: HashMap<usize, Slot>,
    contents: usize,
    calls: usize,
    usage: Option<Usage>,
    done: bool,
}

/// An event's data: its `type`, then its members.
#[derive(Serialize)]
struct Typed<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

impl Encoder {
    /// An encoder for one answer.
    pub fn new(ctx: &ResponseContext) -> Self {
        Encoder {
            id: ctx.id_seed.clone(),
            slots: HashMap::new(),
            contents: 0,
            calls: 0,
            usage: None,
            done: false,
        }
    }

    /// Encodes one event, appending its SSE to `out`.
    pub fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::MessageStart { id, .. } => {
                if !id.is_empty() {
                    self.id.clone_from(id);
                }
                let body = serde_json::json!({
                    "id": self.id,
                    "delta": {"message": {"role": "assistant", "content": [],
                        "tool_plan": "", "tool_calls": [], "citations": []}},
                });
                write("message-start", &body, out);
            }
            StreamEvent::PartStart { index, part } => match part {
                PartStart::Text | PartStart::Reasoning { .. } => {
                    let at = self.contents;
                    self.contents += 1;
                    self.slots.insert(*index, Slot::Content(at));
                    let thinking = matches!(part, PartStart::Reasoning { .. });
                    let content = wire::DeltaContent {
                        kind: Some(if thinking { "thinking" } else { "text" }.to_owned()),
                        text: (!thinking).then(String::new),
                        thinking: thinking.then(String::new),
                    };
                    write("content-start", &content_event(at, content), out);
                }
                PartStart::ToolCall { id, name, .. } => {
                    let at = self.calls;
                    self.calls += 1;
                    self.slots.insert(*index, Slot::Call(at));
                    let call = wire::ToolCall {
                        id: id.clone(),
                        kind: Some("function".to_owned()),
                        function: Some(wire::FunctionCall {
                            name: Some(name.clone()),
                            arguments: Some(String::new()),
                        }),
                    };
                    write("tool-call-start", &call_event(at, call), out);
                }
                PartStart::RedactedReasoning { .. } => {}
            },
            StreamEvent::Delta { index, delta } => match (self.slots.get(index), delta) {
                (Some(&Slot::Content(at)), Delta::Text(t)) => {
                    let content = wire::DeltaContent {
                        text: Some(t.clone()),
                        ..wire::DeltaContent::default()
                    };
                    write("content-delta", &content_event(at, content), out);
                }
                (Some(&Slot::Content(at)), Delta::Reasoning(t)) => {
                    let content = wire::DeltaContent {
                        thinking: Some(t.clone()),
                        ..wire::DeltaContent::default()
                    };
                    write("content-delta", &content_event(at, content), out);
                }
                (Some(&Slot::Call(at)), Delta::ToolArguments(a)) => {
                    let call = wire::ToolCall {
                        function: Some(wire::FunctionCall {
                            name: None,
                            arguments: Some(a.clone()),
                        }),
                        ..wire::ToolCall::default()
                    };
                    write("tool-call-delta", &call_event(at, call), out);
                }
                _ => {}
            },
            StreamEvent::PartStop { index } => match self.slots.remove(index) {
                Some(Slot::Content(at)) => {
                    write("content-end", &wire::EndEvent { index: at }, out);
                }
                Some(Slot::Call(at)) => {
                    write("tool-call-end", &wire::EndEvent { index: at }, out);
                }
                None => {}
            },
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::MessageStop { stop_reason, .. } => {
                self.done = true;
                let end = wire::MessageEnd {
                    id: Some(self.id.clone()),
                    delta: Some(wire::MessageEndDelta {
                        finish_reason: Some(wire_stop_reason(*stop_reason).to_owned()),
                        usage: Some(wire_usage(&self.usage.unwrap_or_default())),
                        error: None,
                    }),
                };
                write("message-end", &end, out);
            }
            StreamEvent::Error(err) => {
                self.done = true;
                let end = wire::MessageEnd {
                    id: Some(self.id.clone()),
                    delta: Some(wire::MessageEndDelta {
                        finish_reason: Some("ERROR".to_owned()),
                        usage: self.usage.as_ref().map(wire_usage),
                        error: Some(err.message.clone()),
                    }),
                };
                write("message-end", &end, out);
            }
        }
    }
}

fn content_event(index: usize, content: wire::DeltaContent) -> wire::ContentEvent {
    wire::ContentEvent {
        index,
        delta: Some(wire::ContentEventDelta {
            message: Some(wire::ContentEventMessage {
                content: Some(content),
            }),
        }),
    }
}

fn call_event(index: usize, call: wire::ToolCall) -> wire::ToolCallEvent {
    wire::ToolCallEvent {
        index,
        delta: Some(wire::ToolCallDelta {
            message: Some(wire::ToolCallMessage {
                tool_calls: Some(call),
            }),
        }),
    }
}

fn write(kind: &str, body: &impl Serialize, out: &mut Vec<u8>) {
    write_sse(out, Some(kind), &json::encode(&Typed { kind, body }));
}
