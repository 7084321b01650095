//! Borrowed views of Anthropic request bodies: the typed fast path of the request
//! decoder.
//!
//! The body is read straight into borrowed structs (no `serde_json::Value` tree, no
//! `flatten`; a map visitor keeps the unknown top-level members), and the canonical
//! request is built from them. The path covers the common
//! constructs only: any failure, and anything it does not cover (server tools and
//! blocks, unknown block types, `tool_result` content the walk would refuse), returns
//! `None` so that the field-by-field walk in `request.rs` decodes the body instead. That
//! keeps every result and every error (with its path) exactly the walk's.
//!
//! Two places where the walk goes through a `Value` and prints it again (tool `input`
//! becomes the call's arguments, `input_schema` the tool's parameters) are reproduced
//! by `crate::canonical_json`, which writes the same text serde_json would (compact, object
//! keys sorted) for the values it can prove it handles, and defers to a real `Value`
//! round trip for the rest (escapes, fractions, exponents, duplicate keys).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use gateway_protocol::{
    ChatRequest, Document, Family, Image, Message, Part, Reasoning, Role, Tool, ToolCall,
    ToolChoice, ToolResult,
};
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::request::{self, FAMILY, KNOWN};
use super::wire;
use crate::borrow::RawText;
use crate::canonical_json::Canonical;
use crate::ids;
use crate::json_text::{Fields, Scan};

/// Nesting at or beyond this depth is left to the walk (serde_json refuses 128 levels,
/// and skipped values would not be counted here).
const MAX_DEPTH: usize = 100;

/// The top level of a body, read by a map visitor (no `flatten`): known keys into
/// typed fields, unknown ones into `unknown` (they become extensions).
#[derive(Default)]
pub(super) struct Body<'a> {
    pub(super) model: Option<String>,
    pub(super) max_tokens: Option<u64>,
    pub(super) temperature: Option<f64>,
    pub(super) top_p: Option<f64>,
    pub(super) top_k: Option<u64>,
    pub(super) stop_sequences: Option<Vec<String>>,
    pub(super) stream: Option<bool>,
    pub(super) metadata: Option<wire::Metadata>,
    pub(super) system: Option<System<'a>>,
    pub(super) messages: Option<Vec<Msg<'a>>>,
    pub(super) tools: Option<Vec<FastTool<'a>>>,
    pub(super) tool_choice: Option<RawText<'a>>,
    pub(super) thinking: Option<RawText<'a>>,
    pub(super) output_config: Option<RawText<'a>>,
    pub(super) patchbay: Option<RawText<'a>>,
    pub(super) unknown: Vec<(Cow<'a, str>, Value)>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Body<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(BodyVisitor(PhantomData))
    }
}

struct BodyVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for BodyVisitor<'a> {
    type Value = Body<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut b = Body::default();
        let mut seen = 0u16;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let bit = match KNOWN.iter().position(|k| *k == key) {
                Some(n) => 1u16 << n,
                None => {
                    let value: Value = map.next_value()?;
                    b.unknown.push((key, value));
                    continue;
                }
            };
            if seen & bit != 0 {
                return Err(serde::de::Error::custom("duplicate field"));
            }
            seen |= bit;
            match &*key {
                "model" => b.model = map.next_value()?,
                "max_tokens" => b.max_tokens = map.next_value()?,
                "messages" => b.messages = map.next_value()?,
                "system" => b.system = map.next_value()?,
                "stop_sequences" => b.stop_sequences = map.next_value()?,
                "temperature" => b.temperature = map.next_value()?,
                "top_p" => b.top_p = map.next_value()?,
                "top_k" => b.top_k = map.next_value()?,
                "stream" => b.stream = map.next_value()?,
                "metadata" => b.metadata = map.next_value()?,
                "tools" => b.tools = map.next_value()?,
                "tool_choice" => b.tool_choice = map.next_value()?,
                "thinking" => b.thinking = map.next_value()?,
                "output_config" => b.output_config = map.next_value()?,
                "patchbay" => b.patchbay = map.next_value()?,
                _ => return Err(serde::de::Error::custom("unmapped known field")),
            }
        }
        Ok(b)
    }
}

