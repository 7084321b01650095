//! The body text of a Gemini request, written straight from the canonical request:
//! no wire structs are built, and tool-call arguments and JSON tool results go into
//! the body in their canonical form without a string of their own.
//!
//! Every piece is written as the `Value`-era encoder's serde structs wrote it (field
//! order and skip rules of [`super::wire::WirePart`]); the fixtures and the tests
//! below check the bytes.

use std::borrow::Cow;

use gateway_protocol::{
    ApiShape, Family, MediaSource, Message, Part, RawJson, Role, ToolCall, ToolResult,
};
use serde_json::{Map, Value};

use super::convert::{SKIP_SIGNATURE, is_synthesized_id};
use super::request_encode::{Media, TARGET, call_name, media, part_path};
use crate::canonical_json::{Scratch, write_object};
use crate::error::TranslateError;
use crate::ids::split_signature;
use crate::json_writer::{escape_into, write_into};
use crate::names::upstream_cow;

/// Calls made by one content and answers it holds, for §9.5's check.
#[derive(Clone, Copy, Default)]
struct Turn {
    model: bool,
    calls: usize,
    answers: usize,
}

/// The `contents` array being written: consecutive turns of one role share a content,
/// which is opened by its first part (a turn that writes no part opens none).
pub(super) struct Contents<'o> {
    out: &'o mut Vec<u8>,
    scratch: Scratch,
    /// The open content's role.
    open: Option<&'static str>,
    /// Contents opened so far.
    count: usize,
    /// The content before the open one, once there is one.
    prev: Option<Turn>,
    cur: Turn,
    /// The first content whose calls the next one does not answer: its index, calls
    /// and the answers.
    unanswered: Option<(usize, usize, usize)>,
}

impl<'o> Contents<'o> {
    /// Starts the body: `{"contents":[`.
    pub(super) fn new(out: &'o mut Vec<u8>) -> Self {
        out.extend_from_slice(b"{\"contents\":[");
        Contents {
            out,
            scratch: Scratch::default(),
            open: None,
            count: 0,
            prev: None,
            cur: Turn::default(),
            unanswered: None,
        }
    }

    /// Closes the array; the §9.5 error (found while writing, reported after every
    /// part's own errors) if a model turn's calls are not all answered.
    pub(super) fn finish(mut self) -> Result<(), TranslateError> {
        if self.open.is_some() {
            self.close();
            self.out.extend_from_slice(b"]}");
        }
        self.out.push(b']');
        match self.unanswered {
            None => Ok(()),
            Some((i, calls, answers)) => Err(TranslateError::untranslatable(
                "messages",
                TARGET,
                format!(
                    "Gemini needs one function response per function call: assistant turn {} \
                     made {calls} tool call(s) but the next user turn answers {answers}; send a \
                     tool result for every call",
                    i + 1
                ),
            )),
        }
    }

    /// Ends the open content's count: the pair it closes with the one before is checked.
    fn close(&mut self) {
        if let Some(prev) = self.prev
            && self.unanswered.is_none()
            && prev.model
            && prev.calls > 0
            && self.cur.answers < prev.calls
        {
            self.unanswered = Some((self.count - 2, prev.calls, self.cur.answers));
        }
        self.prev = Some(self.cur);
    }

    /// Before a part of a `role` turn: a comma, or the content it opens.
    fn part_of(&mut self, role: &'static str) {
        if self.open == Some(role) {
            self.out.push(b',');
            return;
        }
        if self.open.is_some() {
            self.close();
            self.out.extend_from_slice(b"]},");
        }
        self.out.extend_from_slice(b"{\"role\":");
        escape_into(self.out, role);
        self.out.extend_from_slice(b",\"parts\":[");
        self.open = Some(role);
        self.count += 1;
        self.cur = Turn {
            model: role == "model",
            ..Turn::default()
        };
    }

    /// The parts of alternated turn `k`.
    pub(super) fn message<'a>(
        &mut self,
        role: Role,
        parts: &[&'a Part],
        k: usize,
        history: &'a [Message],
    ) -> Result<(), TranslateError> {
        let role = match role {
            Role::User => "user",
            Role::Assistant => "model",
        };
        let mut first_call = true;
        for (j, &part) in parts.iter().enumerate() {
            match part {
                Part::Text { text, .. } => {
                    self.part_of(role);
                    self.text_part(text);
                }
                Part::Image(img) => {
                    let m = media(&img.source, || part_path(k, j))?;
                    self.part_of(role);
                    self.media_part(m);
                }
                Part::Document(doc) => {
                    let m = media(&doc.source, || part_path(k, j))?;
                    self.part_of(role);
                    self.media_part(m);
                }
                Part::ToolCall(call) => {
                    self.part_of(role);
                    self.cur.calls += 1;
                    self.call_part(call, std::mem::take(&mut first_call), k, j)?;
                }
                Part::ToolResult(result) => self.result_part(role, result, k, j, history)?,
                Part::Reasoning(r) => {
                    if r.source != Some(Family::Gemini) || r.redacted.is_some() {
                        continue;
                    }
                    if !r.text.is_empty() {
                        self.part_of(role);
                        self.out.extend_from_slice(b"{\"text\":");
                        escape_into(self.out, &r.text);
                        self.out.extend_from_slice(b",\"thought\":true");
                        self.signature(r.signature.as_deref());
                        self.out.push(b'}');
                    } else if let Some(sig) = &r.signature {
                        self.part_of(role);
                        self.out.extend_from_slice(b"{\"text\":\"\"");
                        self.signature(Some(sig));
                        self.out.push(b'}');
                    }
                }
            }
        }
        Ok(())
    }

