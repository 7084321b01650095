//! Bedrock Converse wire types, with AWS's field names (camelCase).
//!
//! Converse unions (a content block, a tool choice, a delta) are objects with exactly
//! one member set; they are structs of optional members here, with the members the
//! gateway does not read kept in `extra`, so an unknown kind never fails a decode.
//! Blobs (`image.source.bytes`, `document.source.bytes`) are base64 text in JSON.
//! Tool inputs and schemas are `Value`s, not raw text: serde cannot read a `RawValue`
//! inside a struct with a flattened member, and every union here has one.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A `Converse` / `ConverseStream` request body (the model and the stream choice are
/// in the URL).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The conversation.
    #[serde(default)]
    pub messages: Vec<Message>,
    /// System prompts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemBlock>,
    /// Sampling and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    /// Tools and the tool choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Structured output: the answer's JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutputConfig>,
    /// Model-specific fields passed through to the model (Anthropic's `thinking`,
    /// `top_k`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Map<String, Value>>,
    /// `guardrailConfig`, `performanceConfig`, `requestMetadata`, ...
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `outputConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputConfig {
    /// The answer's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<OutputFormat>,
}

/// `outputConfig.textFormat`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputFormat {
    /// `json_schema`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The structure the answer follows (a union: `jsonSchema`).
    pub structure: OutputStructure,
}

/// `textFormat.structure`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputStructure {
    /// A JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<JsonSchemaDefinition>,
}

/// `structure.jsonSchema`: the schema as JSON *text*.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JsonSchemaDefinition {
    /// The schema, serialised to a string.
    pub schema: String,
    /// A name for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One turn.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// `user` or `assistant`.
    pub role: String,
    /// The turn's content blocks.
    #[serde(default)]
    pub content: Vec<ContentBlock>,
}

/// A content block: one member set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlock {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// A document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Document>,
    /// A tool call the model made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUse>,
    /// A tool's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result: Option<ToolResult>,
    /// Reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<ReasoningContent>,
    /// A prompt-cache checkpoint (`{"type": "default"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_point: Option<Value>,
    /// Kinds the gateway does not read (`guardContent`, `video`, `citationsContent`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An image block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Image {
    /// `png`, `jpeg`, `gif` or `webp`.
    pub format: String,
    /// Where the bytes are.
    pub source: Source,
}

/// A document block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    /// `pdf`, `csv`, `doc`, `docx`, `xls`, `xlsx`, `html`, `txt` or `md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// A name for the document (letters, digits, spaces, hyphens, parentheses and
    /// square brackets).
    pub name: String,
    /// Where the bytes are.
    pub source: Source,
    /// `citations`, `context`, ...
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A media source: inline bytes, or an S3 object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// The bytes, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<String>,
    /// An object in Amazon S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_location: Option<S3Location>,
    /// Other sources (`text`, `content`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An S3 object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Location {
    /// `s3://bucket/key`.
    pub uri: String,
    /// The bucket owner's account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_owner: Option<String>,
}

/// A tool call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUse {
    /// The call id (`[a-zA-Z0-9_-]+`).
    pub tool_use_id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, a JSON value.
    pub input: Value,
}

/// A tool's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    /// The call it answers.
    pub tool_use_id: String,
    /// What the tool returned.
    #[serde(default)]
    pub content: Vec<ToolResultContent>,
    /// `success` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One piece of a tool result: one member set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolResultContent {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// An image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// A document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Document>,
    /// Other kinds (`video`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Reasoning: readable text with its signature, or redacted bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningContent {
    /// Readable reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_text: Option<ReasoningText>,
    /// Encrypted reasoning, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_content: Option<String>,
}

/// Readable reasoning.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReasoningText {
    /// The text.
    pub text: String,
    /// The signature that lets the model verify replayed reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A system block: one member set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemBlock {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A prompt-cache checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_point: Option<Value>,
    /// Other kinds (`guardContent`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `inferenceConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    /// Output limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
}

/// `toolConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    /// The tools.
    #[serde(default)]
    pub tools: Vec<ToolEntry>,
    /// How they must be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

/// One entry of `tools`: a tool spec (or a cache checkpoint).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolEntry {
    /// A function tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_spec: Option<ToolSpec>,
    /// A prompt-cache checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_point: Option<Value>,
    /// Other kinds (`systemTool`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A function tool.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    /// `[a-zA-Z0-9_-]`, at most 64 characters.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The arguments' JSON Schema.
    pub input_schema: InputSchema,
}

/// `inputSchema`: the schema under `json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputSchema {
    /// The JSON Schema.
    pub json: Value,
}

/// `toolChoice`: one member set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolChoice {
    /// The model decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<Map<String, Value>>,
    /// At least one call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Map<String, Value>>,
    /// This tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<NamedTool>,
}

/// `toolChoice.tool`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedTool {
    /// The tool's name.
    pub name: String,
}

/// A `Converse` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The answer.
    #[serde(default)]
    pub output: Output,
    /// `end_turn`, `tool_use`, `max_tokens`, `stop_sequence`,
    /// `guardrail_intervened`, `content_filtered`, ...
    #[serde(default)]
    pub stop_reason: String,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// `{"latencyMs": N}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Value>,
    /// `additionalModelResponseFields`, `trace`, `performanceConfig`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `output`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Output {
    /// The assistant turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

/// Token counts (Anthropic's arithmetic: `inputTokens` excludes cache reads and
/// writes; `totalTokens` counts everything).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Input not read from or written to the cache.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output.
    #[serde(default)]
    pub output_tokens: u64,
    /// Everything.
    #[serde(default)]
    pub total_tokens: u64,
    /// Input read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Input written to the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u64>,
}

/// `messageStart`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageStart {
    /// `assistant`.
    #[serde(default)]
    pub role: String,
}

/// `contentBlockStart`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStart {
    /// The block's position.
    pub content_block_index: usize,
    /// What starts.
    #[serde(default)]
    pub start: BlockStart,
}

/// `contentBlockStart.start`: one member set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStart {
    /// A tool call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUseStart>,
    /// Other kinds.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `start.toolUse`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseStart {
    /// The call id.
    pub tool_use_id: String,
    /// The tool's name.
    pub name: String,
}

/// `contentBlockDelta`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDelta {
    /// The block's position.
    pub content_block_index: usize,
    /// What is added.
    #[serde(default)]
    pub delta: BlockDelta,
}

/// `contentBlockDelta.delta`: one member set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDelta {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A fragment of a tool call's arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUseDelta>,
    /// Reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<ReasoningDelta>,
    /// Other kinds (`citation`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `delta.toolUse`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolUseDelta {
    /// A fragment of the arguments' JSON text.
    pub input: String,
}

/// `delta.reasoningContent`: one member set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningDelta {
    /// Reasoning text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The reasoning's signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Encrypted reasoning, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_content: Option<String>,
}

/// `contentBlockStop`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStop {
    /// The block's position.
    pub content_block_index: usize,
}

/// `messageStop`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStop {
    /// Why the model stopped.
    #[serde(default)]
    pub stop_reason: String,
    /// Model-specific answer fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
}

/// `metadata`: the usage and metrics after `messageStop`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Metadata {
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// `{"latencyMs": N}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Value>,
}

/// The error body of every Bedrock operation (the kind is in `x-amzn-errortype`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    #[serde(default, alias = "Message")]
    pub message: Option<String>,
    /// Some AWS JSON errors name their kind in the body too.
    #[serde(default, rename = "__type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}
