//! Turn-structure normalisation for targets that want alternating roles
//! (Anthropic, Gemini): merge runs of the same role and put tool results first.

use gateway_protocol::{Message, Part, Role};

use crate::ids::split_signature;

/// Merges consecutive messages of the same role, drops empty text parts and empty
/// messages, and moves tool results to the front of each user turn (text after them
/// is allowed by every target, text before them is not).
pub fn alternate(messages: &[Message]) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::with_capacity(messages.len());
    for msg in messages {
        let parts = msg
            .parts
            .iter()
            .filter(|p| !matches!(p, Part::Text { text, .. } if text.is_empty()))
            .cloned();
        match out.last_mut() {
            Some(last) if last.role == msg.role => last.parts.extend(parts),
            _ => out.push(Message {
                role: msg.role,
                parts: parts.collect(),
            }),
        }
    }
    out.retain(|m| !m.parts.is_empty());
    for msg in out.iter_mut().filter(|m| m.role == Role::User) {
        if msg.parts.iter().any(|p| matches!(p, Part::ToolResult(_))) {
            let (mut results, others): (Vec<Part>, Vec<Part>) = msg
                .parts
                .drain(..)
                .partition(|p| matches!(p, Part::ToolResult(_)));
            results.extend(others);
            msg.parts = results;
        }
    }
    // Merging may have joined two runs separated by a dropped empty message.
    let mut merged: Vec<Message> = Vec::with_capacity(out.len());
    for msg in out {
        match merged.last_mut() {
            Some(last) if last.role == msg.role => last.parts.extend(msg.parts),
            _ => merged.push(msg),
        }
    }
    merged
}

/// The tool name of the call `call_id`, looked up in the assistant turns of `messages`
/// (needed by shapes that pair results by name: Gemini, Ollama). Ids are compared
/// without any carried thought signature.
pub fn find_call_name<'a>(messages: &'a [Message], call_id: &str) -> Option<&'a str> {
    let wanted = split_signature(call_id).0;
    messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| &m.parts)
        .find_map(|p| match p {
            Part::ToolCall(c) if split_signature(&c.id).0 == wanted => Some(c.name.as_str()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_protocol::ToolResult;

    #[test]
    fn merges_runs_and_puts_tool_results_first() {
        let result = Part::ToolResult(ToolResult {
            call_id: "c1".into(),
            name: None,
            content: vec![Part::text("4C")],
            is_error: false,
        });
        let msgs = vec![
            Message::text(Role::User, "a"),
            Message::text(Role::User, ""),
            Message::text(Role::User, "b"),
            Message::text(Role::Assistant, "c"),
            Message::text(Role::User, "then"),
            Message {
                role: Role::User,
                parts: vec![result.clone()],
            },
        ];
        let out = alternate(&msgs);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].parts, vec![Part::text("a"), Part::text("b")]);
        assert_eq!(out[2].parts, vec![result, Part::text("then")]);
    }
}
