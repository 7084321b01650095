//! OpenAI Responses (`POST /v1/responses`): request, response, stream and error codecs,
//! and the `POST /v1/responses/input_tokens` answer.
//!
//! Responses is item-based: `input` and `output` are lists of message, `function_call`,
//! `function_call_output` and `reasoning` items. Canonically, a run of model-side items
//! (reasoning, assistant message, function calls) is one assistant message, and a run
//! of `function_call_output` items is one user message of tool results. Server-side
//! state (`previous_response_id`, `conversation`, `background`) and hosted tools bind
//! a request to OpenAI (PROTOCOLS §3, §8.16, §9.22).

pub mod count_tokens;
pub mod error;
mod messages;
mod paths;
pub mod request;
mod request_encode;
mod request_scan;
mod request_view;
pub mod response;
pub mod stream;
mod stream_encode;
mod stream_scan;
mod stream_view;
pub mod wire;