    fn text_part(&mut self, text: &str) {
        self.out.extend_from_slice(b"{\"text\":");
        escape_into(self.out, text);
        self.out.push(b'}');
    }

    fn media_part(&mut self, m: Media<'_>) {
        match m {
            Media::Inline { mime_type, data } => {
                self.out
                    .extend_from_slice(b"{\"inlineData\":{\"mimeType\":");
                escape_into(self.out, mime_type);
                self.out.extend_from_slice(b",\"data\":");
                escape_into(self.out, data);
                self.out.extend_from_slice(b"}}");
            }
            Media::File(uri) => {
                self.out.extend_from_slice(b"{\"fileData\":{\"fileUri\":");
                escape_into(self.out, uri);
                self.out.extend_from_slice(b"}}");
            }
        }
    }

    /// `,"thoughtSignature":…` when there is one.
    fn signature(&mut self, sig: Option<&str>) {
        if let Some(sig) = sig {
            self.out.extend_from_slice(b",\"thoughtSignature\":");
            escape_into(self.out, sig);
        }
    }

    /// `"id":…,` unless the id was synthesised by a gateway decoder.
    fn id(&mut self, plain: &str) {
        if !is_synthesized_id(plain) {
            self.out.extend_from_slice(b"\"id\":");
            escape_into(self.out, plain);
            self.out.push(b',');
        }
    }

    fn call_part(
        &mut self,
        call: &ToolCall,
        first_call: bool,
        k: usize,
        j: usize,
    ) -> Result<(), TranslateError> {
        let (plain, carried) = split_signature(&call.id);
        let mut signature = call
            .signature
            .as_deref()
            .map(Cow::Borrowed)
            .or(carried.map(Cow::Owned));
        if first_call && signature.is_none() {
            signature = Some(Cow::Borrowed(SKIP_SIGNATURE));
        }
        self.out.extend_from_slice(b"{\"functionCall\":{");
        self.id(plain);
        self.out.extend_from_slice(b"\"name\":");
        escape_into(self.out, &upstream_cow(ApiShape::Gemini, &call.name));
        self.out.extend_from_slice(b",\"args\":");
        if !write_object(self.out, &call.arguments, &mut self.scratch) {
            let tree = args_tree(&call.arguments, k, j)?;
            self.tree(&tree);
        }
        self.out.push(b'}');
        self.signature(signature.as_deref());
        self.out.push(b'}');
        Ok(())
    }

    /// A parsed value, as serde_json writes it.
    fn tree(&mut self, tree: &Value) {
        if write_into(self.out, tree).is_err() {
            // Not reached: a `Value` always serialises.
            self.out.extend_from_slice(b"null");
        }
    }

