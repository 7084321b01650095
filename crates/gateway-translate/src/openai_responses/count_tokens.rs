//! `POST /v1/responses/input_tokens` answers: `{"object":"response.input_tokens","input_tokens":N}`.

use gateway_protocol::CountTokensResponse;

use super::wire;
use crate::error::TranslateError;
use crate::json;

/// Reads an upstream's token-count answer.
pub fn decode(body: &[u8]) -> Result<CountTokensResponse, TranslateError> {
    let wire: wire::InputTokens = json::decode_upstream("token count", body)?;
    Ok(CountTokensResponse {
        input_tokens: wire.input_tokens,
    })
}

/// Writes the token-count answer for a Responses caller.
pub fn encode(resp: &CountTokensResponse) -> Vec<u8> {
    json::encode(&wire::InputTokens {
        object: "response.input_tokens".to_owned(),
        input_tokens: resp.input_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let body = br#"{"object":"response.input_tokens","input_tokens":42}"#;
        let resp = decode(body).expect("decodes");
        assert_eq!(resp.input_tokens, 42);
        assert_eq!(encode(&resp), body.to_vec());
        assert!(decode(b"{}").is_err());
    }
}
