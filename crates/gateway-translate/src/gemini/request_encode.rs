//! Canonical [`ChatRequest`] → a Gemini `generateContent` body for an upstream
//! (PROTOCOLS §6.2, §8, §9.2/9.5/9.19).
//!
//! Rules worth knowing:
//! * `functionCall.id` / `functionResponse.id` are written only for ids that were not
//!   synthesised by a gateway decoder (`call_` + 24 hex digits): Gemini pairs calls and
//!   responses by name and order, and only echoes ids it issued itself.
//! * A tool result's `response` object is the result text when that text is a JSON
//!   object, `{"content": text}` otherwise, `{"error": text}` when `is_error`.
//! * The first `functionCall` of each model turn carries a thought signature; when the
//!   history has none (another provider produced it) the documented bypass value
//!   `skip_thought_signature_validator` is sent.
//! * Reasoning is replayed only when Gemini produced it.

use std::borrow::Cow;

use gateway_protocol::{
    ApiShape, ChatRequest, Family, MediaSource, Message, Part, RawJson, ResponseFormat, Role,
    ToolChoice, ToolResult,
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::convert::{SKIP_SIGNATURE, is_files_api_uri, is_synthesized_id, is_youtube_uri};
use super::wire;
use crate::canonical_json::{Verbatim, canonical_json};
use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::ids::split_signature;
use crate::names::{upstream_cow, upstream_name};
use crate::turns;

const TARGET: &str = "gemini";

/// At most this many stop sequences (Gemini's limit).
pub const MAX_STOP_SEQUENCES: usize = 5;

// Serialise-only wire structs borrowing from the canonical request. Field order and
// skip rules are those of the `wire` types, so the bytes are the same.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    contents: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<Content<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<wire::ToolConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation_config: Option<GenerationConfig<'a>>,
}

#[derive(Serialize)]
struct Content<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    parts: Vec<WirePart<'a>>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct WirePart<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_data: Option<Blob<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_data: Option<FileData<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_call: Option<FunctionCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_response: Option<FunctionResponse<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought_signature: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Blob<'a> {
    mime_type: &'a str,
    data: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileData<'a> {
    file_uri: &'a str,
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    name: Cow<'a, str>,
    args: Args,
}

/// A call's `args`: the canonical text of the arguments object, written as is, or
/// (for text `canonical_json` does not cover) the parsed tree, which serialises to
/// the same text.
enum Args {
    Text(String),
    Tree(Value),
}

impl Serialize for Args {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Args::Text(text) => Verbatim(text).serialize(s),
            Args::Tree(tree) => tree.serialize(s),
        }
    }
}

/// A result's `response` object: the result text when it is a JSON object (its
/// canonical text, or for text `canonical_json` does not cover the parsed tree), else
/// the text under one key (`content`, or `error` for failures). Each form writes what
/// the `Value` of that object writes.
enum Response<'a> {
    Object(String),
    Tree(Value),
    Wrapped(&'static str, Cow<'a, str>),
}

impl Serialize for Response<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Response::Object(text) => Verbatim(text).serialize(s),
            Response::Tree(tree) => tree.serialize(s),
            Response::Wrapped(key, text) => {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(key, text)?;
                map.end()
            }
        }
    }
}

#[derive(Serialize)]
struct FunctionResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    name: Cow<'a, str>,
    response: Response<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    parts: Vec<WirePart<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Tool<'a> {
    function_declarations: Vec<FunctionDeclaration<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionDeclaration<'a> {
    name: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters_json_schema: Option<&'a RawJson>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_json_schema: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(
        serialize_with = "wire::whole_number",
        skip_serializing_if = "Option::is_none"
    )]
    top_k: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<wire::ThinkingConfig>,
}

impl GenerationConfig<'_> {
    /// True when nothing would be written (`{}`).
    fn is_empty(&self) -> bool {
        self.stop_sequences.is_empty()
            && self.response_mime_type.is_none()
            && self.response_json_schema.is_none()
            && self.max_output_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.top_k.is_none()
            && self.seed.is_none()
            && self.presence_penalty.is_none()
            && self.frequency_penalty.is_none()
            && self.thinking_config.is_none()
    }
}

