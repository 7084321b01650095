//! A local token estimate, for when no upstream can count (Anthropic `count_tokens`
//! served by an OpenAI-compatible upstream, budget reservations before a call, a
//! stream that ended before the upstream reported its usage).
//!
//! It is a heuristic, not a tokenizer: about four bytes of text per token, a fixed
//! cost per message, per tool and per image. It errs high rather than low, because
//! its main use is reserving budget before the real count is known.

use gateway_protocol::{ChatRequest, Delta, GatewayError, Part, PartStart, StreamEvent, Usage};

/// Tokens charged per message for role and framing.
const PER_MESSAGE: u64 = 4;
/// Tokens charged per image (a mid-size image on the major providers).
const PER_IMAGE: u64 = 800;
/// Tokens charged per document that is not inline text.
const PER_DOCUMENT: u64 = 1500;

/// Estimated input tokens of `req`.
pub fn input_tokens(req: &ChatRequest) -> u64 {
    let mut bytes = 0u64;
    let mut fixed = 3u64;
    for part in &req.system {
        bytes += part_bytes(part, &mut fixed);
    }
    for msg in &req.messages {
        fixed += PER_MESSAGE;
        for part in &msg.parts {
            bytes += part_bytes(part, &mut fixed);
        }
    }
    for tool in &req.tools {
        fixed += 8;
        bytes += tool.name.len() as u64;
        bytes += tool.description.as_ref().map_or(0, |d| d.len() as u64);
        bytes += tool.parameters.as_ref().map_or(0, |p| p.get().len() as u64);
    }
    fixed + bytes.div_ceil(4)
}

/// The output of a streamed answer, counted from the content of its events: text,
/// reasoning, tool names and arguments (ids, signatures and framing are not output).
/// A stream the caller hangs up on, or that the upstream breaks off, is charged at
/// least this many output tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputCount {
    bytes: u64,
}

impl OutputCount {
    /// Counts one event's content.
    pub fn observe(&mut self, event: &StreamEvent) {
        let bytes = match event {
            StreamEvent::Delta {
                delta: Delta::Text(t) | Delta::Reasoning(t) | Delta::ToolArguments(t),
                ..
            } => t.len(),
            StreamEvent::PartStart {
                part: PartStart::ToolCall { name, .. },
                ..
            } => name.len(),
            _ => 0,
        };
        self.bytes += bytes as u64;
    }

    /// Counts `bytes` of content measured without building its event.
    pub fn add(&mut self, bytes: usize) {
        self.bytes += bytes as u64;
    }

    /// The estimated output tokens (about four bytes a token, like the input).
    pub fn tokens(&self) -> u64 {
        self.bytes.div_ceil(4)
    }
}

/// What a stream's decoded events tell its accounting: the last usage the upstream
/// reported, the output counted from the content, and the first error. The
/// transcoder and the gateway's same-shape relay keep one each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamTally {
    usage: Option<Usage>,
    output: OutputCount,
    error: Option<GatewayError>,
    stopped: bool,
}

impl StreamTally {
    /// Takes one event into account.
    pub fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Error(err) if self.error.is_none() => self.keep_error(err),
            StreamEvent::MessageStop { .. } => self.stopped = true,
            _ => self.output.observe(event),
        }
    }

    /// Keeps a stream's first error; apart, so that copying it (rare) does not
    /// weigh on every event's call.
    #[cold]
    #[inline(never)]
    fn keep_error(&mut self, err: &GatewayError) {
        self.error = Some(err.clone());
    }

    /// Counts `bytes` of content measured without building its event (what
    /// [`StreamTally::observe`] would count of that event).
    pub fn add_output(&mut self, bytes: usize) {
        self.output.add(bytes);
    }

    /// The last usage the upstream reported.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// Output tokens estimated from the content seen (see [`OutputCount`]).
    pub fn output_tokens(&self) -> u64 {
        self.output.tokens()
    }

    /// The first error among the events.
    pub fn error(&self) -> Option<&GatewayError> {
        self.error.as_ref()
    }

    /// Whether the answer's stop was among the events: nothing after it is part of
    /// the answer.
    pub fn stopped(&self) -> bool {
        self.stopped
    }
}

fn part_bytes(part: &Part, fixed: &mut u64) -> u64 {
    match part {
        Part::Text { text, .. } => text.len() as u64,
        Part::Image(_) => {
            *fixed += PER_IMAGE;
            0
        }
        Part::Document(_) => {
            *fixed += PER_DOCUMENT;
            0
        }
        Part::ToolCall(call) => (call.name.len() + call.arguments.len()) as u64,
        Part::ToolResult(result) => result.content.iter().map(|p| part_bytes(p, fixed)).sum(),
        Part::Reasoning(r) => r.text.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_protocol::{Message, Role};

    #[test]
    fn grows_with_text_and_counts_fixed_costs() {
        let mut req = ChatRequest::default();
        let empty = input_tokens(&req);
        req.messages
            .push(Message::text(Role::User, "x".repeat(400)));
        let with_text = input_tokens(&req);
        assert_eq!(with_text, empty + PER_MESSAGE + 100);
    }

    #[test]
    fn output_counts_the_content_of_deltas_and_tool_names() {
        let mut count = OutputCount::default();
        let events = [
            StreamEvent::MessageStart {
                id: "msg_with_a_long_id".into(),
                model: "some-model".into(),
            },
            StreamEvent::Delta {
                index: 0,
                delta: Delta::Text("x".repeat(10)),
            },
            StreamEvent::Delta {
                index: 0,
                delta: Delta::Reasoning("r".repeat(6)),
            },
            StreamEvent::Delta {
                index: 0,
                delta: Delta::Signature("s".repeat(500)),
            },
            StreamEvent::PartStart {
                index: 1,
                part: PartStart::ToolCall {
                    id: "call_123456".into(),
                    name: "get".into(),
                    signature: None,
                },
            },
            StreamEvent::Delta {
                index: 1,
                delta: Delta::ToolArguments("{}".into()),
            },
        ];
        for event in &events {
            count.observe(event);
        }
        // 10 + 6 + 3 + 2 bytes.
        assert_eq!(count.tokens(), 21_u64.div_ceil(4));
        assert_eq!(OutputCount::default().tokens(), 0);
    }
}
