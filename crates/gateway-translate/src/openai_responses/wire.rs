//! Wire types of the OpenAI Responses API (`POST /v1/responses`), with the vendor's
//! field names. Polymorphic request values (input items, tools, `tool_choice`,
//! `text.format`) are kept as raw JSON here and dispatched on their `type` by
//! `request::decode`, so every error can name its exact path.

use gateway_protocol::RawJson;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A request body (caller side) or the body sent to a Responses upstream.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Request {
    /// The model.
    pub model: String,
    /// A string (one user message) or a list of input items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Input>,
    /// System/developer text for this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Output limit, reasoning included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// Temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Function tools (flat) and hosted tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
    /// `"auto"`, `"none"`, `"required"` or an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// `false` forbids parallel calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Output format and verbosity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextConfig>,
    /// Reasoning effort and summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningParam>,
    /// Stream the answer as SSE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// End-user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Every other field (`store`, `metadata`, `previous_response_id`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `input`: a string or a list of items.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Input {
    /// One user message.
    Text(String),
    /// Input items, each dispatched on its `type`.
    Items(Vec<Value>),
}

/// `text`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TextConfig {
    /// `{type:"text"}`, `{type:"json_object"}` or a flat `json_schema` format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Value>,
    /// `low`, `medium`, `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbosity: Option<Value>,
}

/// `text.format` of type `json_schema` (fields are flat).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    /// Always `json_schema` when written.
    #[serde(rename = "type", default = "json_schema_type")]
    pub kind: String,
    /// Schema name.
    pub name: String,
    /// What the schema is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema.
    pub schema: Value,
    /// Strict adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

fn json_schema_type() -> String {
    "json_schema".to_owned()
}

/// `reasoning`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReasoningParam {
    /// `none` … `xhigh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    /// `auto`, `concise`, `detailed`: asks for readable summaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// A flat function tool.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionTool {
    /// Always `function`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// Tool name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments (a required key that may be null).
    #[serde(default)]
    pub parameters: Option<RawJson>,
    /// Strict schema adherence (Responses defaults to true when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

fn function_type() -> String {
    "function".to_owned()
}

/// `tool_choice` naming one function: `{type:"function", name}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedChoice {
    /// The tool's name.
    pub name: String,
}

/// `tool_choice` of type `allowed_tools`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AllowedTools {
    /// `auto` or `required`.
    pub mode: String,
    /// `{type:"function", name}` entries (hosted tools are possible too).
    pub tools: Vec<Value>,
}

/// The header of a message item; `content` is dispatched separately.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageHeader {
    /// `user`, `assistant`, `system` or `developer`.
    pub role: String,
    /// A string or a list of content parts.
    pub content: Value,
}

/// An item of `input` or of `output`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    /// A message.
    Message(MessageItem),
    /// A call the model made.
    FunctionCall(FunctionCallItem),
    /// The caller's result for a call.
    FunctionCallOutput(FunctionCallOutputItem),
    /// Reasoning summary and encrypted state.
    Reasoning(ReasoningItem),
    /// Any other item type (hosted tools, ...), skipped when reading answers.
    #[serde(other)]
    Other,
}

/// A message item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageItem {
    /// `msg_…` (output items only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The speaker.
    pub role: String,
    /// `in_progress`, `completed`, `incomplete` (output items only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The parts.
    #[serde(default)]
    pub content: Vec<ContentPart>,
}

/// A content part of a message item.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Caller text.
    InputText(TextPart),
    /// Model text.
    OutputText(OutputText),
    /// Model refusal.
    Refusal(RefusalPart),
    /// Caller image.
    InputImage(InputImage),
    /// Caller file.
    InputFile(InputFile),
    /// Unknown part type (skipped when reading answers).
    #[serde(other)]
    Other,
}

/// `input_text`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextPart {
    /// The text.
    pub text: String,
}

/// `output_text`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputText {
    /// The text.
    pub text: String,
    /// Citations and similar (kept empty when written).
    #[serde(default)]
    pub annotations: Vec<Value>,
}

/// `refusal`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefusalPart {
    /// The refusal text.
    pub refusal: String,
}

/// `input_image`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputImage {
    /// A URL or a data URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// An uploaded file id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// `auto`, `low`, `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `input_file`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputFile {
    /// A data URL (or bare base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<String>,
    /// An uploaded file id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// A URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_url: Option<String>,
    /// The file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// `function_call`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionCallItem {
    /// `fc_…` item id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The id results refer to.
    pub call_id: String,
    /// Tool name.
    pub name: String,
    /// Arguments as JSON text.
    #[serde(default)]
    pub arguments: String,
    /// Item status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// `function_call_output`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionCallOutputItem {
    /// The call answered.
    pub call_id: String,
    /// A string or a list of `input_text` / `input_image` / `input_file` parts.
    pub output: Value,
}

