//! Messages and parts the encoders' byte tests build their requests from.

use gateway_protocol::{Message, Part, Role, ToolCall, ToolResult};

pub(crate) fn user(parts: Vec<Part>) -> Message {
    Message {
        role: Role::User,
        parts,
    }
}

pub(crate) fn assistant(parts: Vec<Part>) -> Message {
    Message {
        role: Role::Assistant,
        parts,
    }
}

pub(crate) fn call(id: &str, name: &str, arguments: &str) -> Part {
    Part::ToolCall(ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
        signature: None,
    })
}

pub(crate) fn result(call_id: &str, content: Vec<Part>, is_error: bool) -> Part {
    Part::ToolResult(ToolResult {
        call_id: call_id.into(),
        name: None,
        content,
        is_error,
    })
}
