//! Content blocks ↔ canonical parts, media formats and usage: what the Converse
//! request, response and stream codecs share.

use gateway_protocol::{
    Document, Family, Image, MediaSource, Part, Reasoning, ToolCall, ToolResult, Usage,
};
use serde_json::Value;

use super::request::TARGET;
use super::wire;
use crate::error::TranslateError;

/// The canonical part of a content block; `None` for blocks that carry no content
/// (a cache checkpoint) or that the gateway does not read (guard content, video).
pub(crate) fn part_of(
    block: &wire::ContentBlock,
    path: &str,
) -> Result<Option<Part>, TranslateError> {
    if let Some(text) = &block.text {
        return Ok(Some(Part::text(text.clone())));
    }
    if let Some(image) = &block.image {
        return Ok(Some(Part::Image(image_of(
            image,
            &format!("{path}.image"),
        )?)));
    }
    if let Some(doc) = &block.document {
        return Ok(Some(Part::Document(document_of(
            doc,
            &format!("{path}.document"),
        )?)));
    }
    if let Some(call) = &block.tool_use {
        return Ok(Some(Part::ToolCall(ToolCall {
            id: call.tool_use_id.clone(),
            name: call.name.clone(),
            arguments: call.input.to_string(),
            signature: None,
        })));
    }
    if let Some(result) = &block.tool_result {
        let mut content = Vec::with_capacity(result.content.len());
        for (k, c) in result.content.iter().enumerate() {
            let at = format!("{path}.toolResult.content[{k}]");
            if let Some(text) = &c.text {
                content.push(Part::text(text.clone()));
            } else if let Some(json) = &c.json {
                content.push(Part::text(json.to_string()));
            } else if let Some(image) = &c.image {
                content.push(Part::Image(image_of(image, &format!("{at}.image"))?));
            } else if let Some(doc) = &c.document {
                content.push(Part::Document(document_of(doc, &format!("{at}.document"))?));
            }
        }
        return Ok(Some(Part::ToolResult(ToolResult {
            call_id: result.tool_use_id.clone(),
            name: None,
            content,
            is_error: result.status.as_deref() == Some("error"),
        })));
    }
    if let Some(r) = &block.reasoning_content {
        let reasoning = match (&r.reasoning_text, &r.redacted_content) {
            (Some(t), _) => Reasoning {
                text: t.text.clone(),
                signature: t.signature.clone(),
                source: Some(Family::Bedrock),
                ..Reasoning::default()
            },
            (None, Some(data)) => Reasoning {
                redacted: Some(data.clone()),
                source: Some(Family::Bedrock),
                ..Reasoning::default()
            },
            (None, None) => return Ok(None),
        };
        return Ok(Some(Part::Reasoning(reasoning)));
    }
    Ok(None)
}

/// The MIME type of a Converse image format.
pub(crate) fn image_media_type(format: &str) -> Option<&'static str> {
    Some(match format {
        "png" => "image/png",
        "jpeg" | "jpg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => return None,
    })
}

/// The Converse image format of a MIME type.
pub(crate) fn image_format(media_type: &str) -> Option<&'static str> {
    Some(match media_type {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => return None,
    })
}

/// Converse's document formats and their MIME types.
const DOCUMENT_FORMATS: [(&str, &str); 9] = [
    ("pdf", "application/pdf"),
    ("csv", "text/csv"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("html", "text/html"),
    ("txt", "text/plain"),
    ("md", "text/markdown"),
];

/// The Converse document format of a MIME type.
pub(crate) fn document_format(media_type: &str) -> Option<&'static str> {
    DOCUMENT_FORMATS
        .iter()
        .find(|(_, m)| *m == media_type)
        .map(|(f, _)| *f)
}

fn source_of(
    source: &wire::Source,
    media_type: &str,
    path: &str,
) -> Result<MediaSource, TranslateError> {
    if let Some(bytes) = &source.bytes {
        return Ok(MediaSource::Base64 {
            media_type: media_type.to_owned(),
            data: bytes.clone(),
        });
    }
    if let Some(s3) = &source.s3_location {
        return Ok(MediaSource::Url(s3.uri.clone()));
    }
    Err(TranslateError::invalid(
        format!("{path}.source"),
        "a source needs `bytes` or `s3Location`",
    ))
}

fn image_of(image: &wire::Image, path: &str) -> Result<Image, TranslateError> {
    let media_type = image_media_type(&image.format).ok_or_else(|| {
        TranslateError::invalid(
            format!("{path}.format"),
            format!(
                "unknown image format `{}`: png, jpeg, gif or webp",
                image.format
            ),
        )
    })?;
    Ok(Image {
        source: source_of(&image.source, media_type, path)?,
        detail: None,
        cache_control: None,
    })
}

fn document_of(doc: &wire::Document, path: &str) -> Result<Document, TranslateError> {
    let format = doc.format.as_deref().unwrap_or("txt");
    let media_type = DOCUMENT_FORMATS
        .iter()
        .find(|(f, _)| *f == format)
        .map(|(_, m)| *m)
        .ok_or_else(|| {
            TranslateError::invalid(
                format!("{path}.format"),
                format!("unknown document format `{format}`"),
            )
        })?;
    Ok(Document {
        source: source_of(&doc.source, media_type, path)?,
        filename: Some(doc.name.clone()),
        title: None,
        cache_control: None,
    })
}

