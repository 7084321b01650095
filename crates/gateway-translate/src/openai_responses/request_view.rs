//! Borrowed views of Responses request bodies, and the fast request decoder built on
//! them: typed, borrowed structs read straight from the body, no
//! `serde_json::Value` per item or tool and no `#[serde(flatten)]` buffering. It
//! accepts only what it can decode exactly like [`super::request::decode_slow`]; on
//! anything else (bad input, rare part types) it gives up and the caller falls back to
//! the path-aware decoder, so errors and their paths are unchanged.

use std::borrow::Cow;

use gateway_protocol::{
    ApiShape, BindingField, ChatRequest, Effort, Family, Message, Part, ReasoningConfig, Role,
    Tool, ToolCall, ToolResult,
};
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{messages, request, wire};
use crate::borrow::{RawText, Str};
use crate::canonical_json::Canonical;
use crate::ids;

/// Top-level keys with a typed slot; every other key goes to `extensions`.
const KNOWN: [&str; 13] = [
    "model",
    "input",
    "instructions",
    "max_output_tokens",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "reasoning",
    "stream",
    "user",
];

/// The top level. Known keys are read typed; the others are kept for `extensions`.
/// A repeated key is an error (the caller falls back).
#[derive(Default)]
pub(super) struct Top<'a> {
    pub(super) model: Option<Cow<'a, str>>,
    pub(super) input: Option<StrOrSeq<'a, MapOnly<ItemF<'a>>>>,
    pub(super) instructions: Option<Cow<'a, str>>,
    pub(super) max_output_tokens: Option<u64>,
    pub(super) temperature: Option<f64>,
    pub(super) top_p: Option<f64>,
    pub(super) tools: Option<Vec<MapOnly<ToolF<'a>>>>,
    pub(super) tool_choice: Option<Value>,
    pub(super) parallel_tool_calls: Option<bool>,
    pub(super) text: Option<wire::TextConfig>,
    pub(super) reasoning: Option<wire::ReasoningParam>,
    pub(super) stream: Option<bool>,
    pub(super) user: Option<Cow<'a, str>>,
    pub(super) extra: Map<String, Value>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Top<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Top<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a request object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut top = Top::default();
                let mut seen = 0u16;
                while let Some(Str(key)) = map.next_key::<Str<'a>>()? {
                    let Some(bit) = KNOWN.iter().position(|k| *k == key) else {
                        if top.extra.contains_key(key.as_ref()) {
                            return Err(A::Error::custom("duplicate key"));
                        }
                        let value: Value = map.next_value()?;
                        top.extra.insert(key.into_owned(), value);
                        continue;
                    };
                    if seen & (1 << bit) != 0 {
                        return Err(A::Error::custom("duplicate key"));
                    }
                    seen |= 1 << bit;
                    match bit {
                        0 => top.model = Some(map.next_value::<Str<'a>>()?.0),
                        1 => top.input = map.next_value()?,
                        2 => top.instructions = map.next_value::<Option<Str<'a>>>()?.map(|s| s.0),
                        3 => top.max_output_tokens = map.next_value()?,
                        4 => top.temperature = map.next_value()?,
                        5 => top.top_p = map.next_value()?,
                        6 => top.tools = map.next_value()?,
                        7 => top.tool_choice = map.next_value()?,
                        8 => top.parallel_tool_calls = map.next_value()?,
                        9 => top.text = map.next_value()?,
                        10 => top.reasoning = map.next_value()?,
                        11 => top.stream = map.next_value()?,
                        _ => top.user = map.next_value::<Option<Str<'a>>>()?.map(|s| s.0),
                    }
                }
                Ok(top)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// Every field any input item type reads. Fields whose absence and `null` differ for
