//! The `messages` of an Anthropic request body, written as JSON text straight from
//! the canonical turns: every block as the serde structs this replaced wrote it
//! (field order and skip rules; `request_encode/tests.rs` pins the bytes).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gateway_protocol::{ApiShape, Family, MediaSource, Message, Part, Role};
use serde_json::Value;

use super::request_encode::{CONTINUED, TARGET};
use crate::error::TranslateError;
use crate::ids::{self, IdSanitizer};
use crate::json_writer::{escape_into, write_into};
use crate::media::ANTHROPIC_IMAGE_TYPES;
use crate::names::upstream_cow;

/// A media block's `source`.
enum Source<'a> {
    Base64 {
        media_type: &'a str,
        data: &'a str,
    },
    Url(&'a str),
    File(&'a str),
    /// A text document, decoded.
    Text(String),
}

/// A block's path (`messages[i].content[j]`, nested `.content[k]`), formatted only
/// when an error needs it.
#[derive(Clone, Copy)]
enum At<'p> {
    Block(usize, usize),
    Nested(&'p At<'p>, usize),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Block(i, j) => write!(f, "messages[{i}].content[{j}]"),
            At::Nested(outer, k) => write!(f, "{outer}.content[{k}]"),
        }
    }
}

/// A comma unless the array just opened: a part may write no block.
#[inline]
pub(super) fn separate(out: &mut Vec<u8>) {
    if out.last() != Some(&b'[') {
        out.push(b',');
    }
}

/// A `Value` as serde_json writes it.
pub(super) fn value(out: &mut Vec<u8>, v: &Value) {
    if write_into(out, v).is_err() {
        // Not reached: a `Value` always serialises.
        out.extend_from_slice(b"null");
    }
}

/// `,"cache_control":…` when there is one.
pub(super) fn cache_control(out: &mut Vec<u8>, cc: Option<&Value>) {
    if let Some(cc) = cc {
        out.extend_from_slice(b",\"cache_control\":");
        value(out, cc);
    }
}

/// The `messages` array's items.
pub(super) fn messages(out: &mut Vec<u8>, messages: &[Message]) -> Result<(), TranslateError> {
    let continued = Part::text(CONTINUED);
    // Drop what Anthropic cannot replay before merging turns, so emptied turns vanish.
    let mut turns = crate::turns::alternate_refs(messages, replayable);
    if turns.first().is_some_and(|m| m.0 == Role::Assistant) {
        turns.insert(0, (Role::User, vec![&continued]));
    }
    if turns.is_empty() {
        return Err(TranslateError::untranslatable(
            "messages",
            TARGET,
            "at least one non-empty user message is required",
        ));
    }
    // A trailing assistant turn is a prefill: it must not end with whitespace. Its
    // last text is trimmed (a text emptied so is dropped, and the turn if it empties).
    let mut prefill: Option<&str> = None;
    if let Some(last) = turns.last_mut().filter(|m| m.0 == Role::Assistant) {
        if let Some(Part::Text { text, .. }) = last.1.last().copied() {
            let trimmed = text.trim_end();
            if trimmed.is_empty() {
                last.1.pop();
                if last.1.is_empty() {
                    turns.pop();
                }
            } else {
                prefill = Some(trimmed);
            }
        }
    }
    let mut sanitizer = IdSanitizer::default();
    let count = turns.len();
    for (i, (role, parts)) in turns.iter().enumerate() {
        separate(out);
        out.extend_from_slice(match role {
            Role::User => b"{\"role\":\"user\",\"content\":[",
            Role::Assistant => b"{\"role\":\"assistant\",\"content\":[",
        });
        for (j, part) in parts.iter().enumerate() {
            // The prefill's text is its turn's last part (a non-empty text).
            let text = (i + 1 == count && j + 1 == parts.len())
                .then_some(prefill)
                .flatten();
            block(out, part, &At::Block(i, j), &mut sanitizer, text)?;
        }
        out.extend_from_slice(b"]}");
    }
    Ok(())
}

