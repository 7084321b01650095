//! Responses request bodies → canonical [`ChatRequest`]: the path-aware reference
//! decoder behind the fast path of `request_view.rs`. The encoder (canonical → upstream
//! body) is in `request_encode.rs`, re-exported here as [`encode`].

use gateway_protocol::{
    ApiShape, BindingField, ChatRequest, Effort, Family, Message, Part, ReasoningConfig,
    ResponseFormat, Role, Tool, ToolChoice,
};
use serde_json::{Map, Value};

use super::messages;
use super::paths::{decode_body, invalid, parse_at};
use super::wire;
use crate::error::TranslateError;

pub use super::request_encode::encode;

/// The shape's name in error messages.
pub(super) const SHAPE: &str = "OpenAI Responses";

/// Top-level fields that only OpenAI can honour: server-side state and templates.
const BINDING_FIELDS: [(&str, &str); 5] = [
    (
        "previous_response_id",
        "it continues a response stored by OpenAI; other upstreams keep no server-side \
         state — send the full history in `input` instead",
    ),
    (
        "conversation",
        "it refers to a conversation stored by OpenAI; send the full history in `input` instead",
    ),
    (
        "background",
        "background responses run and are polled on OpenAI's servers",
    ),
    ("prompt", "prompt templates are stored on OpenAI's servers"),
    (
        "top_logprobs",
        "log-probabilities are only reported by OpenAI",
    ),
];

/// Extension parameters (`params["openai"]`) that a Responses body accepts at the top
/// level. Others (Chat's `n`, `logprobs`, `stop`, ...) are not Responses fields and
/// would make OpenAI reject the body, so they are left out.
pub(super) const RESPONSES_PARAMS: [&str; 14] = [
    "store",
    "metadata",
    "service_tier",
    "include",
    "truncation",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "max_tool_calls",
    "top_logprobs",
    "previous_response_id",
    "conversation",
    "background",
    "prompt",
];

#[cfg(test)]
pub(crate) use super::request_view::decode_both;

/// Decodes a caller's Responses body.
pub fn decode(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    match super::request_view::decode(body) {
        Some(req) => Ok(req),
        None => decode_slow(body),
    }
}

/// The path-aware decoder: builds a tree per item so every error names its exact path.
pub(crate) fn decode_slow(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let wire: wire::Request = decode_body(body)?;
    let mut req = ChatRequest {
        model: wire.model,
        ..ChatRequest::default()
    };
    if let Some(text) = wire.instructions.filter(|t| !t.is_empty()) {
        req.system.push(Part::text(text));
    }
    match &wire.input {
        None => {}
        Some(wire::Input::Text(s)) if s.is_empty() => {
            return Err(invalid("input", "`input` must not be empty"));
        }
        Some(wire::Input::Text(s)) => req.messages.push(Message::text(Role::User, s.clone())),
        Some(wire::Input::Items(list)) => {
            for (i, item) in list.iter().enumerate() {
                messages::decode_item(item, &format!("input[{i}]"), &mut req)?;
            }
        }
    }
    for (i, tool) in wire.tools.iter().flatten().enumerate() {
        decode_tool(tool, i, &mut req)?;
    }
    if let Some(choice) = &wire.tool_choice {
        req.tool_choice = decode_tool_choice(choice, &mut req)?;
    }
    req.parallel_tool_calls = wire.parallel_tool_calls;
    if let Some(text) = &wire.text {
        if let Some(format) = &text.format {
            req.response_format = Some(decode_format(format)?);
        }
        if let Some(v) = text.verbosity.as_ref().filter(|v| !v.is_null()) {
            req.extensions
                .insert(Family::OpenAi.as_str(), "verbosity", v.clone());
        }
    }
    if let Some(r) = &wire.reasoning {
        let effort = match &r.effort {
            None => None,
            Some(e) => Some(Effort::parse(e).ok_or_else(|| {
                invalid(
                    "reasoning.effort",
                    format!(
                        "unknown effort `{e}`; expected none, minimal, low, medium, high or xhigh"
                    ),
                )
            })?),
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
    req.user = wire.user;
    decode_extra(wire.extra, &mut req)?;
    Ok(req)
}

fn decode_tool(value: &Value, i: usize, req: &mut ChatRequest) -> Result<(), TranslateError> {
    decode_tool_at(value, format!("tools[{i}]"), req)
}

/// One tool at `path`. A `namespace` tool (Codex groups MCP tools this way) is
/// flattened: the function tools it holds become ordinary tools with their own
/// names, so every upstream can call them.
fn decode_tool_at(
    value: &Value,
    path: String,
    req: &mut ChatRequest,
) -> Result<(), TranslateError> {
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{path}.type"), "a tool needs a string `type`"))?;
    if kind == "namespace" {
        let inner = value
            .get("tools")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                invalid(
                    format!("{path}.tools"),
                    "a namespace tool needs a `tools` array",
                )
            })?;
        for (j, tool) in inner.iter().enumerate() {
            decode_tool_at(tool, format!("{path}.tools[{j}]"), req)?;
        }
        return Ok(());
    }
    if kind == "function" {
        let f: wire::FunctionTool = parse_at(value, &path)?;
        req.tools.push(Tool {
            name: f.name,
            description: f.description,
            parameters: f.parameters,
            strict: f.strict,
            cache_control: None,
        });
    } else {
        req.extensions.binding.push(BindingField {
            only_shape: Some(ApiShape::OpenAiResponses),
            family: Family::OpenAi,
            path,
            reason: format!("the hosted tool `{kind}` runs only on OpenAI"),
        });
    }
    Ok(())
}

