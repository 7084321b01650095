//! Cohere's v2 Chat API: `POST /v2/chat`, whole or streamed as typed SSE events
//! (`message-start`, `content-delta`, `tool-call-start`, `message-end`, ...).
//!
//! Cohere is an upstream shape: the gateway encodes requests for it and decodes its
//! answers, streams and errors. The other directions (decode a `/v2/chat` request,
//! encode an answer, a stream, an error) exist for the Cohere-shaped mock upstream and
//! the round-trip tests. What is Cohere's own: system messages among the turns, tool
//! results as `tool` messages, a `tool_plan` beside the calls (read as text), thinking
//! as content parts with no signature, a tool choice of `REQUIRED` or `NONE` only, and
//! usage in billed units.

pub mod error;
pub mod request;
mod request_encode;
pub mod response;
pub mod stream;
mod stream_encode;
pub mod wire;
