//! Turn-structure normalisation for targets that want alternating roles
//! (Anthropic, Gemini): merge runs of the same role and put tool results first.

use gateway_protocol::{ChatRequest, Message, Part, Role};

use crate::ids::split_signature;

/// Merges consecutive messages of the same role, drops empty text parts and empty
/// messages, and moves tool results to the front of each user turn (text after them
/// is allowed by every target, text before them is not).
pub fn alternate(messages: &[Message]) -> Vec<Message> {
    alternate_refs(
        messages,
        |p| !matches!(p, Part::Text { text, .. } if text.is_empty()),
    )
    .into_iter()
    .map(|(role, parts)| Message {
        role,
        parts: parts.into_iter().cloned().collect(),
    })
    .collect()
}

/// [`alternate`] over borrowed parts (the encoders' form: no part is copied), keeping
/// the parts `keep` accepts: consecutive same-role turns merged, empty turns dropped,
/// tool results first in user turns.
pub(crate) fn alternate_refs(
    messages: &[Message],
    keep: impl Fn(&Part) -> bool,
) -> Vec<(Role, Vec<&Part>)> {
    let mut out: Vec<(Role, Vec<&Part>)> = Vec::with_capacity(messages.len());
    for msg in messages {
        let parts = msg.parts.iter().filter(|p| keep(p));
        match out.last_mut() {
            Some(last) if last.0 == msg.role => last.1.extend(parts),
            _ => out.push((msg.role, parts.collect())),
        }
    }
    out.retain(|m| !m.1.is_empty());
    for msg in out.iter_mut().filter(|m| m.0 == Role::User) {
        if msg.1.iter().any(|p| matches!(p, Part::ToolResult(_))) {
            // Tool results first, each group in its order (a stable sort, in place).
            msg.1.sort_by_key(|p| !matches!(p, Part::ToolResult(_)));
        }
    }
    // Merging may have joined two runs separated by a dropped empty message.
    let mut merged: Vec<(Role, Vec<&Part>)> = Vec::with_capacity(out.len());
    for msg in out {
        match merged.last_mut() {
            Some(last) if last.0 == msg.0 => last.1.extend(msg.1),
            _ => merged.push(msg),
        }
    }
    merged
}

/// Appends a tool result to a trailing user message made only of tool results, or
/// starts one.
pub(crate) fn push_tool_result(req: &mut ChatRequest, part: Part) {
    match req.messages.last_mut() {
        Some(last)
            if last.role == Role::User
                && last.parts.iter().all(|p| matches!(p, Part::ToolResult(_))) =>
        {
            last.parts.push(part)
        }
        _ => req.messages.push(Message {
            role: Role::User,
            parts: vec![part],
        }),
    }
}

/// The tool name of the call `call_id`, looked up in the assistant turns of `messages`
/// (needed by shapes that pair results by name: Gemini, Ollama). Ids are compared
/// without any carried thought signature.
#[inline]
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
