//! Converse request bodies → the canonical [`ChatRequest`]. Bedrock is an upstream
//! shape: this decoder serves the Bedrock-shaped mock and the round-trip tests. The
//! encoder (canonical → Converse body) is in `request_encode.rs`, re-exported here as
//! [`encode`].

use gateway_protocol::{
    ChatRequest, Family, Message, Part, ReasoningConfig, ResponseFormat, Role, Sampling, Tool,
    ToolChoice,
};
use serde_json::{Map, Value};

use super::convert;
use super::wire;
use crate::error::TranslateError;
use crate::json;

pub use super::request_encode::encode;

/// The target name used in untranslatable-field errors.
pub const TARGET: &str = "Amazon Bedrock Converse";

/// Reads a Converse body. The model and the stream choice are in the URL: the caller
/// of this function sets `model` and `stream`. `additionalModelRequestFields.thinking`
/// becomes the reasoning budget and `top_k` the sampling's; the rest of
/// `additionalModelRequestFields` and unknown top-level fields are carried in
/// `extensions.params["bedrock"]`.
pub fn decode(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let wire: wire::Request = json::decode_request(body)?;
    let mut req = ChatRequest::default();
    for (i, block) in wire.system.iter().enumerate() {
        match (&block.text, &block.cache_point) {
            (Some(text), _) => req.system.push(Part::text(text.clone())),
            (None, Some(_)) => {}
            (None, None) => {
                return Err(TranslateError::invalid(
                    format!("system[{i}]"),
                    "a system block needs `text`",
                ));
            }
        }
    }
    for (i, msg) in wire.messages.iter().enumerate() {
        let role = match msg.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(TranslateError::invalid(
                    format!("messages[{i}].role"),
                    format!("unknown role `{other}`: Converse has `user` and `assistant`"),
                ));
            }
        };
        let mut parts = Vec::with_capacity(msg.content.len());
        for (j, block) in msg.content.iter().enumerate() {
            let path = format!("messages[{i}].content[{j}]");
            if let Some(part) = convert::part_of(block, &path)? {
                parts.push(part);
            }
        }
        req.messages.push(Message { role, parts });
    }
    if let Some(cfg) = &wire.inference_config {
        req.sampling = Sampling {
            max_output_tokens: cfg.max_tokens,
            temperature: cfg.temperature,
            top_p: cfg.top_p,
            stop: cfg.stop_sequences.clone(),
            ..Sampling::default()
        };
    }
    if let Some(tc) = &wire.tool_config {
        for (k, entry) in tc.tools.iter().enumerate() {
            let Some(spec) = &entry.tool_spec else {
                continue;
            };
            if spec.name.is_empty() {
                return Err(TranslateError::invalid(
                    format!("toolConfig.tools[{k}].toolSpec.name"),
                    "a tool needs a name",
                ));
            }
            req.tools.push(Tool {
                name: spec.name.clone(),
                description: spec.description.clone(),
                parameters: Some(gateway_protocol::RawJson::from_value(
                    &spec.input_schema.json,
                )),
                strict: None,
                cache_control: None,
            });
        }
        req.tool_choice = tc.tool_choice.as_ref().map(|c| {
            if let Some(t) = &c.tool {
                ToolChoice::Tool(t.name.clone())
            } else if c.any.is_some() {
                ToolChoice::Required
            } else {
                ToolChoice::Auto
            }
        });
    }
    if let Some(def) = wire
        .output_config
        .as_ref()
        .and_then(|c| c.text_format.as_ref())
        .and_then(|f| f.structure.json_schema.as_ref())
    {
        let schema: Value = serde_json::from_str(&def.schema).map_err(|e| {
            TranslateError::invalid(
                "outputConfig.textFormat.structure.jsonSchema.schema",
                format!("the schema is JSON text: {e}"),
            )
        })?;
        req.response_format = Some(ResponseFormat::JsonSchema {
            name: def.name.clone().unwrap_or_default(),
            description: def.description.clone(),
            schema,
            strict: None,
        });
    }
    let mut extra = wire
        .additional_model_request_fields
        .clone()
        .unwrap_or_default();
    if let Some(thinking) = extra.remove("thinking") {
        req.reasoning = Some(reasoning_of(&thinking)?);
    }
    if let Some(top_k) = extra.remove("top_k") {
        req.sampling.top_k = Some(top_k.as_u64().ok_or_else(|| {
            TranslateError::invalid(
                "additionalModelRequestFields.top_k",
                "top_k is a whole number",
            )
        })?);
    }
    let key = Family::Bedrock.as_str();
    if !extra.is_empty() {
        req.extensions
            .insert(key, "additionalModelRequestFields", Value::Object(extra));
    }
    for (k, v) in wire.extra {
        if k != "patchbay" {
            req.extensions.insert(key, k, v);
        }
    }
    Ok(req)
}

/// Anthropic's `thinking` object as Converse carries it: `{"type": "enabled",
/// "budget_tokens": N}` or `{"type": "disabled"}`.
fn reasoning_of(thinking: &Value) -> Result<ReasoningConfig, TranslateError> {
    let path = "additionalModelRequestFields.thinking";
    let obj: &Map<String, Value> = thinking
        .as_object()
        .ok_or_else(|| TranslateError::invalid(path, "thinking is an object"))?;
    match obj.get("type").and_then(Value::as_str) {
        Some("enabled") => {
            let budget = obj
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .ok_or_else(|| {
                    TranslateError::invalid(
                        format!("{path}.budget_tokens"),
                        "enabled thinking needs a whole-number budget_tokens",
                    )
                })?;
            Ok(ReasoningConfig {
                budget_tokens: Some(budget),
                include_thoughts: true,
                ..ReasoningConfig::default()
            })
        }
        Some("disabled") => Ok(ReasoningConfig {
            budget_tokens: Some(0),
            ..ReasoningConfig::default()
        }),
        _ => Err(TranslateError::invalid(
            format!("{path}.type"),
            "thinking.type is `enabled` or `disabled`",
        )),
    }
}
