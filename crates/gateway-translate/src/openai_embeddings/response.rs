//! Embeddings answers: an upstream body → canonical, and canonical → the body a caller
//! receives, as floats or base64 (little-endian float32, standard padded base64).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gateway_protocol::{EmbeddingsResponse, EncodingFormat};

use super::wire;
use crate::error::TranslateError;
use crate::json;

/// Reads an upstream embeddings body; vectors are put in `index` order and may come as
/// float lists or base64 strings.
pub fn decode(body: &[u8]) -> Result<EmbeddingsResponse, TranslateError> {
    let w: wire::Response = json::decode_upstream("embeddings response", body)?;
    let n = w.data.len();
    let mut vectors: Vec<Option<Vec<f32>>> = vec![None; n];
    for e in w.data {
        let slot = vectors.get_mut(e.index).ok_or_else(|| {
            TranslateError::upstream(
                "embeddings response",
                format!(
                    "embedding index {} out of range for {n} embeddings",
                    e.index
                ),
            )
        })?;
        if slot.is_some() {
            return Err(TranslateError::upstream(
                "embeddings response",
                format!("embedding index {} appears twice", e.index),
            ));
        }
        *slot = Some(match e.embedding {
            wire::Vector::Float(v) => v,
            wire::Vector::Base64(s) => unpack(&s)?,
        });
    }
    Ok(EmbeddingsResponse {
        model: w.model,
        vectors: vectors.into_iter().flatten().collect(),
        input_tokens: w.usage.map(|u| u.prompt_tokens),
    })
}

/// Base64 of little-endian float32 bytes → floats.
pub fn unpack(b64: &str) -> Result<Vec<f32>, TranslateError> {
    let bytes = STANDARD.decode(b64).map_err(|e| {
        TranslateError::upstream("embeddings response", format!("bad base64 embedding: {e}"))
    })?;
    if bytes.len() % 4 != 0 {
        return Err(TranslateError::upstream(
            "embeddings response",
            "base64 embedding is not a whole number of float32 values",
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Floats → base64 of little-endian float32 bytes (standard alphabet, padded).
pub fn pack(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
    STANDARD.encode(bytes)
}

/// Writes the body a caller receives, in the encoding its request asked for.
pub fn encode(resp: &EmbeddingsResponse, format: EncodingFormat) -> Vec<u8> {
    let tokens = resp.input_tokens.unwrap_or(0);
    let w = wire::Response {
        object: "list".to_owned(),
        data: resp
            .vectors
            .iter()
            .enumerate()
            .map(|(index, v)| wire::Embedding {
                object: "embedding".to_owned(),
                index,
                embedding: match format {
                    EncodingFormat::Float => wire::Vector::Float(v.clone()),
                    EncodingFormat::Base64 => wire::Vector::Base64(pack(v)),
                },
            })
            .collect(),
        model: resp.model.clone(),
        usage: Some(wire::Usage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        }),
    };
    json::encode(&w)
}
