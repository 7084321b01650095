//! Anthropic Messages wire types, with the vendor's field names (PROTOCOLS §5).
//!
//! Requests are decoded field by field from a JSON map (so every error names its exact
//! path and unknown fields survive as extensions); these structs are what the decoders
//! read each field into and what the encoders write.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A `/v1/messages` request body as the gateway writes it for an Anthropic upstream.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Request {
    /// Model name.
    pub model: String,
    /// The conversation (alternating, user first).
    pub messages: Vec<MessageParam>,
    /// Output limit (required by Anthropic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// System prompt: a string or text blocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<System>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// Temperature, 0–1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    /// Whether to stream.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// End-user metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Tool definitions (custom tools and, same-family only, server tools).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Value>,
    /// Tool choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Extended thinking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Value>,
    /// `{effort?, format?}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_config: Option<Map<String, Value>>,
}

/// `system`: a string or a list of text blocks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum System {
    /// Plain text.
    Text(String),
    /// Text blocks (may carry `cache_control`).
    Blocks(Vec<TextBlock>),
}

/// One message of `messages`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageParam {
    /// `user` or `assistant`.
    pub role: String,
    /// The blocks (decoders accept a string too; see `request::decode`).
    pub content: Vec<Block>,
}

/// A content block, as the encoders write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// `text`.
    Text(TextBlock),
    /// `image`.
    Image(MediaBlock),
    /// `document`.
    Document(DocumentBlock),
    /// `tool_use`.
    ToolUse(ToolUseBlock),
    /// `tool_result`.
    ToolResult(ToolResultBlock),
    /// `thinking`.
    Thinking(ThinkingBlock),
    /// `redacted_thinking`.
    RedactedThinking(RedactedThinkingBlock),
}

/// `{type:"text", text, cache_control?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextBlock {
    /// The text (non-empty when sent).
    pub text: String,
    /// Prompt-cache breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

/// `{type:"image", source, cache_control?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaBlock {
    /// Where the bytes are.
    pub source: Source,
    /// Prompt-cache breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

/// `{type:"document", source, title?, context?, cache_control?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentBlock {
    /// Where the bytes are.
    pub source: Source,
    /// Document title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Prompt-cache breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

/// A media source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source {
    /// Inline base64.
    Base64 {
        /// MIME type.
        media_type: String,
        /// Base64 payload.
        data: String,
    },
    /// A URL Anthropic fetches.
    Url {
        /// The URL.
        url: String,
    },
    /// A Files-API id.
    File {
        /// The file id.
        file_id: String,
    },
    /// Plain text (documents only).
    Text {
        /// MIME type (`text/plain`).
        media_type: String,
        /// The text itself.
        data: String,
    },
}

/// `{type:"tool_use", id, name, input}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUseBlock {
    /// Call id (`^[a-zA-Z0-9_-]+$`).
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments object.
    #[serde(default)]
    pub input: Value,
    /// Prompt-cache breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

/// `{type:"tool_result", tool_use_id, content?, is_error?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResultBlock {
    /// The call answered.
    pub tool_use_id: String,
    /// A string or blocks (text, image, document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ToolResultContent>,
    /// True when the tool failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Prompt-cache breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

/// `tool_result.content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolResultContent {
    /// Plain text.
    Text(String),
    /// Blocks.
    Blocks(Vec<Block>),
}

/// `{type:"thinking", thinking, signature}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThinkingBlock {
    /// The (summarised) thinking text.
    pub thinking: String,
    /// Opaque signature; replayed byte for byte.
    #[serde(default)]
    pub signature: String,
}

/// `{type:"redacted_thinking", data}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactedThinkingBlock {
    /// Encrypted thinking.
    pub data: String,
}

/// `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Opaque end-user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// A custom tool definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Tool name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the input (required by Anthropic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Prompt-cache breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    /// `custom` or a versioned server-tool type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto {
        /// Forbid parallel calls.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// Some tool must be called.
    Any {
        /// Forbid parallel calls.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// This tool must be called.
    Tool {
        /// The tool.
        name: String,
        /// Forbid parallel calls.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// No tool calls.
    None,
}

/// `thinking` as a caller sends it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Thinking {
    /// `enabled`, `disabled` or `adaptive`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Budget (enabled only).
    #[serde(default)]
    pub budget_tokens: Option<u64>,
    /// `summarized` or `omitted`.
    #[serde(default)]
    pub display: Option<String>,
}

/// `output_config` as a caller sends it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OutputConfig {
    /// `low` … `max`.
    #[serde(default)]
    pub effort: Option<String>,
    /// `{type:"json_schema", schema}`.
    #[serde(default)]
    pub format: Option<OutputFormat>,
}

/// `output_config.format`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OutputFormat {
    /// `json_schema`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The schema.
    #[serde(default)]
    pub schema: Option<Value>,
}

/// A non-streamed answer (`type: "message"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// `msg_…`.
    #[serde(default)]
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type", default = "message_type")]
    pub kind: String,
    /// Always `assistant`.
    #[serde(default = "assistant_role")]
    pub role: String,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// Content blocks (decoders read them as raw values to skip unknown kinds).
    #[serde(default)]
    pub content: Vec<Value>,
    /// Why it stopped.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// The matched stop sequence.
    #[serde(default)]
    pub stop_sequence: Option<String>,
    /// Token counts.
    #[serde(default)]
    pub usage: Usage,
}

fn message_type() -> String {
    "message".to_owned()
}

fn assistant_role() -> String {
    "assistant".to_owned()
}

/// Anthropic usage: `input_tokens` excludes cache reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Uncached input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Tokens written to the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Tokens read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Output tokens (thinking included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// `{thinking_tokens}` (newer responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_details: Option<OutputTokensDetails>,
}

/// `usage.output_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    /// Thinking tokens (a subset of output).
    #[serde(default)]
    pub thinking_tokens: u64,
}

/// The error envelope `{type:"error", error:{type, message}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// Always `error`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The error.
    pub error: ErrorBody,
}

/// The inner error.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// `invalid_request_error`, `overloaded_error`, ….
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Human message.
    #[serde(default)]
    pub message: String,
}
