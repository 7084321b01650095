//! The text serde_json prints for a JSON value parsed into a `Value` (compact, object
//! keys sorted), written straight from the value's text when that is provably the same.
//!
//! Decoders that once went through a `Value` and printed it again (Anthropic tool
//! `input` → call arguments, tool schemas → `parameters`) keep their canonical text
//! with [`canonical_raw`]: [`canonical_json`] covers strings without escapes, integers
//! of at most 18 digits (never `-0`), literals, arrays and objects without duplicate
//! keys; anything else (escapes, fractions, exponents, duplicate keys) takes the real
//! `Value` round trip. Either way the text is the same.

use gateway_protocol::RawJson;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::borrow::RawText;
use crate::json_text::Scan;

/// The canonical text of `raw` as a [`RawJson`], as `RawJson::from_value` of its
/// parsed `Value` would give; `None` when `raw` does not parse.
pub(crate) fn canonical_raw(raw: &str) -> Option<RawJson> {
    match canonical_json(raw) {
        Some(text) => Some(RawJson::from_raw(written_raw(text))),
        None => Some(RawJson::from_value(
            &serde_json::from_str::<Value>(raw).ok()?,
        )),
    }
}

/// JSON text known to be valid (what [`canonical_json`] writes: pieces of valid JSON
/// and the punctuation between them), serialised as is. It serialises the way
/// serde_json's `RawValue` does, under serde_json's private struct name, which
/// [`crate::json_writer`] also relies on; a test checks serde_json still writes it
/// verbatim.
pub(crate) struct Verbatim<'a>(pub(crate) &'a str);

impl serde::Serialize for Verbatim<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut raw = s.serialize_struct(crate::json_writer::RAW_VALUE_TOKEN, 1)?;
        raw.serialize_field(crate::json_writer::RAW_VALUE_TOKEN, self.0)?;
        raw.end()
    }
}

/// `text` as a `RawValue` without parsing it again: serde_json builds a `RawValue`
/// unchecked only from what it serialised itself, so it gets [`Verbatim`].
pub(crate) fn written_raw(text: String) -> Box<RawValue> {
    match serde_json::value::to_raw_value(&Verbatim(&text)) {
        Ok(raw) if raw.get() == text => raw,
        // Not reached while serde_json keeps its token; parsing is always right.
        _ => RawValue::from_string(text).unwrap_or_else(|_| RawValue::NULL.to_owned()),
    }
}

/// The text serde_json prints for `raw` parsed into a `Value`, when that can be
/// written without parsing; `None` for anything else (see the module docs).
pub(crate) fn canonical_json(raw: &str) -> Option<String> {
    let (out, mut end) = canonical_prefix(raw, raw.len())?;
    skip_ws(raw.as_bytes(), &mut end);
    (end == raw.len()).then_some(out)
}

/// [`canonical_json`] of the value at the start of `text` (which may go on after
/// it), and where the value ends. Only valid JSON is written, so the hand readers
/// use it on text nothing has checked yet, instead of checking the value and then
/// walking it again. `capacity` is the text's expected length.
pub(crate) fn canonical_prefix(text: &str, capacity: usize) -> Option<(String, usize)> {
    let mut w = Canon {
        raw: text,
        i: 0,
        out: String::with_capacity(capacity),
        members: Vec::with_capacity(16),
        reorder: String::new(),
        depth: 0,
    };
    w.value()?;
    Some((w.out, w.i))
}

/// A value a request view keeps for its canonical text: as it came (serde's read,
/// written out later) or, from a hand reader, already written.
pub(crate) enum Canonical<'a> {
    Raw(RawText<'a>),
    Written(String),
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Canonical<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawText::deserialize(d).map(Canonical::Raw)
    }
}

impl<'a> Canonical<'a> {
    /// The value at the reader, written in the same pass when [`canonical_prefix`]
    /// can (else kept as text, checked, for [`canonical_raw`]'s fallback).
    pub(crate) fn scan(s: &mut Scan<'a>) -> Option<Self> {
        match s.prefix(|text| canonical_prefix(text, text.len().min(512))) {
            Some(text) => Some(Canonical::Written(text)),
            None => s.raw().map(|raw| Canonical::Raw(RawText(raw))),
        }
    }

    /// As [`canonical_raw`] of the value's text.
    pub(crate) fn into_raw_json(self) -> Option<RawJson> {
        match self {
            Canonical::Raw(raw) => canonical_raw(raw.0),
            Canonical::Written(text) => Some(RawJson::from_raw(written_raw(text))),
        }
    }
}

