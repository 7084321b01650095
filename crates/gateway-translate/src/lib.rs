//! Pure codecs between LLM API shapes and the canonical model of `gateway-protocol`.
//!
//! Every shape is a module with the same layout — `wire` (typed wire structs),
//! `request`, `response`, `stream` (a stateful decoder and encoder) and `error` — and
//! all translation goes through the canonical model (hub and spoke), never pairwise.
//! Framing (SSE, JSON array, NDJSON) is separate, in [`framing`]; the same-shape fast
//! path that edits bytes without decoding is in [`fastpath`].
//!
//! No I/O, no async runtime: the crate can be embedded anywhere.

pub mod assemble;
mod caller_ext;
pub mod codec;
pub mod context;
pub mod error;
pub mod estimate;
pub mod fastpath;
pub mod framing;
pub mod fuzzing;
pub mod ids;
pub mod json;
pub mod media;
pub mod names;
pub mod time;
pub mod turns;
pub mod usage_tap;

pub mod anthropic;
pub mod gemini;
pub mod ollama;
pub mod openai_chat;
pub mod openai_embeddings;
pub mod openai_responses;

pub use context::{EncodeOptions, ResponseContext};
pub use error::TranslateError;
pub use framing::{Frame, Framer, Framing};
