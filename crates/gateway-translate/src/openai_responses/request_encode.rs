//! Canonical [`ChatRequest`] → a Responses upstream body (PROTOCOLS §3, §8).

use gateway_protocol::{
    ApiShape, ChatRequest, Effort, Family, Part, ResponseFormat, Tool, ToolChoice,
};
use serde_json::{Value, json};

use super::request::{RESPONSES_PARAMS, SHAPE};
use super::{messages, wire};
use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::json;
use crate::names::upstream_name;

/// Encodes a canonical request for a Responses upstream.
pub fn encode(req: &ChatRequest, _opts: &EncodeOptions) -> Result<Vec<u8>, TranslateError> {
    if let Some(b) = req
        .extensions
        .first_binding_against(ApiShape::OpenAiResponses)
    {
        return Err(TranslateError::untranslatable(&b.path, SHAPE, &b.reason));
    }
    let mut body = wire::Request {
        model: req.model.clone(),
        ..wire::Request::default()
    };
    let mut input = Vec::new();
    let mut system = req.system.as_slice();
    if let Some((Part::Text { text, .. }, rest)) = system.split_first() {
        body.instructions = Some(text.clone());
        system = rest;
    }
    input.extend(messages::encode_developer(system));
    messages::encode_messages(&req.messages, &mut input);
    body.input = Some(wire::Input::Items(input));
    if !req.tools.is_empty() {
        body.tools = Some(req.tools.iter().map(encode_tool).collect());
    }
    body.tool_choice = req.tool_choice.as_ref().map(encode_tool_choice);
    body.parallel_tool_calls = req.parallel_tool_calls;
    let params = req.extensions.for_key(Family::OpenAi.as_str());
    let verbosity = params.and_then(|p| p.get("verbosity")).cloned();
    if req.response_format.is_some() || verbosity.is_some() {
        body.text = Some(wire::TextConfig {
            format: req.response_format.as_ref().map(encode_format),
            verbosity,
        });
    }
    if let Some(r) = &req.reasoning {
        let effort = r.effective_effort().map(|e| match e {
            Effort::Max => Effort::XHigh.as_str().to_owned(),
            e => e.as_str().to_owned(),
        });
        let summary = r.include_thoughts.then(|| "auto".to_owned());
        if effort.is_some() || summary.is_some() {
            body.reasoning = Some(wire::ReasoningParam { effort, summary });
        }
    }
    body.max_output_tokens = req.sampling.max_output_tokens;
    body.temperature = req.sampling.temperature;
    body.top_p = req.sampling.top_p;
    // No stop sequences, top_k, seed or penalties in Responses: dropped.
    body.stream = req.stream.then_some(true);
    body.user = req.user.clone();
    for (key, value) in params.into_iter().flatten() {
        if RESPONSES_PARAMS.contains(&key.as_str()) && !body.extra.contains_key(key) {
            body.extra.insert(key.clone(), value.clone());
        }
    }
    Ok(json::encode_sized(&body, json::REQUEST_BODY_CAPACITY))
}

fn encode_tool(tool: &Tool) -> Value {
    let f = wire::FunctionTool {
        kind: "function".to_owned(),
        name: upstream_name(ApiShape::OpenAiResponses, &tool.name),
        description: tool.description.clone(),
        parameters: tool.parameters.clone(),
        // Responses treats a missing `strict` as true; other shapes mean "not strict".
        strict: Some(tool.strict.unwrap_or(false)),
    };
    serde_json::to_value(f).unwrap_or(Value::Null)
}

fn encode_tool_choice(choice: &ToolChoice) -> Value {
    let function = |name: &str| json!({"type": "function", "name": upstream_name(ApiShape::OpenAiResponses, name)});
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool(name) => function(name),
        ToolChoice::Allowed { names, required } => json!({
            "type": "allowed_tools",
            "mode": if *required { "required" } else { "auto" },
            "tools": names.iter().map(|n| function(n)).collect::<Vec<_>>(),
        }),
    }
}

fn encode_format(format: &ResponseFormat) -> Value {
    match format {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            description,
            schema,
            strict,
        } => serde_json::to_value(wire::JsonSchemaFormat {
            kind: "json_schema".to_owned(),
            name: name.clone(),
            description: description.clone(),
            schema: schema.clone(),
            strict: *strict,
        })
        .unwrap_or(Value::Null),
    }
}
