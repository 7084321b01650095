//! OpenAI Chat Completions (`POST /v1/chat/completions`, PROTOCOLS §2), both as the
//! caller's shape and as an upstream's, plus the OpenAI model list (§4.2).
//!
//! Chat-specific rules live here: `stream_options.include_usage` both ways (§9.11),
//! tool-call deltas keyed by `index`, tool messages as tool results of a user turn
//! (§8.2), non-standard `reasoning_content` read but never shown to callers (§8.9),
//! and tool names over OpenAI's 64-character limit shortened and restored (§9.8).

pub mod error;
pub mod models;
pub mod request;
mod request_encode;
mod request_scan;
mod request_view;
pub mod response;
pub mod stream;
mod stream_encode;
mod stream_scan;
pub(crate) use stream_scan::usage_text;
mod stream_view;
pub mod wire;
