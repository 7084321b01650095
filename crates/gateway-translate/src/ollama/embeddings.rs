//! `POST /api/embed` bodies ↔ [`EmbeddingsRequest`] / [`EmbeddingsResponse`] (§7.2),
//! and the older `POST /api/embeddings` (one `prompt` in, one `embedding` out) that
//! Ollama callers still send.

use gateway_protocol::{EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse, Family};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::TranslateError;
use crate::json;

/// `input`: one string or a list of strings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Input {
    /// One text.
    One(String),
    /// Several texts, embedded in order.
    Many(Vec<String>),
}

/// An `/api/embed` request (known fields; `truncate`, `keep_alive`, `options` are
/// carried in `extensions.params["ollama"]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// The model name.
    pub model: String,
    /// What to embed.
    pub input: Input,
    /// Output dimensionality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
}

/// An `/api/embed` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// One vector per input.
    pub embeddings: Vec<Vec<f32>>,
    /// Input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_eval_count: Option<u64>,
}

/// An older `/api/embeddings` request (`options`, `keep_alive` are carried in
/// `extensions.params["ollama"]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LegacyRequest {
    /// The model name.
    pub model: String,
    /// The one text to embed.
    pub prompt: String,
}

/// An older `/api/embeddings` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LegacyResponse {
    /// The vector.
    pub embedding: Vec<f32>,
}

/// Reads a caller's `/api/embed` body.
pub fn decode_request(body: &[u8]) -> Result<EmbeddingsRequest, TranslateError> {
    let wire: Request = json::decode_request(body)?;
    let raw: Map<String, Value> = json::decode_request(body)?;
    let mut req = EmbeddingsRequest {
        model: wire.model,
        inputs: match wire.input {
            Input::One(s) => vec![EmbeddingInput::Text(s)],
            Input::Many(v) => v.into_iter().map(EmbeddingInput::Text).collect(),
        },
        dimensions: wire.dimensions,
        ..EmbeddingsRequest::default()
    };
    for (k, v) in raw {
        if !matches!(k.as_str(), "model" | "input" | "dimensions") {
            req.extensions.insert(Family::Ollama.as_str(), k, v);
        }
    }
    Ok(req)
}

/// Reads a caller's older `/api/embeddings` body: its `prompt` is the one input.
pub fn decode_legacy_request(body: &[u8]) -> Result<EmbeddingsRequest, TranslateError> {
    let wire: LegacyRequest = json::decode_request(body)?;
    let raw: Map<String, Value> = json::decode_request(body)?;
    let mut req = EmbeddingsRequest {
        model: wire.model,
        inputs: vec![EmbeddingInput::Text(wire.prompt)],
        ..EmbeddingsRequest::default()
    };
    for (k, v) in raw {
        if !matches!(k.as_str(), "model" | "prompt") {
            req.extensions.insert(Family::Ollama.as_str(), k, v);
        }
    }
    Ok(req)
}

/// Writes an older `/api/embeddings` answer: the first vector (the request had one
/// input), or an empty one if the upstream sent none.
pub fn encode_legacy_response(resp: &EmbeddingsResponse) -> Vec<u8> {
    json::encode(&LegacyResponse {
        embedding: resp.vectors.first().cloned().unwrap_or_default(),
    })
}

/// Writes an `/api/embed` body. Token-array inputs cannot be sent (Ollama embeds
/// text only); a single input is sent as a string.
pub fn encode_request(req: &EmbeddingsRequest) -> Result<Vec<u8>, TranslateError> {
    let mut texts = Vec::with_capacity(req.inputs.len());
    for (i, input) in req.inputs.iter().enumerate() {
        match input {
            EmbeddingInput::Text(t) => texts.push(t.clone()),
            EmbeddingInput::Tokens(_) => {
                return Err(TranslateError::untranslatable(
                    format!("input[{i}]"),
                    "Ollama",
                    "Ollama embeds text only; send the text instead of token ids",
                ));
            }
        }
    }
    let input = if texts.len() == 1 {
        Input::One(texts.remove(0))
    } else {
        Input::Many(texts)
    };
    let body = Request {
        model: req.model.clone(),
        input,
        dimensions: req.dimensions,
    };
    let mut value = serde_json::to_value(&body)
        .map_err(|e| TranslateError::untranslatable(".", "Ollama", e.to_string()))?;
    if let (Value::Object(obj), Some(params)) =
        (&mut value, req.extensions.for_key(Family::Ollama.as_str()))
    {
        for (k, v) in params {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Ok(json::encode(&value))
}

/// Reads an upstream `/api/embed` answer.
pub fn decode_response(body: &[u8]) -> Result<EmbeddingsResponse, TranslateError> {
    let wire: Response = json::decode_upstream("embeddings response", body)?;
    Ok(EmbeddingsResponse {
        model: wire.model,
        vectors: wire.embeddings,
        input_tokens: wire.prompt_eval_count,
    })
}

/// Writes an `/api/embed` answer; `model` names it for the caller.
pub fn encode_response(resp: &EmbeddingsResponse, model: &str) -> Vec<u8> {
    json::encode(&Response {
        model: model.to_owned(),
        embeddings: resp.vectors.clone(),
        prompt_eval_count: resp.input_tokens,
    })
}
