//! Tool names a target rejects (too long, illegal characters) are rewritten
//! deterministically, and the caller's names are restored in answers.

use std::borrow::Cow;
use std::collections::HashMap;

use gateway_protocol::{ApiShape, Tool};
use sha2::{Digest, Sha256};

/// [`NAME_BYTES`]: legal in every shape's names (`[A-Za-z0-9_-]`).
const NAME_BYTE: u8 = 1;
/// [`NAME_BYTES`]: legal in Gemini's names too (`.` and `:`).
const GEMINI_BYTE: u8 = 2;

/// What each byte may be in a tool name.
const NAME_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' {
            t[b] = NAME_BYTE;
        } else if c == b'.' || c == b':' {
            t[b] = GEMINI_BYTE;
        }
        b += 1;
    }
    t
};

/// The name `shape` accepts for a tool the caller calls `name`.
///
/// OpenAI (Chat, Responses): `[a-zA-Z0-9_-]`, at most 64 characters. Gemini: starts
/// with a letter or `_`, `[A-Za-z0-9_.:-]`, at most 128. Anthropic: `[a-zA-Z0-9_-]`,
/// at most 128 here. Bedrock and Cohere: `[a-zA-Z0-9_-]`, at most 64. A name that passes is returned unchanged; otherwise illegal
/// characters become `_` and an over-long name keeps a prefix plus `_` and 8 hex
/// digits of the SHA-256 of the full name, so distinct names stay distinct.
pub fn upstream_name(shape: ApiShape, name: &str) -> String {
    upstream_cow(shape, name).into_owned()
}

/// [`upstream_name`], borrowing `name` when it passes unchanged (the encoders write
/// it and drop it, so the common case costs no copy).
pub(crate) fn upstream_cow(shape: ApiShape, name: &str) -> Cow<'_, str> {
    let (max, extra_ok): (usize, &[char]) = match shape {
        ApiShape::OpenAiChat | ApiShape::OpenAiResponses => (64, &[]),
        ApiShape::Gemini => (128, &['.', ':']),
        ApiShape::Anthropic => (128, &[]),
        ApiShape::Bedrock | ApiShape::Cohere => (64, &[]),
        ApiShape::Ollama => return Cow::Borrowed(name),
    };
    let legal =
        |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || extra_ok.contains(&c);
    let starts_ok = shape != ApiShape::Gemini
        || name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    // A table lookup per byte: every legal character is ASCII, so a name with any
    // other byte takes the slow path below either way.
    let class = if shape == ApiShape::Gemini {
        NAME_BYTE | GEMINI_BYTE
    } else {
        NAME_BYTE
    };
    if !name.is_empty()
        && name.len() <= max
        && starts_ok
        && name
            .bytes()
            .all(|b| NAME_BYTES[usize::from(b)] & class != 0)
    {
        return Cow::Borrowed(name);
    }
    let mut clean: String = name
        .chars()
        .map(|c| if legal(c) { c } else { '_' })
        .collect();
    if !starts_ok {
        clean.insert(0, '_');
    }
    let digest = Sha256::digest(name.as_bytes());
    let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let keep = max - 9;
    let mut cut = clean.len().min(keep);
    while !clean.is_char_boundary(cut) {
        cut -= 1;
    }
    clean.truncate(cut);
    Cow::Owned(format!("{clean}_{hash}"))
}

/// Restores caller tool names from the names an upstream saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolNameMap {
    to_caller: HashMap<String, String>,
}

impl ToolNameMap {
    /// The map for `tools` sent to a `target` upstream; empty when no name changed.
    pub fn for_target(tools: &[Tool], target: ApiShape) -> Self {
        let mut to_caller = HashMap::new();
        for tool in tools {
            let sent = upstream_name(target, &tool.name);
            if sent != tool.name {
                to_caller.insert(sent, tool.name.clone());
            }
        }
        ToolNameMap { to_caller }
    }

    /// The caller's name for a name the upstream used.
    pub fn caller_name<'a>(&'a self, upstream: &'a str) -> &'a str {
        self.to_caller
            .get(upstream)
            .map_or(upstream, String::as_str)
    }

    /// True when every name passes through unchanged.
    pub fn is_identity(&self) -> bool {
        self.to_caller.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_shortened_for_openai_and_restored() {
        let long = "a".repeat(90);
        let sent = upstream_name(ApiShape::OpenAiChat, &long);
        assert!(sent.len() <= 64);
        let tools = vec![Tool {
            name: long.clone(),
            description: None,
            parameters: None,
            strict: None,
            cache_control: None,
        }];
        let map = ToolNameMap::for_target(&tools, ApiShape::OpenAiChat);
        assert_eq!(map.caller_name(&sent), long);
        assert_eq!(map.caller_name("other"), "other");
    }

    #[test]
    fn gemini_names_must_start_with_a_letter() {
        let sent = upstream_name(ApiShape::Gemini, "3d-render");
        assert!(sent.starts_with('_'));
        assert_eq!(
            upstream_name(ApiShape::Gemini, "mcp.files:read"),
            "mcp.files:read"
        );
        assert_ne!(
            upstream_name(ApiShape::OpenAiChat, "mcp.files:read"),
            "mcp.files:read"
        );
    }

    #[test]
    fn the_byte_table_is_the_character_rule() {
        for b in 0u8..=255 {
            let legal = b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
            let gemini = legal || b == b'.' || b == b':';
            let name = format!("a{}", char::from(b));
            assert_eq!(
                upstream_name(ApiShape::Anthropic, &name) == name,
                legal,
                "{b}"
            );
            assert_eq!(
                upstream_name(ApiShape::Gemini, &name) == name,
                gemini,
                "{b}"
            );
        }
    }
}
