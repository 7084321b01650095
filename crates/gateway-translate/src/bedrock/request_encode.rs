//! Canonical [`ChatRequest`] → a Converse body for a Bedrock upstream.

use gateway_protocol::{ApiShape, ChatRequest, Family, Part, ResponseFormat, Role, ToolChoice};
use serde_json::{Map, Value, json};

use super::convert::{input_value, wire_document, wire_image};
use super::request::TARGET;
use super::wire;
use crate::context::EncodeOptions;
use crate::error::TranslateError;
use crate::ids::IdSanitizer;
use crate::{json, names, turns};

/// What a caller asking for any JSON object is told, as a system block (Converse has
/// no JSON mode).
const JSON_OBJECT_INSTRUCTION: &str =
    "Answer with one JSON object and nothing else: no prose, no code fences.";

/// Writes a Converse body (`/model/{id}/converse` or `converse-stream`: the model and
/// the stream choice go in the URL, not here).
///
/// Reasoning becomes Anthropic's `thinking` in `additionalModelRequestFields` (the
/// Claude models' form on Bedrock) and `top_k` goes there too. Carried
/// `params["bedrock"]` fields are added at the top level (`additionalModelRequestFields`
/// merged key by key). Lossy by design: seed, penalties, the user id, parallel-call
/// switches, `strict` and cache hints have no Converse field and are dropped; a JSON
/// object answer is asked for in a system block (Converse's structured output takes
/// schemas only); a JSON schema goes to `outputConfig.textFormat`.
/// `tool_choice: none` drops the tools, unless the history holds tool blocks (Converse
/// then requires `toolConfig`): the tools are kept and the model left to decide.
/// Reasoning of another family is not replayed (its signature would not verify).
pub fn encode(req: &ChatRequest, _opts: &EncodeOptions) -> Result<Vec<u8>, TranslateError> {
    if let Some(b) = req.extensions.first_binding_against(ApiShape::Bedrock) {
        return Err(TranslateError::untranslatable(&b.path, TARGET, &b.reason));
    }
    let mut system = Vec::with_capacity(req.system.len() + 1);
    for (j, part) in req.system.iter().enumerate() {
        match part {
            Part::Text { text, .. } if text.is_empty() => {}
            Part::Text { text, .. } => system.push(wire::SystemBlock {
                text: Some(text.clone()),
                ..wire::SystemBlock::default()
            }),
            _ => {
                return Err(TranslateError::untranslatable(
                    format!("system[{j}]"),
                    TARGET,
                    "Converse system prompts carry text only",
                ));
            }
        }
    }
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => system.push(wire::SystemBlock {
            text: Some(JSON_OBJECT_INSTRUCTION.to_owned()),
            ..wire::SystemBlock::default()
        }),
        Some(ResponseFormat::JsonSchema { .. }) => {}
        Some(ResponseFormat::Text) | None => {}
    }

    let replayable = |p: &Part| match p {
        Part::Reasoning(r) => r.source == Some(Family::Bedrock),
        Part::Text { text, .. } => !text.is_empty(),
        _ => true,
    };
    let mut ids = IdSanitizer::default();
    let mut documents = 0usize;
    let mut history_has_tools = false;
    let mut messages = Vec::new();
    for (i, (role, parts)) in turns::alternate_refs(&req.messages, replayable)
        .into_iter()
        .enumerate()
    {
        let mut content = Vec::with_capacity(parts.len());
        for (j, part) in parts.into_iter().enumerate() {
            let path = format!("messages[{i}].content[{j}]");
            history_has_tools |= matches!(part, Part::ToolCall(_) | Part::ToolResult(_));
            content.push(block(part, &path, &mut ids, &mut documents)?);
        }
        messages.push(wire::Message {
            role: match role {
                Role::User => "user",
                Role::Assistant => "assistant",
            }
            .to_owned(),
            content,
        });
    }

    let s = &req.sampling;
    let inference_config = wire::InferenceConfig {
        max_tokens: s.max_output_tokens,
        temperature: s.temperature,
        top_p: s.top_p,
        stop_sequences: s.stop.clone(),
    };
    let mut additional = Map::new();
    if let Some(top_k) = s.top_k {
        additional.insert("top_k".into(), json!(top_k));
    }
    if let Some(r) = &req.reasoning {
        match r.effective_budget() {
            Some(0) => {}
            Some(budget) => {
                additional.insert(
                    "thinking".into(),
                    json!({"type": "enabled", "budget_tokens": budget}),
                );
            }
            None => {}
        }
    }
    let mut body = wire::Request {
        messages,
        system,
        inference_config: (inference_config != wire::InferenceConfig::default())
            .then_some(inference_config),
        tool_config: tool_config(req, history_has_tools)?,
        output_config: match &req.response_format {
            Some(ResponseFormat::JsonSchema {
                name,
                description,
                schema,
                ..
            }) => Some(wire::OutputConfig {
                text_format: Some(wire::OutputFormat {
                    kind: "json_schema".to_owned(),
                    structure: wire::OutputStructure {
                        json_schema: Some(wire::JsonSchemaDefinition {
                            schema: schema.to_string(),
                            name: (!name.is_empty()).then(|| name.clone()),
                            description: description.clone(),
                        }),
                    },
                }),
            }),
            _ => None,
        },
        additional_model_request_fields: None,
        extra: Map::new(),
    };
    if let Some(params) = req.extensions.for_key(Family::Bedrock.as_str()) {
        for (k, v) in params {
            match (k.as_str(), v) {
                ("additionalModelRequestFields", Value::Object(extra)) => {
                    for (ek, ev) in extra {
                        additional.entry(ek.clone()).or_insert_with(|| ev.clone());
                    }
                }
                ("messages" | "system" | "inferenceConfig" | "toolConfig" | "outputConfig", _) => {}
                _ => {
                    body.extra.insert(k.clone(), v.clone());
                }
            }
        }
    }
    body.additional_model_request_fields = (!additional.is_empty()).then_some(additional);
    Ok(json::encode_sized(&body, json::REQUEST_BODY_CAPACITY))
}

