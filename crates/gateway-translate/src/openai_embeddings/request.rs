//! Embeddings requests: a caller's body → canonical. The encoder (canonical → upstream
//! body) is in `request_encode.rs`, re-exported here as [`encode`].

use gateway_protocol::{EmbeddingInput, EmbeddingsRequest, EncodingFormat, Family};
use serde_json::Value;

use super::wire;
use crate::caller_ext::merge_patchbay;
use crate::error::TranslateError;
use crate::json;

pub use super::request_encode::encode;

/// Reads a caller's `POST /v1/embeddings` body.
pub fn decode(body: &[u8]) -> Result<EmbeddingsRequest, TranslateError> {
    let w: wire::Request = json::decode_request(body)?;
    let mut req = EmbeddingsRequest {
        model: w.model,
        inputs: decode_input(&w.input)?,
        dimensions: w.dimensions,
        user: w.user,
        ..EmbeddingsRequest::default()
    };
    req.encoding_format = match w.encoding_format.as_deref() {
        None | Some("float") => EncodingFormat::Float,
        Some("base64") => EncodingFormat::Base64,
        Some(other) => {
            return Err(TranslateError::invalid(
                "encoding_format",
                format!("unknown encoding format `{other}`; use float or base64"),
            ));
        }
    };
    for (key, value) in w.extra {
        if key == "patchbay" {
            merge_patchbay(&value, &mut req.extensions)?;
        } else {
            req.extensions.insert(Family::OpenAi.as_str(), key, value);
        }
    }
    Ok(req)
}

fn token(v: &Value, path: &str) -> Result<u32, TranslateError> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            TranslateError::invalid(path, "token ids must be integers from 0 to 4294967295")
        })
}

fn tokens(items: &[Value], path: &str) -> Result<Vec<u32>, TranslateError> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| token(v, &format!("{path}[{i}]")))
        .collect()
}

/// `string | string[] | int[] | int[][]` → inputs in order.
fn decode_input(input: &Value) -> Result<Vec<EmbeddingInput>, TranslateError> {
    let bad = |path: String| {
        TranslateError::invalid(
            path,
            "input must be a string, an array of strings, an array of token ids or an array of token-id arrays",
        )
    };
    let inputs = match input {
        Value::String(s) => vec![EmbeddingInput::Text(s.clone())],
        Value::Array(items) => match items.first() {
            None => return Err(TranslateError::invalid("input", "input must not be empty")),
            Some(Value::Number(_)) => vec![EmbeddingInput::Tokens(tokens(items, "input")?)],
            Some(_) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let path = format!("input[{i}]");
                    out.push(match item {
                        Value::String(s) => EmbeddingInput::Text(s.clone()),
                        Value::Array(t) if !t.is_empty() => {
                            EmbeddingInput::Tokens(tokens(t, &path)?)
                        }
                        _ => return Err(bad(path)),
                    });
                }
                out
            }
        },
        _ => return Err(bad("input".to_owned())),
    };
    Ok(inputs)
}
