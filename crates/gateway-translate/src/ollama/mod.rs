//! Ollama native API (`/api/chat`, `/api/embed`, `/api/tags`), PROTOCOLS §7.
//!
//! Ollama is both an upstream shape (the gateway encodes requests for it and decodes
//! its answers) and a caller shape: tools that speak Ollama's API send `/api/chat`,
//! `/api/generate` ([`generate`]) and `/api/embed` bodies that are decoded here, and
//! get answers, NDJSON streams and `{"error": …}` envelopes written here.
//!
//! Ollama has no response ids and no tool-call ids in older servers: decoders
//! synthesise call ids with [`crate::ids::synthesize_call_id`] seeded by
//! `ResponseContext::id_seed`, and leave the response id empty so that each caller
//! shape's encoder derives its own (`chatcmpl-…`, `msg_…`).

pub mod embeddings;
pub mod error;
pub mod generate;
pub mod models;
pub mod request;
mod request_encode;
pub mod response;
pub mod stream;
mod stream_encode;
mod stream_scan;
pub mod wire;

mod convert;
mod messages;
