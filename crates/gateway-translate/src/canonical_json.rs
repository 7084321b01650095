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

mod walk;

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

/// `text` as a `RawValue` without parsing or copying it again: serde_json builds a
/// boxed `RawValue` unchecked from the string its deserializer hands over under its
/// private raw-value token, so [`Handover`] hands `text` over that way (the token
/// [`crate::json_writer`] also relies on; a test checks serde_json
/// still takes it).
pub(crate) fn written_raw(text: String) -> Box<RawValue> {
    let len = text.len();
    let mut slot = Some(text);
    match <Box<RawValue> as serde::Deserialize>::deserialize(Handover(&mut slot)) {
        Ok(raw) if raw.get().len() == len => raw,
        // Not reached while serde_json keeps its token; parsing is always right.
        _ => parsed_raw(slot),
    }
}

#[cold]
fn parsed_raw(text: Option<String>) -> Box<RawValue> {
    text.and_then(|text| RawValue::from_string(text).ok())
        .unwrap_or_else(|| RawValue::NULL.to_owned())
}

/// A deserializer of one raw value, the text it holds: what serde_json's own
/// deserializer shows `Box<RawValue>` (a map of one entry under the raw-value token,
/// whose value is the text as a string). The text is taken only as that value.
struct Handover<'t>(&'t mut Option<String>);

impl<'de> serde::Deserializer<'de> for Handover<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("only a raw value is handed over"))
    }

    fn deserialize_newtype_struct<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        if name != crate::json_writer::RAW_VALUE_TOKEN {
            return self.deserialize_any(visitor);
        }
        visitor.visit_map(HandoverEntry {
            text: self.0,
            key_given: false,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// The one entry of [`Handover`]'s map.
struct HandoverEntry<'t> {
    text: &'t mut Option<String>,
    key_given: bool,
}

impl<'de> serde::de::MapAccess<'de> for HandoverEntry<'_> {
    type Error = serde::de::value::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        if std::mem::replace(&mut self.key_given, true) {
            return Ok(None);
        }
        let key = serde::de::value::StrDeserializer::new(crate::json_writer::RAW_VALUE_TOKEN);
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let text = self.text.take().unwrap_or_default();
        seed.deserialize(serde::de::value::StringDeserializer::new(text))
    }
}

/// The text serde_json prints for `raw` parsed into a `Value`, when that can be
/// written without parsing; `None` for anything else (see the module docs).
pub(crate) fn canonical_json(raw: &str) -> Option<String> {
    // Room for the text and the sorted copy of its largest object.
    let (out, mut end) = canonical_prefix(raw, 2 * raw.len())?;
    walk::skip_ws(raw.as_bytes(), &mut end);
    (end == raw.len()).then_some(out)
}

/// [`canonical_json`] of the value at the start of `text` (which may go on after
/// it), and where the value ends. Only valid JSON is written, so the hand readers
/// use it on text nothing has checked yet, instead of checking the value and then
/// walking it again. `capacity` is the text's expected length.
pub(crate) fn canonical_prefix(text: &str, capacity: usize) -> Option<(String, usize)> {
    walk::canonical_prefix(text, capacity)
}

/// Scratch space for [`write_object`], kept between calls so that walking a value
/// costs no allocation.
#[derive(Default)]
pub(crate) struct Scratch(Vec<walk::Member>);

/// Appends to `out` the text [`canonical_json`] gives for `raw` when that is an
/// object; false, with `out` as it was, for anything else (including text
/// [`canonical_json`] does not cover). Encoders write the object straight into their
/// body this way, with no string of its own.
#[inline]
pub(crate) fn write_object(out: &mut Vec<u8>, raw: &str, scratch: &mut Scratch) -> bool {
    let bytes = raw.as_bytes();
    let mut start = 0;
    walk::skip_ws(bytes, &mut start);
    if bytes.get(start) != Some(&b'{') {
        return false;
    }
    let at = out.len();
    if let Some(len) = walk::write_prefix(&raw[start..], out, &mut scratch.0) {
        let mut end = start + len;
        walk::skip_ws(bytes, &mut end);
        if end == bytes.len() {
            return true;
        }
    }
    out.truncate(at);
    false
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
        // What the fast path refuses still gets the canonical text, the slow way.
        let raw = RawValue::from_string(r#"{"b": 1.50, "a": "\u0041"}"#.to_owned()).unwrap();
        assert_eq!(
            canonical_raw(raw.get()).unwrap().get(),
            r#"{"a":"A","b":1.5}"#
        );
    }

    #[test]
    fn objects_are_written_into_a_buffer_or_not_at_all() {
        let mut scratch = Scratch::default();
        let mut out = b"[".to_vec();
        for text in [
            r#" {"b": 1, "a": [true, {"d": null, "c": "x"}]} "#,
            r#"{"a":1.5}"#,
            r#"{"b":{"a":1,"a":2},"a":0}"#,
            r#"{"a":1} x"#,
            r#"[1]"#,
            r#""s""#,
            "",
            r#"{"b":2,"a":1}"#,
        ] {
            let before = out.clone();
            let written = write_object(&mut out, text, &mut scratch);
            let want = canonical_json(text).filter(|t| t.starts_with('{'));
            assert_eq!(written, want.is_some(), "{text}");
            let mut expected = before;
            expected.extend_from_slice(want.unwrap_or_default().as_bytes());
            assert_eq!(out, expected, "{text}");
            // A refused walk leaves no members behind for the next object.
            assert!(scratch.0.is_empty());
        }
    }

    #[test]
    fn serde_json_takes_raw_text_handed_over() {
        // `written_raw`'s fast path: the text moves into the `RawValue` unparsed.
        let text = r#"{"a":[1,"x",{}],"b":null}"#;
        let mut slot = Some(text.to_owned());
        let raw = <Box<RawValue> as serde::Deserialize>::deserialize(Handover(&mut slot))
            .expect("serde_json takes the handed-over text");
        assert_eq!(raw.get(), text);
        assert!(slot.is_none());
        // Anything but a raw value is refused, and the text stays for the slow path.
        let mut slot = Some(text.to_owned());
        assert!(<Value as serde::Deserialize>::deserialize(Handover(&mut slot)).is_err());
        assert_eq!(parsed_raw(slot).get(), text);
        assert_eq!(parsed_raw(None).get(), "null");
    }

    #[test]
    fn keys_sort_in_byte_order_across_word_lengths() {
        // Keys of up to 8 bytes compare as words, longer ones as slices.
        let keys = [
            "",
            "a",
            "ab",
            "ab c",
            "abcdefg",
            "abcdefg~",
            "abcdefgh",
            "abcdefgh~",
            "abcdefghi",
            "abcdefghijklmnopq",
            "abcdefghijklmnopz",
            "b",
            "B",
            "é",
            "~",
        ];
        for a in keys {
            for b in keys {
                let text = format!(r#"{{"{a}":1, "{b}":{{"{b}":2,"{a}":[3]}}}}"#);
                let want = serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(|_| a != b)
                    .map(|v| v.to_string());
                assert_eq!(canonical_json(&text), want, "{text}");
            }
        }
    }
}