/// some item type are kept as raw text when present (`present`).
#[derive(Deserialize)]
pub(super) struct ItemF<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(super) kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub(super) role: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub(super) content: Option<StrOrSeq<'a, MapOnly<PartF<'a>>>>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) id: Option<RawText<'a>>,
    #[serde(borrow, default)]
    pub(super) call_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub(super) name: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "present_arguments")]
    pub(super) arguments: Option<Arguments<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) status: Option<RawText<'a>>,
    #[serde(borrow, default)]
    pub(super) output: Option<StrOrSeq<'a, MapOnly<PartF<'a>>>>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) summary: Option<RawText<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) encrypted_content: Option<RawText<'a>>,
}

/// A content part (text and refusal parts only take the fast path).
#[derive(Deserialize)]
pub(super) struct PartF<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(super) kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub(super) text: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub(super) refusal: Option<Str<'a>>,
}

/// A function or hosted tool.
#[derive(Deserialize)]
pub(super) struct ToolF<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(super) kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub(super) name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub(super) description: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub(super) parameters: Option<Canonical<'a>>,
    #[serde(default)]
    pub(super) strict: Option<bool>,
}

/// A function call's `arguments`, which must be a string: read as one by the hand
/// reader, or kept as raw text by serde (and read as a string when used).
pub(super) enum Arguments<'a> {
    Read(Cow<'a, str>),
    Raw(RawText<'a>),
}

fn present_arguments<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Arguments<'a>>, D::Error> {
    RawText::deserialize(d).map(|raw| Some(Arguments::Raw(raw)))
}

/// A present field as raw text, `null` included (absent fields stay `None`).
fn present<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<RawText<'a>>, D::Error> {
    RawText::deserialize(d).map(Some)
}

