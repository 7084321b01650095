//! `POST /v1/messages/count_tokens`: the messages body without `max_tokens`, answered
//! with `{"input_tokens": N}` (PROTOCOLS §5.6).

use gateway_protocol::{ChatRequest, CountTokensResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::json;

/// Fields a count_tokens body may carry (the rest of a messages body is refused).
const ALLOWED: [&str; 9] = [
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
    "mcp_servers",
    "context_management",
];

/// `{"input_tokens": N}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Response {
    /// Input tokens the request would use.
    pub input_tokens: u64,
}

/// Decodes a caller's count_tokens body (the messages decoder, `max_tokens` optional).
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    super::request::decode_with(body, false)
}

/// Encodes a count_tokens body for an Anthropic upstream: the messages body restricted
/// to the fields count_tokens accepts.
pub fn encode_request(req: &ChatRequest, opts: &EncodeOptions) -> Result<Vec<u8>, TranslateError> {
    let full = super::request::encode(req, opts)?;
    let mut value: Value = serde_json::from_slice(&full)
        .map_err(|e| TranslateError::upstream("request", e.to_string()))?;
    if let Value::Object(obj) = &mut value {
        obj.retain(|k, _| ALLOWED.contains(&k.as_str()));
    }
    Ok(json::encode(&value))
}

/// Encodes the answer for an Anthropic caller.
pub fn encode_response(resp: &CountTokensResponse) -> Vec<u8> {
    json::encode(&Response {
        input_tokens: resp.input_tokens,
    })
}

/// Decodes an upstream answer.
pub fn decode_response(body: &[u8]) -> Result<CountTokensResponse, TranslateError> {
    let r: Response = json::decode_upstream("count_tokens response", body)?;
    Ok(CountTokensResponse {
        input_tokens: r.input_tokens,
    })
}
