//! `/api/chat` request bodies → the canonical [`ChatRequest`] (PROTOCOLS §7.1, §8). The
//! encoder (canonical → upstream body) is in `request_encode.rs`, re-exported here as
//! [`encode`].

use gateway_protocol::{
    BindingField, ChatRequest, Effort, Family, ReasoningConfig, ResponseFormat, Sampling, Tool,
};
use serde_json::{Map, Value};

use super::{messages, wire};
use crate::error::TranslateError;
use crate::json;

pub use super::request_encode::encode;

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
