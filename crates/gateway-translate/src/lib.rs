//! Pure codecs between LLM API shapes and the canonical model of `gateway-protocol`.
//!
//! All translation goes through the canonical model (hub and spoke), never pairwise.
//! Every shape is a module with the same inner layout: the same job has the same file
//! name in every shape, and a file exists only where the shape has that job.
//!
//! | file | job |
//! |---|---|
//! | `wire.rs` | typed serde structs of the wire format, with the vendor's field names (Gemini keeps its response types in `wire_response.rs`) |
//! | `request.rs` | request decode, caller body → `ChatRequest` (the reference decoder, errors with field paths); re-exports `encode` |
//! | `request_view.rs` | borrowed views of request bodies: the fast decode path, no owned wire structs; what it does not cover goes to `request.rs`, so results and errors are the same |
//! | `request_encode.rs` | request encode, `ChatRequest` → upstream body |
//! | `response.rs` | response decode (upstream body → `ChatResponse`) and encode (→ caller body), and the pieces the stream codecs share (stop reasons, usage, ids) |
//! | `stream.rs` | the stream `Decoder`, frames → `StreamEvent`s; re-exports `Encoder` |
//! | `stream_scan.rs` | the common stream frames read by hand (a strict `json_text::Scan` that gives up when unsure), recording the values that change from frame to frame for the decoder's `json_text::Template`; what it leaves goes to `stream_view.rs` |
//! | `stream_view.rs` | borrowed views of stream frames: the decoder's serde path, same fallback rule as `request_view.rs` |
//! | `stream_encode.rs` | the stream `Encoder`, `StreamEvent`s → the exact bytes a caller reads |
//! | `error.rs` | `GatewayError` → status and envelope; an upstream's error answer → `GatewayError` |
//! | `models.rs`, `count_tokens.rs`, `embeddings.rs` | the other operations, where the shape has them |
//! | `convert.rs` | conversions several codecs of the shape share (parts, usage, arguments) |
//! | `messages.rs` | the conversation ↔ canonical messages, both directions |
//! | `paths.rs` | (Responses) path-aware decoding of nested values |
//!
//! Framing (SSE, JSON array, NDJSON) is separate, in [`framing`]; the same-shape fast
//! path that edits bytes without decoding is in [`fastpath`]; `borrow` holds the
//! borrowed strings and value checkers the views share, `json_text` the hand-written
//! JSON reading and writing of the stream codecs' hot paths. [`codec`] dispatches every
//! operation on an [`ApiShape`](gateway_protocol::ApiShape).
//!
//! No I/O, no async runtime: the crate can be embedded anywhere.

pub mod assemble;
mod borrow;
mod caller_ext;
mod canonical_json;
pub mod codec;
pub mod context;
pub mod error;
pub mod estimate;
pub mod fastpath;
pub mod framing;
pub mod fuzzing;
pub mod ids;
pub mod json;
mod json_text;
mod json_writer;
pub mod media;
pub mod names;
pub(crate) mod open_part;
pub mod stored;
pub mod stream_tap;
mod swar;
#[cfg(test)]
mod test_parts;
pub mod time;
pub mod turns;
pub mod usage_tap;

pub mod anthropic;
pub mod bedrock;
pub mod cohere;
pub mod gemini;
pub mod ollama;
pub mod openai_chat;
pub mod openai_embeddings;
pub mod openai_responses;

pub use context::{EncodeOptions, ResponseContext};
pub use error::TranslateError;
pub use framing::{Frame, FrameRef, Framer, Framing};
