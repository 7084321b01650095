//! The canonical model every API shape maps into and out of.
//!
//! `gateway-protocol` is plain data: chat requests and responses made of typed parts,
//! the stream events a response is made of, usage, embeddings, model lists and the
//! client-facing [`GatewayError`]. It has no I/O and no runtime; codecs in
//! `gateway-translate` turn each wire shape into these types and back. [`calendar`] is
//! the one copy of the UTC date arithmetic the other crates share (timestamps, HTTP
//! dates, quota windows).

pub mod calendar;
pub mod chat;
pub mod embeddings;
pub mod error;
pub mod extensions;
pub mod models;
pub mod raw;
pub mod shape;
pub mod stream;
pub mod usage;

pub use chat::{
    ChatRequest, ChatResponse, CountTokensResponse, Document, Effort, Image, MediaSource, Message,
    Part, Reasoning, ReasoningConfig, ResponseFormat, Role, Sampling, StopReason, Tool, ToolCall,
    ToolChoice, ToolResult,
};
pub use embeddings::{EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse, EncodingFormat};
pub use error::{Blame, ErrorKind, GatewayError};
pub use extensions::{BindingField, Extensions};
pub use models::{Capabilities, ModelInfo, ModelList};
pub use raw::RawJson;
pub use shape::{ApiShape, Family};
pub use stream::{Delta, PartStart, StreamEvent};
pub use usage::Usage;
