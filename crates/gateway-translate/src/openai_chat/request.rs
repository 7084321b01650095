//! Chat Completions requests: a caller's body → canonical, through the borrowed views
//! of `request_view.rs` (the owned wire types name the failure when they refuse). The
//! encoder (canonical → upstream body) is in `request_encode.rs`, re-exported here as
//! [`encode`].

use gateway_protocol::{
    BindingField, ChatRequest, Document, Effort, Family, Image, MediaSource, Message, Part,
    ReasoningConfig, ResponseFormat, Role, Tool, ToolCall, ToolChoice, ToolResult,
};
use serde_json::{Map, Value};

use super::request_scan;
use super::request_view::{ContentIn, FunctionDefIn, MessageIn, RequestIn, StopIn, ToolDefIn};
use super::wire;
use crate::borrow::Str;
use crate::error::TranslateError;
use crate::{ids, json, media};

pub use super::request_encode::encode;

/// Fields only OpenAI understands that change the answer; the value test says when
/// a present field binds (e.g. `n` only above 1).
const BINDING: [(&str, &str); 6] = [
    (
        "n",
        "several choices (`n` > 1) can only be produced by OpenAI",
    ),
    (
        "logprobs",
        "log probabilities can only be produced by OpenAI",
    ),
    ("audio", "audio output can only be produced by OpenAI"),
    (
        "modalities",
        "non-text output modalities can only be produced by OpenAI",
    ),
    ("prediction", "predicted outputs are an OpenAI-only feature"),
    (
        "web_search_options",
        "the hosted web search tool is an OpenAI-only feature",
    ),
];

/// Reads a caller's Chat Completions body into the canonical request.
///
/// The body is read into borrowed twins of the wire types (`RequestIn`), by the hand
/// reader of `request_scan.rs` when it is sure of the body and by serde otherwise; a
/// body serde refuses is read again with the owned wire types, which name the failing
/// field (and, should they accept it after all, give the request).
pub fn decode(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let parsed = match std::str::from_utf8(body) {
        Ok(text) => match request_scan::scan(text) {
            Some(view) => return decode_in(view),
            None => serde_json::from_str::<RequestIn<'_>>(text),
        },
        Err(_) => serde_json::from_slice::<RequestIn<'_>>(body),
    };
    match parsed {
        Ok(w) => decode_in(w),
        Err(_) => decode_wire(body),
    }
}

/// For the agreement test: the canonical request from the hand reader's view and
/// from serde's view (or serde's refusal), when the hand reader reads `text`.
#[cfg(test)]
pub(crate) fn decode_both(text: &str) -> Option<(String, String)> {
    let scanned = decode_in(request_scan::scan(text)?);
    let serde = serde_json::from_str::<RequestIn<'_>>(text)
        .map(decode_in)
        .map_err(|e| e.to_string());
    Some((
        format!("{:?}", Ok::<_, String>(scanned)),
        format!("{serde:?}"),
    ))
}

#[cold]
fn decode_wire(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let w: wire::Request = json::decode_request(body)?;
    decode_in(RequestIn::from_wire(&w))
}

fn decode_in(w: RequestIn<'_>) -> Result<ChatRequest, TranslateError> {
    let mut req = ChatRequest {
        model: w.model.into_owned(),
        stream: w.stream.unwrap_or(false),
        parallel_tool_calls: w.parallel_tool_calls,
        user: w.user.map(Str::into_owned),
        ..ChatRequest::default()
    };
    req.include_usage = req.stream
        && w.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);

    decode_messages(w.messages, &mut req)?;

    let s = &mut req.sampling;
    s.max_output_tokens = w.max_completion_tokens.or(w.max_tokens);
    s.temperature = w.temperature;
    s.top_p = w.top_p;
    s.seed = w.seed;
    s.presence_penalty = w.presence_penalty;
    s.frequency_penalty = w.frequency_penalty;
    s.stop = match w.stop {
        Some(StopIn::One(one)) => vec![one.into_owned()],
        Some(StopIn::Many(many)) => many.into_iter().map(Str::into_owned).collect(),
        None => Vec::new(),
    };

    if let Some(rf) = w.response_format {
        req.response_format = Some(decode_response_format(rf)?);
    }
    if let Some(effort) = w.reasoning_effort {
        let effort = Effort::parse(&effort).ok_or_else(|| {
            TranslateError::invalid(
                "reasoning_effort",
                format!(
                    "unknown reasoning effort `{}`; use none, minimal, low, medium, high, xhigh or max",
                    &*effort
                ),
            )
        })?;
        req.reasoning = Some(ReasoningConfig {
            effort: Some(effort),
            budget_tokens: None,
            include_thoughts: false,
        });
    }

    decode_tools(w.tools, w.functions, &mut req)?;
    if let Some(choice) = &w.tool_choice {
        req.tool_choice = Some(decode_tool_choice(choice, "tool_choice")?);
    } else if let Some(choice) = &w.function_call {
        req.tool_choice = Some(decode_tool_choice(choice, "function_call")?);
    }

    if !w.extra.is_empty() {
        decode_extra(w.extra, &mut req)?;
    }
    Ok(req)
}