/// The wire source of a canonical one: inline bytes, or an `s3://` URL. Other URLs
/// and file ids have no Converse form.
fn wire_source(source: &MediaSource, path: &str) -> Result<wire::Source, TranslateError> {
    match source {
        MediaSource::Base64 { data, .. } => Ok(wire::Source {
            bytes: Some(data.clone()),
            ..wire::Source::default()
        }),
        MediaSource::Url(url) if url.starts_with("s3://") => Ok(wire::Source {
            s3_location: Some(wire::S3Location {
                uri: url.clone(),
                bucket_owner: None,
            }),
            ..wire::Source::default()
        }),
        MediaSource::Url(_) => Err(TranslateError::untranslatable(
            path,
            TARGET,
            "Bedrock reads media inline (base64) or from S3 (`s3://`), not from a web URL",
        )),
        MediaSource::FileId(_) => Err(TranslateError::untranslatable(
            path,
            TARGET,
            "Bedrock has no file ids: send the file inline as base64",
        )),
    }
}

/// The media type a canonical source names (`None` for URLs and file ids).
fn media_type(source: &MediaSource) -> Option<&str> {
    match source {
        MediaSource::Base64 { media_type, .. } => Some(media_type),
        _ => None,
    }
}

/// A canonical image as a Converse image block.
pub(crate) fn wire_image(image: &Image, path: &str) -> Result<wire::Image, TranslateError> {
    let format = match (&image.source, media_type(&image.source)) {
        (_, Some(m)) => image_format(m).ok_or_else(|| {
            TranslateError::untranslatable(
                path,
                TARGET,
                format!("Bedrock takes png, jpeg, gif and webp images, not `{m}`"),
            )
        })?,
        (MediaSource::Url(url), None) => url
            .rsplit('.')
            .next()
            .and_then(|ext| image_format(&format!("image/{}", ext.to_ascii_lowercase())))
            .unwrap_or("png"),
        _ => "png",
    };
    Ok(wire::Image {
        format: format.to_owned(),
        source: wire_source(&image.source, path)?,
    })
}

/// A canonical document as a Converse document block; `n` numbers the request's
/// documents (Converse requires a name, and names must differ).
pub(crate) fn wire_document(
    doc: &Document,
    n: usize,
    path: &str,
) -> Result<wire::Document, TranslateError> {
    let format = match media_type(&doc.source) {
        Some(m) => Some(document_format(m).ok_or_else(|| {
            TranslateError::untranslatable(
                path,
                TARGET,
                format!(
                    "Bedrock takes pdf, csv, doc, docx, xls, xlsx, html, txt and md documents, \
                     not `{m}`"
                ),
            )
        })?),
        None => None,
    };
    let given = doc
        .title
        .as_deref()
        .or(doc.filename.as_deref())
        .unwrap_or("");
    Ok(wire::Document {
        format: format.map(str::to_owned),
        name: document_name(given, n),
        source: wire_source(&doc.source, path)?,
        extra: serde_json::Map::new(),
    })
}

/// A document name Converse accepts: letters, digits, single spaces, hyphens,
/// parentheses and square brackets; a file's extension dropped. Empty names become
/// `document-<n>`.
fn document_name(given: &str, n: usize) -> String {
    let stem = match given.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 5 => stem,
        _ => given,
    };
    let mut name = String::with_capacity(stem.len());
    for c in stem.chars() {
        let keep = c.is_ascii_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']');
        let c = if keep { c } else { ' ' };
        if !(c == ' ' && (name.is_empty() || name.ends_with(' '))) {
            name.push(c);
        }
    }
    let name = name.trim_end().to_owned();
    if name.is_empty() {
        format!("document-{n}")
    } else {
        name
    }
}

/// Canonical usage of Converse's counts: `inputTokens` excludes the cache, so cache
/// reads and writes are added to it.
pub(crate) fn usage_of(u: &wire::Usage) -> Usage {
    let read = u.cache_read_input_tokens.unwrap_or(0);
    let write = u.cache_write_input_tokens.unwrap_or(0);
    Usage {
        input_tokens: u.input_tokens.saturating_add(read).saturating_add(write),
        cache_read_tokens: read,
        cache_write_tokens: write,
        output_tokens: u.output_tokens,
        reasoning_tokens: 0,
    }
}

/// Converse's counts of canonical usage.
pub(crate) fn wire_usage(u: &Usage) -> wire::Usage {
    wire::Usage {
        input_tokens: u.uncached_input_tokens(),
        output_tokens: u.output_tokens,
        total_tokens: u.total_tokens(),
        cache_read_input_tokens: (u.cache_read_tokens > 0).then_some(u.cache_read_tokens),
        cache_write_input_tokens: (u.cache_write_tokens > 0).then_some(u.cache_write_tokens),
    }
}

/// A call's arguments as the JSON value `toolUse.input` takes: an object (text that is
/// not JSON, or not an object, is refused; empty text is `{}`).
pub(crate) fn input_value(arguments: &str, path: &str) -> Result<Value, TranslateError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(TranslateError::untranslatable(
            path,
            TARGET,
            "tool call arguments must be a JSON object for Bedrock's `toolUse.input`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_names_keep_only_what_converse_accepts() {
        assert_eq!(
            document_name("Q3 report (final).pdf", 0),
            "Q3 report (final)"
        );
        assert_eq!(document_name("a__b..c", 1), "a b");
        assert_eq!(document_name("", 2), "document-2");
        assert_eq!(document_name("###", 3), "document-3");
    }

    #[test]
    fn usage_counts_the_cache_into_input_and_back() {
        let w = wire::Usage {
            input_tokens: 10,
            output_tokens: 5,
            total_tokens: 45,
            cache_read_input_tokens: Some(20),
            cache_write_input_tokens: Some(10),
        };
        let u = usage_of(&w);
        assert_eq!((u.input_tokens, u.total_tokens()), (40, 45));
        assert_eq!(wire_usage(&u), w);
    }
}