/// Encodes `req` for a Gemini upstream. The model goes in the URL, not the body.
pub fn encode(req: &ChatRequest, _opts: &EncodeOptions) -> Result<Vec<u8>, TranslateError> {
    if let Some(b) = req.extensions.first_binding_against(ApiShape::Gemini) {
        return Err(TranslateError::untranslatable(&b.path, TARGET, &b.reason));
    }
    let messages = turns::alternate_refs(
        &req.messages,
        |p| !matches!(p, Part::Text { text, .. } if text.is_empty()),
    );
    let mut contents: Vec<Content<'_>> = Vec::with_capacity(messages.len());
    for (k, (msg_role, msg_parts)) in messages.iter().enumerate() {
        let parts = encode_message(msg_parts, k, &req.messages)?;
        if parts.is_empty() {
            continue;
        }
        let role = match msg_role {
            Role::User => "user",
            Role::Assistant => "model",
        };
        match contents.last_mut() {
            Some(last) if last.role == Some(role) => last.parts.extend(parts),
            _ => contents.push(Content {
                role: Some(role),
                parts,
            }),
        }
    }
    check_response_counts(&contents)?;

    let mut system_parts = Vec::new();
    for (i, p) in req.system.iter().enumerate() {
        match p {
            Part::Text { text, .. } if !text.is_empty() => system_parts.push(WirePart {
                text: Some(text),
                ..Default::default()
            }),
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

    let declarations: Vec<FunctionDeclaration<'_>> = req
        .tools
        .iter()
        .map(|t| FunctionDeclaration {
            name: upstream_cow(ApiShape::Gemini, &t.name),
            description: t.description.as_deref(),
            parameters_json_schema: t.parameters.as_ref(),
        })
        .collect();
    let tools = if declarations.is_empty() {
        Vec::new()
    } else {
        vec![Tool {
            function_declarations: declarations,
        }]
    };

    let body = Body {
        contents,
        system_instruction: (!system_parts.is_empty()).then_some(Content {
            role: None,
            parts: system_parts,
        }),
        tools,
        tool_config: req.tool_choice.as_ref().map(encode_tool_choice),
        generation_config: generation_config(req)?,
    };
    let Some(params) = req.extensions.for_key(TARGET).filter(|p| !p.is_empty()) else {
        return Ok(crate::json::encode_sized(
            &body,
            crate::json::REQUEST_BODY_CAPACITY,
        ));
    };
    let mut value = serde_json::to_value(&body).unwrap_or(Value::Null);
    if let Value::Object(obj) = &mut value {
        apply_params(obj, params);
    }
    Ok(crate::json::encode_sized(
        &value,
        crate::json::REQUEST_BODY_CAPACITY,
    ))
}

/// Adds caller parameters the body does not already set; objects present on both
/// sides (e.g. `generationConfig`) get the missing inner keys, and hosted tools kept
/// under `tools` are appended to the function declarations.
fn apply_params(body: &mut Map<String, Value>, params: &Map<String, Value>) {
    for (k, v) in params {
        match (body.get_mut(k), v) {
            (None, _) => {
                body.insert(k.clone(), v.clone());
            }
            (Some(Value::Array(have)), Value::Array(add)) if k == "tools" => {
                have.extend(add.iter().cloned());
            }
            (Some(Value::Object(have)), Value::Object(add)) => {
                for (ik, iv) in add {
                    have.entry(ik.clone()).or_insert_with(|| iv.clone());
                }
            }
            _ => {}
        }
    }
}

/// The path of part `j` of message `k`, built only for errors.
fn part_path(k: usize, j: usize) -> String {
    format!("messages[{k}].parts[{j}]")
}

fn encode_message<'a>(
    parts: &[&'a Part],
    k: usize,
    history: &'a [Message],
) -> Result<Vec<WirePart<'a>>, TranslateError> {
    let mut out: Vec<WirePart<'a>> = Vec::with_capacity(parts.len());
    let mut first_call = true;
    for (j, &part) in parts.iter().enumerate() {
        match part {
            Part::Text { text, .. } => out.push(WirePart {
                text: Some(text),
                ..Default::default()
            }),
            Part::Image(img) => out.push(encode_media(&img.source, || part_path(k, j))?),
            Part::Document(doc) => out.push(encode_media(&doc.source, || part_path(k, j))?),
            Part::ToolCall(call) => {
                let (plain, carried) = split_signature(&call.id);
                let mut signature = call
                    .signature
                    .as_deref()
                    .map(Cow::Borrowed)
                    .or(carried.map(Cow::Owned));
                if first_call && signature.is_none() {
                    signature = Some(Cow::Borrowed(SKIP_SIGNATURE));
                }
                first_call = false;
                let args = match canonical_json(&call.arguments) {
                    Some(text) if text.starts_with('{') => Args::Text(text),
                    _ if call.arguments.trim().is_empty() => Args::Tree(Value::Object(Map::new())),
                    _ => Args::Tree(serde_json::from_str(&call.arguments).map_err(|e| {
                        TranslateError::untranslatable(
                            format!("{}.arguments", part_path(k, j)),
                            TARGET,
                            format!("tool-call arguments are not valid JSON ({e})"),
                        )
                    })?),
                };
                if matches!(&args, Args::Tree(tree) if !tree.is_object()) {
                    return Err(TranslateError::untranslatable(
                        format!("{}.arguments", part_path(k, j)),
                        TARGET,
                        "Gemini needs tool-call arguments to be a JSON object",
                    ));
                }
                out.push(WirePart {
                    function_call: Some(FunctionCall {
                        id: (!is_synthesized_id(plain)).then_some(plain),
                        name: upstream_cow(ApiShape::Gemini, &call.name),
                        args,
                    }),
                    thought_signature: signature,
                    ..Default::default()
                });
            }
            Part::ToolResult(result) => out.push(encode_result(result, k, j, history)?),
            Part::Reasoning(r) => {
                if r.source != Some(Family::Gemini) || r.redacted.is_some() {
                    continue;
                }
                if !r.text.is_empty() {
                    out.push(WirePart {
                        text: Some(&r.text),
                        thought: Some(true),
                        thought_signature: r.signature.as_deref().map(Cow::Borrowed),
                        ..Default::default()
                    });
                } else if let Some(sig) = &r.signature {
                    out.push(WirePart {
                        text: Some(""),
                        thought_signature: Some(Cow::Borrowed(sig)),
                        ..Default::default()
                    });
                }
            }
        }
    }
    Ok(out)
}

fn encode_media(
    source: &MediaSource,
    path: impl FnOnce() -> String,
) -> Result<WirePart<'_>, TranslateError> {
    let file = |uri| WirePart {
        file_data: Some(FileData { file_uri: uri }),
        ..Default::default()
    };
    match source {
        MediaSource::Base64 { media_type, data } => Ok(WirePart {
            inline_data: Some(Blob {
                mime_type: media_type,
                data,
            }),
            ..Default::default()
        }),
        MediaSource::Url(url) if is_files_api_uri(url) || is_youtube_uri(url) => Ok(file(url)),
        MediaSource::FileId(id)
            if is_files_api_uri(id) || id.starts_with("files/") || id.starts_with("gs://") =>
        {
            Ok(file(id))
        }
        MediaSource::Url(_) => Err(TranslateError::untranslatable(
            path(),
            TARGET,
            "Gemini does not fetch web URLs: the media must be downloaded and sent inline \
             (the gateway inlines URLs before encoding when downloads are enabled); only \
             Files-API and YouTube URIs can be passed by reference",
        )),
        MediaSource::FileId(_) => Err(TranslateError::untranslatable(
            path(),
            TARGET,
            "this file id belongs to another provider; upload the file to the Gemini Files API \
             or send it inline",
        )),
    }
}

