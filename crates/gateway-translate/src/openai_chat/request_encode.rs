//! Canonical request → an OpenAI Chat Completions upstream body (PROTOCOLS §8, Chat as
//! target).

use std::borrow::Cow;

use gateway_protocol::{
    ApiShape, ChatRequest, Document, Family, MediaSource, Message, Part, ResponseFormat, Role,
    ToolChoice,
};
use serde_json::{Map, Value};

use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::json_text::write_u64;
use crate::json_writer::{escape_into, float_member, write_into};
use crate::names::upstream_cow;
use crate::{ids, media};

const TARGET: &str = "openai-chat";

/// Writes the body for an OpenAI Chat upstream from any canonical request.
///
/// Tool names are shortened to OpenAI's limits (restored in answers through
/// `ResponseContext::tool_names`), tool results become `tool` messages before the rest
/// of their user turn (§8.2), system parts become one leading `system` message, and a
/// streaming request always asks for the usage chunk (§8.13).
///
/// The body is written as JSON text, no wire structs built: fields in the order of
/// [`super::wire::Request`] and its parts, with their skip rules, so the bytes are
/// those the owned wire types serialise to (the tests pin them).
pub fn encode(req: &ChatRequest, _opts: &EncodeOptions) -> Result<Vec<u8>, TranslateError> {
    if let Some(b) = req.extensions.first_binding_against(ApiShape::OpenAiChat) {
        return Err(TranslateError::untranslatable(&b.path, TARGET, &b.reason));
    }
    let mut out = Vec::with_capacity(crate::json::REQUEST_BODY_CAPACITY);
    out.extend_from_slice(b"{\"model\":");
    escape_into(&mut out, &req.model);
    out.extend_from_slice(b",\"messages\":[");
    let system = req.system.iter().filter_map(Part::as_text);
    if system.clone().next().is_some() {
        out.extend_from_slice(b"{\"role\":\"system\",\"content\":");
        text_content(&mut out, system);
        out.push(b'}');
    }
    for (i, m) in req.messages.iter().enumerate() {
        match m.role {
            Role::User => user(&mut out, m, i)?,
            Role::Assistant => assistant(&mut out, m),
        }
    }
    out.push(b']');
    if req.stream {
        out.extend_from_slice(b",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
    }
    let s = &req.sampling;
    if let Some(n) = s.max_output_tokens {
        out.extend_from_slice(b",\"max_completion_tokens\":");
        write_u64(&mut out, n);
    }
    float_member(&mut out, b",\"temperature\":", s.temperature);
    float_member(&mut out, b",\"top_p\":", s.top_p);
    if !s.stop.is_empty() {
        out.extend_from_slice(b",\"stop\":");
        strings(&mut out, s.stop.iter().map(String::as_str));
    }
    if let Some(seed) = s.seed {
        out.extend_from_slice(b",\"seed\":");
        if seed < 0 {
            out.push(b'-');
        }
        write_u64(&mut out, seed.unsigned_abs());
    }
    float_member(&mut out, b",\"presence_penalty\":", s.presence_penalty);
    float_member(&mut out, b",\"frequency_penalty\":", s.frequency_penalty);
    if let Some(format) = &req.response_format {
        response_format(&mut out, format);
    }
    tools(&mut out, req);
    if let Some(choice) = &req.tool_choice {
        tool_choice(&mut out, choice);
    }
    if let Some(parallel) = req.parallel_tool_calls {
        out.extend_from_slice(b",\"parallel_tool_calls\":");
        out.extend_from_slice(if parallel { b"true" } else { b"false" });
    }
    if let Some(effort) = req.reasoning.as_ref().and_then(|r| r.effective_effort()) {
        out.extend_from_slice(b",\"reasoning_effort\":");
        escape_into(&mut out, effort.as_str());
    }
    if let Some(user) = &req.user {
        out.extend_from_slice(b",\"user\":");
        escape_into(&mut out, user);
    }
    out.push(b'}');
    match req
        .extensions
        .for_key(Family::OpenAi.as_str())
        .filter(|p| !p.is_empty())
    {
        None => Ok(out),
        Some(params) => with_params(&out, req, params),
    }
}

/// The body with the caller's carried parameters it does not set itself, written as
/// its `Value` tree is (keys sorted). The tree is the body's text parsed again, with
/// the sampling numbers put back as they are (a parse of their shortest text need not
/// give the same `f64` back without serde_json's `float_roundtrip`).
#[cold]
fn with_params(
    out: &[u8],
    req: &ChatRequest,
    params: &Map<String, Value>,
) -> Result<Vec<u8>, TranslateError> {
    let s = &req.sampling;
    let floats = [
        ("temperature", s.temperature),
        ("top_p", s.top_p),
        ("presence_penalty", s.presence_penalty),
        ("frequency_penalty", s.frequency_penalty),
    ];
    let mut obj = crate::json::reopened(out, &floats, |e| {
        TranslateError::untranslatable(
            "messages",
            TARGET,
            format!("the body cannot take the carried OpenAI fields ({e})"),
        )
    })?;
    for (k, v) in params {
        if !obj.contains_key(k) {
            obj.insert(k.clone(), v.clone());
        }
    }
    Ok(crate::json::encode_sized(
        &obj,
        crate::json::REQUEST_BODY_CAPACITY,
    ))
}

/// A JSON array of strings.
fn strings<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = &'a str>) {
    out.push(b'[');
    for (n, item) in items.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        escape_into(out, item);
    }
    out.push(b']');
}

