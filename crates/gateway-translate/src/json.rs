//! JSON decoding that names the failing field's path.

use serde::de::DeserializeOwned;

use crate::error::TranslateError;

/// Nesting deeper than this is refused with a clear message (serde_json stops at 128
/// with a recursion error; either way nothing overflows the stack).
pub const MAX_DEPTH: usize = 64;

/// Decodes a caller's body, mapping any failure to an invalid-request error that
/// names the field path.
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
    if let Err(depth) = check_depth(body) {
        return TranslateError::invalid(
            ".",
            format!("JSON nests deeper than {depth} levels; flatten the value"),
        );
    }
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
pub fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec())
}

/// Returns `Err(limit)` when `body` nests objects/arrays deeper than [`MAX_DEPTH`].
fn check_depth(body: &[u8]) -> Result<(), usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(MAX_DEPTH);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
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
    fn deep_nesting_is_refused_without_recursion() {
        let body = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            decode_request::<serde_json::Value>(body.as_bytes()),
            Err(TranslateError::InvalidRequest { .. })
        ));
    }
}