/// A map key, borrowed from the body unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// `system`: a string or text blocks (as `wire::System`, which reads blocks as
/// `wire::TextBlock` whatever their `type`).
pub(super) enum System<'a> {
    Text(String),
    Blocks(Vec<SystemBlock<'a>>),
}

#[derive(Deserialize)]
pub(super) struct SystemBlock<'a> {
    pub(super) text: String,
    #[serde(default, borrow)]
    pub(super) cache_control: Option<RawText<'a>>,
}

#[derive(Deserialize)]
pub(super) struct Msg<'a> {
    #[serde(borrow)]
    pub(super) role: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) content: Content<'a>,
}

/// Message or `tool_result` content: a string or blocks.
pub(super) enum Content<'a> {
    Text(String),
    Blocks(Vec<Block<'a>>),
}

/// Every block kind's fields in one struct (an internally tagged enum would buffer).
/// A field another kind does not read only has to have its own kind's type here.
#[derive(Deserialize)]
pub(super) struct Block<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: Cow<'a, str>,
    #[serde(default)]
    pub(super) text: Option<String>,
    #[serde(default, borrow)]
    pub(super) cache_control: Option<RawText<'a>>,
    #[serde(default, borrow)]
    pub(super) source: Option<RawText<'a>>,
    #[serde(default)]
    pub(super) title: Option<String>,
    #[serde(default, borrow)]
    pub(super) id: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default, borrow)]
    pub(super) input: Option<Canonical<'a>>,
    #[serde(default, borrow)]
    pub(super) tool_use_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) content: Option<Content<'a>>,
    #[serde(default)]
    pub(super) is_error: Option<bool>,
    #[serde(default)]
    pub(super) thinking: Option<String>,
    #[serde(default)]
    pub(super) signature: Present<String>,
    #[serde(default)]
    pub(super) data: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct FastTool<'a> {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default, borrow)]
    pub(super) input_schema: Option<Canonical<'a>>,
    #[serde(default)]
    pub(super) strict: Option<bool>,
    #[serde(default, borrow)]
    pub(super) cache_control: Option<RawText<'a>>,
    #[serde(default, rename = "type", borrow)]
    pub(super) kind: Option<Cow<'a, str>>,
}

/// A field that may be absent but, when present, must be a `T` (`null` included, so a
/// `String` field refuses `null` as the walk's `#[serde(default)] String` does).
#[derive(Default)]
pub(super) enum Present<T> {
    #[default]
    Absent,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Present<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Present::Value)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrOrSeq::<Block<'a>>(PhantomData))
            .map(|v| match v {
                StrOrSeqValue::Str(s) => Content::Text(s),
                StrOrSeqValue::Seq(b) => Content::Blocks(b),
            })
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for System<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrOrSeq::<SystemBlock<'a>>(PhantomData))
            .map(|v| match v {
                StrOrSeqValue::Str(s) => System::Text(s),
                StrOrSeqValue::Seq(b) => System::Blocks(b),
            })
    }
}

enum StrOrSeqValue<T> {
    Str(String),
    Seq(Vec<T>),
}

