//! Converting between a streamed answer and a whole one, in canonical form.
//!
//! [`Aggregator`] folds stream events into a [`ChatResponse`] (a caller that did not
//! ask for a stream, served by a streaming upstream); [`events_of`] replays a
//! response as events (a streaming caller served by a non-streaming upstream).

use gateway_protocol::{
    ChatResponse, Delta, GatewayError, Part, PartStart, Reasoning, StreamEvent, ToolCall,
};

/// Folds canonical stream events into one response.
#[derive(Debug, Default)]
pub struct Aggregator {
    response: ChatResponse,
    /// Indexes of the stream mapped to positions in `response.parts`.
    slots: Vec<(usize, usize)>,
    error: Option<GatewayError>,
    finished: bool,
}

impl Aggregator {
    /// Applies one event.
    pub fn push(&mut self, event: &StreamEvent) {
        if self.finished {
            return;
        }
        match event {
            StreamEvent::MessageStart { id, model } => {
                self.response.id.clone_from(id);
                self.response.model.clone_from(model);
            }
            StreamEvent::PartStart { index, part } => {
                let part = match part {
                    PartStart::Text => Part::text(""),
                    PartStart::ToolCall {
                        id,
                        name,
                        signature,
                    } => Part::ToolCall(ToolCall {
                        id: id.clone(),
                        name: name.clone(),
                        arguments: String::new(),
                        signature: signature.clone(),
                    }),
                    PartStart::Reasoning { id, source } => Part::Reasoning(Reasoning {
                        id: id.clone(),
                        source: *source,
                        ..Reasoning::default()
                    }),
                    PartStart::RedactedReasoning { data, source } => Part::Reasoning(Reasoning {
                        redacted: Some(data.clone()),
                        source: *source,
                        ..Reasoning::default()
                    }),
                };
                self.slots.push((*index, self.response.parts.len()));
                self.response.parts.push(part);
            }
            StreamEvent::Delta { index, delta } => {
                let Some(&(_, slot)) = self.slots.iter().rev().find(|(i, _)| i == index) else {
                    return;
                };
                let Some(part) = self.response.parts.get_mut(slot) else {
                    return;
                };
                match (part, delta) {
                    (Part::Text { text, .. }, Delta::Text(t)) => text.push_str(t),
                    (Part::ToolCall(call), Delta::ToolArguments(t)) => call.arguments.push_str(t),
                    (Part::Reasoning(r), Delta::Reasoning(t)) => r.text.push_str(t),
                    (Part::Reasoning(r), Delta::Signature(s)) => {
                        r.signature.get_or_insert_with(String::new).push_str(s)
                    }
                    _ => {}
                }
            }
            StreamEvent::PartStop { .. } => {}
            StreamEvent::Usage(usage) => self.response.usage = *usage,
            StreamEvent::MessageStop {
                stop_reason,
                stop_sequence,
            } => {
                self.response.stop_reason = *stop_reason;
                self.response.stop_sequence.clone_from(stop_sequence);
                self.finished = true;
            }
            StreamEvent::Error(err) => {
                self.error = Some(err.clone());
                self.finished = true;
            }
        }
    }

    /// The response, or the error the stream ended with.
    pub fn finish(self) -> Result<ChatResponse, GatewayError> {
        match self.error {
            Some(err) => Err(err),
            None => Ok(self.response),
        }
    }
}

/// The events that stream `resp`: one delta per part (text, arguments, reasoning,
/// signature), then usage and the stop.
pub fn events_of(resp: &ChatResponse) -> Vec<StreamEvent> {
    let mut out = Vec::with_capacity(resp.parts.len() * 3 + 3);
    out.push(StreamEvent::MessageStart {
        id: resp.id.clone(),
        model: resp.model.clone(),
    });
    let mut index = 0;
    for part in &resp.parts {
        let (start, deltas): (PartStart, Vec<Delta>) = match part {
            Part::Text { text, .. } => (PartStart::Text, vec![Delta::Text(text.clone())]),
            Part::ToolCall(call) => (
                PartStart::ToolCall {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    signature: call.signature.clone(),
                },
                vec![Delta::ToolArguments(call.arguments.clone())],
            ),
            Part::Reasoning(r) => match &r.redacted {
                Some(data) => (
                    PartStart::RedactedReasoning {
                        data: data.clone(),
                        source: r.source,
                    },
                    Vec::new(),
                ),
                None => {
                    let mut deltas = vec![Delta::Reasoning(r.text.clone())];
                    if let Some(sig) = &r.signature {
                        deltas.push(Delta::Signature(sig.clone()));
                    }
                    (
                        PartStart::Reasoning {
                            id: r.id.clone(),
                            source: r.source,
                        },
                        deltas,
                    )
                }
            },
            Part::Image(_) | Part::Document(_) | Part::ToolResult(_) => continue,
        };
        out.push(StreamEvent::PartStart { index, part: start });
        out.extend(
            deltas
                .into_iter()
                .map(|delta| StreamEvent::Delta { index, delta }),
        );
        out.push(StreamEvent::PartStop { index });
        index += 1;
    }
    out.push(StreamEvent::Usage(resp.usage));
    out.push(StreamEvent::MessageStop {
        stop_reason: resp.stop_reason,
        stop_sequence: resp.stop_sequence.clone(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_protocol::{StopReason, Usage};

    #[test]
    fn replayed_events_aggregate_back_to_the_response() {
        let resp = ChatResponse {
            id: "r".into(),
            model: "m".into(),
            created: None,
            parts: vec![
                Part::Reasoning(Reasoning {
                    text: "think".into(),
                    signature: Some("sig".into()),
                    ..Reasoning::default()
                }),
                Part::text("hi"),
                Part::ToolCall(ToolCall {
                    id: "c".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                    signature: None,
                }),
            ],
            stop_reason: StopReason::ToolUse,
            stop_sequence: None,
            usage: Usage {
                input_tokens: 3,
                output_tokens: 4,
                ..Usage::default()
            },
        };
        let mut agg = Aggregator::default();
        for e in events_of(&resp) {
            agg.push(&e);
        }
        assert_eq!(agg.finish(), Ok(resp));
    }
}
