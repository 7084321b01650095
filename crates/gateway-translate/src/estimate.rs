//! A local token estimate, for when no upstream can count (Anthropic `count_tokens`
//! served by an OpenAI-compatible upstream, budget reservations before a call).
//!
//! It is a heuristic, not a tokenizer: about four bytes of text per token, a fixed
//! cost per message, per tool and per image. It errs high rather than low, because
//! its main use is reserving budget before the real count is known.

use gateway_protocol::{ChatRequest, Part};

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
}