/// A value that must be a JSON object (serde would also read a struct from an array).
pub(super) struct MapOnly<T>(pub(super) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOnly<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = MapOnly<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(MapOnly)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// A string, a list, or anything else (skipped).
pub(super) enum StrOrSeq<'a, T> {
    Str(Cow<'a, str>),
    Seq(Vec<T>),
    Other,
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for StrOrSeq<'a, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a, T>(PhantomData<(&'a (), T)>);
        impl<'de: 'a, 'a, T: Deserialize<'de>> Visitor<'de> for V<'a, T> {
            type Value = StrOrSeq<'a, T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(StrOrSeq::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrOrSeq::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(StrOrSeq::Str(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(StrOrSeq::Seq(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(StrOrSeq::Other)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(StrOrSeq::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(StrOrSeq::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(StrOrSeq::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(StrOrSeq::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(StrOrSeq::Other)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

fn from<'a, T: Deserialize<'a>>(raw: RawText<'a>) -> Option<T> {
    serde_json::from_str(raw.0).ok()
}

/// Decodes `body` exactly as the path-aware decoder would, or `None` to fall back.
///
/// The hand reader (`request_scan.rs`) reads common bodies; serde reads the rest.
pub(crate) fn decode(body: &[u8]) -> Option<ChatRequest> {
    // One UTF-8 check for the whole body instead of one per string.
    let text = std::str::from_utf8(body).ok()?;
    let wire = match super::request_scan::scan(text) {
        Some(wire) => wire,
        None => serde_json::from_str(text).ok()?,
    };
    build(wire)
}

/// For the agreement test: the fast path's result from the hand reader's view and
/// from serde's, when the hand reader reads `text`.
#[cfg(test)]
pub(crate) fn decode_both(text: &str) -> Option<(String, String)> {
    let scanned = build(super::request_scan::scan(text)?);
    let serde = serde_json::from_str::<Top<'_>>(text).ok().and_then(build);
    Some((format!("{scanned:?}"), format!("{serde:?}")))
}

/// The canonical request from a body's view; `None` sends it to the slow path.
fn build(wire: Top<'_>) -> Option<ChatRequest> {
    let mut req = ChatRequest {
        model: wire.model?.into_owned(),
        ..ChatRequest::default()
    };
    if let Some(text) = wire.instructions.filter(|t| !t.is_empty()) {
        req.system.push(Part::text(text.into_owned()));
    }
    match wire.input {
        None => {}
        Some(StrOrSeq::Str(s)) if s.is_empty() => return None,
        Some(StrOrSeq::Str(s)) => req.messages.push(Message::text(Role::User, s.into_owned())),
        Some(StrOrSeq::Seq(list)) => {
            for (i, item) in list.into_iter().enumerate() {
                decode_item(item.0, i, &mut req)?;
            }
        }
        Some(StrOrSeq::Other) => return None,
    }
    for (i, tool) in wire.tools.into_iter().flatten().enumerate() {
        decode_tool(tool.0, i, &mut req)?;
    }
    if let Some(choice) = &wire.tool_choice {
        req.tool_choice = request::decode_tool_choice(choice, &mut req).ok()?;
    }
    req.parallel_tool_calls = wire.parallel_tool_calls;
    if let Some(text) = &wire.text {
        if let Some(format) = &text.format {
            req.response_format = Some(request::decode_format(format).ok()?);
        }
        if let Some(v) = text.verbosity.as_ref().filter(|v| !v.is_null()) {
            req.extensions
                .insert(Family::OpenAi.as_str(), "verbosity", v.clone());
        }
    }
    if let Some(r) = &wire.reasoning {
        let effort = match &r.effort {
            None => None,
            Some(e) => Some(Effort::parse(e)?),
        };
        if effort.is_some() || r.summary.is_some() {
            req.reasoning = Some(ReasoningConfig {
                effort,
                budget_tokens: None,
                include_thoughts: r.summary.is_some(),
            });
        }
    }
    req.sampling.max_output_tokens = wire.max_output_tokens;
    req.sampling.temperature = wire.temperature;
    req.sampling.top_p = wire.top_p;
    req.stream = wire.stream.unwrap_or(false);
    req.user = wire.user.map(Cow::into_owned);
    request::decode_extra(wire.extra, &mut req).ok()?;
    Some(req)
}

fn decode_item(item: ItemF<'_>, i: usize, req: &mut ChatRequest) -> Option<()> {
    match item.kind.as_deref().unwrap_or("message") {
        "message" => decode_message(item, req),
        "function_call" => {
            // Validated as the path-aware decoder's `Option<String>` fields.
            if let Some(raw) = item.id {
                from::<Option<Cow<'_, str>>>(raw)?;
            }
            if let Some(raw) = item.status {
                from::<Option<Cow<'_, str>>>(raw)?;
            }
            let call_id = item.call_id?;
            let name = item.name?;
            let arguments = match item.arguments {
                None => String::new(),
                Some(Arguments::Read(text)) => text.into_owned(),
                Some(Arguments::Raw(raw)) => from::<Cow<'_, str>>(raw)?.into_owned(),
            };
            let (id, signature) = ids::split_signature(&call_id);
            messages::push_assistant(
                req,
                vec![Part::ToolCall(ToolCall {
                    id: id.to_owned(),
                    name: name.into_owned(),
                    arguments,
                    signature,
                })],
            );
            Some(())
        }
        "function_call_output" => {
            let call_id = item.call_id?;
            let content = match item.output? {
                StrOrSeq::Str(s) => vec![Part::text(s.into_owned())],
                StrOrSeq::Seq(parts) => decode_parts(parts, true)?,
                StrOrSeq::Other => return None,
            };
            let (id, _) = ids::split_signature(&call_id);
            crate::turns::push_tool_result(
                req,
                Part::ToolResult(ToolResult {
                    call_id: id.to_owned(),
                    name: None,
                    content,
                    is_error: false,
                }),
            );
            Some(())
        }
        "reasoning" => {
            if item.content.is_some() {
                return None;
            }
            let reasoning = wire::ReasoningItem {
                id: match item.id {
                    None => String::new(),
                    Some(raw) => from(raw)?,
                },
                summary: match item.summary {
                    None => Vec::new(),
                    Some(raw) => from(raw)?,
                },
                content: None,
                encrypted_content: match item.encrypted_content {
                    None => None,
                    Some(raw) => from(raw)?,
                },
            };
            messages::push_assistant(
                req,
                vec![Part::Reasoning(messages::reasoning_from_item(reasoning))],
            );
            Some(())
        }
        t if messages::is_binding_item(t) => {
            req.extensions.binding.push(BindingField {
                only_shape: Some(ApiShape::OpenAiResponses),
                family: Family::OpenAi,
                path: format!("input[{i}]"),
                reason: format!(
                    "input item type `{t}` refers to OpenAI server-side state or a hosted tool"
                ),
            });
            Some(())
        }
        _ => None,
    }
}

fn decode_message(item: ItemF<'_>, req: &mut ChatRequest) -> Option<()> {
    let role = item.role?;
    let role = role.as_ref();
    if !matches!(role, "user" | "assistant" | "system" | "developer") {
        return None;
    }
    let parts = match item.content? {
        StrOrSeq::Str(s) if s.is_empty() => Vec::new(),
        StrOrSeq::Str(s) => vec![Part::text(s.into_owned())],
        StrOrSeq::Seq(parts) => decode_parts(parts, false)?,
        StrOrSeq::Other => return None,
    };
    match role {
        "system" | "developer" => req.system.extend(parts),
        "assistant" => messages::push_assistant(req, parts),
        _ if parts.is_empty() => return None,
        _ => req.messages.push(Message {
            role: Role::User,
            parts,
        }),
    }
    Some(())
}

/// Text and refusal parts; anything else (images, files, errors) falls back.
fn decode_parts(list: Vec<MapOnly<PartF<'_>>>, tool_output: bool) -> Option<Vec<Part>> {
    let mut parts = Vec::with_capacity(list.len());
    for MapOnly(p) in list {
        let kind = p.kind?;
        match &*kind {
            "input_text" | "output_text" if !tool_output || &*kind == "input_text" => {
                let text = p.text?;
                if !text.is_empty() {
                    parts.push(Part::text(text.into_owned()));
                }
            }
            "refusal" if !tool_output => parts.push(Part::text(p.refusal?.into_owned())),
            _ => return None,
        }
    }
    Some(parts)
}

fn decode_tool(tool: ToolF<'_>, i: usize, req: &mut ChatRequest) -> Option<()> {
    let kind = tool.kind?;
    if &*kind == "namespace" {
        // Flattened by the full decoder.
        return None;
    }
    if &*kind == "function" {
        let parameters = match tool.parameters {
            None => None,
            Some(p) => Some(p.into_raw_json()?),
        };
        req.tools.push(Tool {
            name: tool.name?.into_owned(),
            description: tool.description.map(Str::into_owned),
            parameters,
            strict: tool.strict,
            cache_control: None,
        });
    } else {
        req.extensions.binding.push(BindingField {
            only_shape: Some(ApiShape::OpenAiResponses),
            family: Family::OpenAi,
            path: format!("tools[{i}]"),
            reason: format!("the hosted tool `{}` runs only on OpenAI", &*kind),
        });
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                json_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }

    /// Both decoders on one body: when the fast one answers, it answers exactly what
    /// the path-aware one does (tool schema texts included).
    fn check(body: &[u8], what: &str) -> bool {
        let slow = request::decode_slow(body);
        match decode(body) {
            None => false,
            Some(fast) => {
                let slow = slow.unwrap_or_else(|e| panic!("{what}: fast accepted, slow {e:?}"));
                assert_eq!(fast, slow, "{what}");
                assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{what}");
                true
            }
        }
    }

    #[test]
    fn fast_decoder_matches_the_path_aware_decoder() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        json_files(&root.join("tests/fixtures"), &mut files);
        files.push(root.join("benches/data/responses_request.json"));
        files.sort();
        let mut fast_requests = 0;
        for path in &files {
            let body = std::fs::read(path).expect("readable");
            let what = path.display().to_string();
            let hit = check(&body, &what);
            let is_request = what.contains("openai_responses") && what.ends_with("request.json");
            if hit && is_request {
                fast_requests += 1;
            }
            // Variants: unknown and binding fields, nulls, escapes, duplicates.
            if let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(&body) {
                obj.insert("store".into(), Value::Bool(false));
                obj.insert("previous_response_id".into(), "resp_1".into());
                obj.insert(
                    "patchbay".into(),
                    serde_json::json!({"ext": {"x": {"k": 1}}}),
                );
                obj.insert("tool_choice".into(), Value::Null);
                let mut text = serde_json::to_vec(&obj).expect("encodes");
                check(&text, &format!("{what} +fields"));
                text = serde_json::to_vec_pretty(&obj).expect("encodes");
                check(&text, &format!("{what} pretty"));
                let dup = format!("{{\"store\":true,{}", String::from_utf8_lossy(&text[1..]));
                assert!(!check(dup.as_bytes(), &what), "duplicate keys fall back");
            }
        }
        assert!(
            fast_requests >= 5,
            "only {fast_requests} fixtures on the fast path"
        );
        let bench = std::fs::read(root.join("benches/data/responses_request.json")).expect("bench");
        assert!(
            decode(&bench).is_some(),
            "the benchmark request takes the fast path"
        );
    }

    #[test]
    fn odd_inputs_agree() {
        let bodies = [
            r#"{"model":"m","input":"hi"}"#,
            r#"{"model":"m","input":""}"#,
            r#"{"model":"m","input":null,"tools":null}"#,
            r#"{"model":"m","input":[{"role":"user","content":"a\nb\u00e9"}]}"#,
            r#"{"model":"m","input":[{"type":null,"role":"user","content":[{"type":"input_text","text":""},{"type":"input_text","text":"x"}]}]}"#,
            r#"{"model":"m","input":[{"role":"user","content":""}]}"#,
            r#"{"model":"m","input":[{"role":"system","content":""},{"role":"developer","content":"d"}]}"#,
            r#"{"model":"m","input":[{"role":"assistant","content":[{"type":"refusal","refusal":"no"}]}]}"#,
            r#"{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f"}]}"#,
            r#"{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":null}]}"#,
            r#"{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":[{"type":"output_text","text":"x"}]}]}"#,
            r#"{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"x"}]}]}"#,
            r#"{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":""}]}"#,
            r#"{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":null}]}"#,
            r#"{"model":"m","input":[{"type":"reasoning","id":"rs","summary":[{"type":"summary_text","text":"t"}]}]}"#,
            r#"{"model":"m","input":[{"type":"web_search_call","id":"w"}]}"#,
            r#"{"model":"m","input":[{"type":"bogus"}]}"#,
            r#"{"model":"m","input":[["message"]]}"#,
            r#"{"model":"m","input":[{"role":"user","content":"a","role":"user"}]}"#,
            r#"{"model":"m","tools":[{"type":"function","name":"f","parameters":{"b":1, "a":[1.0,2]}},{"type":"web_search"}]}"#,
            r#"{"model":"m","tools":[{"type":"function","name":"f","parameters":null,"strict":true}]}"#,
            r#"{"model":"m","tools":[{"name":"f"}]}"#,
            r#"{"model":"m","tool_choice":"auto","reasoning":{"effort":"high","summary":"auto"}}"#,
            r#"{"model":"m","reasoning":{"effort":"bogus"}}"#,
            r#"{"model":"m","text":{"format":{"type":"json_object"},"verbosity":"low"}}"#,
            r#"{"model":"m","temperature":1,"top_p":0.5,"max_output_tokens":7,"stream":false,"user":"u"}"#,
            r#"{"model":"m","background":false,"metadata":{"a":"b"},"conversation":"c"}"#,
            r#"{"model":"m","patchbay":{"ext":5}}"#,
            r#"["m"]"#,
            r#"{"model":"m"} x"#,
        ];
        for body in bodies {
            check(body.as_bytes(), body);
        }
    }
}
