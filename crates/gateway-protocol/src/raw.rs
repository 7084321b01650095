//! JSON carried as text, for payloads the gateway forwards without interpreting.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON value kept as its text (tool schemas): decoding does not build a tree and
/// encoding writes the text back as it came. Two values are equal when their texts
/// are, or when they parse to the same JSON.
#[derive(Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// Parses JSON text, keeping it as is.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text.to_owned()).map(RawJson)
    }

    /// Wraps text serde_json already holds as a `RawValue` (known valid, so not
    /// parsed again).
    pub fn from_raw(raw: Box<RawValue>) -> Self {
        RawJson(raw)
    }

    /// The text of a JSON value.
    pub fn from_value(value: &Value) -> Self {
        let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
        RawJson::parse(&text).unwrap_or_else(|_| RawJson::null())
    }

    /// `null`.
    pub fn null() -> Self {
        RawJson(RawValue::NULL.to_owned())
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The value as a tree, for the rare codec that must look inside.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.get()).unwrap_or(Value::Null)
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get() || self.to_value() == other.to_value()
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({})", self.get())
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(RawJson)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_text_and_compares_by_meaning() {
        let a = RawJson::parse(r#"{"a": 1, "b": [2]}"#).expect("valid");
        assert_eq!(a.get(), r#"{"a": 1, "b": [2]}"#);
        let b = RawJson::from_value(&serde_json::json!({"b": [2], "a": 1}));
        assert_eq!(a, b);
        assert_ne!(a, RawJson::null());
        assert!(RawJson::parse("{").is_err());
    }
}