/// The name of the call `call_id` answers, comparing ids without carried signatures.
fn call_name<'a>(history: &'a [Message], call_id: &str) -> Option<&'a str> {
    turns::find_call_name(history, call_id).or_else(|| {
        let want = split_signature(call_id).0;
        history
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .flat_map(|m| &m.parts)
            .find_map(|p| match p {
                Part::ToolCall(c) if split_signature(&c.id).0 == want => Some(c.name.as_str()),
                _ => None,
            })
    })
}

fn encode_result<'a>(
    result: &'a ToolResult,
    k: usize,
    j: usize,
    history: &'a [Message],
) -> Result<WirePart<'a>, TranslateError> {
    let plain = split_signature(&result.call_id).0;
    let name = call_name(history, &result.call_id)
        .or(result.name.as_deref())
        .ok_or_else(|| {
            TranslateError::untranslatable(
                part_path(k, j),
                TARGET,
                format!(
                    "Gemini needs the function name of every tool result, and no earlier \
                     assistant tool call has id `{plain}`; send the matching call in the history"
                ),
            )
        })?;
    let mut text = Cow::Borrowed("");
    let mut media = Vec::new();
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
            Part::Image(img) => media.push(encode_media(&img.source, content_path)?),
            Part::Document(d) => media.push(encode_media(&d.source, content_path)?),
            _ => {
                return Err(TranslateError::untranslatable(
                    content_path(),
                    TARGET,
                    "tool results may hold only text and media",
                ));
            }
        }
    }
    let response = if result.is_error {
        Response::Wrapped("error", text)
    } else {
        match parse_object(&text) {
            Some(obj) => obj,
            None => Response::Wrapped("content", text),
        }
    };
    Ok(WirePart {
        function_response: Some(FunctionResponse {
            id: (!is_synthesized_id(plain)).then_some(plain),
            name: upstream_cow(ApiShape::Gemini, name),
            response,
            parts: media,
        }),
        ..Default::default()
    })
}

/// `text` as a JSON object, if it is one. Text that does not open with `{` (after
/// JSON whitespace) cannot be an object and is not parsed.
fn parse_object(text: &str) -> Option<Response<'static>> {
    let first = text
        .bytes()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(b'{') {
        return None;
    }
    if let Some(canonical) = canonical_json(text) {
        return Some(Response::Object(canonical));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(obj @ Value::Object(_)) => Some(Response::Tree(obj)),
        _ => None,
    }
}

