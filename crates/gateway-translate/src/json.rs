//! JSON decoding that names the failing field's path.

use serde::de::DeserializeOwned;

use crate::error::TranslateError;

/// Decodes a caller's body, mapping any failure to an invalid-request error that
/// names the field path. Nesting deeper than serde_json's limit (128) is such a
/// failure, at the path where the limit was hit; nothing recurses unbounded.
///
/// The happy path is a plain `serde_json` decode; only a body that fails is decoded
/// again with path tracking, so correct requests do not pay for error reporting.
pub fn decode_request<T: DeserializeOwned>(body: &[u8]) -> Result<T, TranslateError> {
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(_) => Err(explain_failure::<T>(body)),
    }
}

#[cold]
fn explain_failure<T: DeserializeOwned>(body: &[u8]) -> TranslateError {
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(_) => TranslateError::invalid(".", "the body could not be decoded"),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = if inner.is_eof() || inner.is_syntax() {
                format!("malformed JSON: {inner}")
            } else {
                inner.to_string()
            };
            TranslateError::invalid(path, message)
        }
    }
}

/// Decodes an upstream payload; failures blame the upstream.
pub fn decode_upstream<T: DeserializeOwned>(
    what: &'static str,
    body: &[u8],
) -> Result<T, TranslateError> {
    serde_json::from_slice(body).map_err(|e| TranslateError::upstream(what, e.to_string()))
}

/// Serialises a wire value. Wire structs hold only JSON-representable data, so this
/// cannot fail; a failure would be a bug in a wire type, reported as `null`.
///
/// The text is serde_json's, byte for byte, written by `json_writer` (faster
/// string escaping); debug builds check every call against `serde_json::to_vec`, so
/// each fixture, matrix and fuzz test also tests the writer.
pub fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    encode_sized(value, 128)
}

/// Where a request body's buffer starts: a typical chat request fits, so encoding one
/// does not regrow (and copy) the buffer five times from serde_json's 128 bytes.
pub(crate) const REQUEST_BODY_CAPACITY: usize = 4096;

/// [`encode`] into a buffer of `capacity` bytes to start with, for callers that know
/// roughly how long the text will be (a request body), so it is not regrown.
pub(crate) fn encode_sized<T: serde::Serialize>(value: &T, capacity: usize) -> Vec<u8> {
    let out = crate::json_writer::to_vec(value, capacity).unwrap_or_else(|_| b"null".to_vec());
    debug_assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec())),
        "json_writer must write what serde_json writes"
    );
    out
}

/// A request body this crate wrote, parsed again as a `Value` tree so that a caller's
/// carried fields can be merged into it, with `floats` put back as they are (a parse
/// of their shortest text need not give the same `f64` back without serde_json's
/// `float_roundtrip`). `refused` words the error of a body that does not parse (one
/// nested deeper than serde_json reads).
pub(crate) fn reopened(
    out: &[u8],
    floats: &[(&str, Option<f64>)],
    refused: impl FnOnce(serde_json::Error) -> TranslateError,
) -> Result<serde_json::Map<String, serde_json::Value>, TranslateError> {
    let mut body: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(out).map_err(refused)?;
    for &(key, value) in floats {
        if let Some(v) = value {
            body.insert(key.to_owned(), serde_json::Value::from(v));
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Outer {
        messages: Vec<Inner>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        role: String,
    }

    #[test]
    fn wrong_type_names_the_path() {
        let err =
            decode_request::<Outer>(br#"{"messages":[{"role":"user"},{"role":7}]}"#).unwrap_err();
        match err {
            TranslateError::InvalidRequest { path, .. } => assert_eq!(path, "messages[1].role"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn deep_nesting_is_refused_at_its_path() {
        let body = format!(
            r#"{{"messages":[{{"role":{}{}}}]}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        match decode_request::<serde_json::Value>(body.as_bytes()) {
            Err(TranslateError::InvalidRequest { path, message }) => {
                assert!(path.starts_with("messages[0].role[0]"), "{path}");
                assert!(message.contains("recursion"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