/// Unknown top-level fields → `extensions.params["openai"]`, binding fields flagged,
/// and the `patchbay.ext` key merged per provider.
fn decode_extra(extra: Map<String, Value>, req: &mut ChatRequest) -> Result<(), TranslateError> {
    let family = Family::OpenAi.as_str();
    for (key, value) in extra {
        if key == "patchbay" {
            crate::caller_ext::merge_patchbay(&value, &mut req.extensions)?;
            continue;
        }
        if let Some((_, reason)) = BINDING.iter().find(|(k, _)| *k == key) {
            if binds(&key, &value) {
                req.extensions.binding.push(BindingField {
                    only_shape: None,
                    family: Family::OpenAi,
                    path: key.clone(),
                    reason: (*reason).to_owned(),
                });
            }
        }
        req.extensions.insert(family, key, value);
    }
    Ok(())
}

/// Whether a present binding field actually changes the answer.
fn binds(key: &str, value: &Value) -> bool {
    match key {
        "n" => value.as_u64().is_none_or(|n| n > 1),
        "logprobs" => value.as_bool() != Some(false) && !value.is_null(),
        "modalities" => value
            .as_array()
            .is_none_or(|m| m.iter().any(|v| v.as_str() != Some("text"))),
        _ => !value.is_null(),
    }
}

fn decode_response_format(rf: wire::ResponseFormat) -> Result<ResponseFormat, TranslateError> {
    Ok(match rf.kind.as_str() {
        "text" => ResponseFormat::Text,
        "json_object" => ResponseFormat::JsonObject,
        "json_schema" => {
            let js = rf.json_schema.ok_or_else(|| {
                TranslateError::invalid(
                    "response_format.json_schema",
                    "missing field `json_schema` for type `json_schema`",
                )
            })?;
            ResponseFormat::JsonSchema {
                name: js.name,
                description: js.description,
                schema: js.schema.unwrap_or_else(|| Value::Object(Map::new())),
                strict: js.strict,
            }
        }
        other => {
            return Err(TranslateError::invalid(
                "response_format.type",
                format!("unknown response format `{other}`; use text, json_object or json_schema"),
            ));
        }
    })
}

fn decode_tools(
    tools: Option<Vec<ToolDefIn<'_>>>,
    functions: Option<Vec<FunctionDefIn<'_>>>,
    req: &mut ChatRequest,
) -> Result<(), TranslateError> {
    for (i, t) in tools.into_iter().flatten().enumerate() {
        if &*t.kind != "function" {
            req.extensions.binding.push(BindingField {
                only_shape: None,
                family: Family::OpenAi,
                path: format!("tools[{i}]"),
                reason: format!("`{}` tools are an OpenAI-only feature", &*t.kind),
            });
            continue;
        }
        let f = t.function.ok_or_else(|| {
            TranslateError::invalid(format!("tools[{i}].function"), "missing field `function`")
        })?;
        req.tools.push(tool_from(f));
    }
    for f in functions.into_iter().flatten() {
        req.tools.push(tool_from(f));
    }
    Ok(())
}

fn tool_from(f: FunctionDefIn<'_>) -> Tool {
    Tool {
        name: f.name.into_owned(),
        description: f.description.map(Str::into_owned),
        parameters: f.parameters,
        strict: f.strict,
        cache_control: None,
    }
}

