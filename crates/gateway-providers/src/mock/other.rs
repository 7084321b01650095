//! Mock embeddings, model lists and token counts.

use gateway_protocol::{
    ApiShape, CountTokensResponse, EmbeddingInput, EmbeddingsResponse, GatewayError, ModelInfo,
    ModelList,
};
use gateway_translate::{codec, estimate, gemini, ollama, openai_embeddings};

use super::{MockAnswer, fnv};

/// Dimensions of a mock embedding (unless the request asks for others).
const DIMENSIONS: usize = 8;

/// The models the mock lists.
const MODELS: [&str; 5] = ["mock", "mock-echo", "mock-text", "mock-tools", "mock-agent"];

/// Answers an embeddings request in `shape` (OpenAI `/embeddings`, Gemini
/// `batchEmbedContents`, Ollama `/api/embed`) with vectors derived from a hash of
/// each input. `model` is used when the body has none (Gemini).
pub fn embeddings(shape: ApiShape, model: &str, body: &[u8]) -> MockAnswer {
    let decoded = match shape {
        ApiShape::OpenAiChat | ApiShape::OpenAiResponses => {
            openai_embeddings::request::decode(body)
        }
        ApiShape::Gemini => gemini::embeddings::decode_batch_request(body),
        ApiShape::Ollama => ollama::embeddings::decode_request(body),
        ApiShape::Anthropic | ApiShape::Bedrock | ApiShape::Cohere => {
            return MockAnswer::Fail(unsupported(shape, "embeddings"));
        }
    };
    let mut req = match decoded {
        Ok(req) => req,
        Err(err) => return MockAnswer::Fail(err.into()),
    };
    if req.model.is_empty() {
        req.model = model.to_owned();
    }
    let dims = req
        .dimensions
        .map_or(DIMENSIONS, |d| (d as usize).clamp(1, 4096));
    let mut input_tokens = 0u64;
    let vectors = req
        .inputs
        .iter()
        .map(|input| {
            let bytes = match input {
                EmbeddingInput::Text(t) => t.as_bytes().to_vec(),
                EmbeddingInput::Tokens(t) => t.iter().flat_map(|x| x.to_le_bytes()).collect(),
            };
            input_tokens += (bytes.len() as u64).div_ceil(4).max(1);
            vector_of(&bytes, dims)
        })
        .collect();
    let resp = EmbeddingsResponse {
        model: req.model.clone(),
        vectors,
        input_tokens: Some(input_tokens),
    };
    MockAnswer::Whole(match shape {
        ApiShape::Gemini => gemini::embeddings::encode_batch_response(&resp),
        ApiShape::Ollama => ollama::embeddings::encode_response(&resp, &req.model),
        _ => openai_embeddings::response::encode(&resp, req.encoding_format),
    })
}

/// A deterministic unit vector of `dims` floats for `bytes`.
fn vector_of(bytes: &[u8], dims: usize) -> Vec<f32> {
    let raw: Vec<f32> = (0..dims as u64)
        .map(|i| {
            ((fnv(bytes, i.wrapping_mul(0x9e37_79b9)) >> 40) as f32 / (1u64 << 24) as f32) * 2.0
                - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        raw.iter().map(|x| x / norm).collect()
    } else {
        raw
    }
}

/// The mock's model list in `shape`.
pub fn models(shape: ApiShape) -> Vec<u8> {
    let list = ModelList {
        models: MODELS
            .iter()
            .map(|id| ModelInfo {
                id: (*id).to_owned(),
                display_name: Some(format!("Patchbay {id}")),
                created: Some(1_767_225_600),
                owned_by: Some("patchbay".to_owned()),
                context_window: Some(128_000),
                max_output_tokens: Some(8_192),
                ..ModelInfo::default()
            })
            .collect(),
    };
    codec::encode_model_list(shape, &list)
}

/// Answers a token-count request (Anthropic `count_tokens`, Gemini `countTokens`,
/// OpenAI Responses `input_tokens`) with the local estimate.
pub fn count_tokens(shape: ApiShape, body: &[u8]) -> MockAnswer {
    if matches!(shape, ApiShape::OpenAiChat | ApiShape::Ollama) {
        return MockAnswer::Fail(unsupported(shape, "token counting"));
    }
    let result = codec::decode_count_tokens_request(shape, body).map(|req| {
        let count = CountTokensResponse {
            input_tokens: estimate::input_tokens(&req),
        };
        codec::encode_count_tokens_response(shape, &count)
    });
    match result {
        Ok(body) => MockAnswer::Whole(body),
        Err(err) => MockAnswer::Fail(err.into()),
    }
}

fn unsupported(shape: ApiShape, what: &str) -> GatewayError {
    GatewayError::new(
        gateway_protocol::ErrorKind::NotFound,
        format!("the {shape} API has no {what} endpoint; use a shape that has one"),
    )
}
