//! Gemini `generateContent` request bodies → the canonical [`ChatRequest`]. The encoder
//! (canonical → upstream body) is in `request_encode.rs`, re-exported here as
//! [`encode`].
//!
//! The model and the stream flag live in the URL (`models/{model}:generateContent`,
//! `:streamGenerateContent`), not in the body: [`decode`] leaves `model` empty and
//! `stream` false for the server to fill from the path, and [`encode`] writes no
//! model.

use gateway_protocol::{
    BindingField, ChatRequest, Effort, Family, Message, Part, RawJson, ReasoningConfig,
    ResponseFormat, Role, Tool, ToolChoice, ToolResult,
};
use serde_json::{Map, Value};

use super::convert::{media_from_blob, media_from_file, model_part, schema_to_json};
use super::wire::{self, MODE_NAMES, THINKING_LEVEL_NAMES};
use crate::error::TranslateError;
use crate::ids::synthesize_call_id;
use crate::json;

pub use super::request_encode::encode;

/// Seed of the ids synthesised for calls without `functionCall.id` in a request
/// (stable: re-decoding the same body gives the same ids).
pub const REQUEST_ID_SEED: &str = "req";

const FAMILY: &str = "gemini";

/// Decodes a caller's Gemini body. `model` stays empty and `stream` false (both come
/// from the URL path).
pub fn decode(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let wire: wire::Request = json::decode_request(body)?;
    from_wire(wire)
}

/// Builds the canonical request from a parsed body (shared with countTokens).
pub fn from_wire(wire: wire::Request) -> Result<ChatRequest, TranslateError> {
    let mut req = ChatRequest::default();
    let mut calls = CallBook::default();
    for (i, content) in wire.contents.iter().enumerate() {
        let path = format!("contents[{i}]");
        let role = match content.role.as_deref() {
            Some("user") | None => Role::User,
            Some("model") => Role::Assistant,
            Some(other) => {
                return Err(TranslateError::invalid(
                    format!("{path}.role"),
                    format!("unknown role `{other}`; Gemini roles are `user` and `model`"),
                ));
            }
        };
        let mut parts = Vec::with_capacity(content.parts.len());
        for (j, p) in content.parts.iter().enumerate() {
            decode_part(
                p,
                &format!("{path}.parts[{j}]"),
                &mut parts,
                &mut calls,
                &mut req,
            )?;
        }
        if !parts.is_empty() {
            req.messages.push(Message { role, parts });
        }
    }
    if let Some(system) = &wire.system_instruction {
        for (j, p) in system.parts.iter().enumerate() {
            let path = format!("systemInstruction.parts[{j}]");
            match &p.text {
                Some(t) => req.system.push(Part::text(t.clone())),
                None => {
                    return Err(TranslateError::invalid(
                        path,
                        "system instruction parts must be text",
                    ));
                }
            }
        }
    }
    decode_tools(&wire.tools, &mut req)?;
    if let Some(fc) = wire
        .tool_config
        .as_ref()
        .and_then(|t| t.function_calling_config.as_ref())
    {
        req.tool_choice = decode_tool_choice(fc)?;
    }
    if let Some(gc) = &wire.generation_config {
        decode_generation_config(gc, &mut req)?;
    }
    for (key, value) in wire.extra {
        if key == "patchbay" {
            crate::caller_ext::merge_patchbay(&value, &mut req.extensions)?;
        } else if key != "model" {
            req.extensions.insert(FAMILY, camel_case(&key), value);
        }
    }
    Ok(req)
}

/// Calls seen so far, to pair `functionResponse` parts without ids by name and order.
#[derive(Default)]
struct CallBook {
    next_index: usize,
    /// (name, id, answered)
    calls: Vec<(String, String, bool)>,
}

impl CallBook {
    fn call_id(&mut self, given: Option<&str>) -> String {
        let index = self.next_index;
        self.next_index += 1;
        given.map_or_else(|| synthesize_call_id(REQUEST_ID_SEED, index), str::to_owned)
    }

    fn result_id(&mut self, name: &str, given: Option<&str>) -> String {
        if let Some(id) = given.filter(|i| !i.is_empty()) {
            if let Some(c) = self.calls.iter_mut().find(|c| c.1 == id) {
                c.2 = true;
            }
            return id.to_owned();
        }
        if let Some(c) = self.calls.iter_mut().find(|c| !c.2 && c.0 == name) {
            c.2 = true;
            return c.1.clone();
        }
        // A response to a call that is not in the history (trimmed): a fresh id.
        let index = self.next_index;
        self.next_index += 1;
        synthesize_call_id(REQUEST_ID_SEED, index)
    }
}