/// `reasoning`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReasoningItem {
    /// `rs_…`.
    #[serde(default)]
    pub id: String,
    /// Readable summary parts.
    #[serde(default)]
    pub summary: Vec<SummaryText>,
    /// Raw reasoning text (models that expose it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<SummaryText>>,
    /// Opaque state for replay without server storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
}

/// `{type:"summary_text", text}` (also `reasoning_text` parts of `content`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SummaryText {
    /// `summary_text` or `reasoning_text`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The text.
    #[serde(default)]
    pub text: String,
}

/// The response object (non-stream body, and the snapshot in stream events).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Response {
    /// `resp_…`.
    #[serde(default)]
    pub id: String,
    /// Always `response`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: u64,
    /// `completed`, `incomplete`, `failed`, `in_progress`, ...
    #[serde(default)]
    pub status: String,
    /// Set when `status` is `failed`.
    #[serde(default)]
    pub error: Option<ResponseError>,
    /// Set when `status` is `incomplete`.
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    /// Echo of `instructions`.
    #[serde(default)]
    pub instructions: Option<Value>,
    /// The model.
    #[serde(default)]
    pub model: String,
    /// Output items in order.
    #[serde(default)]
    pub output: Vec<Item>,
    /// Echo of `parallel_tool_calls`.
    #[serde(default = "yes")]
    pub parallel_tool_calls: bool,
    /// Echo of `tool_choice`.
    #[serde(default)]
    pub tool_choice: Value,
    /// Echo of `tools`.
    #[serde(default)]
    pub tools: Vec<Value>,
    /// Token usage (null until the terminal event).
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Echo of `metadata`.
    #[serde(default)]
    pub metadata: Value,
}

fn yes() -> bool {
    true
}

/// `response.error`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResponseError {
    /// `server_error`, `rate_limit_exceeded`, ...
    #[serde(default)]
    pub code: Option<String>,
    /// What went wrong.
    #[serde(default)]
    pub message: String,
}

/// `incomplete_details`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `usage`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Usage {
    /// All input tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Cache details.
    #[serde(default)]
    pub input_tokens_details: InputTokensDetails,
    /// All output tokens, reasoning included.
    #[serde(default)]
    pub output_tokens: u64,
    /// Reasoning details.
    #[serde(default)]
    pub output_tokens_details: OutputTokensDetails,
    /// Input plus output.
    #[serde(default)]
    pub total_tokens: u64,
}

/// `usage.input_tokens_details`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct InputTokensDetails {
    /// Input read from the prompt cache.
    #[serde(default)]
    pub cached_tokens: u64,
    /// Input written to the prompt cache (newer field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
}

/// `usage.output_tokens_details`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    /// Output spent on reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
}

/// One stream event. All payload fields are optional; which ones appear depends on
/// `type` (PROTOCOLS §3.4). The `error` event is written with [`ErrorEvent`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Event {
    /// The event type, equal to the SSE `event:` name.
    #[serde(rename = "type")]
    pub kind: String,
    /// Increases by one per event.
    #[serde(default)]
    pub sequence_number: u64,
    /// The snapshot (`response.*` lifecycle events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Box<Response>>,
    /// The item's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    /// Position of the item in `response.output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_index: Option<usize>,
    /// Position of the part inside a message item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_index: Option<usize>,
    /// Position of the summary part inside a reasoning item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_index: Option<usize>,
    /// The item (`output_item.added` / `.done`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Item>,
    /// A content or summary part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<Value>,
    /// A text or arguments fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<String>,
    /// Full text (`*.done`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Full refusal (`refusal.done`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Tool name (`function_call_arguments.done`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Full arguments (`function_call_arguments.done`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    /// Token log-probabilities (always empty when written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<Value>>,
    /// Error code (`error` event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Error message (`error` event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Offending parameter (`error` event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// A nested error object (some servers nest it instead of flat fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ResponseError>,
}

/// The in-stream `error` event (its nullable keys are always written).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// Always `error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Increases by one per event.
    pub sequence_number: u64,
    /// Error code.
    pub code: Option<String>,
    /// What went wrong.
    pub message: String,
    /// Offending parameter.
    pub param: Option<String>,
}

/// The HTTP error envelope `{"error": {...}}` shared with Chat Completions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// The body of [`ErrorEnvelope`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    #[serde(default)]
    pub message: String,
    /// `invalid_request_error`, `server_error`, ...
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The offending parameter.
    #[serde(default)]
    pub param: Option<String>,
    /// A machine-readable code (string or number upstream; kept as text).
    #[serde(default)]
    pub code: Option<Value>,
}

/// `POST /v1/responses/input_tokens` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputTokens {
    /// Always `response.input_tokens`.
    #[serde(default)]
    pub object: String,
    /// The count.
    pub input_tokens: u64,
}