/// A comma unless the array just opened: messages and parts are written one after
/// another, and a turn may write none.
#[inline]
fn separate(out: &mut Vec<u8>) {
    if out.last() != Some(&b'[') {
        out.push(b',');
    }
}

/// The pieces joined, borrowed while there is at most one that is not empty.
fn joined<'a>(pieces: impl Iterator<Item = &'a str>) -> Cow<'a, str> {
    let mut text = Cow::Borrowed("");
    for piece in pieces {
        if text.is_empty() {
            text = Cow::Borrowed(piece);
        } else {
            text.to_mut().push_str(piece);
        }
    }
    text
}

/// One text → a string; several → text parts (so decoding gives the same parts back).
fn text_content<'a>(out: &mut Vec<u8>, texts: impl Iterator<Item = &'a str> + Clone) {
    let mut rest = texts.clone().skip(1);
    if rest.next().is_none() {
        escape_into(out, texts.clone().next().unwrap_or_default());
        return;
    }
    out.push(b'[');
    for (n, text) in texts.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"type\":\"text\",\"text\":");
        escape_into(out, text);
        out.push(b'}');
    }
    out.push(b']');
}

/// A user turn: `tool` messages for its tool results first, then one `user` message
/// with the rest (images found in tool results lead it: Chat tool messages are text only).
fn user(out: &mut Vec<u8>, m: &Message, i: usize) -> Result<(), TranslateError> {
    let results = m.parts.iter().filter_map(|p| match p {
        Part::ToolResult(r) => Some(r),
        _ => None,
    });
    for r in results.clone() {
        let texts = joined(r.content.iter().filter_map(Part::as_text));
        separate(out);
        out.extend_from_slice(b"{\"role\":\"tool\",\"content\":");
        if r.is_error {
            escape_into(out, &format!("Error: {texts}"));
        } else {
            escape_into(out, &texts);
        }
        out.extend_from_slice(b",\"tool_call_id\":");
        escape_into(out, ids::split_signature(&r.call_id).0);
        out.push(b'}');
    }
    let is_media = |p: &&Part| matches!(p, Part::Image(_) | Part::Document(_));
    let moved = results.flat_map(|r| &r.content).filter(is_media);
    let rest = m
        .parts
        .iter()
        .filter(|p| matches!(p, Part::Text { .. } | Part::Image(_) | Part::Document(_)));
    let mut parts = moved.chain(rest);
    let Some(first) = parts.clone().next() else {
        return Ok(());
    };
    separate(out);
    out.extend_from_slice(b"{\"role\":\"user\",\"content\":");
    match (first, parts.clone().nth(1)) {
        (Part::Text { text, .. }, None) => escape_into(out, text),
        _ => {
            out.push(b'[');
            for (j, p) in parts.by_ref().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                user_part(out, p, i, j)?;
            }
            out.push(b']');
        }
    }
    out.push(b'}');
    Ok(())
}

fn part_path(i: usize, j: usize) -> String {
    format!("messages[{i}].parts[{j}]")
}