/// One canonical part as a content block.
fn block(
    part: &Part,
    path: &str,
    ids: &mut IdSanitizer,
    documents: &mut usize,
) -> Result<wire::ContentBlock, TranslateError> {
    let mut b = wire::ContentBlock::default();
    match part {
        Part::Text { text, .. } => b.text = Some(text.clone()),
        Part::Image(image) => b.image = Some(wire_image(image, path)?),
        Part::Document(doc) => {
            b.document = Some(wire_document(doc, *documents, path)?);
            *documents += 1;
        }
        Part::ToolCall(call) => {
            b.tool_use = Some(wire::ToolUse {
                tool_use_id: ids.sanitize(&call.id),
                name: names::upstream_name(ApiShape::Bedrock, &call.name),
                input: input_value(&call.arguments, path)?,
            });
        }
        Part::ToolResult(result) => {
            let mut content = Vec::with_capacity(result.content.len());
            for (k, p) in result.content.iter().enumerate() {
                let at = format!("{path}.content[{k}]");
                let mut c = wire::ToolResultContent::default();
                match p {
                    Part::Text { text, .. } => c.text = Some(text.clone()),
                    Part::Image(image) => c.image = Some(wire_image(image, &at)?),
                    Part::Document(doc) => {
                        c.document = Some(wire_document(doc, *documents, &at)?);
                        *documents += 1;
                    }
                    _ => {
                        return Err(TranslateError::untranslatable(
                            at,
                            TARGET,
                            "a Converse tool result holds text, JSON, images and documents",
                        ));
                    }
                }
                content.push(c);
            }
            if content.is_empty() {
                // Converse requires at least one member.
                content.push(wire::ToolResultContent {
                    text: Some(String::new()),
                    ..wire::ToolResultContent::default()
                });
            }
            b.tool_result = Some(wire::ToolResult {
                tool_use_id: ids.sanitize(&result.call_id),
                content,
                status: result.is_error.then(|| "error".to_owned()),
            });
        }
        Part::Reasoning(r) => {
            b.reasoning_content = Some(match &r.redacted {
                Some(data) => wire::ReasoningContent {
                    redacted_content: Some(data.clone()),
                    ..wire::ReasoningContent::default()
                },
                None => wire::ReasoningContent {
                    reasoning_text: Some(wire::ReasoningText {
                        text: r.text.clone(),
                        signature: r.signature.clone(),
                    }),
                    ..wire::ReasoningContent::default()
                },
            });
        }
    }
    Ok(b)
}

/// `toolConfig` from the tools and the tool choice.
fn tool_config(
    req: &ChatRequest,
    history_has_tools: bool,
) -> Result<Option<wire::ToolConfig>, TranslateError> {
    if req.tools.is_empty() {
        return Ok(None);
    }
    let empty = Map::new;
    let (keep, choice): (Option<Vec<&str>>, Option<wire::ToolChoice>) = match &req.tool_choice {
        None => (None, None),
        Some(ToolChoice::Auto) => (
            None,
            Some(wire::ToolChoice {
                auto: Some(empty()),
                ..wire::ToolChoice::default()
            }),
        ),
        Some(ToolChoice::Required) => (
            None,
            Some(wire::ToolChoice {
                any: Some(empty()),
                ..wire::ToolChoice::default()
            }),
        ),
        Some(ToolChoice::None) if history_has_tools => (None, None),
        Some(ToolChoice::None) => return Ok(None),
        Some(ToolChoice::Tool(name)) => {
            if !req.tools.iter().any(|t| &t.name == name) {
                return Err(TranslateError::untranslatable(
                    "tool_choice",
                    TARGET,
                    format!("tool_choice names `{name}`, which is not among the tools"),
                ));
            }
            (
                None,
                Some(wire::ToolChoice {
                    tool: Some(wire::NamedTool {
                        name: names::upstream_name(ApiShape::Bedrock, name),
                    }),
                    ..wire::ToolChoice::default()
                }),
            )
        }
        Some(ToolChoice::Allowed { names, required }) => {
            let member = if *required { "any" } else { "auto" };
            let mut c = wire::ToolChoice::default();
            if member == "any" {
                c.any = Some(empty());
            } else {
                c.auto = Some(empty());
            }
            (Some(names.iter().map(String::as_str).collect()), Some(c))
        }
    };
    let tools = req
        .tools
        .iter()
        .filter(|t| keep.as_ref().is_none_or(|k| k.contains(&t.name.as_str())))
        .map(|t| wire::ToolEntry {
            tool_spec: Some(wire::ToolSpec {
                name: names::upstream_name(ApiShape::Bedrock, &t.name),
                description: t.description.clone().filter(|d| !d.is_empty()),
                input_schema: wire::InputSchema {
                    json: t.parameters.as_ref().map_or_else(
                        || json!({"type": "object", "properties": {}}),
                        |p| p.to_value(),
                    ),
                },
            }),
            ..wire::ToolEntry::default()
        })
        .collect();
    Ok(Some(wire::ToolConfig {
        tools,
        tool_choice: choice,
    }))
}
