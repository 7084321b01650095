//! Google Gemini Developer API (`v1beta`): `generateContent`, `streamGenerateContent`
//! (SSE with CRLF, or one streamed JSON array), `countTokens`, `embedContent` /
//! `batchEmbedContents` and the models list (PROTOCOLS §6).
//!
//! The model and the stream flag are part of the URL, not of the body: decoders leave
//! them for the server to fill in and encoders do not write them. Inbound bodies are
//! parsed leniently (camelCase or snake_case fields, enum names or integers), as
//! Google's own proto3 JSON parser does.

pub(crate) mod convert;
mod request_encode;
mod request_write;

pub mod count_tokens;
pub mod embeddings;
pub mod error;
pub mod models;
pub mod request;
pub mod response;
pub mod stream;
mod stream_encode;
mod stream_scan;
mod stream_view;
pub mod wire;
pub mod wire_response;

/// A media URL Gemini reads by reference (Files API, YouTube); any other URL must be
/// fetched and sent inline.
pub fn takes_by_reference(url: &str) -> bool {
    convert::is_files_api_uri(url) || convert::is_youtube_uri(url)
}