pub(super) fn decode_tool_choice(
    value: &Value,
    req: &mut ChatRequest,
) -> Result<Option<ToolChoice>, TranslateError> {
    let kind = match value {
        Value::Null => return Ok(None),
        Value::String(s) => {
            return match s.as_str() {
                "auto" => Ok(Some(ToolChoice::Auto)),
                "none" => Ok(Some(ToolChoice::None)),
                "required" => Ok(Some(ToolChoice::Required)),
                other => Err(invalid(
                    "tool_choice",
                    format!("unknown tool_choice `{other}`; expected auto, none or required"),
                )),
            };
        }
        Value::Object(o) => o.get("type").and_then(Value::as_str).ok_or_else(|| {
            invalid(
                "tool_choice.type",
                "a tool_choice object needs a string `type`",
            )
        })?,
        _ => {
            return Err(invalid(
                "tool_choice",
                "`tool_choice` must be a string or an object",
            ));
        }
    };
    match kind {
        "function" => {
            let named: wire::NamedChoice = parse_at(value, "tool_choice")?;
            Ok(Some(ToolChoice::Tool(named.name)))
        }
        "allowed_tools" => {
            let allowed: wire::AllowedTools = parse_at(value, "tool_choice")?;
            let required = match allowed.mode.as_str() {
                "auto" => false,
                "required" => true,
                other => {
                    return Err(invalid(
                        "tool_choice.mode",
                        format!("unknown mode `{other}`; expected auto or required"),
                    ));
                }
            };
            let mut names = Vec::with_capacity(allowed.tools.len());
            for (i, t) in allowed.tools.iter().enumerate() {
                let path = format!("tool_choice.tools[{i}]");
                if t.get("type").and_then(Value::as_str) == Some("function") {
                    let named: wire::NamedChoice = parse_at(t, &path)?;
                    names.push(named.name);
                } else {
                    req.extensions.binding.push(BindingField {
                        only_shape: Some(ApiShape::OpenAiResponses),
                        family: Family::OpenAi,
                        path,
                        reason: "hosted tools run only on OpenAI".to_owned(),
                    });
                }
            }
            Ok(Some(ToolChoice::Allowed { names, required }))
        }
        hosted => {
            req.extensions.binding.push(BindingField {
                only_shape: Some(ApiShape::OpenAiResponses),
                family: Family::OpenAi,
                path: "tool_choice".to_owned(),
                reason: format!("tool_choice `{hosted}` selects a tool that runs only on OpenAI"),
            });
            Ok(None)
        }
    }
}

pub(super) fn decode_format(value: &Value) -> Result<ResponseFormat, TranslateError> {
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("text.format.type", "a format needs a string `type`"))?;
    match kind {
        "text" => Ok(ResponseFormat::Text),
        "json_object" => Ok(ResponseFormat::JsonObject),
        "json_schema" => {
            let f: wire::JsonSchemaFormat = parse_at(value, "text.format")?;
            Ok(ResponseFormat::JsonSchema {
                name: f.name,
                description: f.description,
                schema: f.schema,
                strict: f.strict,
            })
        }
        other => Err(invalid(
            "text.format.type",
            format!("unknown format type `{other}`; expected text, json_object or json_schema"),
        )),
    }
}

/// Fields without a canonical slot: `patchbay.ext` entries, binding fields, and the
/// rest as `params["openai"]`.
pub(super) fn decode_extra(
    extra: Map<String, Value>,
    req: &mut ChatRequest,
) -> Result<(), TranslateError> {
    let mut patchbay = None;
    for (key, value) in extra {
        if key == "patchbay" {
            patchbay = Some(value);
            continue;
        }
        if value.is_null() || (key == "background" && value == Value::Bool(false)) {
            continue;
        }
        if let Some((_, reason)) = BINDING_FIELDS.iter().find(|(k, _)| *k == key) {
            req.extensions.binding.push(BindingField {
                only_shape: Some(ApiShape::OpenAiResponses),
                family: Family::OpenAi,
                path: key.clone(),
                reason: (*reason).to_owned(),
            });
        }
        req.extensions.insert(Family::OpenAi.as_str(), key, value);
    }
    if let Some(p) = patchbay {
        crate::caller_ext::merge_patchbay(&p, &mut req.extensions)?;
    }
    Ok(())
}
