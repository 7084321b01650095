//! What a request needs from a model, for the `auto` rules.

use gateway_protocol::{ChatRequest, Part};

/// What a request needs from the model that serves it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The request declares tools.
    pub tools: bool,
    /// The request carries images.
    pub images: bool,
    /// Estimated prompt size in tokens.
    pub prompt_tokens: u64,
}

impl Needs {
    /// Reads the needs of `req`. The token count is an estimate (about four bytes of
    /// text, tool schema or arguments per token, ~800 per image, plus a small cost per
    /// part), good
    /// enough to choose between a small and a large model, not for billing.
    pub fn of(req: &ChatRequest) -> Needs {
        let mut bytes = 0usize;
        let mut parts = 0usize;
        let mut images = false;
        let mut visit = |p: &Part, bytes: &mut usize, parts: &mut usize| {
            *parts += 1;
            match p {
                Part::Text { text, .. } => *bytes += text.len(),
                Part::Image(_) => {
                    images = true;
                    // Providers bill an image as several hundred tokens.
                    *bytes += 3200;
                }
                Part::ToolCall(c) => *bytes += c.name.len() + c.arguments.len(),
                Part::Reasoning(r) => *bytes += r.text.len(),
                Part::ToolResult(_) | Part::Document(_) => {}
            }
        };
        for p in req
            .system
            .iter()
            .chain(req.messages.iter().flat_map(|m| &m.parts))
        {
            visit(p, &mut bytes, &mut parts);
            if let Part::ToolResult(r) = p {
                for inner in &r.content {
                    visit(inner, &mut bytes, &mut parts);
                }
            }
        }
        for t in &req.tools {
            bytes += t.name.len()
                + t.description.as_ref().map_or(0, String::len)
                + t.parameters.as_ref().map_or(0, |p| p.get().len());
        }
        Needs {
            tools: !req.tools.is_empty(),
            images,
            prompt_tokens: (bytes / 4 + parts * 3) as u64,
        }
    }

    /// A short description for error messages.
    pub fn describe(&self) -> String {
        let mut what = Vec::new();
        if self.tools {
            what.push("tools".to_owned());
        }
        if self.images {
            what.push("images".to_owned());
        }
        what.push(format!("about {} prompt tokens", self.prompt_tokens));
        what.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_protocol::{Message, Role, Tool};

    #[test]
    fn reads_tools_images_and_size() {
        let mut req = ChatRequest {
            model: "auto".to_owned(),
            ..Default::default()
        };
        req.messages
            .push(Message::text(Role::User, "x".repeat(4000)));
        let n = Needs::of(&req);
        assert!(!n.tools && !n.images);
        assert!((1000..1100).contains(&n.prompt_tokens), "{n:?}");
        req.tools.push(Tool {
            name: "f".to_owned(),
            description: None,
            parameters: None,
            strict: None,
            cache_control: None,
        });
        assert!(Needs::of(&req).tools);
    }
}