struct StrOrSeq<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for StrOrSeq<T> {
    type Value = StrOrSeqValue<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(StrOrSeqValue::Str(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(StrOrSeqValue::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element::<T>()? {
            items.push(item);
        }
        Ok(StrOrSeqValue::Seq(items))
    }
}

/// Decodes `body` when the fast path covers it; `None` sends it to the walk.
/// The hand reader (`request_scan.rs`) reads common bodies; serde reads the rest.
pub(super) fn decode(body: &[u8], require_max_tokens: bool) -> Option<ChatRequest> {
    // Checked once here, so neither reader checks each string again.
    let text = std::str::from_utf8(body).ok()?;
    if let Some(b) = super::request_scan::scan(text) {
        return build(b, require_max_tokens);
    }
    let first = body.iter().find(|c| !c.is_ascii_whitespace());
    if first != Some(&b'{') || !safe_to_skip(body) {
        return None;
    }
    let b: Body<'_> = serde_json::from_str(text).ok()?;
    build(b, require_max_tokens)
}

/// For the agreement test: the fast path's result from the hand reader's view and
/// from serde's, when the hand reader reads `text`.
#[cfg(test)]
pub(crate) fn decode_both(text: &str) -> Option<(String, String)> {
    super::request_scan::scan(text)?;
    let scanned = [true, false].map(|require| {
        let view = super::request_scan::scan(text);
        format!("{:?}", view.and_then(|b| build(b, require)))
    });
    let serde = [true, false].map(|require| {
        let view = serde_json::from_str::<Body<'_>>(text).ok();
        format!("{:?}", view.and_then(|b| build(b, require)))
    });
    Some((scanned.join(" | "), serde.join(" | ")))
}

/// The canonical request from a body's view; `None` sends it to the walk.
fn build(b: Body<'_>, require_max_tokens: bool) -> Option<ChatRequest> {
    let mut req = ChatRequest {
        model: b.model?,
        ..ChatRequest::default()
    };
    req.sampling.max_output_tokens = match (b.max_tokens, require_max_tokens) {
        (None, true) => return None,
        (m, _) => m,
    };
    req.sampling.temperature = b.temperature;
    req.sampling.top_p = b.top_p;
    req.sampling.top_k = b.top_k;
    req.sampling.stop = b.stop_sequences.unwrap_or_default();
    req.stream = b.stream.unwrap_or(false);
    req.include_usage = req.stream;
    if let Some(meta) = b.metadata {
        req.user = meta.user_id;
    }
    if let Some(system) = b.system {
        req.system = match system {
            System::Text(t) => vec![Part::text(t)],
            System::Blocks(blocks) => {
                let mut parts = Vec::with_capacity(blocks.len());
                for block in blocks {
                    parts.push(Part::Text {
                        text: block.text,
                        cache_control: raw_value(block.cache_control)?,
                    });
                }
                parts
            }
        };
    }
    for msg in b.messages? {
        let parts = content(msg.content, false)?;
        match &*msg.role {
            "user" => req.messages.push(Message {
                role: Role::User,
                parts,
            }),
            "assistant" => req.messages.push(Message {
                role: Role::Assistant,
                parts,
            }),
            "system" => req.system.extend(parts),
            _ => return None,
        }
    }
    for tool in b.tools.unwrap_or_default() {
        if !matches!(tool.kind.as_deref(), None | Some("custom")) {
            return None;
        }
        let parameters = match tool.input_schema {
            Some(schema) => Some(schema.into_raw_json()?),
            None => None,
        };
        req.tools.push(Tool {
            name: tool.name?,
            description: tool.description,
            parameters,
            strict: tool.strict,
            cache_control: raw_value(tool.cache_control)?,
        });
    }
    if let Some(raw) = b.tool_choice {
        let choice = match plain_tool_choice(raw.0) {
            Some(choice) => choice,
            None => request::at(parse(raw)?, "tool_choice").ok()?,
        };
        let (choice, disable) = match choice {
            wire::ToolChoice::Auto {
                disable_parallel_tool_use,
            } => (ToolChoice::Auto, disable_parallel_tool_use),
            wire::ToolChoice::Any {
                disable_parallel_tool_use,
            } => (ToolChoice::Required, disable_parallel_tool_use),
            wire::ToolChoice::Tool {
                name,
                disable_parallel_tool_use,
            } => (ToolChoice::Tool(name), disable_parallel_tool_use),
            wire::ToolChoice::None => (ToolChoice::None, None),
        };
        req.tool_choice = Some(choice);
        if disable == Some(true) {
            req.parallel_tool_calls = Some(false);
        }
    }
    if b.thinking.is_some() || b.output_config.is_some() {
        let mut map = Map::new();
        if let Some(raw) = b.thinking {
            map.insert("thinking".to_owned(), parse(raw)?);
        }
        if let Some(raw) = b.output_config {
            map.insert("output_config".to_owned(), parse(raw)?);
        }
        request::decode_reasoning(&mut req, &map).ok()?;
    }
    // Unknown top-level members become extensions (later duplicates win, as in a map).
    for (key, value) in b.unknown {
        req.extensions.insert(FAMILY, key.into_owned(), value);
    }
    if let Some(raw) = b.patchbay {
        crate::caller_ext::merge_patchbay(&parse(raw)?, &mut req.extensions).ok()?;
    }
    Some(req)
}

/// The common `tool_choice` forms read by hand (a `Value` and a tagged-enum read
/// through it cost ~3 k instructions): an object of `type`, and `name` for `tool`,
/// and `disable_parallel_tool_use` except for `none`. Anything else is `None`, for
/// the serde read.
fn plain_tool_choice(text: &str) -> Option<wire::ToolChoice> {
    let mut s = Scan::new(text);
    let mut seen = Fields::default();
    let (mut kind, mut name, mut disable, mut has_disable) = (None, None, None, false);
    s.object(|s, key| {
        match key {
            "type" => {
                seen.first(0)?;
                kind = Some(s.str()?);
            }
            "name" => {
                seen.first(1)?;
                name = Some(s.str()?.into_owned());
            }
            "disable_parallel_tool_use" => {
                seen.first(2)?;
                has_disable = true;
                disable = s.opt(Scan::bool)?;
            }
            _ => return None,
        }
        Some(())
    })?;
    s.end()?;
    let disable_parallel_tool_use = disable;
    Some(match (kind?.as_ref(), name) {
        ("auto", None) => wire::ToolChoice::Auto {
            disable_parallel_tool_use,
        },
        ("any", None) => wire::ToolChoice::Any {
            disable_parallel_tool_use,
        },
        ("tool", Some(name)) => wire::ToolChoice::Tool {
            name,
            disable_parallel_tool_use,
        },
        ("none", None) if !has_disable => wire::ToolChoice::None,
        _ => return None,
    })
}

fn parse(raw: RawText<'_>) -> Option<Value> {
    serde_json::from_str(raw.0).ok()
}

/// An optional `Value` field read as raw text: `Some(None)` when absent.
#[allow(clippy::option_option)]
fn raw_value(raw: Option<RawText<'_>>) -> Option<Option<Value>> {
    match raw {
        None => Some(None),
        Some(raw) => parse(raw).map(Some),
    }
}

fn content(content: Content<'_>, nested: bool) -> Option<Vec<Part>> {
    match content {
        Content::Text(text) => Some(vec![Part::text(text)]),
        Content::Blocks(mut blocks) => {
            // Blocks are read in place: a block is a large struct, and moving it out
            // of the vector costs a copy of all of it.
            let mut parts = Vec::with_capacity(blocks.len());
            for block in &mut blocks {
                parts.push(block_part(block, nested)?);
            }
            Some(parts)
        }
    }
}

fn block_part(b: &mut Block<'_>, nested: bool) -> Option<Part> {
    if nested && !matches!(&*b.kind, "text" | "image" | "document") {
        return None;
    }
    Some(match &*b.kind {
        "text" => Part::Text {
            text: b.text.take()?,
            cache_control: raw_value(b.cache_control)?,
        },
        "image" => {
            let source: wire::Source = serde_json::from_value(parse(b.source?)?).ok()?;
            Part::Image(Image {
                source: request::source_to_canonical(source, "", false).ok()?,
                detail: None,
                cache_control: raw_value(b.cache_control)?,
            })
        }
        "document" => {
            let source: wire::Source = serde_json::from_value(parse(b.source?)?).ok()?;
            Part::Document(Document {
                source: request::source_to_canonical(source, "", true).ok()?,
                filename: None,
                title: b.title.take(),
                cache_control: raw_value(b.cache_control)?,
            })
        }
        "tool_use" => {
            let raw_id = b.id.take()?;
            let (id, signature) = ids::split_signature(&raw_id);
            let name = b.name.take()?;
            raw_value(b.cache_control)?;
            let arguments = match b.input.take() {
                None => "{}".to_owned(),
                Some(Canonical::Written(text)) => text,
                Some(Canonical::Raw(raw)) => match crate::canonical_json::canonical_json(raw.0) {
                    Some(text) => text,
                    None => parse(raw)?.to_string(),
                },
            };
            Part::ToolCall(ToolCall {
                id: id.to_owned(),
                name,
                arguments,
                signature,
            })
        }
        "tool_result" => {
            let call_id = ids::split_signature(&b.tool_use_id.take()?).0.to_owned();
            raw_value(b.cache_control)?;
            let content = match b.content.take() {
                None => Vec::new(),
                Some(c) => content(c, true)?,
            };
            Part::ToolResult(ToolResult {
                call_id,
                name: None,
                content,
                is_error: b.is_error.unwrap_or(false),
            })
        }
        "thinking" => Part::Reasoning(Reasoning {
            text: b.thinking.take()?,
            signature: Some(match std::mem::take(&mut b.signature) {
                Present::Absent => String::new(),
                Present::Value(s) => s,
            }),
            source: Some(Family::Anthropic),
            ..Reasoning::default()
        }),
        "redacted_thinking" => Part::Reasoning(Reasoning {
            redacted: Some(b.data.take()?),
            source: Some(Family::Anthropic),
            ..Reasoning::default()
        }),
        _ => return None,
    })
}

/// True when skipping a value without building it cannot hide an error the walk (which
/// builds every value) would report: the body holds no surrogate escapes, no
/// number with an exponent or with hundreds of digits (out of `f64` range), and does
/// not nest deeply. Conservative: a `false` only costs the walk.
/// (`decode` checks the UTF-8.)
fn safe_to_skip(body: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut digits = 0usize;
    let mut i = 0;
    while let Some(&c) = body.get(i) {
        match c {
            b'"' => {
                i += 1;
                loop {
                    // An escape as the last byte steps past the end.
                    let rest = body.get(i..).unwrap_or_default();
                    let Some(k) = crate::swar::find_quote_or_backslash(rest) else {
                        return false;
                    };
                    i += k;
                    if body[i] == b'"' {
                        break;
                    }
                    if body.get(i + 1) == Some(&b'u')
                        && matches!(body.get(i + 2), Some(b'd' | b'D'))
                    {
                        return false;
                    }
                    i += 2;
                }
                digits = 0;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth >= MAX_DEPTH {
                    return false;
                }
                digits = 0;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                digits = 0;
            }
            b'0'..=b'9' => {
                digits += 1;
                if digits > 300 {
                    return false;
                }
            }
            b'e' | b'E' if digits > 0 || body.get(i.wrapping_sub(1)) == Some(&b'.') => {
                return false;
            }
            b'.' => {}
            _ => digits = 0,
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::{Path, PathBuf};

    use super::*;

    fn bodies() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = vec![root.join("benches/data/anthropic_request.json")];
        let mut stack = vec![root.join("tests/fixtures/anthropic")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.file_name().is_some_and(|n| n == "request.json") {
                    out.push(path);
                }
            }
        }
        out
    }

    /// Equal as values and as printed (so raw JSON texts are identical, not just
    /// equivalent), and errors identical.
    fn same(body: &[u8], what: &str) {
        for require in [true, false] {
            let walk = request::decode_walk(body, require);
            let fast = request::decode_with(body, require);
            match (&walk, &fast) {
                (Ok(w), Ok(f)) => {
                    assert_eq!(w, f, "{what}");
                    assert_eq!(format!("{w:?}"), format!("{f:?}"), "{what}");
                }
                (Err(w), Err(f)) => assert_eq!(w.to_string(), f.to_string(), "{what}"),
                _ => panic!("{what}: walk {walk:?} but fast {fast:?}"),
            }
        }
    }

    #[test]
    fn fast_path_matches_the_walk_on_every_fixture() {
        let mut taken = 0;
        let files = bodies();
        assert!(files.len() > 5);
        for path in &files {
            let body = std::fs::read(path).unwrap();
            same(&body, &path.display().to_string());
            if decode(&body, false).is_some() {
                taken += 1;
            }
        }
        // The bench body and most fixtures take the fast path.
        let bench = std::fs::read(&files[0]).unwrap();
        assert!(decode(&bench, true).is_some());
        assert!(taken * 2 > files.len(), "{taken} of {}", files.len());
    }

    #[test]
    fn fast_path_matches_the_walk_on_edge_cases() {
        let cases: &[&str] = &[
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"f","input":{"b": [1, 2, {"z":1,"a":null}], "a": "x"}}]}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"f","input":{"a":1.50,"b":"\u00e9","c":-0,"d":1e2}}]}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"f","input":{"a":1,"a":2}}]}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"f","input":null}]}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"f"}]}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"thinking","thinking":"t","signature":null}]}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"thinking","thinking":"t"}]}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"t","x":1e999}]}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"t","x":"\ud800"}]}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"t","text":"u"}]}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"tool_use","id":"b","name":"f"}]}]}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":null,"is_error":true}]}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"bot","content":"x"}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}],"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[],"tools":[{"name":"f","input_schema":{"type":"object","properties":{"b":{"type":"integer","minimum":0.5}}}},{"type":"web_search_20250305","name":"web_search"}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[],"tools":[{"name":"f","input_schema":{"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}}],"tool_choice":{"type":"any","disable_parallel_tool_use":true}}"#,
            r#"{"model":"m","max_tokens":5,"messages":[],"thinking":{"type":"adaptive"},"output_config":{"effort":"high"},"x":1,"x":2,"patchbay":{"ext":{"anthropic":{"y":3}}}}"#,
            r#"{"model":"m","max_tokens":5,"messages":[],"thinking":{"type":"enabled"}}"#,
            r#"{"model":"m","max_tokens":5,"messages":[],"metadata":{"user_id":"u"},"stop_sequences":["a"],"temperature":1,"top_k":3,"stream":true}"#,
            r#"{"mod\u0065l":"m","max_tokens":5,"messages":[],"other\u0021":[1]}"#,
            r#"["m",5]"#,
            r#"{"model":"m","max_tokens":5,"messages":[]} x"#,
            r#"{"model":null,"max_tokens":5,"messages":[]}"#,
        ];
        for case in cases {
            same(case.as_bytes(), case);
        }
    }

    #[test]
    fn plain_tool_choices_read_as_serde_reads_them() {
        let cases = [
            r#"{"type":"auto"}"#,
            r#"{"type": "any", "disable_parallel_tool_use": true}"#,
            r#"{"disable_parallel_tool_use":null,"type":"auto"}"#,
            r#"{"type":"tool","name":"f"}"#,
            r#"{"type":"tool","name":"f","disable_parallel_tool_use":false}"#,
            r#"{"type":"none"}"#,
            r#"{"type":"none","disable_parallel_tool_use":true}"#,
            r#"{"type":"tool"}"#,
            r#"{"type":"auto","name":"f"}"#,
            r#"{"type":"auto","type":"any"}"#,
            r#"{"type":"bogus"}"#,
            r#"{"type":"auto","x":1}"#,
            r#"{"type":"auto","disable_parallel_tool_use":1}"#,
            r#"["auto"]"#,
        ];
        let mut read = 0;
        for text in cases {
            let serde = request::at::<wire::ToolChoice>(serde_json::from_str(text).unwrap(), "t");
            if let Some(ours) = plain_tool_choice(text) {
                read += 1;
                assert_eq!(Some(ours), serde.ok(), "{text}");
            }
        }
        assert_eq!(read, 6);
    }

    #[test]
    fn a_body_ending_in_an_escape_inside_a_string_is_an_error_not_a_panic() {
        // Found by the request_decoders fuzz target: the scan stepped over the escaped
        // byte past the end of the body and sliced out of range.
        for case in [r#"{"model":"m","max_tokens":5,"x":"\"#, r#"{"a":"b\"#] {
            assert!(!safe_to_skip(case.as_bytes()), "{case}");
            same(case.as_bytes(), case);
            assert!(
                request::decode_with(case.as_bytes(), false).is_err(),
                "{case}"
            );
        }
    }
}