/// A text, image or document of a user message, as a content part.
fn user_part(out: &mut Vec<u8>, p: &Part, i: usize, j: usize) -> Result<(), TranslateError> {
    match p {
        Part::Text { text, .. } => {
            out.extend_from_slice(b"{\"type\":\"text\",\"text\":");
            escape_into(out, text);
            out.push(b'}');
        }
        Part::Image(img) => {
            let url = match &img.source {
                MediaSource::Url(u) => Cow::Borrowed(u.as_str()),
                MediaSource::FileId(_) => {
                    return Err(TranslateError::untranslatable(
                        part_path(i, j),
                        TARGET,
                        "images given by provider file id cannot be sent; send a URL or base64 \
                         data",
                    ));
                }
                other => Cow::Owned(media::to_url(other)),
            };
            out.extend_from_slice(b"{\"type\":\"image_url\",\"image_url\":{\"url\":");
            escape_into(out, &url);
            if let Some(detail) = &img.detail {
                out.extend_from_slice(b",\"detail\":");
                escape_into(out, detail);
            }
            out.extend_from_slice(b"}}");
        }
        Part::Document(doc) => document_part(out, doc, i, j)?,
        // Not reached: the caller passes only the three kinds above.
        _ => out.extend_from_slice(b"{\"type\":\"\"}"),
    }
    Ok(())
}

fn document_part(
    out: &mut Vec<u8>,
    doc: &Document,
    i: usize,
    j: usize,
) -> Result<(), TranslateError> {
    match &doc.source {
        MediaSource::Base64 { media_type, data } if media_type.starts_with("audio/") => {
            let format = match media_type.as_str() {
                "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
                "audio/mpeg" | "audio/mp3" => "mp3",
                other => {
                    return Err(TranslateError::untranslatable(
                        part_path(i, j),
                        TARGET,
                        format!("audio of type `{other}` cannot be sent; use wav or mp3"),
                    ));
                }
            };
            out.extend_from_slice(b"{\"type\":\"input_audio\",\"input_audio\":{\"data\":");
            escape_into(out, data);
            out.extend_from_slice(b",\"format\":");
            escape_into(out, format);
            out.push(b'}');
        }
        MediaSource::Base64 { .. } => {
            out.extend_from_slice(b"{\"type\":\"file\",\"file\":{\"file_data\":");
            escape_into(out, &media::to_url(&doc.source));
            file_name(out, doc);
        }
        MediaSource::FileId(id) => {
            out.extend_from_slice(b"{\"type\":\"file\",\"file\":{\"file_id\":");
            escape_into(out, id);
            file_name(out, doc);
        }
        MediaSource::Url(_) => {
            return Err(TranslateError::untranslatable(
                part_path(i, j),
                TARGET,
                "documents given by URL cannot be sent; send them as base64 data",
            ));
        }
    }
    out.push(b'}');
    Ok(())
}

/// The end of a `file` part's object: its `filename` when there is one.
fn file_name(out: &mut Vec<u8>, doc: &Document) {
    if let Some(name) = &doc.filename {
        out.extend_from_slice(b",\"filename\":");
        escape_into(out, name);
    }
    out.push(b'}');
}

/// An assistant turn: one message with its text as `content`, its tool calls, and
/// (OpenAI-made reasoning only) non-standard `reasoning_content`.
fn assistant(out: &mut Vec<u8>, m: &Message) {
    let texts = m.parts.iter().filter_map(Part::as_text);
    let calls = m.parts.iter().filter_map(|p| match p {
        Part::ToolCall(c) => Some(c),
        _ => None,
    });
    let has_texts = texts.clone().next().is_some();
    let has_calls = calls.clone().next().is_some();
    if !has_texts && !has_calls {
        return;
    }
    separate(out);
    out.extend_from_slice(b"{\"role\":\"assistant\"");
    if has_texts {
        out.extend_from_slice(b",\"content\":");
        text_content(out, texts);
    }
    if has_calls {
        out.extend_from_slice(b",\"tool_calls\":[");
        for (n, c) in calls.enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"id\":");
            escape_into(out, ids::split_signature(&c.id).0);
            out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
            escape_into(out, &upstream_cow(ApiShape::OpenAiChat, &c.name));
            out.extend_from_slice(b",\"arguments\":");
            // OpenAI wants a JSON string; other shapes may leave it empty.
            let arguments = if c.arguments.trim().is_empty() {
                "{}"
            } else {
                &c.arguments
            };
            escape_into(out, arguments);
            out.extend_from_slice(b"}}");
        }
        out.push(b']');
    }
    let reasoning = joined(m.parts.iter().filter_map(|p| match p {
        Part::Reasoning(r) if r.source == Some(Family::OpenAi) => Some(r.text.as_str()),
        _ => None,
    }));
    if !reasoning.is_empty() {
        out.extend_from_slice(b",\"reasoning_content\":");
        escape_into(out, &reasoning);
    }
    out.push(b'}');
}

