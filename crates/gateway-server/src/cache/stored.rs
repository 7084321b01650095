//! A cached answer as bytes, for the Redis backend: the provider and model that
//! answered beside the answer in `gateway_translate::stored`'s lossless form (the
//! one Responses state keeps conversations in), so every part an answer can hold
//! reads back as it was. The memory backend keeps the answer itself.

use gateway_translate::stored::{decode_response, encode_response};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::Stored;

#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    provider: String,
    model: String,
    #[serde(borrow)]
    response: &'a RawValue,
}

/// `stored` as bytes; `None` only if the answer could not be written as JSON.
pub(crate) fn encode(stored: &Stored) -> Option<Vec<u8>> {
    let response = String::from_utf8(encode_response(&stored.response)).ok()?;
    let response = RawValue::from_string(response).ok()?;
    serde_json::to_vec(&Wire {
        provider: stored.provider.clone(),
        model: stored.model.clone(),
        response: &response,
    })
    .ok()
}

/// The answer `bytes` hold; `None` when they are not one of ours (another build's,
/// another program's): a miss.
pub(crate) fn decode(bytes: &[u8]) -> Option<Stored> {
    let w: Wire<'_> = serde_json::from_slice(bytes).ok()?;
    Some(Stored {
        provider: w.provider,
        model: w.model,
        response: decode_response(w.response.get().as_bytes()).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use gateway_protocol::{
        ChatResponse, Family, Image, MediaSource, Part, Reasoning, StopReason, ToolCall, Usage,
    };

    use super::*;

    #[test]
    fn an_answer_reads_back_as_it_was_written() {
        let stored = Stored {
            provider: "anthropic".to_owned(),
            model: "claude-x".to_owned(),
            response: ChatResponse {
                id: "msg_1".to_owned(),
                model: "claude-x-2025".to_owned(),
                created: Some(7),
                parts: vec![
                    Part::Reasoning(Reasoning {
                        text: "think".to_owned(),
                        signature: Some("sig".to_owned()),
                        source: Some(Family::Bedrock),
                        ..Reasoning::default()
                    }),
                    Part::text("hello"),
                    // An image answer is kept too (the form holds every part).
                    Part::Image(Image {
                        source: MediaSource::Base64 {
                            media_type: "image/png".to_owned(),
                            data: "iVBORw0K".to_owned(),
                        },
                        detail: None,
                        cache_control: None,
                    }),
                    Part::ToolCall(ToolCall {
                        id: "c1".to_owned(),
                        name: "get_weather".to_owned(),
                        arguments: r#"{"city":"Oslo"}"#.to_owned(),
                        signature: None,
                    }),
                ],
                stop_reason: StopReason::ToolUse,
                stop_sequence: None,
                usage: Usage {
                    input_tokens: 10,
                    cache_read_tokens: 2,
                    cache_write_tokens: 1,
                    output_tokens: 5,
                    reasoning_tokens: 3,
                },
            },
        };
        let bytes = encode(&stored).unwrap();
        assert_eq!(decode(&bytes).unwrap(), stored);
        assert!(decode(b"{\"other\":1}").is_none());
        // Another build's answer form is a miss, not a wrong answer.
        let old = br#"{"provider":"p","model":"m","response":{"v":0,"parts":[]}}"#;
        assert!(decode(old).is_none());
    }
}