fn decode_tool_choice(v: &Value, path: &str) -> Result<ToolChoice, TranslateError> {
    let named = |v: &Value, p: &str| -> Result<String, TranslateError> {
        v.get("function")
            .and_then(|f| f.get("name"))
            .or_else(|| v.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                TranslateError::invalid(format!("{p}.function.name"), "missing tool name")
            })
    };
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            other => Err(TranslateError::invalid(
                path,
                format!("unknown tool choice `{other}`; use auto, none or required"),
            )),
        },
        Value::Object(_) if path == "function_call" => v
            .get("name")
            .and_then(Value::as_str)
            .map(|n| ToolChoice::Tool(n.to_owned()))
            .ok_or_else(|| TranslateError::invalid("function_call.name", "missing function name")),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => named(v, path).map(ToolChoice::Tool),
            Some("allowed_tools") => {
                let at = o.get("allowed_tools").unwrap_or(v);
                let required = match at.get("mode").and_then(Value::as_str) {
                    Some("required") => true,
                    Some("auto") | None => false,
                    Some(other) => {
                        return Err(TranslateError::invalid(
                            format!("{path}.allowed_tools.mode"),
                            format!("unknown mode `{other}`; use auto or required"),
                        ));
                    }
                };
                let mut names = Vec::new();
                let list = at.get("tools").and_then(Value::as_array);
                for (i, t) in list.into_iter().flatten().enumerate() {
                    names.push(named(t, &format!("{path}.allowed_tools.tools[{i}]"))?);
                }
                Ok(ToolChoice::Allowed { names, required })
            }
            _ => Err(TranslateError::invalid(
                format!("{path}.type"),
                "unknown tool choice type; use function or allowed_tools",
            )),
        },
        _ => Err(TranslateError::invalid(
            path,
            "must be a string or an object",
        )),
    }
}

fn msg_path(i: usize) -> String {
    format!("messages[{i}]")
}