fn response_format(out: &mut Vec<u8>, format: &ResponseFormat) {
    out.extend_from_slice(b",\"response_format\":{\"type\":");
    match format {
        ResponseFormat::Text => out.extend_from_slice(b"\"text\""),
        ResponseFormat::JsonObject => out.extend_from_slice(b"\"json_object\""),
        ResponseFormat::JsonSchema {
            name,
            description,
            schema,
            strict,
        } => {
            out.extend_from_slice(b"\"json_schema\",\"json_schema\":{\"name\":");
            // OpenAI requires a name; other shapes have none.
            escape_into(out, if name.is_empty() { "response" } else { name });
            if let Some(d) = description {
                out.extend_from_slice(b",\"description\":");
                escape_into(out, d);
            }
            out.extend_from_slice(b",\"schema\":");
            if write_into(out, schema).is_err() {
                // Not reached: a `Value` always serialises.
                out.extend_from_slice(b"null");
            }
            if let Some(strict) = strict {
                out.extend_from_slice(if *strict {
                    b",\"strict\":true"
                } else {
                    b",\"strict\":false"
                });
            }
            out.push(b'}');
        }
    }
    out.push(b'}');
}

/// `"tools":[…]` after a comma, when there are tools.
fn tools(out: &mut Vec<u8>, req: &ChatRequest) {
    for (n, t) in req.tools.iter().enumerate() {
        out.extend_from_slice(if n == 0 {
            b",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
        } else {
            b",{\"type\":\"function\",\"function\":{\"name\":"
        });
        escape_into(out, &upstream_cow(ApiShape::OpenAiChat, &t.name));
        if let Some(d) = &t.description {
            out.extend_from_slice(b",\"description\":");
            escape_into(out, d);
        }
        if let Some(schema) = &t.parameters {
            // Kept JSON text, written as is (as serde_json writes a `RawValue`).
            out.extend_from_slice(b",\"parameters\":");
            out.extend_from_slice(schema.get().as_bytes());
        }
        if let Some(strict) = t.strict {
            out.extend_from_slice(if strict {
                b",\"strict\":true"
            } else {
                b",\"strict\":false"
            });
        }
        out.extend_from_slice(b"}}");
    }
    if !req.tools.is_empty() {
        out.push(b']');
    }
}

/// `"tool_choice":…` after a comma: a mode's name, or an object written as its
/// `Value` was (keys sorted).
fn tool_choice(out: &mut Vec<u8>, choice: &ToolChoice) {
    fn function(out: &mut Vec<u8>, name: &str) {
        out.extend_from_slice(b"{\"function\":{\"name\":");
        escape_into(out, &upstream_cow(ApiShape::OpenAiChat, name));
        out.extend_from_slice(b"},\"type\":\"function\"}");
    }
    out.extend_from_slice(b",\"tool_choice\":");
    match choice {
        ToolChoice::Auto => out.extend_from_slice(b"\"auto\""),
        ToolChoice::None => out.extend_from_slice(b"\"none\""),
        ToolChoice::Required => out.extend_from_slice(b"\"required\""),
        ToolChoice::Tool(name) => function(out, name),
        ToolChoice::Allowed { names, required } => {
            out.extend_from_slice(b"{\"allowed_tools\":{\"mode\":");
            out.extend_from_slice(if *required {
                b"\"required\""
            } else {
                b"\"auto\""
            });
            out.extend_from_slice(b",\"tools\":[");
            for (n, name) in names.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                function(out, name);
            }
            out.extend_from_slice(b"]},\"type\":\"allowed_tools\"}");
        }
    }
}

#[cfg(test)]
mod tests;
