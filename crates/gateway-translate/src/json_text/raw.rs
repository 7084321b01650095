//! A `RawJson` from text [`Scan`](super::Scan) has already checked, without serde_json
//! parsing it again (`RawValue::from_string` does: ~16 instructions a byte, as much as
//! the rest of a request's hand reading).

use gateway_protocol::RawJson;
use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::scan::RAW_VALUE_TOKEN;

/// Text serde_json's serializer writes as it is: the form `RawValue` itself
/// serializes to (a struct named by serde_json's raw-value token), so
/// `to_raw_value` keeps the text without checking it.
struct Verbatim<'a>(&'a str);

impl Serialize for Verbatim<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct(RAW_VALUE_TOKEN, 1)?;
        s.serialize_field(RAW_VALUE_TOKEN, self.0)?;
        s.end()
    }
}

/// `text`, which must be one JSON value read by [`Scan::raw`](super::Scan::raw), as a
/// `RawJson` holding exactly that text.
pub(crate) fn checked_raw_json(text: &str) -> Option<RawJson> {
    serde_json::value::to_raw_value(&Verbatim(text))
        .ok()
        .map(RawJson::from_raw)
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    #[test]
    fn holds_the_text_as_from_string_does() {
        for text in [
            r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
            r#"{ "a" : [1, "x\"y", null] }"#,
            "[]",
            "\"s\"",
            "12",
        ] {
            let ours = checked_raw_json(text).expect("written");
            let theirs = RawValue::from_string(text.to_owned()).expect("valid");
            assert_eq!(ours.get(), theirs.get());
            assert_eq!(ours.get(), text);
        }
    }
}
