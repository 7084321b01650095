//! A cached answer as bytes, for the Redis backend: a serde form of the canonical
//! answer (the canonical model has no serde on purpose, it is a library's plain
//! data), written and read only here. The memory backend keeps the answer itself.
//!
//! Only the parts an answer carries are written (text, tool calls, reasoning);
//! an answer holding another kind is not cached.

use gateway_protocol::{ChatResponse, Family, Part, Reasoning, StopReason, ToolCall, Usage};
use serde::{Deserialize, Serialize};

use super::Stored;

#[derive(Serialize, Deserialize)]
struct Wire {
    provider: String,
    model: String,
    id: String,
    answered_by: String,
    created: Option<u64>,
    parts: Vec<WirePart>,
    stop: String,
    stop_sequence: Option<String>,
    usage: [u64; 5],
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum WirePart {
    Text {
        text: String,
    },
    ToolCall {
        id: String,
        name: String,
        arguments: String,
        signature: Option<String>,
    },
    Reasoning {
        text: String,
        signature: Option<String>,
        redacted: Option<String>,
        id: Option<String>,
        source: Option<String>,
    },
}

const STOPS: [(StopReason, &str); 8] = [
    (StopReason::EndTurn, "end_turn"),
    (StopReason::StopSequence, "stop_sequence"),
    (StopReason::MaxTokens, "max_tokens"),
    (StopReason::ToolUse, "tool_use"),
    (StopReason::ContentFilter, "content_filter"),
    (StopReason::PauseTurn, "pause_turn"),
    (StopReason::ContextExceeded, "context_exceeded"),
    (StopReason::Other, "other"),
];

const FAMILIES: [Family; 4] = [
    Family::OpenAi,
    Family::Anthropic,
    Family::Gemini,
    Family::Ollama,
];

/// `stored` as bytes; `None` when the answer holds a part that is not cached.
pub(crate) fn encode(stored: &Stored) -> Option<Vec<u8>> {
    let r = &stored.response;
    let mut parts = Vec::with_capacity(r.parts.len());
    for part in &r.parts {
        parts.push(match part {
            // Prompt-cache hints belong to requests; an answer's are not kept.
            Part::Text { text, .. } => WirePart::Text { text: text.clone() },
            Part::ToolCall(c) => WirePart::ToolCall {
                id: c.id.clone(),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
                signature: c.signature.clone(),
            },
            Part::Reasoning(x) => WirePart::Reasoning {
                text: x.text.clone(),
                signature: x.signature.clone(),
                redacted: x.redacted.clone(),
                id: x.id.clone(),
                source: x.source.map(|f| f.as_str().to_owned()),
            },
            Part::Image(_) | Part::Document(_) | Part::ToolResult(_) => return None,
        });
    }
    let stop = STOPS.iter().find(|(s, _)| *s == r.stop_reason)?.1;
    let u = &r.usage;
    let wire = Wire {
        provider: stored.provider.clone(),
        model: stored.model.clone(),
        id: r.id.clone(),
        answered_by: r.model.clone(),
        created: r.created,
        parts,
        stop: stop.to_owned(),
        stop_sequence: r.stop_sequence.clone(),
        usage: [
            u.input_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
            u.output_tokens,
            u.reasoning_tokens,
        ],
    };
    serde_json::to_vec(&wire).ok()
}

/// The answer `bytes` hold; `None` when they are not one of ours (another build's,
/// another program's): a miss.
pub(crate) fn decode(bytes: &[u8]) -> Option<Stored> {
    let w: Wire = serde_json::from_slice(bytes).ok()?;
    let stop_reason = STOPS.iter().find(|(_, s)| *s == w.stop)?.0;
    let mut parts = Vec::with_capacity(w.parts.len());
    for p in w.parts {
        parts.push(match p {
            WirePart::Text { text } => Part::text(text),
            WirePart::ToolCall {
                id,
                name,
                arguments,
                signature,
            } => Part::ToolCall(ToolCall {
                id,
                name,
                arguments,
                signature,
            }),
            WirePart::Reasoning {
                text,
                signature,
                redacted,
                id,
                source,
            } => Part::Reasoning(Reasoning {
                text,
                signature,
                redacted,
                id,
                source: match source {
                    Some(s) => Some(*FAMILIES.iter().find(|f| f.as_str() == s)?),
                    None => None,
                },
            }),
        });
    }
    let [input, read, write, output, reasoning] = w.usage;
    Some(Stored {
        provider: w.provider,
        model: w.model,
        response: ChatResponse {
            id: w.id,
            model: w.answered_by,
            created: w.created,
            parts,
            stop_reason,
            stop_sequence: w.stop_sequence,
            usage: Usage {
                input_tokens: input,
                cache_read_tokens: read,
                cache_write_tokens: write,
                output_tokens: output,
                reasoning_tokens: reasoning,
            },
        },
    })
}

#[cfg(test)]
mod tests {
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
                        source: Some(Family::Anthropic),
                        ..Reasoning::default()
                    }),
                    Part::text("hello"),
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
    }
}
