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
    // The last separator, found without `str::rsplit_once`'s searcher set-up (most
    // ids are short and carry none) and testing one byte before the whole window.
    let sep = SIGNATURE_SEPARATOR.as_bytes();
    let at = id
        .as_bytes()
        .windows(sep.len())
        .rposition(|w| w[0] == sep[0] && w == sep);
    match at.map(|at| (&id[..at], &id[at + sep.len()..])) {
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
///
/// A request holds a handful of ids, so they are looked up by a scan of the pairs
/// given so far; past 16 pairs, hash indexes take over so a transcript
/// with thousands of tool calls does not go quadratic.
#[derive(Debug, Default)]
pub struct IdSanitizer {
    /// (id, sanitised form), in the order given; the form is `None` when it is the
    /// id itself (the common case, which then costs one copy, not two).
    pairs: Vec<(String, Option<String>)>,
    /// id → its pair, once there are more than `SCAN_UP_TO` pairs.
    by_id: HashMap<String, usize>,
    /// Sanitised form → the latest pair that produced it, likewise.
    by_clean: HashMap<String, usize>,
}

/// How many pairs [`IdSanitizer`] scans before it indexes them.
const SCAN_UP_TO: usize = 16;

impl IdSanitizer {
    /// The sanitised form of `id`.
    pub fn sanitize(&mut self, id: &str) -> String {
        if let Some(done) = self.given(id) {
            return done.to_owned();
        }
        let legal = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        let legal_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        let mut clean: String = if id.bytes().all(legal_byte) {
            id.to_owned()
        } else {
            id.chars().map(|c| if legal(c) { c } else { '_' }).collect()
        };
        if clean.is_empty() {
            clean = "call".to_owned();
        }
        if self.owner(&clean).is_some_and(|owner| owner != id)
            || (clean != id && self.given(&clean).is_some())
        {
            let digest = Sha256::digest(id.as_bytes());
            clean.push('_');
            for b in &digest[..4] {
                clean.push_str(&format!("{b:02x}"));
            }
        }
        self.record(id, &clean);
        clean
    }

    /// What `id` was sanitised to, if it was.
    fn given(&self, id: &str) -> Option<&str> {
        let at = if self.pairs.len() <= SCAN_UP_TO {
            self.pairs.iter().position(|(given, _)| given == id)
        } else {
            self.by_id.get(id).copied()
        };
        at.map(|i| Self::clean_of(&self.pairs[i]))
    }

    /// The sanitised form of a pair.
    fn clean_of((id, clean): &(String, Option<String>)) -> &str {
        clean.as_deref().unwrap_or(id)
    }

    /// The latest id sanitised to `clean`, if any.
    fn owner(&self, clean: &str) -> Option<&str> {
        let at = if self.pairs.len() <= SCAN_UP_TO {
            self.pairs.iter().rposition(|p| Self::clean_of(p) == clean)
        } else {
            self.by_clean.get(clean).copied()
        };
        at.map(|i| &*self.pairs[i].0)
    }

    fn record(&mut self, id: &str, clean: &str) {
        let form = (clean != id).then(|| clean.to_owned());
        self.pairs.push((id.to_owned(), form));
        let n = self.pairs.len();
        if n > SCAN_UP_TO {
            // The first time past the threshold indexes every pair, in order (so a
            // later owner of a sanitised form replaces an earlier one, as a scan finds).
            let from = if n == SCAN_UP_TO + 1 { 0 } else { n - 1 };
            for (i, pair) in self.pairs.iter().enumerate().skip(from) {
                self.by_id.insert(pair.0.clone(), i);
                self.by_clean.insert(Self::clean_of(pair).to_owned(), i);
            }
        }
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
    fn the_last_separator_splits_as_rsplit_once_does() {
        let sig = URL_SAFE_NO_PAD.encode(b"s");
        for id in [
            format!("a__ts_b__ts_{sig}"),
            format!("__ts_{sig}"),
            format!("a___ts_{sig}"),
            "a__ts_".to_owned(),
            "a__ts_!!".to_owned(),
            "__ts".to_owned(),
            String::new(),
        ] {
            let expected = match id.rsplit_once(SIGNATURE_SEPARATOR) {
                Some((plain, sig)) if !plain.is_empty() => match URL_SAFE_NO_PAD
                    .decode(sig)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                {
                    Some(signature) => (plain, Some(signature)),
                    None => (id.as_str(), None),
                },
                _ => (id.as_str(), None),
            };
            assert_eq!(split_signature(&id), expected, "{id}");
        }
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

    /// The sanitiser as it was, with two maps, for comparison.
    #[derive(Default)]
    struct MapSanitizer {
        given: HashMap<String, String>,
        taken: HashMap<String, String>,
    }

    impl MapSanitizer {
        fn sanitize(&mut self, id: &str) -> String {
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

    #[test]
    fn scanned_and_indexed_lookups_agree_with_the_maps() {
        let ids: Vec<String> = (0..60)
            .flat_map(|i| {
                [
                    format!("call_{}", i % 23),
                    format!("call.{}", i % 17),
                    format!("call_{}_x", i % 5),
                    format!("fn:{}", i % 3),
                    String::new(),
                    "call".to_owned(),
                    "a/b".to_owned(),
                    "a_b".to_owned(),
                    "é".to_owned(),
                    "_".to_owned(),
                ]
            })
            .collect();
        let (mut fast, mut maps) = (IdSanitizer::default(), MapSanitizer::default());
        for id in &ids {
            assert_eq!(fast.sanitize(id), maps.sanitize(id), "{id}");
        }
    }

    #[test]
    fn synthesized_ids_are_distinct_and_stable() {
        assert_eq!(synthesize_call_id("r1", 0), synthesize_call_id("r1", 0));
        assert_ne!(synthesize_call_id("r1", 0), synthesize_call_id("r1", 1));
        assert_ne!(synthesize_call_id("r1", 0), synthesize_call_id("r2", 0));
    }
}
