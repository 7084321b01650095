//! Cohere v2 Chat wire types (`POST /v2/chat`), with Cohere's field names (snake_case).
//!
//! Content kinds (`text`, `thinking`, `image_url`, `document`) are one struct with a
//! `type` and optional members, the unread ones kept in `extra`, so a kind the gateway
//! does not know never fails a decode. Stream events are one struct per event type:
//! `message-start` sends `content` and `tool_calls` as empty arrays where the other
//! events send single objects under the same names.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A `/v2/chat` request body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Request {
    /// The model.
    #[serde(default)]
    pub model: String,
    /// The conversation, system messages included.
    #[serde(default)]
    pub messages: Vec<Message>,
    /// Function tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Calls follow the tools' schemas strictly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_tools: Option<bool>,
    /// Documents the model may cite: strings or `{"data": {...}, "id": ...}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<Value>,
    /// The answer's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Output limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Up to 5 stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// Temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Best-effort determinism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Frequency penalty (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Presence penalty (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Top-k sampling (0 disables it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<u64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
    /// `REQUIRED` or `NONE` (absent: the model decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<String>,
    /// Reasoning, for the models that reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Thinking>,
    /// Streamed (SSE) or whole.
    #[serde(default)]
    pub stream: bool,
    /// `citation_options`, `safety_mode`, `logprobs`, `priority`, ...
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One message: `system`, `user`, `assistant` or `tool`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Message {
    /// The role.
    pub role: String,
    /// A string, or content parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// An assistant's calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// An assistant's plan before its calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_plan: Option<String>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// `citations`, ...
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Message content: plain text or a list of parts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Content parts.
    Parts(Vec<ContentPart>),
}

/// A content part: `text`, `thinking`, `image_url` (user), `document` (tool).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContentPart {
    /// The kind.
    #[serde(rename = "type")]
    pub kind: String,
    /// `text`'s text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `thinking`'s text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// `image_url`'s image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<ImageUrl>,
    /// `document`'s document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Document>,
    /// Members of kinds the gateway does not read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `image_url`: a web URL or a base64 data URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageUrl {
    /// The URL.
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A document: string-keyed data, and an id citations name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    /// The document's fields.
    #[serde(default)]
    pub data: Map<String, Value>,
    /// Its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// A tool call.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call id (absent from a `tool-call-delta`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// `function` (absent from a `tool-call-delta`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The function and its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCall>,
}

fn function() -> String {
    "function".to_owned()
}

/// A call's function.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The tool's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The arguments as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// A tool: `{"type": "function", "function": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    /// `function`.
    #[serde(rename = "type", default = "function")]
    pub kind: String,
    /// The function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<Function>,
}

/// A function tool's definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Function {
    /// Its name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The arguments' JSON Schema.
    #[serde(default)]
    pub parameters: Value,
}

/// `response_format`: `{"type": "text"}` or `{"type": "json_object", "json_schema":
/// {...}}` (Cohere has no separate schema type: the schema is optional).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseFormat {
    /// `text` or `json_object`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The schema the answer follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<Value>,
}

/// `thinking`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Thinking {
    /// `enabled` or `disabled`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The most tokens the model may think.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_budget: Option<u64>,
}

/// A whole answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Response {
    /// The answer's id.
    #[serde(default)]
    pub id: String,
    /// `COMPLETE`, `STOP_SEQUENCE`, `MAX_TOKENS`, `TOOL_CALL`, `ERROR`, `TIMEOUT`.
    #[serde(default)]
    pub finish_reason: String,
    /// The assistant's message.
    #[serde(default)]
    pub message: Message,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// `logprobs`, ...
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `usage`: what was billed and what the model processed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Billed tokens (the prompt template Cohere adds is not billed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_units: Option<Counts>,
    /// Tokens the model read and wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Counts>,
    /// Prompt tokens served from the inference cache.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub cached_tokens: Option<u64>,
}

/// Input and output counts (the SDKs type them as numbers that may have a fraction).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Input.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_tokens: Option<u64>,
    /// Output.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_tokens: Option<u64>,
}

/// A count written as a whole number or as a float (`12.0`); negative or fractional
/// parts are dropped.
fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n: Option<f64> = Option::deserialize(d)?;
    Ok(n.filter(|n| n.is_finite() && *n >= 0.0).map(|n| {
        // In range by the filter; a count past u64 is clamped.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = n.trunc() as u64;
        whole
    }))
}

/// `message-start`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessageStart {
    /// The answer's id.
    #[serde(default)]
    pub id: String,
}

/// `content-start`, `content-delta`: `delta.message.content`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContentEvent {
    /// The content part's position.
    #[serde(default)]
    pub index: usize,
    /// What starts or is added.
    #[serde(default)]
    pub delta: Option<ContentEventDelta>,
}

/// `content-*`'s `delta`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContentEventDelta {
    /// `{"content": ...}`.
    #[serde(default)]
    pub message: Option<ContentEventMessage>,
}

/// `content-*`'s `delta.message`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContentEventMessage {
    /// The part (on start its `type`) or the added text.
    #[serde(default)]
    pub content: Option<DeltaContent>,
}

/// A content part's start or addition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeltaContent {
    /// `text` or `thinking` (on `content-start`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
}

/// `content-end`, `tool-call-end`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EndEvent {
    /// The part's position.
    #[serde(default)]
    pub index: usize,
}

/// `tool-plan-delta`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolPlanEvent {
    /// `{"message": {"tool_plan": ...}}`.
    #[serde(default)]
    pub delta: Option<ToolPlanDelta>,
}

/// `tool-plan-delta`'s `delta`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolPlanDelta {
    /// `{"tool_plan": ...}`.
    #[serde(default)]
    pub message: Option<ToolPlanMessage>,
}

/// `tool-plan-delta`'s `delta.message`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolPlanMessage {
    /// A piece of the plan.
    #[serde(default)]
    pub tool_plan: Option<String>,
}

/// `tool-call-start`, `tool-call-delta`: `delta.message.tool_calls` is one call (on
/// start its id and name; then pieces of its arguments).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolCallEvent {
    /// The call's position among the answer's calls.
    #[serde(default)]
    pub index: usize,
    /// `{"message": {"tool_calls": ...}}`.
    #[serde(default)]
    pub delta: Option<ToolCallDelta>,
}

/// `tool-call-*`'s `delta`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// `{"tool_calls": ...}`.
    #[serde(default)]
    pub message: Option<ToolCallMessage>,
}

/// `tool-call-*`'s `delta.message`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolCallMessage {
    /// The call, or its addition.
    #[serde(default)]
    pub tool_calls: Option<ToolCall>,
}

/// `message-end`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessageEnd {
    /// The answer's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The reason and the counts.
    #[serde(default)]
    pub delta: Option<MessageEndDelta>,
}

/// `message-end`'s `delta`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessageEndDelta {
    /// Why the model stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// What went wrong, when the reason is `ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Cohere's error body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What went wrong.
    #[serde(default)]
    pub message: Option<String>,
}
