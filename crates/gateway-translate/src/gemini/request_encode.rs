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

use gateway_protocol::{
    ApiShape, ChatRequest, MediaSource, Message, Part, ResponseFormat, Role, ToolChoice,
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::convert::{is_files_api_uri, is_youtube_uri};
use super::request_write::{self, Contents};
use super::wire;
use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::ids::split_signature;
use crate::names::upstream_name;
use crate::turns;

pub(super) const TARGET: &str = "gemini";

/// At most this many stop sequences (Gemini's limit).
pub const MAX_STOP_SEQUENCES: usize = 5;

/// Media as Gemini takes it: inline bytes or a URI it reads itself.
pub(super) enum Media<'a> {
    Inline { mime_type: &'a str, data: &'a str },
    File(&'a str),
}

/// `generationConfig`: serialised with serde (field order and skip rules of
/// [`wire::GenerationConfig`]), the numbers written by serde_json.
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
    let mut out = Vec::with_capacity(crate::json::REQUEST_BODY_CAPACITY);
    let mut contents = Contents::new(&mut out);
    for (k, (role, parts)) in messages.iter().enumerate() {
        contents.message(*role, parts, k, &req.messages)?;
    }
    contents.finish()?;
    request_write::system(&mut out, &req.system)?;
    request_write::tools(&mut out, &req.tools);
    if let Some(choice) = &req.tool_choice {
        out.extend_from_slice(b",\"toolConfig\":");
        write_serialized(&mut out, &encode_tool_choice(choice));
    }
    if let Some(gc) = generation_config(req)? {
        out.extend_from_slice(b",\"generationConfig\":");
        write_serialized(&mut out, &gc);
    }
    out.push(b'}');
    let Some(params) = req.extensions.for_key(TARGET).filter(|p| !p.is_empty()) else {
        return Ok(out);
    };
    // The body as a tree (what serialising its parts to a `Value` gives), so that the
    // caller's parameters can be merged in.
    let mut value: Value = serde_json::from_slice(&out).map_err(|e| {
        TranslateError::untranslatable(
            "messages",
            TARGET,
            format!("the body cannot take the carried Gemini fields ({e})"),
        )
    })?;
    if let Value::Object(obj) = &mut value {
        apply_params(obj, params);
    }
    Ok(crate::json::encode_sized(
        &value,
        crate::json::REQUEST_BODY_CAPACITY,
    ))
}

/// Appends `value` as serde_json writes it.
fn write_serialized<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    if crate::json_writer::write_into(out, value).is_err() {
        // Not reached: wire structs hold only JSON-representable data.
        out.extend_from_slice(b"null");
    }
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
pub(super) fn part_path(k: usize, j: usize) -> String {
    format!("messages[{k}].parts[{j}]")
}

/// How Gemini takes `source`; web URLs and other providers' file ids are an error.
pub(super) fn media(
    source: &MediaSource,
    path: impl FnOnce() -> String,
) -> Result<Media<'_>, TranslateError> {
    match source {
        MediaSource::Base64 { media_type, data } => Ok(Media::Inline {
            mime_type: media_type,
            data,
        }),
        MediaSource::Url(url) if is_files_api_uri(url) || is_youtube_uri(url) => {
            Ok(Media::File(url))
        }
        MediaSource::FileId(id)
            if is_files_api_uri(id) || id.starts_with("files/") || id.starts_with("gs://") =>
        {
            Ok(Media::File(id))
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
pub(super) fn call_name<'a>(history: &'a [Message], call_id: &str) -> Option<&'a str> {
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
