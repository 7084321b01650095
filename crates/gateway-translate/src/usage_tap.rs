//! Reading usage on the side of the same-shape fast path, where bodies and streams
//! pass through as bytes: only the usage members are parsed, and stream frames are
//! skipped unless they can carry usage.

use gateway_protocol::{ApiShape, Usage};
use memchr::memmem;
use serde::Deserialize;

use crate::framing::Frame;
use crate::{anthropic, bedrock, cohere, gemini, ollama, openai_chat, openai_responses};

#[derive(Deserialize)]
struct WithUsage<U> {
    #[serde(default = "Option::default")]
    usage: Option<U>,
}

#[derive(Deserialize)]
struct WithResponse<U> {
    response: WithUsage<U>,
}

#[derive(Deserialize)]
struct WithMessage<U> {
    message: WithUsage<U>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WithUsageMetadata {
    #[serde(default)]
    usage_metadata: Option<gemini::wire_response::UsageMetadata>,
}

#[derive(Deserialize)]
struct OllamaCounts {
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    eval_count: Option<u64>,
    #[serde(default)]
    done: bool,
}

/// The usage of a whole (non-streamed) response of `shape`, if it reports one.
///
/// Only the top-level usage member is parsed: finding it (a search from the end,
/// where providers put it) costs a fraction of reading every string of the answer.
pub fn response_usage(shape: ApiShape, body: &[u8]) -> Option<Usage> {
    match shape {
        // The strict scanner reads the usual object at a fifth of serde's cost; serde
        // decides what it leaves (`null`, repeated fields, escaped keys, floats).
        ApiShape::OpenAiChat => {
            let raw = crate::fastpath::get_member(body, "usage").ok()??;
            let usage = match std::str::from_utf8(raw)
                .ok()
                .and_then(openai_chat::usage_text)
            {
                Some(usage) => usage,
                None => serde_json::from_slice::<Option<openai_chat::wire::Usage>>(raw).ok()??,
            };
            Some(openai_chat::response::usage_from(&usage))
        }
        ApiShape::OpenAiResponses => member::<openai_responses::wire::Usage>(body, "usage")
            .map(openai_responses::response::usage_from_wire),
        ApiShape::Anthropic => member::<anthropic::wire::Usage>(body, "usage")
            .map(|u| anthropic::response::usage_from_wire(&u)),
        ApiShape::Gemini => member::<gemini::wire_response::UsageMetadata>(body, "usageMetadata")
            .map(|u| gemini::convert::usage_from_wire(&u)),
        ApiShape::Ollama => {
            let c = serde_json::from_slice::<OllamaCounts>(body).ok()?;
            Some(ollama::response::usage(c.prompt_eval_count, c.eval_count))
        }
        ApiShape::Bedrock => {
            member::<bedrock::wire::Usage>(body, "usage").map(|u| bedrock::response::usage(&u))
        }
        ApiShape::Cohere => {
            member::<cohere::wire::Usage>(body, "usage").map(|u| cohere::response::usage(&u))
        }
    }
}

/// The top-level member `key` of the JSON object `body`, parsed as `U`; `None` when
/// absent, `null`, or not a `U`.
fn member<'a, U: Deserialize<'a>>(body: &'a [u8], key: &str) -> Option<U> {
    let raw = crate::fastpath::get_member(body, key).ok()??;
    serde_json::from_slice::<Option<U>>(raw).ok()?
}

/// Watches the frames of a `shape` stream and keeps the latest usage totals.
#[derive(Debug)]
pub struct UsageTap {
    shape: ApiShape,
    /// Anthropic spreads usage over `message_start` and `message_delta`.
    anthropic: anthropic::wire::Usage,
    usage: Option<Usage>,
}

impl UsageTap {
    /// A tap for a stream of `shape`.
    pub fn new(shape: ApiShape) -> Self {
        UsageTap {
            shape,
            anthropic: anthropic::wire::Usage::default(),
            usage: None,
        }
    }

