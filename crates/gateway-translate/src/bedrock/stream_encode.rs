//! Canonical [`StreamEvent`]s → `ConverseStream`'s event stream bytes, as Bedrock
//! sends them (the Bedrock-shaped mock streams with this).
//!
//! Every event is one message with `:event-type`, `:content-type: application/json`
//! and `:message-type: event`; text and reasoning blocks get no `contentBlockStart`
//! (Bedrock sends none), tool calls do. The usage is held until the stop: Bedrock
//! sends `messageStop`, then `metadata` with the usage. An error is an `exception`
//! message named after its kind.

use gateway_protocol::{Delta, PartStart, StreamEvent, Usage};
use serde::Serialize;
use serde_json::json;

use super::convert::wire_usage;
use super::response::{stop_sequence_fields, wire_stop_reason};
use super::wire;
use crate::context::ResponseContext;
use crate::framing::eventstream::{self, Header};
use crate::json;

/// Writes `ConverseStream` bytes from canonical events.
#[derive(Debug)]
pub struct Encoder {
    usage: Option<Usage>,
    done: bool,
}

impl Encoder {
    /// An encoder for one answer.
    pub fn new(_ctx: &ResponseContext) -> Self {
        Encoder {
            usage: None,
            done: false,
        }
    }

    /// Encodes one event, appending its messages to `out`.
    pub fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::MessageStart { .. } => {
                write_event("messageStart", &json!({"role": "assistant"}), out);
            }
            StreamEvent::PartStart { index, part } => match part {
                PartStart::ToolCall { id, name, .. } => {
                    let ev = wire::ContentBlockStart {
                        content_block_index: *index,
                        start: wire::BlockStart {
                            tool_use: Some(wire::ToolUseStart {
                                tool_use_id: id.clone(),
                                name: name.clone(),
                            }),
                            ..wire::BlockStart::default()
                        },
                    };
                    write_event("contentBlockStart", &ev, out);
                }
                PartStart::RedactedReasoning { data, .. } => {
                    let delta = wire::BlockDelta {
                        reasoning_content: Some(wire::ReasoningDelta {
                            redacted_content: Some(data.clone()),
                            ..wire::ReasoningDelta::default()
                        }),
                        ..wire::BlockDelta::default()
                    };
                    write_delta(*index, delta, out);
                }
                PartStart::Text | PartStart::Reasoning { .. } => {}
            },
            StreamEvent::Delta { index, delta } => {
                let mut d = wire::BlockDelta::default();
                match delta {
                    Delta::Text(t) => d.text = Some(t.clone()),
                    Delta::ToolArguments(a) => {
                        d.tool_use = Some(wire::ToolUseDelta { input: a.clone() });
                    }
                    Delta::Reasoning(t) => {
                        d.reasoning_content = Some(wire::ReasoningDelta {
                            text: Some(t.clone()),
                            ..wire::ReasoningDelta::default()
                        });
                    }
                    Delta::Signature(s) => {
                        d.reasoning_content = Some(wire::ReasoningDelta {
                            signature: Some(s.clone()),
                            ..wire::ReasoningDelta::default()
                        });
                    }
                }
                write_delta(*index, d, out);
            }
            StreamEvent::PartStop { index } => {
                let ev = wire::ContentBlockStop {
                    content_block_index: *index,
                };
                write_event("contentBlockStop", &ev, out);
            }
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::MessageStop {
                stop_reason,
                stop_sequence,
            } => {
                self.done = true;
                let ev = wire::MessageStop {
                    stop_reason: wire_stop_reason(*stop_reason).to_owned(),
                    additional_model_response_fields: stop_sequence_fields(stop_sequence.as_ref()),
                };
                write_event("messageStop", &ev, out);
                let meta = wire::Metadata {
                    usage: Some(wire_usage(&self.usage.unwrap_or_default())),
                    metrics: Some(json!({"latencyMs": 0})),
                };
                write_event("metadata", &meta, out);
            }
            StreamEvent::Error(err) => {
                self.done = true;
                let kind = super::error::error_type(err.kind);
                // Stream exceptions are spelled with a lower-case first letter.
                let mut name = kind[..1].to_ascii_lowercase();
                name.push_str(&kind[1..]);
                let payload = json::encode(&wire::ErrorBody {
                    message: Some(err.message.clone()),
                    kind: None,
                });
                let headers = [
                    Header::string(":exception-type", name),
                    Header::string(":content-type", "application/json"),
                    Header::string(":message-type", "exception"),
                ];
                eventstream::encode(&headers, &payload, out);
            }
        }
    }
}

fn write_delta(index: usize, delta: wire::BlockDelta, out: &mut Vec<u8>) {
    let ev = wire::ContentBlockDelta {
        content_block_index: index,
        delta,
    };
    write_event("contentBlockDelta", &ev, out);
}

/// One `event` message of type `event_type` with `payload` as its JSON.
pub(crate) fn write_event(event_type: &str, payload: &impl Serialize, out: &mut Vec<u8>) {
    let headers = [
        Header::string(":event-type", event_type),
        Header::string(":content-type", "application/json"),
        Header::string(":message-type", "event"),
    ];
    eventstream::encode(&headers, &json::encode(payload), out);
}