/// §9.5: a model turn with N calls must be answered by a user turn with N responses.
fn check_response_counts(contents: &[Content<'_>]) -> Result<(), TranslateError> {
    let count =
        |c: &Content<'_>, f: fn(&WirePart<'_>) -> bool| c.parts.iter().filter(|p| f(p)).count();
    for (i, pair) in contents.windows(2).enumerate() {
        let calls = count(&pair[0], |p| p.function_call.is_some());
        let answers = count(&pair[1], |p| p.function_response.is_some());
        if pair[0].role == Some("model") && calls > 0 && answers < calls {
            return Err(TranslateError::untranslatable(
                "messages",
                TARGET,
                format!(
                    "Gemini needs one function response per function call: assistant turn {} \
                     made {calls} tool call(s) but the next user turn answers {answers}; send a \
                     tool result for every call",
                    i + 1
                ),
            ));
        }
    }
    Ok(())
}

fn encode_tool_choice(choice: &ToolChoice) -> wire::ToolConfig {
    let (mode, names) = match choice {
        ToolChoice::Auto => ("AUTO", Vec::new()),
        ToolChoice::None => ("NONE", Vec::new()),
        ToolChoice::Required => ("ANY", Vec::new()),
        ToolChoice::Tool(name) => ("ANY", vec![upstream_name(ApiShape::Gemini, name)]),
        ToolChoice::Allowed { names, required } => (
            if *required { "ANY" } else { "AUTO" },
            names
                .iter()
                .map(|n| upstream_name(ApiShape::Gemini, n))
                .collect(),
        ),
    };
    wire::ToolConfig {
        function_calling_config: Some(wire::FunctionCallingConfig {
            mode: Some(wire::EnumValue::name(mode)),
            allowed_function_names: names,
        }),
    }
}

fn generation_config(req: &ChatRequest) -> Result<Option<GenerationConfig<'_>>, TranslateError> {
    let s = &req.sampling;
    if s.stop.len() > MAX_STOP_SEQUENCES {
        return Err(TranslateError::untranslatable(
            "stop",
            TARGET,
            format!(
                "Gemini accepts at most {MAX_STOP_SEQUENCES} stop sequences, {} were given",
                s.stop.len()
            ),
        ));
    }
    let mut gc = GenerationConfig {
        stop_sequences: &s.stop,
        max_output_tokens: s.max_output_tokens,
        temperature: s.temperature,
        top_p: s.top_p,
        top_k: s.top_k.map(|k| k as f64),
        seed: s.seed,
        presence_penalty: s.presence_penalty,
        frequency_penalty: s.frequency_penalty,
        ..Default::default()
    };
    match &req.response_format {
        Some(ResponseFormat::Text) => gc.response_mime_type = Some("text/plain"),
        Some(ResponseFormat::JsonObject) => gc.response_mime_type = Some("application/json"),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            gc.response_mime_type = Some("application/json");
            gc.response_json_schema = Some(schema);
        }
        None => {}
    }
    if let Some(r) = &req.reasoning {
        gc.thinking_config = Some(wire::ThinkingConfig {
            include_thoughts: r.include_thoughts.then_some(true),
            thinking_budget: r
                .effective_budget()
                .map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
            thinking_level: None,
        });
    }
    Ok((!gc.is_empty()).then_some(gc))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Each form of a result's `response` writes the text of the `Value` the encoder
    /// once built for it.
    #[test]
    fn responses_write_what_their_values_write() {
        let cases = [
            (
                r#"{"b": 1, "a": "x", "c": {"z": null, "y": [true]}}"#,
                false,
            ),
            (r#" {"a":"\u00e9","n":1.5} "#, false),
            (r#"{"a":1,"a":2}"#, false),
            (r#"{"a":1} trailing"#, false),
            ("[1,2]", false),
            ("plain \"quoted\" text", false),
            (r#"{"a":1}"#, true),
            ("", false),
        ];
        for (text, is_error) in cases {
            let value = if is_error {
                serde_json::json!({ "error": text })
            } else {
                match serde_json::from_str::<Value>(text) {
                    Ok(obj @ Value::Object(_)) => obj,
                    _ => serde_json::json!({ "content": text }),
                }
            };
            let response = if is_error {
                Response::Wrapped("error", Cow::Borrowed(text))
            } else {
                parse_object(text).unwrap_or(Response::Wrapped("content", Cow::Borrowed(text)))
            };
            assert_eq!(
                String::from_utf8(crate::json::encode_sized(&response, 0)).unwrap(),
                serde_json::to_string(&value).unwrap(),
                "{text}"
            );
        }
    }
}
