//! Canonical [`EmbeddingsRequest`] → an OpenAI(-compatible) embeddings upstream body.

use gateway_protocol::{ApiShape, EmbeddingInput, EmbeddingsRequest, EncodingFormat, Family};
use serde_json::{Value, json};

use super::wire;
use crate::error::TranslateError;
use crate::json;

/// Writes the body for an OpenAI(-compatible) embeddings upstream.
pub fn encode(req: &EmbeddingsRequest) -> Result<Vec<u8>, TranslateError> {
    if let Some(b) = req.extensions.first_binding_against(ApiShape::OpenAiChat) {
        return Err(TranslateError::untranslatable(
            &b.path,
            "openai-embeddings",
            &b.reason,
        ));
    }
    let texts: Option<Vec<&str>> = req
        .inputs
        .iter()
        .map(|i| match i {
            EmbeddingInput::Text(t) => Some(t.as_str()),
            EmbeddingInput::Tokens(_) => None,
        })
        .collect();
    let token_lists: Option<Vec<&Vec<u32>>> = req
        .inputs
        .iter()
        .map(|i| match i {
            EmbeddingInput::Tokens(t) => Some(t),
            EmbeddingInput::Text(_) => None,
        })
        .collect();
    let input = match (texts, token_lists) {
        (Some(t), _) if t.len() == 1 => json!(t[0]),
        (Some(t), _) => json!(t),
        (_, Some(t)) if t.len() == 1 => json!(t[0]),
        (_, Some(t)) => json!(t),
        _ => {
            return Err(TranslateError::untranslatable(
                "input",
                "openai-embeddings",
                "text and token-id inputs cannot be mixed in one request; send them separately",
            ));
        }
    };
    let w = wire::Request {
        model: req.model.clone(),
        input,
        dimensions: req.dimensions,
        encoding_format: Some(
            match req.encoding_format {
                EncodingFormat::Float => "float",
                EncodingFormat::Base64 => "base64",
            }
            .to_owned(),
        ),
        user: req.user.clone(),
        extra: Default::default(),
    };
    let mut body = serde_json::to_value(&w).unwrap_or(Value::Null);
    if let (Value::Object(obj), Some(params)) =
        (&mut body, req.extensions.for_key(Family::OpenAi.as_str()))
    {
        for (k, v) in params {
            if !obj.contains_key(k) {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(json::encode(&body))
}
