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
    ApiShape, ChatRequest, Family, MediaSource, Message, Part, ResponseFormat, Role, ToolChoice,
    ToolResult,
};
use serde_json::{Map, Value};

use super::convert::{SKIP_SIGNATURE, is_files_api_uri, is_synthesized_id, is_youtube_uri};
use super::wire;
use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::ids::split_signature;
use crate::names::upstream_name;
use crate::turns;

const TARGET: &str = "gemini";

/// At most this many stop sequences (Gemini's limit).
pub const MAX_STOP_SEQUENCES: usize = 5;

/// Encodes `req` for a Gemini upstream. The model goes in the URL, not the body.
pub fn encode(req: &ChatRequest, _opts: &EncodeOptions) -> Result<Vec<u8>, TranslateError> {
    if let Some(b) = req.extensions.first_binding_against(ApiShape::Gemini) {
        return Err(TranslateError::untranslatable(&b.path, TARGET, &b.reason));
    }
    let messages = turns::alternate(&req.messages);
    let mut contents: Vec<wire::Content> = Vec::with_capacity(messages.len());
    for (k, msg) in messages.iter().enumerate() {
        let parts = encode_message(msg, k, &req.messages)?;
        if parts.is_empty() {
            continue;
        }
        let role = match msg.role {
            Role::User => "user",
            Role::Assistant => "model",
        };
        match contents.last_mut() {
            Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
            _ => contents.push(wire::Content {
                role: Some(role.to_owned()),
                parts,
            }),
        }
    }
    check_response_counts(&contents)?;

    let mut system_parts = Vec::new();
    for (i, p) in req.system.iter().enumerate() {
        match p {
            Part::Text { text, .. } if !text.is_empty() => system_parts.push(wire::WirePart {
                text: Some(text.clone()),
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

    let declarations: Vec<wire::FunctionDeclaration> = req
        .tools
        .iter()
        .map(|t| wire::FunctionDeclaration {
            name: upstream_name(ApiShape::Gemini, &t.name),
            description: t.description.clone(),
            parameters: None,
            parameters_json_schema: t.parameters.clone(),
        })
        .collect();
    let tools = if declarations.is_empty() {
        Vec::new()
    } else {
        vec![wire::Tool {
            function_declarations: Some(declarations),
            extra: Map::new(),
        }]
    };

    let body = wire::Request {
        model: None,
        contents,
        system_instruction: (!system_parts.is_empty()).then_some(wire::Content {
            role: None,
            parts: system_parts,
        }),
        tools,
        tool_config: req.tool_choice.as_ref().map(encode_tool_choice),
        generation_config: generation_config(req)?,
        extra: Map::new(),
    };
    let Some(params) = req.extensions.for_key(TARGET).filter(|p| !p.is_empty()) else {
        return Ok(crate::json::encode(&body));
    };
    let mut value = serde_json::to_value(&body).unwrap_or(Value::Null);
    if let Value::Object(obj) = &mut value {
        apply_params(obj, params);
    }
    Ok(crate::json::encode(&value))
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

fn encode_message(
    msg: &Message,
    k: usize,
    history: &[Message],
) -> Result<Vec<wire::WirePart>, TranslateError> {
    let mut out: Vec<wire::WirePart> = Vec::with_capacity(msg.parts.len());
    let mut first_call = true;
    for (j, part) in msg.parts.iter().enumerate() {
        let path = format!("messages[{k}].parts[{j}]");
        match part {
            Part::Text { text, .. } => out.push(wire::WirePart {
                text: Some(text.clone()),
                ..Default::default()
            }),
            Part::Image(img) => out.push(encode_media(&img.source, &path)?),
            Part::Document(doc) => out.push(encode_media(&doc.source, &path)?),
            Part::ToolCall(call) => {
                let (plain, carried) = split_signature(&call.id);
                let mut signature = call.signature.clone().or(carried);
                if first_call && signature.is_none() {
                    signature = Some(SKIP_SIGNATURE.to_owned());
                }
                first_call = false;
                let args: Value = if call.arguments.trim().is_empty() {
                    Value::Object(Map::new())
                } else {
                    serde_json::from_str(&call.arguments).map_err(|e| {
                        TranslateError::untranslatable(
                            format!("{path}.arguments"),
                            TARGET,
                            format!("tool-call arguments are not valid JSON ({e})"),
                        )
                    })?
                };
                if !args.is_object() {
                    return Err(TranslateError::untranslatable(
                        format!("{path}.arguments"),
                        TARGET,
                        "Gemini needs tool-call arguments to be a JSON object",
                    ));
                }
                out.push(wire::WirePart {
                    function_call: Some(wire::FunctionCall {
                        id: (!is_synthesized_id(plain)).then(|| plain.to_owned()),
                        name: upstream_name(ApiShape::Gemini, &call.name),
                        args: Some(args),
                    }),
                    thought_signature: signature,
                    ..Default::default()
                });
            }
            Part::ToolResult(result) => out.push(encode_result(result, &path, history)?),
            Part::Reasoning(r) => {
                if r.source != Some(Family::Gemini) || r.redacted.is_some() {
                    continue;
                }
                if !r.text.is_empty() {
                    out.push(wire::WirePart {
                        text: Some(r.text.clone()),
                        thought: Some(true),
                        thought_signature: r.signature.clone(),
                        ..Default::default()
                    });
                } else if let Some(sig) = &r.signature {
                    out.push(wire::WirePart {
                        text: Some(String::new()),
                        thought_signature: Some(sig.clone()),
                        ..Default::default()
                    });
                }
            }
        }
    }
    Ok(out)
}

fn encode_media(source: &MediaSource, path: &str) -> Result<wire::WirePart, TranslateError> {
    let file = |uri: &str| wire::WirePart {
        file_data: Some(wire::FileData {
            mime_type: None,
            file_uri: uri.to_owned(),
        }),
        ..Default::default()
    };
    match source {
        MediaSource::Base64 { media_type, data } => Ok(wire::WirePart {
            inline_data: Some(wire::Blob {
                mime_type: media_type.clone(),
                data: data.clone(),
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
            path,
            TARGET,
            "Gemini does not fetch web URLs: the media must be downloaded and sent inline \
             (the gateway inlines URLs before encoding when downloads are enabled); only \
             Files-API and YouTube URIs can be passed by reference",
        )),
        MediaSource::FileId(_) => Err(TranslateError::untranslatable(
            path,
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

fn encode_result(
    result: &ToolResult,
    path: &str,
    history: &[Message],
) -> Result<wire::WirePart, TranslateError> {
    let plain = split_signature(&result.call_id).0;
    let name = call_name(history, &result.call_id)
        .or(result.name.as_deref())
        .ok_or_else(|| {
            TranslateError::untranslatable(
                path,
                TARGET,
                format!(
                    "Gemini needs the function name of every tool result, and no earlier \
                     assistant tool call has id `{plain}`; send the matching call in the history"
                ),
            )
        })?;
    let mut text = String::new();
    let mut media = Vec::new();
    for (i, p) in result.content.iter().enumerate() {
        match p {
            Part::Text { text: t, .. } => {
                if !text.is_empty() && !t.is_empty() {
                    text.push('\n');
                }
                text.push_str(t);
            }
            Part::Image(img) => {
                media.push(encode_media(&img.source, &format!("{path}.content[{i}]"))?)
            }
            Part::Document(d) => {
                media.push(encode_media(&d.source, &format!("{path}.content[{i}]"))?)
            }
            _ => {
                return Err(TranslateError::untranslatable(
                    format!("{path}.content[{i}]"),
                    TARGET,
                    "tool results may hold only text and media",
                ));
            }
        }
    }
    let response = if result.is_error {
        serde_json::json!({ "error": text })
    } else {
        match serde_json::from_str::<Value>(&text) {
            Ok(obj @ Value::Object(_)) => obj,
            _ => serde_json::json!({ "content": text }),
        }
    };
    Ok(wire::WirePart {
        function_response: Some(wire::FunctionResponse {
            id: (!is_synthesized_id(plain)).then(|| plain.to_owned()),
            name: upstream_name(ApiShape::Gemini, name),
            response,
            parts: media,
        }),
        ..Default::default()
    })
}

/// §9.5: a model turn with N calls must be answered by a user turn with N responses.
fn check_response_counts(contents: &[wire::Content]) -> Result<(), TranslateError> {
    let count =
        |c: &wire::Content, f: fn(&wire::WirePart) -> bool| c.parts.iter().filter(|p| f(p)).count();
    for (i, pair) in contents.windows(2).enumerate() {
        let calls = count(&pair[0], |p| p.function_call.is_some());
        let answers = count(&pair[1], |p| p.function_response.is_some());
        if pair[0].role.as_deref() == Some("model") && calls > 0 && answers < calls {
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

fn generation_config(req: &ChatRequest) -> Result<Option<wire::GenerationConfig>, TranslateError> {
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
    let mut gc = wire::GenerationConfig {
        stop_sequences: s.stop.clone(),
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
        Some(ResponseFormat::Text) => gc.response_mime_type = Some("text/plain".into()),
        Some(ResponseFormat::JsonObject) => {
            gc.response_mime_type = Some("application/json".into());
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            gc.response_mime_type = Some("application/json".into());
            gc.response_json_schema = Some(schema.clone());
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
    let empty = serde_json::to_value(&gc).is_ok_and(|v| v.as_object().is_some_and(Map::is_empty));
    Ok((!empty).then_some(gc))
}
