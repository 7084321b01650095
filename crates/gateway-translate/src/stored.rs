//! Stored conversations: canonical system parts and messages ↔ JSON, losslessly.
//!
//! The gateway keeps Responses API state for upstreams that keep none: each stored
//! response holds the whole conversation up to and including its output, so
//! `previous_response_id` is answered by loading one row and replaying its turns to
//! whatever upstream serves the next call. No API shape can carry every canonical
//! field (Responses drops Anthropic signatures, Anthropic drops OpenAI item ids), so
//! the turns are written in a form of their own that keeps all of them: reasoning
//! text, signatures, redacted data, ids and the family that made them, Gemini
//! signatures on tool calls, cache hints. The form is versioned (`v`); a reader
//! refuses versions it does not know.
//!
//! Whole answers have a form here too ([`encode_response`]), for the gateway's
//! response cache when it is shared through Redis: the same parts, with the answer's
//! id, model, stop reason and usage.

use gateway_protocol::{
    ChatResponse, Document, Family, Image, MediaSource, Message, Part, Reasoning, Role, StopReason,
    ToolCall, ToolResult, Usage,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::TranslateError;

/// The version this build writes and reads.
const VERSION: u32 = 1;

/// A conversation as stored: system parts that belong to it (not per-call
/// instructions) and its turns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conversation {
    /// System / developer parts given as conversation items.
    pub system: Vec<Part>,
    /// The turns, in order.
    pub messages: Vec<Message>,
}

/// Writes a conversation.
pub fn encode(conversation: &Conversation) -> Vec<u8> {
    let doc = Doc {
        v: VERSION,
        system: conversation.system.iter().map(part_out).collect(),
        messages: conversation
            .messages
            .iter()
            .map(|m| MessageDoc {
                role: match m.role {
                    Role::User => "user".to_owned(),
                    Role::Assistant => "assistant".to_owned(),
                },
                parts: m.parts.iter().map(part_out).collect(),
            })
            .collect(),
    };
    crate::json::encode(&doc)
}

/// Reads a conversation [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> Result<Conversation, TranslateError> {
    let doc: Doc = serde_json::from_slice(bytes)
        .map_err(|e| TranslateError::upstream("stored conversation", e.to_string()))?;
    if doc.v != VERSION {
        return Err(TranslateError::upstream(
            "stored conversation",
            format!("version {} is not one this build reads ({VERSION})", doc.v),
        ));
    }
    let mut messages = Vec::with_capacity(doc.messages.len());
    for m in doc.messages {
        let role = match m.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(TranslateError::upstream(
                    "stored conversation",
                    format!("unknown role `{other}`"),
                ));
            }
        };
        messages.push(Message {
            role,
            parts: m.parts.into_iter().map(part_in).collect(),
        });
    }
    Ok(Conversation {
        system: doc.system.into_iter().map(part_in).collect(),
        messages,
    })
}

/// Writes a whole answer.
pub fn encode_response(response: &ChatResponse) -> Vec<u8> {
    let u = &response.usage;
    let doc = AnswerDoc {
        v: VERSION,
        id: response.id.clone(),
        model: response.model.clone(),
        created: response.created,
        parts: response.parts.iter().map(part_out).collect(),
        stop: stop_name(response.stop_reason).to_owned(),
        stop_sequence: response.stop_sequence.clone(),
        usage: [
            u.input_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
            u.output_tokens,
            u.reasoning_tokens,
        ],
    };
    crate::json::encode(&doc)
}

/// Reads an answer [`encode_response`] wrote.
pub fn decode_response(bytes: &[u8]) -> Result<ChatResponse, TranslateError> {
    let doc: AnswerDoc = serde_json::from_slice(bytes)
        .map_err(|e| TranslateError::upstream("stored answer", e.to_string()))?;
    if doc.v != VERSION {
        return Err(TranslateError::upstream(
            "stored answer",
            format!("version {} is not one this build reads ({VERSION})", doc.v),
        ));
    }
    let Some(stop_reason) = STOPS.iter().find(|(_, n)| *n == doc.stop).map(|(s, _)| *s) else {
        return Err(TranslateError::upstream(
            "stored answer",
            format!("unknown stop reason `{}`", doc.stop),
        ));
    };
    let [input, read, write, output, reasoning] = doc.usage;
    Ok(ChatResponse {
        id: doc.id,
        model: doc.model,
        created: doc.created,
        parts: doc.parts.into_iter().map(part_in).collect(),
        stop_reason,
        stop_sequence: doc.stop_sequence,
        usage: Usage {
            input_tokens: input,
            cache_read_tokens: read,
            cache_write_tokens: write,
            output_tokens: output,
            reasoning_tokens: reasoning,
        },
    })
}

/// Stop reasons by the names the stored form writes.
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

