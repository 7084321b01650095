//! Amazon Bedrock's Converse API: `/model/{modelId}/converse` and `converse-stream`,
//! whose stream is AWS's binary event stream ([`crate::framing::eventstream`]).
//!
//! Bedrock is an upstream shape: the gateway encodes requests for it and decodes its
//! answers, streams and errors. The other directions (decode a Converse request,
//! encode an answer, a stream, an error) exist for the Bedrock-shaped mock upstream
//! and the round-trip tests. Converse names neither the model nor the stream choice
//! in the body (both are in the URL) and has no response ids: decoders leave the id
//! empty and report `ResponseContext::model`. Claude through `InvokeModel` speaks
//! Anthropic's own shape; only its stream's wrapping is Bedrock's ([`invoke`]).

pub mod error;
pub mod invoke;
pub mod request;
mod request_encode;
pub mod response;
pub mod stream;
mod stream_encode;
pub mod wire;

mod convert;
