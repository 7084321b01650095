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

use gateway_protocol::{
    Document, Family, Image, MediaSource, Message, Part, Reasoning, Role, ToolCall, ToolResult,
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
            source: source.as_deref().and_then(family),
        }),
    }
}

fn family(name: &str) -> Option<Family> {
    [
        Family::OpenAi,
        Family::Anthropic,
        Family::Gemini,
        Family::Ollama,
    ]
    .into_iter()
    .find(|f| f.as_str() == name)
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
