//! Canonical [`ChatRequest`] → an `/api/chat` body for an Ollama upstream (PROTOCOLS
//! §7.1, §8.6, §8.16).

use gateway_protocol::{
    ApiShape, ChatRequest, Effort, Family, Part, ReasoningConfig, ResponseFormat, Role, Sampling,
    ToolChoice,
};
use serde_json::{Map, Value};

use super::request::TARGET;
use super::{messages, wire};
use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::{json, names};

/// Writes an `/api/chat` body for an Ollama upstream.
///
/// Lossy by design (PROTOCOLS §8.6, §8.16): Ollama has no `tool_choice`, so `none`
/// omits the tools, a named tool or an allowed subset filters the tools list, and
/// `required` is dropped (the model may answer without calling). Parallel-call
/// switches, `strict`, cache hints, the user id and image `detail` are dropped. Image
/// URLs, file ids and documents are refused: the server downloads and inlines image
/// URLs before encoding. Images inside tool results move to a user message after the
/// results. `is_error` results are prefixed with `Error: `. A result whose call is not
/// in the history and that carries no name is sent without `tool_name`.
pub fn encode(req: &ChatRequest, _opts: &EncodeOptions) -> Result<Vec<u8>, TranslateError> {
    if let Some(b) = req.extensions.first_binding_against(ApiShape::Ollama) {
        return Err(TranslateError::untranslatable(&b.path, TARGET, &b.reason));
    }
    let mut messages = Vec::new();
    for (j, part) in req.system.iter().enumerate() {
        match part {
            Part::Text { text, .. } if text.is_empty() => {}
            Part::Text { text, .. } => messages.push(wire::Message {
                role: "system".to_owned(),
                content: text.clone(),
                ..wire::Message::default()
            }),
            _ => {
                return Err(TranslateError::untranslatable(
                    format!("system[{j}]"),
                    TARGET,
                    "Ollama system messages carry text only",
                ));
            }
        }
    }
    for (i, msg) in req.messages.iter().enumerate() {
        match msg.role {
            Role::User => messages::encode_user(req, i, msg, &mut messages)?,
            Role::Assistant => messages::encode_assistant(i, msg, &mut messages)?,
        }
    }
    let body = wire::Request {
        model: req.model.clone(),
        messages,
        tools: encode_tools(req)?,
        format: match &req.response_format {
            None | Some(ResponseFormat::Text) => None,
            Some(ResponseFormat::JsonObject) => Some(Value::String("json".to_owned())),
            Some(ResponseFormat::JsonSchema { schema, .. }) => Some(schema.clone()),
        },
        options: encode_options(&req.sampling),
        stream: Some(req.stream),
        think: req.reasoning.as_ref().and_then(encode_think),
    };
    let mut value = serde_json::to_value(&body)
        .map_err(|e| TranslateError::untranslatable(".", TARGET, e.to_string()))?;
    if let (Value::Object(obj), Some(params)) =
        (&mut value, req.extensions.for_key(Family::Ollama.as_str()))
    {
        apply_params(obj, params);
    }
    Ok(json::encode_sized(&value, json::REQUEST_BODY_CAPACITY))
}

/// Adds carried parameters the body does not set; `options` merges key by key.
fn apply_params(obj: &mut Map<String, Value>, params: &Map<String, Value>) {
    for (k, v) in params {
        match (obj.get_mut(k), v) {
            (Some(Value::Object(have)), Value::Object(extra)) if k == "options" => {
                for (ok, ov) in extra {
                    have.entry(ok.clone()).or_insert_with(|| ov.clone());
                }
            }
            (Some(_), _) => {}
            (None, _) => {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
}

fn encode_think(r: &ReasoningConfig) -> Option<wire::Think> {
    let level = |s: &str| Some(wire::Think::Level(s.to_owned()));
    match r.effective_effort() {
        None if r.include_thoughts => Some(wire::Think::Bool(true)),
        None => None,
        Some(Effort::None) => Some(wire::Think::Bool(false)),
        Some(Effort::Minimal | Effort::Low) => level("low"),
        Some(Effort::Medium) => level("medium"),
        Some(Effort::High) => level("high"),
        Some(Effort::XHigh | Effort::Max) => level("max"),
    }
}

fn encode_options(s: &Sampling) -> Option<wire::Options> {
    let options = wire::Options {
        temperature: s.temperature,
        top_p: s.top_p,
        top_k: s.top_k,
        num_predict: s
            .max_output_tokens
            .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
        stop: (!s.stop.is_empty()).then(|| s.stop.clone()),
        seed: s.seed,
        presence_penalty: s.presence_penalty,
        frequency_penalty: s.frequency_penalty,
    };
    (options != wire::Options::default()).then_some(options)
}

fn encode_tools(req: &ChatRequest) -> Result<Vec<wire::Tool>, TranslateError> {
    let keep: Option<Vec<&str>> = match &req.tool_choice {
        None | Some(ToolChoice::Auto | ToolChoice::Required) => None,
        Some(ToolChoice::None) => Some(Vec::new()),
        Some(ToolChoice::Tool(name)) => {
            if !req.tools.iter().any(|t| &t.name == name) {
                return Err(TranslateError::untranslatable(
                    "tool_choice",
                    TARGET,
                    format!("tool_choice names `{name}`, which is not among the tools"),
                ));
            }
            Some(vec![name.as_str()])
        }
        Some(ToolChoice::Allowed { names, .. }) => Some(names.iter().map(String::as_str).collect()),
    };
    Ok(req
        .tools
        .iter()
        .filter(|t| keep.as_ref().is_none_or(|k| k.contains(&t.name.as_str())))
        .map(|t| wire::Tool {
            kind: "function".to_owned(),
            function: wire::FunctionDef {
                name: names::upstream_name(ApiShape::Ollama, &t.name),
                description: t.description.clone(),
                parameters: t.parameters.clone(),
            },
        })
        .collect())
}