/// How deep [`canonical_prefix`] follows nested values (serde_json's limit is 128,
/// from the body's root).
const MAX_NESTING: usize = 32;

/// One object member already written: its key's place in `raw` and the range of
/// `"key":value` in `out`.
struct Member {
    key: (usize, usize),
    written: (usize, usize),
}

/// The walk: `raw` read from `i`, `out` written; `members` is one stack shared by all
/// open objects and `reorder` the scratch an unsorted object is rebuilt in, so an
/// object costs no allocation of its own.
struct Canon<'a> {
    raw: &'a str,
    i: usize,
    out: String,
    members: Vec<Member>,
    reorder: String,
    /// Open objects and arrays.
    depth: usize,
}

fn skip_ws(b: &[u8], i: &mut usize) {
    while matches!(b.get(*i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        *i += 1;
    }
}

impl Canon<'_> {
    fn key(&self, m: &Member) -> &str {
        &self.raw[m.key.0..m.key.1]
    }

    /// Reads a string without escapes at `i`: the range of its literal, quotes
    /// included.
    fn string_literal(&mut self) -> Option<(usize, usize)> {
        let b = self.raw.as_bytes();
        if b.get(self.i) != Some(&b'"') {
            return None;
        }
        // `raw` is valid JSON, so no control character can stop the scan early.
        let end = self.i + 1 + crate::swar::clean_prefix_len(&b[self.i + 1..]);
        if b.get(end) != Some(&b'"') {
            return None;
        }
        let start = self.i;
        self.i = end + 1;
        Some((start, end + 1))
    }

    fn value(&mut self) -> Option<()> {
        let b = self.raw.as_bytes();
        skip_ws(b, &mut self.i);
        match *b.get(self.i)? {
            b'{' => self.nested(Self::object),
            b'[' => self.nested(Self::array),
            b'"' => {
                let (from, to) = self.string_literal()?;
                self.out.push_str(&self.raw[from..to]);
                Some(())
            }
            b't' | b'f' | b'n' => {
                let lit = ["true", "false", "null"]
                    .into_iter()
                    .find(|l| self.raw.get(self.i..self.i + l.len()) == Some(l))?;
                self.out.push_str(lit);
                self.i += lit.len();
                Some(())
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                if b[self.i] == b'-' {
                    self.i += 1;
                }
                let digits_from = self.i;
                while matches!(b.get(self.i), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
                let digits = self.i - digits_from;
                if digits == 0
                    || digits > 18
                    || matches!(b.get(self.i), Some(b'.' | b'e' | b'E'))
                    || (b[digits_from] == b'0' && (digits > 1 || digits_from > start))
                {
                    return None;
                }
                self.out.push_str(&self.raw[start..self.i]);
                Some(())
            }
            _ => None,
        }
    }

    /// `read` one level deeper, refused past [`MAX_NESTING`].
    fn nested(&mut self, read: fn(&mut Self) -> Option<()>) -> Option<()> {
        if self.depth == MAX_NESTING {
            return None;
        }
        self.depth += 1;
        read(self)?;
        self.depth -= 1;
        Some(())
    }

    fn array(&mut self) -> Option<()> {
        let b = self.raw.as_bytes();
        self.i += 1;
        self.out.push('[');
        skip_ws(b, &mut self.i);
        if b.get(self.i) == Some(&b']') {
            self.i += 1;
            self.out.push(']');
            return Some(());
        }
        loop {
            self.value()?;
            skip_ws(b, &mut self.i);
            match b.get(self.i)? {
                b',' => self.out.push(','),
                b']' => {
                    self.i += 1;
                    self.out.push(']');
                    return Some(());
                }
                _ => return None,
            }
            self.i += 1;
        }
    }

    fn object(&mut self) -> Option<()> {
        let b = self.raw.as_bytes();
        self.i += 1;
        let start = self.out.len();
        self.out.push('{');
        skip_ws(b, &mut self.i);
        if b.get(self.i) == Some(&b'}') {
            self.i += 1;
            self.out.push('}');
            return Some(());
        }
        let base = self.members.len();
        let mut sorted = true;
        loop {
            skip_ws(b, &mut self.i);
            let (from, to) = self.string_literal()?;
            // `Value` reads an object under serde_json's raw-value key as raw text.
            if &self.raw[from + 1..to - 1] == crate::json_writer::RAW_VALUE_TOKEN {
                return None;
            }
            skip_ws(b, &mut self.i);
            if b.get(self.i) != Some(&b':') {
                return None;
            }
            self.i += 1;
            let written_from = self.out.len();
            self.out.push_str(&self.raw[from..to]);
            self.out.push(':');
            self.value()?;
            let member = Member {
                key: (from + 1, to - 1),
                written: (written_from, self.out.len()),
            };
            if self.members.len() > base {
                let prev = &self.members[self.members.len() - 1];
                sorted &= self.key(prev) < self.key(&member);
            }
            self.members.push(member);
            skip_ws(b, &mut self.i);
            match b.get(self.i)? {
                b',' => {
                    self.i += 1;
                    self.out.push(',');
                }
                b'}' => {
                    self.i += 1;
                    break;
                }
                _ => return None,
            }
        }
        if !sorted {
            let raw = self.raw.as_bytes();
            let key = |m: &Member| &raw[m.key.0..m.key.1];
            let members = &mut self.members[base..];
            members.sort_unstable_by(|a, c| key(a).cmp(key(c)));
            if members.windows(2).any(|w| key(&w[0]) == key(&w[1])) {
                return None;
            }
            if self.reorder.capacity() == 0 {
                self.reorder.reserve(self.raw.len());
            }
            self.reorder.clear();
            self.reorder.push('{');
            for (n, m) in members.iter().enumerate() {
                if n > 0 {
                    self.reorder.push(',');
                }
                self.reorder.push_str(&self.out[m.written.0..m.written.1]);
            }
            self.out.truncate(start);
            self.out.push_str(&self.reorder);
        }
        self.members.truncate(base);
        self.out.push('}');
        Some(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_prefix_is_written_up_to_its_end_within_bounds() {
        let text = r#"{"b": 1, "a": [2]} , "next""#;
        let (out, end) = canonical_prefix(text, 0).unwrap();
        assert_eq!(out, r#"{"a":[2],"b":1}"#);
        assert_eq!(&text[end..], r#" , "next""#);
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert!(canonical_prefix(&deep, 0).is_none());
        let shallow = format!("{}{}", "[".repeat(30), "]".repeat(30));
        assert_eq!(canonical_prefix(&shallow, 0).unwrap().0, shallow);
        assert!(canonical_prefix(r#"{"$serde_json::private::RawValue":"1"}"#, 0).is_none());
    }

    #[test]
    fn canonical_json_prints_like_value() {
        for text in [
            r#"{"b": 1, "a": [true, false, null, -12, "x"], "c": {}}"#,
            r#"[]"#,
            r#""s""#,
            r#"{"ab":1,"a":2,"a b":3}"#,
            r#"{"type":"object","properties":{"z":{"type":"string","enum":["a","b"]},"city":{"type":"string"}},"required":["city"]}"#,
            r#" { "y" : { "b" : [ { "d":1, "c":2 } ], "a":0 } , "x" : [ ] } "#,
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(canonical_json(text).as_deref(), Some(&*value.to_string()));
            let raw = RawValue::from_string(text.to_owned()).unwrap();
            assert_eq!(
                canonical_raw(raw.get()).unwrap().get(),
                RawJson::from_value(&value).get()
            );
        }
        for text in [
            r#"{"a":1,"a":2}"#,
            r#"{"b":{"a":1,"a":2},"a":0}"#,
            r#"1.0"#,
            r#"-0"#,
            r#""\n""#,
            r#"1e3"#,
        ] {
            assert_eq!(canonical_json(text), None, "{text}");
        }
        // Text written without a new parse is serde_json's own RawValue of it.
        let text = r#"{"a":[1,"x",{}],"b":null}"#;
        let written = written_raw(text.to_owned());
        assert_eq!(written.get(), text);
        assert_eq!(
            serde_json::to_string(&written).unwrap(),
            serde_json::to_string(&RawValue::from_string(text.to_owned()).unwrap()).unwrap()
        );
        let tree: Value = serde_json::to_value(Verbatim(text)).unwrap();
        assert_eq!(tree, serde_json::from_str::<Value>(text).unwrap());
        // What the fast path refuses still gets the canonical text, the slow way.
        let raw = RawValue::from_string(r#"{"b": 1.50, "a": "\u0041"}"#.to_owned()).unwrap();
        assert_eq!(
            canonical_raw(raw.get()).unwrap().get(),
            r#"{"a":"A","b":1.5}"#
        );
    }
}
