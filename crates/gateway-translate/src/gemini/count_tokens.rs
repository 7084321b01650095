//! Gemini `countTokens`: `{"contents": …}` or `{"generateContentRequest": …}` ↔
//! [`ChatRequest`], and `{"totalTokens": N}` ↔ [`CountTokensResponse`].

use gateway_protocol::{ChatRequest, CountTokensResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::wire;
use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::json;

/// The countTokens request body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCountRequest {
    #[serde(default)]
    contents: Option<Vec<wire::Content>>,
    #[serde(default, alias = "generate_content_request")]
    generate_content_request: Option<wire::Request>,
}

/// The countTokens response body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCountResponse {
    #[serde(default, alias = "total_tokens")]
    total_tokens: u64,
    #[serde(
        default,
        alias = "cached_content_token_count",
        skip_serializing_if = "Option::is_none"
    )]
    cached_content_token_count: Option<u64>,
}

/// Decodes a caller's countTokens body. `model` stays empty (it is in the URL).
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let wire: WireCountRequest = json::decode_request(body)?;
    match (wire.generate_content_request, wire.contents) {
        (Some(inner), _) => super::request::from_wire(inner),
        (None, Some(contents)) => super::request::from_wire(wire::Request {
            contents,
            ..Default::default()
        }),
        (None, None) => Err(TranslateError::invalid(
            "contents",
            "countTokens needs `contents` or `generateContentRequest`",
        )),
    }
}

/// Encodes a countTokens body for a Gemini upstream: always the
/// `generateContentRequest` form, which (unlike bare `contents`) carries the system
/// instruction and tools. `model` is the upstream model id (without `models/`).
pub fn encode_request(
    req: &ChatRequest,
    model: &str,
    opts: &EncodeOptions,
) -> Result<Vec<u8>, TranslateError> {
    let inner = super::request::encode(req, opts)?;
    let mut inner: Value =
        serde_json::from_slice(&inner).unwrap_or_else(|_| Value::Object(Map::new()));
    if let Value::Object(map) = &mut inner {
        let name = if model.starts_with("models/") || model.starts_with("tunedModels/") {
            model.to_owned()
        } else {
            format!("models/{model}")
        };
        map.insert("model".into(), Value::String(name));
    }
    Ok(json::encode(
        &serde_json::json!({ "generateContentRequest": inner }),
    ))
}

/// Decodes an upstream `{"totalTokens": N}`.
pub fn decode_response(body: &[u8]) -> Result<CountTokensResponse, TranslateError> {
    let wire: WireCountResponse = json::decode_upstream("count_tokens response", body)?;
    Ok(CountTokensResponse {
        input_tokens: wire.total_tokens,
    })
}

/// Encodes `{"totalTokens": N}` for a Gemini caller.
pub fn encode_response(resp: &CountTokensResponse) -> Vec<u8> {
    json::encode(&WireCountResponse {
        total_tokens: resp.input_tokens,
        cached_content_token_count: None,
    })
}