/// Empty text and reasoning that is not Anthropic's own (signed) are never sent.
fn replayable(part: &Part) -> bool {
    match part {
        Part::Text { text, .. } => !text.is_empty(),
        Part::Reasoning(r) => {
            r.source == Some(Family::Anthropic) && (r.redacted.is_some() || r.signature.is_some())
        }
        _ => true,
    }
}

/// The block for `part`, after a comma when it follows one (nothing for an empty
/// text or reasoning Anthropic did not sign); `text` replaces a text's own.
fn block(
    out: &mut Vec<u8>,
    part: &Part,
    path: &At<'_>,
    sanitizer: &mut IdSanitizer,
    text: Option<&str>,
) -> Result<(), TranslateError> {
    match part {
        Part::Text {
            text: own,
            cache_control: cc,
        } => {
            if own.is_empty() {
                return Ok(());
            }
            separate(out);
            out.extend_from_slice(b"{\"type\":\"text\",\"text\":");
            escape_into(out, text.unwrap_or(own));
            cache_control(out, cc.as_ref());
        }
        Part::Image(img) => {
            let source = image_source(&img.source, path)?;
            separate(out);
            out.extend_from_slice(b"{\"type\":\"image\",\"source\":");
            write_source(out, &source);
            cache_control(out, img.cache_control.as_ref());
        }
        Part::Document(doc) => {
            let source = document_source(&doc.source, path)?;
            separate(out);
            out.extend_from_slice(b"{\"type\":\"document\",\"source\":");
            write_source(out, &source);
            if let Some(title) = doc.title.as_deref().or(doc.filename.as_deref()) {
                out.extend_from_slice(b",\"title\":");
                escape_into(out, title);
            }
            cache_control(out, doc.cache_control.as_ref());
        }
        Part::ToolCall(call) => {
            let (plain, _) = ids::split_signature(&call.id);
            let input = if call.arguments.trim().is_empty() {
                None
            } else {
                match crate::json_text::raw_value(&call.arguments) {
                    Some(raw) if raw.starts_with('{') => Some(raw),
                    Some(_) => {
                        return Err(TranslateError::untranslatable(
                            path.to_string(),
                            TARGET,
                            "tool call arguments must be a JSON object",
                        ));
                    }
                    None => return Err(bad_arguments(&call.arguments, path)),
                }
            };
            separate(out);
            out.extend_from_slice(b"{\"type\":\"tool_use\",\"id\":");
            escape_into(out, &sanitizer.sanitize(plain));
            out.extend_from_slice(b",\"name\":");
            escape_into(out, &upstream_cow(ApiShape::Anthropic, &call.name));
            out.extend_from_slice(b",\"input\":");
            // Checked JSON text, written as is.
            out.extend_from_slice(input.unwrap_or("{}").as_bytes());
        }
        Part::ToolResult(res) => {
            let (plain, _) = ids::split_signature(&res.call_id);
            separate(out);
            out.extend_from_slice(b"{\"type\":\"tool_result\",\"tool_use_id\":");
            escape_into(out, &sanitizer.sanitize(plain));
            // What writes a block: one text without cache control goes as a string.
            let mut blocks = res
                .content
                .iter()
                .filter(|p| !matches!(p, Part::Text { text, .. } if text.is_empty()));
            match (blocks.next(), blocks.next()) {
                (None, _) => {}
                (
                    Some(Part::Text {
                        text,
                        cache_control: None,
                    }),
                    None,
                ) => {
                    out.extend_from_slice(b",\"content\":");
                    escape_into(out, text);
                }
                _ => {
                    out.extend_from_slice(b",\"content\":[");
                    for (k, p) in res.content.iter().enumerate() {
                        let inner = At::Nested(path, k);
                        match p {
                            Part::Text { .. } | Part::Image(_) | Part::Document(_) => {
                                block(out, p, &inner, sanitizer, None)?;
                            }
                            _ => {
                                return Err(TranslateError::untranslatable(
                                    inner.to_string(),
                                    TARGET,
                                    "tool results may only hold text, images and documents",
                                ));
                            }
                        }
                    }
                    out.push(b']');
                }
            }
            if res.is_error {
                out.extend_from_slice(b",\"is_error\":true");
            }
        }
        Part::Reasoning(r) => {
            if r.source != Some(Family::Anthropic) {
                return Ok(());
            }
            match (&r.redacted, &r.signature) {
                (Some(data), _) => {
                    separate(out);
                    out.extend_from_slice(b"{\"type\":\"redacted_thinking\",\"data\":");
                    escape_into(out, data);
                }
                (None, Some(sig)) => {
                    separate(out);
                    out.extend_from_slice(b"{\"type\":\"thinking\",\"thinking\":");
                    escape_into(out, &r.text);
                    out.extend_from_slice(b",\"signature\":");
                    escape_into(out, sig);
                }
                (None, None) => return Ok(()),
            }
        }
    }
    out.push(b'}');
    Ok(())
}