fn decode_messages(
    mut msgs: Vec<MessageIn<'_>>,
    req: &mut ChatRequest,
) -> Result<(), TranslateError> {
    // The id of the latest legacy `function_call`, answered by the next `function` message.
    let mut legacy_call: Option<String> = None;
    req.messages.reserve(msgs.len());
    // Each message's fields are taken in place: a message is a large struct, and
    // moving it out of the vector costs a copy of all of it.
    for (i, m) in msgs.iter_mut().enumerate() {
        match &*m.role {
            "system" | "developer" => {
                let parts = text_parts(m.content.take(), i)?;
                req.system.extend(parts);
            }
            "user" => {
                let parts = user_parts(m.content.take(), i)?;
                req.messages.push(Message {
                    role: Role::User,
                    parts,
                });
            }
            "assistant" => {
                let calls = m.tool_calls.as_ref().map_or(0, Vec::len);
                let mut parts = Vec::with_capacity(2 + calls);
                if let Some(r) = m.reasoning_content.take().filter(|r| !r.is_empty()) {
                    parts.push(Part::Reasoning(gateway_protocol::Reasoning {
                        text: r.into_owned(),
                        source: Some(Family::OpenAi),
                        ..Default::default()
                    }));
                }
                parts.extend(assistant_text(m.content.take(), i)?);
                if let Some(r) = m.refusal.take().filter(|r| !r.is_empty()) {
                    parts.push(Part::text(r.into_owned()));
                }
                for (j, c) in m.tool_calls.take().into_iter().flatten().enumerate() {
                    if c.id.is_empty() {
                        return Err(TranslateError::invalid(
                            format!("{}.tool_calls[{j}].id", msg_path(i)),
                            "tool call id must not be empty",
                        ));
                    }
                    let (id, signature) = ids::split_signature(&c.id);
                    parts.push(Part::ToolCall(ToolCall {
                        id: id.to_owned(),
                        name: c.function.name.into_owned(),
                        arguments: c.function.arguments.into_owned(),
                        signature,
                    }));
                }
                if let Some(fc) = m.function_call.take() {
                    let id = ids::synthesize_call_id("legacy", i);
                    legacy_call = Some(id.clone());
                    parts.push(Part::ToolCall(ToolCall {
                        id,
                        name: fc.name.into_owned(),
                        arguments: fc.arguments.into_owned(),
                        signature: None,
                    }));
                }
                req.messages.push(Message {
                    role: Role::Assistant,
                    parts,
                });
            }
            "tool" | "function" => {
                let is_tool = &*m.role == "tool";
                let call_id = if is_tool {
                    let id = m.tool_call_id.as_deref().ok_or_else(|| {
                        TranslateError::invalid(
                            format!("{}.tool_call_id", msg_path(i)),
                            "missing field `tool_call_id`",
                        )
                    })?;
                    ids::split_signature(id).0.to_owned()
                } else {
                    legacy_call
                        .take()
                        .unwrap_or_else(|| ids::synthesize_call_id("legacy", i))
                };
                let content = text_parts(m.content.take(), i)?;
                let name = if is_tool {
                    None
                } else {
                    m.name.take().map(Str::into_owned)
                };
                let result = Part::ToolResult(ToolResult {
                    call_id,
                    name,
                    content,
                    is_error: false,
                });
                crate::turns::push_tool_result(req, result);
            }
            other => {
                return Err(TranslateError::invalid(
                    format!("{}.role", msg_path(i)),
                    format!(
                        "unknown role `{other}`; use system, developer, user, assistant or tool"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Text-only content (system, developer, tool): a string or text parts.
fn text_parts(content: Option<ContentIn<'_>>, i: usize) -> Result<Vec<Part>, TranslateError> {
    match content {
        None => Ok(Vec::new()),
        Some(ContentIn::Text(t)) => Ok(vec![Part::text(t.into_owned())]),
        Some(ContentIn::Parts(parts)) => parts
            .into_iter()
            .enumerate()
            .map(|(j, p)| match (&*p.kind, p.text) {
                ("text", Some(t)) => Ok(Part::text(t.into_owned())),
                ("text", None) => Err(TranslateError::invalid(
                    format!("{}.content[{j}].text", msg_path(i)),
                    "missing field `text`",
                )),
                (other, _) => Err(TranslateError::invalid(
                    format!("{}.content[{j}].type", msg_path(i)),
                    format!("`{other}` parts are not allowed here; only `text`"),
                )),
            })
            .collect(),
    }
}

/// Assistant content: a string or text/refusal parts.
fn assistant_text(content: Option<ContentIn<'_>>, i: usize) -> Result<Vec<Part>, TranslateError> {
    match content {
        Some(ContentIn::Text(t)) if t.is_empty() => Ok(Vec::new()),
        Some(ContentIn::Parts(parts)) => {
            let mut out = Vec::new();
            for (j, p) in parts.into_iter().enumerate() {
                let text = match &*p.kind {
                    "text" => p.text,
                    "refusal" => p.refusal,
                    other => {
                        return Err(TranslateError::invalid(
                            format!("{}.content[{j}].type", msg_path(i)),
                            format!("`{other}` parts are not allowed in assistant messages"),
                        ));
                    }
                };
                let text = text.ok_or_else(|| {
                    TranslateError::invalid(
                        format!("{}.content[{j}].{}", msg_path(i), &*p.kind),
                        format!("missing field `{}`", &*p.kind),
                    )
                })?;
                out.push(Part::text(text.into_owned()));
            }
            Ok(out)
        }
        other => text_parts(other, i),
    }
}

fn user_parts(content: Option<ContentIn<'_>>, i: usize) -> Result<Vec<Part>, TranslateError> {
    let parts = match content {
        Some(ContentIn::Parts(parts)) => parts,
        other => return text_parts(other, i),
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.into_iter().enumerate() {
        let pp = || format!("{}.content[{j}]", msg_path(i));
        let missing = |field: &str| {
            TranslateError::invalid(
                format!("{}.{field}", pp()),
                format!("missing field `{field}`"),
            )
        };
        let part = match &*p.kind {
            "text" => Part::text(p.text.ok_or_else(|| missing("text"))?.into_owned()),
            "image_url" => {
                let img = p.image_url.ok_or_else(|| missing("image_url"))?;
                let source = if img.url.starts_with("data:") {
                    media::parse_data_url(&img.url).map_err(|e| {
                        TranslateError::invalid(format!("{}.image_url.url", pp()), e)
                    })?
                } else {
                    MediaSource::Url(img.url.into_owned())
                };
                Part::Image(Image {
                    source,
                    detail: img.detail.map(Str::into_owned),
                    cache_control: None,
                })
            }
            "input_audio" => {
                let a = p.input_audio.ok_or_else(|| missing("input_audio"))?;
                let media_type = match &*a.format {
                    "wav" => "audio/wav",
                    "mp3" => "audio/mpeg",
                    other => {
                        return Err(TranslateError::invalid(
                            format!("{}.input_audio.format", pp()),
                            format!("unknown audio format `{other}`; use wav or mp3"),
                        ));
                    }
                };
                Part::Document(Document {
                    source: MediaSource::Base64 {
                        media_type: media_type.to_owned(),
                        data: a.data.into_owned(),
                    },
                    filename: None,
                    title: None,
                    cache_control: None,
                })
            }
            "file" => {
                let f = p.file.ok_or_else(|| missing("file"))?;
                let source = match (&f.file_data, f.file_id) {
                    (Some(data), _) => media::parse_data_url(data).map_err(|e| {
                        TranslateError::invalid(format!("{}.file.file_data", pp()), e)
                    })?,
                    (None, Some(id)) => MediaSource::FileId(id.into_owned()),
                    (None, None) => {
                        return Err(TranslateError::invalid(
                            format!("{}.file", pp()),
                            "a file part needs `file_data` or `file_id`",
                        ));
                    }
                };
                Part::Document(Document {
                    source,
                    filename: f.filename.map(Str::into_owned),
                    title: None,
                    cache_control: None,
                })
            }
            other => {
                return Err(TranslateError::invalid(
                    format!("{}.type", pp()),
                    format!(
                        "unknown content part type `{other}`; use text, image_url, input_audio or file"
                    ),
                ));
            }
        };
        out.push(part);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every fixture of every shape (and variants of each): the borrowed decode gives
    /// exactly what the owned wire types give, errors included.
    #[test]
    fn borrowed_decode_matches_the_wire_types() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut stack = vec![root];
        let mut inputs = 0usize;
        let mut extra: Vec<Vec<u8>> = [
            &br#"{"model":"m","messages":[],"x":{"a":[1e400]}}"#[..],
            br#"{"model":"m","messages":[{"role":"user","content":"hi","audio":[1e400]}]}"#,
            br#"{"model":"m","messages":[{"role":"user","content":"hi","x":"\ud800"}]}"#,
            br#"{"model":"m","model":"n","messages":[]}"#,
            br#"{"model":"m","messages":[],"n":3,"n":1,"patchbay":{"ext":{"x":{"a":1}}}}"#,
            br#"{"mod\u0065l":"m","messages":[{"role":"user","content":[{"type":"text","text":"a\nb"}]}]}"#,
            br#"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":{"a":1}}}]}]}"#,
            br#"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":null}}]}]}"#,
            br#"{"model":"m","messages":[],"stop":"x","stream_options":{"include_usage":true,"o":[[]]}}"#,
            br#"{"model":"m","messages":[],"stop":["x",1]}"#,
            br#"{"model":"m","messages":[],"tools":[{"type":"function","function":["f","d",{"type":"object"},true]}]}"#,
            br#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":["http://x","low"]}]}]}"#,
            br#"["m",[]]"#,
            b"{\"model\":\"m\",\"messages\":[],\"x\":\"\xff\"}",
        ]
        .iter()
        .map(|b| b.to_vec())
        .collect();
        let deep = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"x","a":{}{}}}]}}"#,
            "[".repeat(126),
            "]".repeat(126)
        );
        extra.push(deep.into_bytes());
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    extra.push(bytes);
                }
            }
        }
        for bytes in extra {
            let step = (bytes.len() / 24).max(1);
            let mut variants = vec![bytes.clone()];
            for n in (0..bytes.len()).step_by(step) {
                variants.push(bytes[..n].to_vec());
                for b in [b'"', 0xff, b'1', b'['] {
                    let mut v = bytes.clone();
                    v[n] = b;
                    variants.push(v);
                }
            }
            for v in variants {
                assert_eq!(
                    decode(&v),
                    decode_wire(&v),
                    "{}",
                    String::from_utf8_lossy(&v)
                );
                inputs += 1;
            }
        }
        assert!(inputs > 1000, "{inputs}");
    }
}