fn decode_part(
    p: &wire::WirePart,
    path: &str,
    out: &mut Vec<Part>,
    calls: &mut CallBook,
    req: &mut ChatRequest,
) -> Result<(), TranslateError> {
    let before = out.len();
    let handled = {
        let mut ids = |given: Option<&str>| calls.call_id(given);
        model_part(p, out, &mut ids, &|n| n.to_owned())
    };
    if handled {
        for part in &out[before..] {
            if let Part::ToolCall(c) = part {
                calls.calls.push((c.name.clone(), c.id.clone(), false));
            }
        }
        return Ok(());
    }
    if let Some(fr) = &p.function_response {
        let call_id = calls.result_id(&fr.name, fr.id.as_deref());
        let (text, is_error) = response_text(&fr.response);
        let mut content = Vec::new();
        if !text.is_empty() || fr.parts.is_empty() {
            content.push(Part::text(text));
        }
        for (k, media) in fr.parts.iter().enumerate() {
            if let Some(blob) = &media.inline_data {
                content.push(media_from_blob(blob));
            } else if let Some(file) = &media.file_data {
                content.push(media_from_file(file));
            } else {
                return Err(TranslateError::invalid(
                    format!("{path}.functionResponse.parts[{k}]"),
                    "function response parts must be inlineData or fileData",
                ));
            }
        }
        out.push(Part::ToolResult(ToolResult {
            call_id,
            name: Some(fr.name.clone()),
            content,
            is_error,
        }));
        return Ok(());
    }
    if p.executable_code.is_some() || p.code_execution_result.is_some() {
        // Output of Gemini's hosted code execution: only Gemini can take it back.
        req.extensions.binding.push(BindingField {
            only_shape: None,
            family: Family::Gemini,
            path: path.to_owned(),
            reason: "code-execution parts are produced and understood only by Gemini".into(),
        });
        return Ok(());
    }
    Err(TranslateError::invalid(
        path,
        "unknown part type; expected text, inlineData, fileData, functionCall or functionResponse",
    ))
}

/// The tool-result text of a `functionResponse.response` object, and whether it is an
/// error: `{"content": s}` / `{"output": s}` unwrap to `s`, `{"error": s}` to `s`
/// with `is_error`; anything else is its JSON text (sorted keys).
pub fn response_text(response: &Value) -> (String, bool) {
    if let Value::Object(map) = response {
        if map.len() == 1 {
            for (key, is_error) in [("content", false), ("output", false), ("error", true)] {
                if let Some(Value::String(s)) = map.get(key) {
                    return (s.clone(), is_error);
                }
            }
        }
    }
    match response {
        Value::Null => (String::new(), false),
        Value::String(s) => (s.clone(), false),
        other => (other.to_string(), false),
    }
}

fn decode_tools(tools: &[wire::Tool], req: &mut ChatRequest) -> Result<(), TranslateError> {
    for (i, tool) in tools.iter().enumerate() {
        for (j, decl) in tool.function_declarations.iter().flatten().enumerate() {
            if decl.name.is_empty() {
                return Err(TranslateError::invalid(
                    format!("tools[{i}].functionDeclarations[{j}].name"),
                    "function name must not be empty",
                ));
            }
            let parameters = decl.parameters_json_schema.clone().or_else(|| {
                decl.parameters
                    .clone()
                    .map(|p| RawJson::from_value(&schema_to_json(p)))
            });
            req.tools.push(Tool {
                name: decl.name.clone(),
                description: decl.description.clone(),
                parameters,
                strict: None,
                cache_control: None,
            });
        }
        for (key, value) in &tool.extra {
            // Kept for a Gemini upstream (appended to its `tools`), refused elsewhere.
            let params = req.extensions.params.entry(FAMILY.to_owned()).or_default();
            let hosted = params
                .entry("tools")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = hosted {
                let mut entry = Map::new();
                entry.insert(camel_case(key), value.clone());
                list.push(Value::Object(entry));
            }
            req.extensions.binding.push(BindingField {
                only_shape: None,
                family: Family::Gemini,
                path: format!("tools[{i}].{key}"),
                reason: format!(
                    "`{key}` is a tool hosted by Google; other providers cannot run it"
                ),
            });
        }
    }
    Ok(())
}

fn decode_tool_choice(
    fc: &wire::FunctionCallingConfig,
) -> Result<Option<ToolChoice>, TranslateError> {
    let names = &fc.allowed_function_names;
    let mode = fc
        .mode
        .as_ref()
        .map_or_else(|| "MODE_UNSPECIFIED".to_owned(), |m| m.resolve(MODE_NAMES));
    Ok(Some(match mode.as_str() {
        "MODE_UNSPECIFIED" if names.is_empty() => return Ok(None),
        "AUTO" | "VALIDATED" | "MODE_UNSPECIFIED" if names.is_empty() => ToolChoice::Auto,
        "AUTO" | "VALIDATED" | "MODE_UNSPECIFIED" => ToolChoice::Allowed {
            names: names.clone(),
            required: false,
        },
        "NONE" => ToolChoice::None,
        "ANY" => match names.as_slice() {
            [] => ToolChoice::Required,
            [one] => ToolChoice::Tool(one.clone()),
            _ => ToolChoice::Allowed {
                names: names.clone(),
                required: true,
            },
        },
        other => {
            return Err(TranslateError::invalid(
                "toolConfig.functionCallingConfig.mode",
                format!("unknown mode `{other}`; expected AUTO, ANY, NONE or VALIDATED"),
            ));
        }
    }))
}

