//! Embedding requests and responses.

use crate::extensions::Extensions;

/// One input to embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbeddingInput {
    /// Text.
    Text(String),
    /// Pre-tokenised input (OpenAI accepts token arrays).
    Tokens(Vec<u32>),
}

/// How vectors are sent back to an OpenAI caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EncodingFormat {
    /// JSON arrays of numbers.
    #[default]
    Float,
    /// Little-endian float32 bytes, base64 (the OpenAI SDK's default).
    Base64,
}

/// An embeddings request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbeddingsRequest {
    /// The model name.
    pub model: String,
    /// Inputs, in order; the response keeps that order.
    pub inputs: Vec<EmbeddingInput>,
    /// Requested output dimensionality.
    pub dimensions: Option<u32>,
    /// How the caller wants vectors encoded.
    pub encoding_format: EncodingFormat,
    /// Gemini task type (`RETRIEVAL_QUERY`, ...).
    pub task_type: Option<String>,
    /// Gemini document title.
    pub title: Option<String>,
    /// End-user id.
    pub user: Option<String>,
    /// Provider-specific parameters.
    pub extensions: Extensions,
}

/// An embeddings response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbeddingsResponse {
    /// The model that answered.
    pub model: String,
    /// One vector per input, in input order.
    pub vectors: Vec<Vec<f32>>,
    /// Input tokens, when the provider reports them (Gemini does not).
    pub input_tokens: Option<u64>,
}
