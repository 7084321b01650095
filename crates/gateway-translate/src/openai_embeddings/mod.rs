//! OpenAI Embeddings (`POST /v1/embeddings`, PROTOCOLS §4.1), as the caller's shape and
//! as an upstream's. Vectors travel as JSON floats or, when asked, as base64 of
//! little-endian float32 bytes (the OpenAI SDK's default).

pub mod error;
pub mod request;
mod request_encode;
pub mod response;
pub mod wire;