fn decode_generation_config(
    gc: &wire::GenerationConfig,
    req: &mut ChatRequest,
) -> Result<(), TranslateError> {
    let s = &mut req.sampling;
    s.max_output_tokens = gc.max_output_tokens;
    s.temperature = gc.temperature;
    s.top_p = gc.top_p;
    s.top_k = gc.top_k.filter(|k| *k >= 0.0).map(|k| k.round() as u64);
    s.stop = gc.stop_sequences.clone();
    s.seed = gc.seed;
    s.presence_penalty = gc.presence_penalty;
    s.frequency_penalty = gc.frequency_penalty;
    let schema = gc
        .response_json_schema
        .clone()
        .or_else(|| gc.response_schema.clone().map(schema_to_json));
    match gc.response_mime_type.as_deref() {
        Some("application/json") => {
            req.response_format = Some(match schema {
                Some(schema) => ResponseFormat::JsonSchema {
                    name: "response".into(),
                    description: None,
                    schema,
                    strict: None,
                },
                None => ResponseFormat::JsonObject,
            });
        }
        Some("text/plain") => req.response_format = Some(ResponseFormat::Text),
        Some(other) => {
            req.extensions
                .binding
                .push(binding("generationConfig.responseMimeType", other));
            keep_generation_field(req, "responseMimeType", Value::String(other.to_owned()));
        }
        None => {}
    }
    if let Some(tc) = &gc.thinking_config {
        let effort = match &tc.thinking_level {
            Some(level) => Some(match level.resolve(THINKING_LEVEL_NAMES).as_str() {
                "MINIMAL" => Effort::Minimal,
                "LOW" => Effort::Low,
                "MEDIUM" => Effort::Medium,
                "HIGH" => Effort::High,
                "THINKING_LEVEL_UNSPECIFIED" => Effort::Medium,
                other => {
                    return Err(TranslateError::invalid(
                        "generationConfig.thinkingConfig.thinkingLevel",
                        format!("unknown thinking level `{other}`"),
                    ));
                }
            }),
            None => None,
        };
        req.reasoning = Some(ReasoningConfig {
            effort,
            // −1 asks for a dynamic budget: no explicit budget.
            budget_tokens: tc.thinking_budget.and_then(|b| u64::try_from(b).ok()),
            include_thoughts: tc.include_thoughts.unwrap_or(false),
        });
    }
    if let Some(n) = gc.candidate_count.filter(|n| *n > 1) {
        req.extensions.binding.push(BindingField {
            only_shape: None,
            family: Family::Gemini,
            path: "generationConfig.candidateCount".into(),
            reason: format!("{n} candidates were asked for; the answer would have only one"),
        });
        keep_generation_field(req, "candidateCount", Value::from(n));
    }
    const ANSWER_CHANGING: [&str; 5] = [
        "responseLogprobs",
        "logprobs",
        "responseModalities",
        "speechConfig",
        "imageConfig",
    ];
    for (key, value) in &gc.extra {
        let key = &camel_case(key);
        let text_only = key == "responseModalities"
            && value
                .as_array()
                .is_some_and(|m| m.iter().all(|v| v.as_str() == Some("TEXT")));
        if ANSWER_CHANGING.contains(&key.as_str()) && !text_only && !value.is_null() {
            req.extensions.binding.push(BindingField {
                only_shape: None,
                family: Family::Gemini,
                path: format!("generationConfig.{key}"),
                reason: format!("`{key}` changes the answer and only Gemini understands it"),
            });
        }
        keep_generation_field(req, &camel_case(key), value.clone());
    }
    Ok(())
}

/// proto3 JSON accepts `safety_settings` for `safetySettings`; extension parameters are
/// kept under the camelCase name so the Gemini encoder never sends both spellings.
fn camel_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for (i, c) in key.chars().enumerate() {
        if c == '_' && i > 0 {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn binding(path: &str, mime: &str) -> BindingField {
    BindingField {
        only_shape: None,
        family: Family::Gemini,
        path: path.to_owned(),
        reason: format!("response MIME type `{mime}` has no equivalent elsewhere"),
    }
}

/// Keeps a `generationConfig` field for a Gemini upstream, under
/// `extensions.params["gemini"]["generationConfig"]`.
fn keep_generation_field(req: &mut ChatRequest, key: &str, value: Value) {
    let params = req.extensions.params.entry(FAMILY.to_owned()).or_default();
    let entry = params
        .entry("generationConfig")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(map) = entry {
        map.insert(key.to_owned(), value);
    }
}
