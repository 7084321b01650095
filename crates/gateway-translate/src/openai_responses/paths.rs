//! Path-aware JSON decoding for values nested inside a caller's body: errors name the
//! full path (`input[2].content[0].text`), missing fields included.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::TranslateError;
use crate::json;

/// Decodes the whole body; a missing field's path names the field itself.
pub(crate) fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, TranslateError> {
    json::decode_request(body).map_err(fix_missing)
}

/// Decodes `value`, found at `path` in the caller's body.
pub(crate) fn parse_at<T: DeserializeOwned>(
    value: &Value,
    path: &str,
) -> Result<T, TranslateError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let rel = e.path().to_string();
        fix_missing(TranslateError::invalid(
            join(path, &rel),
            e.into_inner().to_string(),
        ))
    })
}

/// `path` followed by a relative serde path (`.` means "here").
pub(crate) fn join(path: &str, rel: &str) -> String {
    if rel == "." || rel.is_empty() {
        path.to_owned()
    } else if path == "." || path.is_empty() {
        rel.to_owned()
    } else if rel.starts_with('[') {
        format!("{path}{rel}")
    } else {
        format!("{path}.{rel}")
    }
}

/// serde reports a missing field at its parent; point at the field instead.
fn fix_missing(err: TranslateError) -> TranslateError {
    match err {
        TranslateError::InvalidRequest { path, message } => {
            let field = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split_once('`'))
                .map(|(name, _)| name.to_owned());
            match field {
                Some(name) => TranslateError::InvalidRequest {
                    path: join(&path, &name),
                    message,
                },
                None => TranslateError::InvalidRequest { path, message },
            }
        }
        other => other,
    }
}

/// An invalid-request error at `path`.
pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> TranslateError {
    TranslateError::invalid(path, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Call {
        call_id: String,
    }

    #[test]
    fn missing_field_points_at_the_field() {
        let v = serde_json::json!({});
        match parse_at::<Call>(&v, "input[1]") {
            Err(TranslateError::InvalidRequest { path, .. }) => {
                assert_eq!(path, "input[1].call_id")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn join_handles_roots_and_indexes() {
        assert_eq!(join(".", "model"), "model");
        assert_eq!(join("input", "[0].role"), "input[0].role");
        assert_eq!(join("input[0]", "."), "input[0]");
    }
}