    /// Looks at one frame.
    pub fn observe(&mut self, frame: &Frame) {
        let data = frame.data.as_bytes();
        match self.shape {
            ApiShape::OpenAiChat => {
                // Most chunks say `"usage": null`: find the member without building
                // the chunk, and read only a real usage object.
                if memmem::find(data, b"\"usage\"").is_some() {
                    let raw = crate::fastpath::get_member(data, "usage").ok().flatten();
                    if let Some(raw) = raw.filter(|r| r.first() == Some(&b'{')) {
                        if let Ok(u) = serde_json::from_slice::<openai_chat::wire::Usage>(raw) {
                            self.usage = Some(openai_chat::response::usage_from(&u));
                        }
                    }
                }
            }
            ApiShape::OpenAiResponses => {
                let terminal = matches!(
                    frame.event.as_deref(),
                    Some("response.completed" | "response.incomplete" | "response.failed")
                );
                if terminal {
                    if let Ok(WithResponse {
                        response: WithUsage { usage: Some(u) },
                    }) =
                        serde_json::from_slice::<WithResponse<openai_responses::wire::Usage>>(data)
                    {
                        self.usage = Some(openai_responses::response::usage_from_wire(u));
                    }
                }
            }
            ApiShape::Anthropic => {
                let part = match frame.event.as_deref() {
                    Some("message_start") => {
                        serde_json::from_slice::<WithMessage<anthropic::wire::Usage>>(data)
                            .ok()
                            .and_then(|m| m.message.usage)
                    }
                    Some("message_delta") => {
                        serde_json::from_slice::<WithUsage<anthropic::wire::Usage>>(data)
                            .ok()
                            .and_then(|m| m.usage)
                    }
                    _ => None,
                };
                if let Some(u) = part {
                    let m = &mut self.anthropic;
                    m.input_tokens = u.input_tokens.or(m.input_tokens);
                    m.cache_creation_input_tokens = u
                        .cache_creation_input_tokens
                        .or(m.cache_creation_input_tokens);
                    m.cache_read_input_tokens =
                        u.cache_read_input_tokens.or(m.cache_read_input_tokens);
                    m.output_tokens = u.output_tokens.or(m.output_tokens);
                    m.output_tokens_details =
                        u.output_tokens_details.or(m.output_tokens_details.take());
                    self.usage = Some(anthropic::response::usage_from_wire(m));
                }
            }
            ApiShape::Gemini => {
                if memmem::find(data, b"usageMetadata").is_some() {
                    if let Ok(WithUsageMetadata {
                        usage_metadata: Some(u),
                    }) = serde_json::from_slice(data)
                    {
                        self.usage = Some(gemini::convert::usage_from_wire(&u));
                    }
                }
            }
            ApiShape::Ollama => {
                if memmem::find(data, b"eval_count").is_some() {
                    if let Ok(c) = serde_json::from_slice::<OllamaCounts>(data) {
                        if c.done {
                            self.usage =
                                Some(ollama::response::usage(c.prompt_eval_count, c.eval_count));
                        }
                    }
                }
            }
            ApiShape::Bedrock => {
                if frame.event.as_deref() == Some("metadata") {
                    if let Ok(bedrock::wire::Metadata { usage: Some(u), .. }) =
                        serde_json::from_slice(data)
                    {
                        self.usage = Some(bedrock::response::usage(&u));
                    }
                }
            }
            ApiShape::Cohere => {
                if memmem::find(data, b"\"message-end\"").is_some() {
                    if let Ok(cohere::wire::MessageEnd {
                        delta: Some(cohere::wire::MessageEndDelta { usage: Some(u), .. }),
                        ..
                    }) = serde_json::from_slice(data)
                    {
                        self.usage = Some(cohere::response::usage(&u));
                    }
                }
            }
        }
    }

    /// The latest totals seen, if any.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_top_level_usage_member_counts() {
        // A nested "usage" (inside a tool's arguments, in text) comes first.
        let body = br#"{"id":"x","choices":[{"message":{"content":"{\"usage\":{\"prompt_tokens\":999}}","tool_calls":[{"function":{"arguments":"{}"}}],"usage":{"prompt_tokens":7}}}],"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14},"system_fingerprint":"fp"}"#;
        let usage = response_usage(ApiShape::OpenAiChat, body).unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (11, 3));
    }

    /// The usage scanner answers as serde does, or leaves the object to it.
    #[test]
    fn the_chat_usage_scanner_reads_as_serde_or_not_at_all() {
        let objects = [
            r#"{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14}"#,
            r#" { "prompt_tokens" : 0 , "completion_tokens":18446744073709551615 } "#,
            r#"{"prompt_tokens":5,"prompt_tokens_details":{"cached_tokens":2,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":7,"accepted_prediction_tokens":0}}"#,
            r#"{"prompt_tokens_details":null,"completion_tokens_details":{"reasoning_tokens":null}}"#,
            r#"{"prompt_tokens_details":{"cache_write_tokens":4,"cached_tokens":null}}"#,
            r#"{"extra":{"nested":[1,"two",{"x":null}]},"total_tokens":9}"#,
            r#"{}"#,
            r#"null"#,
            r#"{"prompt_tokens":1,"prompt_tokens":2}"#,
            r#"{"prompt_tokens_details":{"cached_tokens":1,"cached_tokens":1}}"#,
            r#"{"prompt_tokens":null}"#,
            r#"{"prompt_tokens":1.5}"#,
            r#"{"prompt_tokens":-1}"#,
            r#"{"prompt_tokens":"7"}"#,
            r#"{"prompt\u005ftokens":7}"#,
            r#"{"cost":0.25,"prompt_tokens":3}"#,
            r#"{"prompt_tokens":3} trailing"#,
            r#"{"prompt_tokens":3"#,
            r#"{"completion_tokens_details":{"reasoning_tokens":99999999999999999999}}"#,
        ];
        for text in objects {
            let serde = serde_json::from_str::<Option<openai_chat::wire::Usage>>(text)
                .ok()
                .flatten();
            // What the scanner leaves to serde has nothing to compare.
            if let Some(scanned) = openai_chat::usage_text(text) {
                let serde = serde.unwrap_or_else(|| panic!("serde refuses {text}"));
                assert_eq!(
                    serde_json::to_string(&scanned).unwrap(),
                    serde_json::to_string(&serde).unwrap(),
                    "{text}"
                );
            }
        }
        // The common shapes are read by the scanner, not handed on.
        assert!(openai_chat::usage_text(objects[0]).is_some());
        assert!(openai_chat::usage_text(objects[2]).is_some());
    }

    #[test]
    fn no_null_or_malformed_usage_reads_as_none() {
        for body in [
            &br#"{"id":"x","choices":[]}"#[..],
            br#"{"id":"x","usage":null}"#,
            br#"{"id":"x","usage":{"prompt_tokens":"many"}}"#,
            br#"not json"#,
        ] {
            assert_eq!(response_usage(ApiShape::OpenAiChat, body), None);
        }
        let gemini =
            br#"{"candidates":[],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2}}"#;
        let usage = response_usage(ApiShape::Gemini, gemini).unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (5, 2));
    }
}
