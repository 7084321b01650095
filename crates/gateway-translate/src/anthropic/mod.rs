//! Anthropic Messages (`/v1/messages`, `count_tokens`, `/v1/models`): PROTOCOLS §5.
//!
//! Same layout as every shape (see the crate docs): [`wire`] types, [`request`],
//! [`response`], [`stream`] and [`error`] codecs, plus [`count_tokens`] and [`models`].

pub mod count_tokens;
pub mod error;
pub mod models;
pub mod request;
mod request_encode;
mod request_scan;
mod request_view;
mod request_write;
pub mod response;
pub mod stream;
mod stream_encode;
mod stream_scan;
mod stream_view;
pub mod wire;

pub use request_encode::{CONTINUED, JSON_OBJECT_INSTRUCTION};
