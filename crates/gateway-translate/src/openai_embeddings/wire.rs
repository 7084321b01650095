//! OpenAI Embeddings wire types, with the vendor's exact field names.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1/embeddings` body. `input` stays raw JSON: its four forms are told apart
/// by the request codec, which names the failing element's path.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Request {
    /// The model name.
    pub model: String,
    /// `string | string[] | int[] | int[][]`.
    pub input: Value,
    /// Output dimensionality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// `float` or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    /// End-user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The response body.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Response {
    /// `list`.
    #[serde(default)]
    pub object: String,
    /// One embedding per input.
    #[serde(default)]
    pub data: Vec<Embedding>,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// One embedding.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Embedding {
    /// `embedding`.
    #[serde(default)]
    pub object: String,
    /// Position of the input it embeds.
    pub index: usize,
    /// A list of floats, or base64 of little-endian float32 bytes.
    pub embedding: Vector,
}

/// An embedding vector in either encoding.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Vector {
    /// JSON numbers.
    Float(Vec<f32>),
    /// Standard padded base64 of little-endian float32 bytes.
    Base64(String),
}

impl Default for Vector {
    fn default() -> Self {
        Vector::Float(Vec::new())
    }
}

/// Embeddings usage.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Usage {
    /// Input tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Same as `prompt_tokens`.
    #[serde(default)]
    pub total_tokens: u64,
}