/// The error for arguments that are not JSON, worded by the `Value` parser as before.
#[cold]
fn bad_arguments(arguments: &str, path: &At<'_>) -> TranslateError {
    let reason = match serde_json::from_str::<Value>(arguments) {
        Err(e) => format!("tool call arguments are not valid JSON ({e})"),
        Ok(_) => "tool call arguments are not valid JSON".to_owned(),
    };
    TranslateError::untranslatable(path.to_string(), TARGET, reason)
}

/// A source object: its `type`, then its fields.
fn write_source(out: &mut Vec<u8>, source: &Source<'_>) {
    match source {
        Source::Base64 { media_type, data } => {
            out.extend_from_slice(b"{\"type\":\"base64\",\"media_type\":");
            escape_into(out, media_type);
            out.extend_from_slice(b",\"data\":");
            escape_into(out, data);
        }
        Source::Url(url) => {
            out.extend_from_slice(b"{\"type\":\"url\",\"url\":");
            escape_into(out, url);
        }
        Source::File(id) => {
            out.extend_from_slice(b"{\"type\":\"file\",\"file_id\":");
            escape_into(out, id);
        }
        Source::Text(text) => {
            out.extend_from_slice(b"{\"type\":\"text\",\"media_type\":\"text/plain\",\"data\":");
            escape_into(out, text);
        }
    }
    out.push(b'}');
}

fn image_source<'a>(source: &'a MediaSource, path: &At<'_>) -> Result<Source<'a>, TranslateError> {
    Ok(match source {
        MediaSource::Base64 { media_type, data } => {
            if !ANTHROPIC_IMAGE_TYPES.contains(&media_type.as_str()) {
                return Err(TranslateError::untranslatable(
                    path.to_string(),
                    TARGET,
                    format!(
                        "image type `{media_type}` is not accepted; use JPEG, PNG, GIF or WebP"
                    ),
                ));
            }
            Source::Base64 { media_type, data }
        }
        MediaSource::Url(url) => Source::Url(url),
        MediaSource::FileId(id) => Source::File(id),
    })
}

fn document_source<'a>(
    source: &'a MediaSource,
    path: &At<'_>,
) -> Result<Source<'a>, TranslateError> {
    Ok(match source {
        MediaSource::Base64 { media_type, data } if media_type.starts_with("text/") => {
            let text = STANDARD
                .decode(data.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    TranslateError::untranslatable(
                        path.to_string(),
                        TARGET,
                        "text document is not base64 UTF-8",
                    )
                })?;
            Source::Text(text)
        }
        MediaSource::Base64 { media_type, data } if media_type == "application/pdf" => {
            Source::Base64 { media_type, data }
        }
        MediaSource::Base64 { media_type, .. } => {
            return Err(TranslateError::untranslatable(
                path.to_string(),
                TARGET,
                format!("documents of type `{media_type}` are not accepted; use PDF or plain text"),
            ));
        }
        MediaSource::Url(url) => Source::Url(url),
        MediaSource::FileId(id) => Source::File(id),
    })
}
