//! `/api/chat` request bodies ↔ the canonical [`ChatRequest`] (PROTOCOLS §7.1, §8).

use gateway_protocol::{
    ApiShape, BindingField, ChatRequest, Effort, Family, Part, ReasoningConfig, ResponseFormat,
    Role, Sampling, Tool, ToolChoice,
};
use serde_json::{Map, Value};

use super::{messages, wire};
use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::{json, names};

/// The target name used in untranslatable-field errors.
pub const TARGET: &str = "Ollama";

/// Top-level fields with a canonical slot; every other field is carried in
/// `extensions.params["ollama"]`.
const KNOWN_FIELDS: [&str; 8] = [
    "model", "messages", "tools", "format", "options", "stream", "think", "patchbay",
];

/// `options` keys with a canonical slot; others stay in `params["ollama"]["options"]`.
const KNOWN_OPTIONS: [&str; 8] = [
    "temperature",
    "top_p",
    "top_k",
    "num_predict",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
];

/// Reads a caller's `/api/chat` body.
///
/// `stream` defaults to `true` as in Ollama. History tool calls without an `id` get
/// one synthesised; a `tool` message without `tool_call_id` answers the earliest
/// unanswered call of the preceding assistant turn with the same `tool_name` (or the
/// earliest unanswered call when it names none). Consecutive `tool` messages become
/// one user message of tool results. `think:true` reads as effort `medium`.
pub fn decode(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    // The untyped read first: it refuses a body that is not an object at `.`.
    let raw: Map<String, Value> = json::decode_request(body)?;
    let wire: wire::Request = json::decode_request(body)?;
    let mut req = ChatRequest {
        model: wire.model,
        stream: wire.stream.unwrap_or(true),
        ..ChatRequest::default()
    };
    messages::decode(&wire.messages, &mut req)?;
    for (i, tool) in wire.tools.into_iter().enumerate() {
        if tool.kind != "function" {
            return Err(TranslateError::invalid(
                format!("tools[{i}].type"),
                format!(
                    "unknown tool type `{}`; Ollama tools are `function`",
                    tool.kind
                ),
            ));
        }
        req.tools.push(Tool {
            name: tool.function.name,
            description: tool.function.description,
            parameters: tool.function.parameters,
            strict: None,
            cache_control: None,
        });
    }
    req.response_format = decode_format(wire.format)?;
    if let Some(options) = wire.options {
        req.sampling = Sampling {
            max_output_tokens: options.num_predict.and_then(|n| u64::try_from(n).ok()),
            temperature: options.temperature,
            top_p: options.top_p,
            top_k: options.top_k,
            stop: options.stop.unwrap_or_default(),
            seed: options.seed,
            presence_penalty: options.presence_penalty,
            frequency_penalty: options.frequency_penalty,
        };
    }
    req.reasoning = match wire.think {
        None => None,
        Some(think) => Some(decode_think(think)?),
    };
    decode_extras(raw, &mut req)?;
    Ok(req)
}

fn decode_think(think: wire::Think) -> Result<ReasoningConfig, TranslateError> {
    let effort = match think {
        wire::Think::Bool(false) => Effort::None,
        wire::Think::Bool(true) => Effort::Medium,
        wire::Think::Level(level) => match level.as_str() {
            "low" => Effort::Low,
            "medium" => Effort::Medium,
            "high" => Effort::High,
            "max" => Effort::Max,
            other => {
                return Err(TranslateError::invalid(
                    "think",
                    format!(
                        "unknown think level `{other}`; use true, false, low, medium, high or max"
                    ),
                ));
            }
        },
    };
    Ok(ReasoningConfig {
        effort: Some(effort),
        budget_tokens: None,
        include_thoughts: effort != Effort::None,
    })
}

fn decode_format(format: Option<Value>) -> Result<Option<ResponseFormat>, TranslateError> {
    Ok(match format {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s == "json" => Some(ResponseFormat::JsonObject),
        Some(Value::Object(schema)) => {
            // Ollama schemas have no name; the schema's `title` is the best one there is.
            let name = schema
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("response")
                .to_owned();
            Some(ResponseFormat::JsonSchema {
                name,
                description: None,
                schema: Value::Object(schema),
                strict: None,
            })
        }
        Some(_) => {
            return Err(TranslateError::invalid(
                "format",
                "expected \"json\" or a JSON Schema object",
            ));
        }
    })
}

fn decode_extras(raw: Map<String, Value>, req: &mut ChatRequest) -> Result<(), TranslateError> {
    let family = Family::Ollama.as_str();
    for (key, value) in raw {
        match key.as_str() {
            "patchbay" => crate::caller_ext::merge_patchbay(&value, &mut req.extensions)?,
            "options" => {
                if let Value::Object(options) = value {
                    for (k, v) in options {
                        let negative_limit =
                            k == "num_predict" && v.as_i64().is_some_and(|n| n < 0);
                        if !KNOWN_OPTIONS.contains(&k.as_str()) || negative_limit {
                            let entry = req
                                .extensions
                                .params
                                .entry(family.to_owned())
                                .or_default()
                                .entry("options")
                                .or_insert_with(|| Value::Object(Map::new()));
                            if let Value::Object(map) = entry {
                                map.insert(k, v);
                            }
                        }
                    }
                }
            }
            k if KNOWN_FIELDS.contains(&k) => {}
            _ => {
                let changes_answer = matches!(key.as_str(), "logprobs" | "top_logprobs")
                    && !matches!(value, Value::Null | Value::Bool(false));
                if changes_answer {
                    req.extensions.binding.push(BindingField {
                        only_shape: None,
                        family: Family::Ollama,
                        path: key.clone(),
                        reason: "log probabilities are returned in Ollama's own format only"
                            .to_owned(),
                    });
                }
                req.extensions.insert(family, key, value);
            }
        }
    }
    Ok(())
}

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
    Ok(json::encode(&value))
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
