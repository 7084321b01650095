//! Tool-call ids across shapes: synthesis, Anthropic-safe sanitising, and carrying a
//! Gemini thought signature inside an id for callers whose shape has no slot for it.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Separates a call id from a signature carried inside it. Only `[A-Za-z0-9_-]`, so an
/// id with a signature is still a valid Anthropic id.
pub const SIGNATURE_SEPARATOR: &str = "__ts_";

/// A deterministic call id for providers that give none (Gemini, Ollama): unique per
/// response seed and call position, stable across re-decoding of the same bytes.
pub fn synthesize_call_id(seed: &str, index: usize) -> String {
    let digest = Sha256::digest(format!("{seed}/{index}").as_bytes());
    let mut id = String::with_capacity(29);
    id.push_str("call_");
    for b in &digest[..12] {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// Appends `signature` to `id` in a URL-safe form that round-trips exactly.
pub fn attach_signature(id: &str, signature: &str) -> String {
    format!(
        "{id}{SIGNATURE_SEPARATOR}{}",
        URL_SAFE_NO_PAD.encode(signature.as_bytes())
    )
}

/// Splits an id made by [`attach_signature`] into the plain id and the signature.
/// Ids without a carried signature come back unchanged.
pub fn split_signature(id: &str) -> (&str, Option<String>) {
    match id.rsplit_once(SIGNATURE_SEPARATOR) {
        Some((plain, sig)) if !plain.is_empty() => match URL_SAFE_NO_PAD
            .decode(sig)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            Some(signature) => (plain, Some(signature)),
            None => (id, None),
        },
        _ => (id, None),
    }
}

/// Maps arbitrary ids to `^[a-zA-Z0-9_-]+$` consistently within one request: the same
/// input always gets the same output, distinct inputs never collide.
#[derive(Debug, Default)]
pub struct IdSanitizer {
    given: HashMap<String, String>,
    taken: HashMap<String, String>,
}

impl IdSanitizer {
    /// The sanitised form of `id`.
    pub fn sanitize(&mut self, id: &str) -> String {
        if let Some(done) = self.given.get(id) {
            return done.clone();
        }
        let mut clean: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if clean.is_empty() {
            clean = "call".to_owned();
        }
        if self.taken.get(&clean).is_some_and(|owner| owner != id)
            || (clean != id && self.given.contains_key(&clean))
        {
            let digest = Sha256::digest(id.as_bytes());
            clean.push('_');
            for b in &digest[..4] {
                clean.push_str(&format!("{b:02x}"));
            }
        }
        self.taken.insert(clean.clone(), id.to_owned());
        self.given.insert(id.to_owned(), clean.clone());
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trips_through_an_anthropic_safe_id() {
        let sig = "CiIB+/x==";
        let id = attach_signature("call_1", sig);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
        let (plain, back) = split_signature(&id);
        assert_eq!(plain, "call_1");
        assert_eq!(back.as_deref(), Some(sig));
    }

    #[test]
    fn plain_ids_split_to_themselves() {
        assert_eq!(split_signature("toolu_01"), ("toolu_01", None));
    }

    #[test]
    fn sanitizer_is_consistent_and_collision_free() {
        let mut s = IdSanitizer::default();
        let a = s.sanitize("functions.Bash:0");
        let b = s.sanitize("functions_Bash_0");
        let c = s.sanitize("a/b");
        assert_eq!(a, "functions_Bash_0");
        assert_ne!(a, b);
        assert_eq!(s.sanitize("functions.Bash:0"), a);
        assert_eq!(s.sanitize("functions_Bash_0"), b);
        assert_eq!(c, "a_b");
        assert_eq!(s.sanitize(""), "call");
    }

    #[test]
    fn synthesized_ids_are_distinct_and_stable() {
        assert_eq!(synthesize_call_id("r1", 0), synthesize_call_id("r1", 0));
        assert_ne!(synthesize_call_id("r1", 0), synthesize_call_id("r1", 1));
        assert_ne!(synthesize_call_id("r1", 0), synthesize_call_id("r2", 0));
    }
}