    /// A `functionResponse` part. Its `response` object is the result text when that is
    /// a JSON object, else the text under `content` (`error` for failures); its media
    /// go under `parts`.
    fn result_part<'a>(
        &mut self,
        role: &'static str,
        result: &'a ToolResult,
        k: usize,
        j: usize,
        history: &'a [Message],
    ) -> Result<(), TranslateError> {
        let plain = split_signature(&result.call_id).0;
        let name = call_name(history, &result.call_id)
            .or(result.name.as_deref())
            .ok_or_else(|| {
                TranslateError::untranslatable(
                    part_path(k, j),
                    TARGET,
                    format!(
                        "Gemini needs the function name of every tool result, and no earlier \
                         assistant tool call has id `{plain}`; send the matching call in the \
                         history"
                    ),
                )
            })?;
        let mut text = Cow::Borrowed("");
        let mut has_media = false;
        for (i, p) in result.content.iter().enumerate() {
            let content_path = || format!("{}.content[{i}]", part_path(k, j));
            match p {
                Part::Text { text: t, .. } => {
                    if text.is_empty() {
                        // Kept whole while there is a single text: no copy.
                        text = Cow::Borrowed(t);
                    } else {
                        let s = text.to_mut();
                        if !t.is_empty() {
                            s.push('\n');
                        }
                        s.push_str(t);
                    }
                }
                Part::Image(_) | Part::Document(_) => {
                    if let Some(source) = media_source(p) {
                        media(source, content_path)?;
                        has_media = true;
                    }
                }
                _ => {
                    return Err(TranslateError::untranslatable(
                        content_path(),
                        TARGET,
                        "tool results may hold only text and media",
                    ));
                }
            }
        }
        self.part_of(role);
        self.cur.answers += 1;
        self.out.extend_from_slice(b"{\"functionResponse\":{");
        self.id(plain);
        self.out.extend_from_slice(b"\"name\":");
        escape_into(self.out, &upstream_cow(ApiShape::Gemini, name));
        self.out.extend_from_slice(b",\"response\":");
        if result.is_error {
            self.wrapped(b"{\"error\":", &text);
        } else if !write_object(self.out, &text, &mut self.scratch) {
            match object_tree(&text) {
                Some(tree) => self.tree(&tree),
                None => self.wrapped(b"{\"content\":", &text),
            }
        }
        if has_media {
            // Checked above, so written without paths for errors.
            self.out.extend_from_slice(b",\"parts\":[");
            let mut first = true;
            for source in result.content.iter().filter_map(media_source) {
                if !std::mem::take(&mut first) {
                    self.out.push(b',');
                }
                self.media_part(media(source, String::new)?);
            }
            self.out.push(b']');
        }
        self.out.extend_from_slice(b"}}");
        Ok(())
    }

    /// `{"key":"text"}`, `open` being `{"key":`.
    fn wrapped(&mut self, open: &[u8], text: &str) {
        self.out.extend_from_slice(open);
        escape_into(self.out, text);
        self.out.push(b'}');
    }
}

/// The source of an image or document part.
fn media_source(part: &Part) -> Option<&MediaSource> {
    match part {
        Part::Image(img) => Some(&img.source),
        Part::Document(d) => Some(&d.source),
        _ => None,
    }
}

/// Call arguments the canonical walk does not cover, parsed: `{}` for blank text,
/// an error for anything but an object.
fn args_tree(arguments: &str, k: usize, j: usize) -> Result<Value, TranslateError> {
    let tree = if arguments.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(arguments).map_err(|e| {
            TranslateError::untranslatable(
                format!("{}.arguments", part_path(k, j)),
                TARGET,
                format!("tool-call arguments are not valid JSON ({e})"),
            )
        })?
    };
    if !tree.is_object() {
        return Err(TranslateError::untranslatable(
            format!("{}.arguments", part_path(k, j)),
            TARGET,
            "Gemini needs tool-call arguments to be a JSON object",
        ));
    }
    Ok(tree)
}

/// `text` parsed, when it is a JSON object (text that does not open with `{` after
/// JSON whitespace cannot be one and is not parsed).
fn object_tree(text: &str) -> Option<Value> {
    let first = text
        .bytes()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(b'{') {
        return None;
    }
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object)
}

/// `"systemInstruction":{"parts":[…]}` after a comma, for the system's non-empty
/// texts (none: nothing); other system parts are an error.
pub(super) fn system(out: &mut Vec<u8>, system: &[Part]) -> Result<(), TranslateError> {
    let mut first = true;
    for (i, p) in system.iter().enumerate() {
        match p {
            Part::Text { text, .. } if !text.is_empty() => {
                out.extend_from_slice(if std::mem::take(&mut first) {
                    b",\"systemInstruction\":{\"parts\":[{\"text\":"
                } else {
                    b",{\"text\":"
                });
                escape_into(out, text);
                out.push(b'}');
            }
            Part::Text { .. } => {}
            _ => {
                return Err(TranslateError::untranslatable(
                    format!("system[{i}]"),
                    TARGET,
                    "Gemini system instructions hold text only",
                ));
            }
        }
    }
    if !first {
        out.extend_from_slice(b"]}");
    }
    Ok(())
}

/// `"tools":[{"functionDeclarations":[…]}]` after a comma, when there are tools.
pub(super) fn tools(out: &mut Vec<u8>, tools: &[gateway_protocol::Tool]) {
    for (n, t) in tools.iter().enumerate() {
        out.extend_from_slice(if n == 0 {
            b",\"tools\":[{\"functionDeclarations\":[{\"name\":"
        } else {
            b",{\"name\":"
        });
        escape_into(out, &upstream_cow(ApiShape::Gemini, &t.name));
        if let Some(d) = &t.description {
            out.extend_from_slice(b",\"description\":");
            escape_into(out, d);
        }
        if let Some(schema) = &t.parameters {
            out.extend_from_slice(b",\"parametersJsonSchema\":");
            raw(out, schema);
        }
        out.push(b'}');
    }
    if !tools.is_empty() {
        out.extend_from_slice(b"]}]");
    }
}

/// JSON text kept as it came, written as is (as serde_json writes a `RawValue`).
fn raw(out: &mut Vec<u8>, value: &RawJson) {
    out.extend_from_slice(value.get().as_bytes());
}

#[cfg(test)]
mod tests;