fn stop_name(stop: StopReason) -> &'static str {
    // Exhaustive, so a new stop reason cannot be left out of `STOPS`' names.
    match stop {
        StopReason::EndTurn => STOPS[0].1,
        StopReason::StopSequence => STOPS[1].1,
        StopReason::MaxTokens => STOPS[2].1,
        StopReason::ToolUse => STOPS[3].1,
        StopReason::ContentFilter => STOPS[4].1,
        StopReason::PauseTurn => STOPS[5].1,
        StopReason::ContextExceeded => STOPS[6].1,
        StopReason::Other => STOPS[7].1,
    }
}

#[derive(Serialize, Deserialize)]
struct AnswerDoc {
    v: u32,
    id: String,
    model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<u64>,
    parts: Vec<PartDoc>,
    stop: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stop_sequence: Option<String>,
    /// Input, cache reads, cache writes, output, reasoning.
    usage: [u64; 5],
}

#[derive(Serialize, Deserialize)]
struct Doc {
    v: u32,
    #[serde(default)]
    system: Vec<PartDoc>,
    #[serde(default)]
    messages: Vec<MessageDoc>,
}

#[derive(Serialize, Deserialize)]
struct MessageDoc {
    role: String,
    parts: Vec<PartDoc>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PartDoc {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Image {
        source: SourceDoc,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Document {
        source: SourceDoc,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    ToolCall {
        id: String,
        name: String,
        arguments: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    ToolResult {
        call_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        content: Vec<PartDoc>,
        #[serde(default)]
        is_error: bool,
    },
    Reasoning {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        redacted: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SourceDoc {
    Url(String),
    Base64 { media_type: String, data: String },
    FileId(String),
}

fn part_out(part: &Part) -> PartDoc {
    match part {
        Part::Text {
            text,
            cache_control,
        } => PartDoc::Text {
            text: text.clone(),
            cache_control: cache_control.clone(),
        },
        Part::Image(img) => PartDoc::Image {
            source: source_out(&img.source),
            detail: img.detail.clone(),
            cache_control: img.cache_control.clone(),
        },
        Part::Document(doc) => PartDoc::Document {
            source: source_out(&doc.source),
            filename: doc.filename.clone(),
            title: doc.title.clone(),
            cache_control: doc.cache_control.clone(),
        },
        Part::ToolCall(c) => PartDoc::ToolCall {
            id: c.id.clone(),
            name: c.name.clone(),
            arguments: c.arguments.clone(),
            signature: c.signature.clone(),
        },
        Part::ToolResult(r) => PartDoc::ToolResult {
            call_id: r.call_id.clone(),
            name: r.name.clone(),
            content: r.content.iter().map(part_out).collect(),
            is_error: r.is_error,
        },
        Part::Reasoning(r) => PartDoc::Reasoning {
            text: r.text.clone(),
            signature: r.signature.clone(),
            redacted: r.redacted.clone(),
            id: r.id.clone(),
            source: r.source.map(|f| f.as_str().to_owned()),
        },
    }
}

fn part_in(doc: PartDoc) -> Part {
    match doc {
        PartDoc::Text {
            text,
            cache_control,
        } => Part::Text {
            text,
            cache_control,
        },
        PartDoc::Image {
            source,
            detail,
            cache_control,
        } => Part::Image(Image {
            source: source_in(source),
            detail,
            cache_control,
        }),
        PartDoc::Document {
            source,
            filename,
            title,
            cache_control,
        } => Part::Document(Document {
            source: source_in(source),
            filename,
            title,
            cache_control,
        }),
        PartDoc::ToolCall {
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
        PartDoc::ToolResult {
            call_id,
            name,
            content,
            is_error,
        } => Part::ToolResult(ToolResult {
            call_id,
            name,
            content: content.into_iter().map(part_in).collect(),
            is_error,
        }),
        PartDoc::Reasoning {
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
            // A family this build does not know replays to nobody.
            source: source.as_deref().and_then(Family::from_name),
        }),
    }
}

fn source_out(source: &MediaSource) -> SourceDoc {
    match source {
        MediaSource::Url(u) => SourceDoc::Url(u.clone()),
        MediaSource::Base64 { media_type, data } => SourceDoc::Base64 {
            media_type: media_type.clone(),
            data: data.clone(),
        },
        MediaSource::FileId(id) => SourceDoc::FileId(id.clone()),
    }
}

fn source_in(doc: SourceDoc) -> MediaSource {
    match doc {
        SourceDoc::Url(u) => MediaSource::Url(u),
        SourceDoc::Base64 { media_type, data } => MediaSource::Base64 { media_type, data },
        SourceDoc::FileId(id) => MediaSource::FileId(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn every_part() -> Conversation {
        Conversation {
            system: vec![Part::text("Be brief.")],
            messages: vec![
                Message {
                    role: Role::User,
                    parts: vec![
                        Part::Text {
                            text: "Look:".into(),
                            cache_control: Some(json!({"type": "ephemeral"})),
                        },
                        Part::Image(Image {
                            source: MediaSource::Url("https://example.com/a.png".into()),
                            detail: Some("low".into()),
                            cache_control: None,
                        }),
                        Part::Document(Document {
                            source: MediaSource::Base64 {
                                media_type: "application/pdf".into(),
                                data: "JVBERi0=".into(),
                            },
                            filename: Some("a.pdf".into()),
                            title: Some("A".into()),
                            cache_control: None,
                        }),
                    ],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        Part::Reasoning(Reasoning {
                            text: "thinking".into(),
                            signature: Some("sig-anthropic".into()),
                            redacted: None,
                            id: None,
                            source: Some(Family::Anthropic),
                        }),
                        Part::Reasoning(Reasoning {
                            text: String::new(),
                            signature: None,
                            redacted: Some("opaque".into()),
                            id: Some("rs_1".into()),
                            source: Some(Family::OpenAi),
                        }),
                        Part::ToolCall(ToolCall {
                            id: "call_1".into(),
                            name: "get_weather".into(),
                            arguments: r#"{"city":"Oslo"}"#.into(),
                            signature: Some("gemini-sig".into()),
                        }),
                    ],
                },
                Message {
                    role: Role::User,
                    parts: vec![Part::ToolResult(ToolResult {
                        call_id: "call_1".into(),
                        name: Some("get_weather".into()),
                        content: vec![
                            Part::text("4°C"),
                            Part::Image(Image {
                                source: MediaSource::FileId("file_9".into()),
                                detail: None,
                                cache_control: None,
                            }),
                        ],
                        is_error: true,
                    })],
                },
            ],
        }
    }

    #[test]
    fn every_part_round_trips_with_its_signatures_and_families() {
        let conversation = every_part();
        let bytes = encode(&conversation);
        assert_eq!(decode(&bytes).unwrap(), conversation);
    }

    #[test]
    fn an_answer_round_trips_with_every_part_stop_and_usage() {
        let parts: Vec<Part> = every_part()
            .messages
            .into_iter()
            .flat_map(|m| m.parts)
            .collect();
        for (i, (stop, _)) in STOPS.into_iter().enumerate() {
            let response = ChatResponse {
                id: "msg_1".into(),
                model: "claude-x-2025".into(),
                created: (i % 2 == 0).then_some(7),
                parts: if i == 0 { parts.clone() } else { Vec::new() },
                stop_reason: stop,
                stop_sequence: (stop == StopReason::StopSequence).then(|| "###".into()),
                usage: Usage {
                    input_tokens: 11,
                    cache_read_tokens: 3,
                    cache_write_tokens: 2,
                    output_tokens: 5,
                    reasoning_tokens: 1,
                },
            };
            assert_eq!(
                decode_response(&encode_response(&response)).unwrap(),
                response
            );
        }
        assert!(
            decode_response(
                br#"{"v":1,"id":"","model":"","parts":[],"stop":"napping","usage":[0,0,0,0,0]}"#
            )
            .is_err()
        );
        assert!(
            decode_response(
                br#"{"v":9,"id":"","model":"","parts":[],"stop":"other","usage":[0,0,0,0,0]}"#
            )
            .is_err()
        );
    }

    #[test]
    fn bedrock_reasoning_keeps_its_family() {
        let conversation = Conversation {
            system: Vec::new(),
            messages: vec![Message {
                role: Role::Assistant,
                parts: vec![Part::Reasoning(Reasoning {
                    text: "t".into(),
                    signature: Some("s".into()),
                    source: Some(Family::Bedrock),
                    ..Reasoning::default()
                })],
            }],
        };
        assert_eq!(decode(&encode(&conversation)).unwrap(), conversation);
    }

    #[test]
    fn another_version_or_role_is_refused_not_guessed() {
        let err = decode(br#"{"v":2,"messages":[]}"#).unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
        let err = decode(br#"{"v":1,"messages":[{"role":"system","parts":[]}]}"#).unwrap_err();
        assert!(err.to_string().contains("system"), "{err}");
        assert!(decode(b"not json").is_err());
    }

    #[test]
    fn an_unknown_family_keeps_the_reasoning_but_replays_it_to_nobody() {
        let got = decode(
            br#"{"v":1,"messages":[{"role":"assistant","parts":[{"type":"reasoning","text":"t","signature":"s","source":"acme"}]}]}"#,
        )
        .unwrap();
        let Part::Reasoning(r) = &got.messages[0].parts[0] else {
            panic!("{got:?}")
        };
        assert_eq!((r.source, r.signature.as_deref()), (None, Some("s")));
    }
}
