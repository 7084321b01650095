//! Chat requests and responses: messages made of typed parts.

use serde_json::Value;

use crate::extensions::Extensions;
use crate::raw::RawJson;
use crate::shape::Family;
use crate::usage::Usage;

/// A chat request in canonical form, decoded from any caller shape.
///
/// System text is hoisted out of the conversation; tool results are parts of a
/// `User` message (the Anthropic view), so every shape's turn rules can be met by
/// its encoder.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The model name as the caller sent it (routing may replace it before encoding).
    pub model: String,
    /// System / developer instructions, in order.
    pub system: Vec<Part>,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Function tools the model may call.
    pub tools: Vec<Tool>,
    /// How the model must use the tools.
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)` forbids parallel tool calls.
    pub parallel_tool_calls: Option<bool>,
    /// Sampling and limits.
    pub sampling: Sampling,
    /// Plain text, any JSON, or JSON matching a schema.
    pub response_format: Option<ResponseFormat>,
    /// Reasoning effort or budget.
    pub reasoning: Option<ReasoningConfig>,
    /// Whether the caller asked for a stream.
    pub stream: bool,
    /// Whether a streaming caller asked for usage in the stream (OpenAI Chat's
    /// `stream_options.include_usage`; other shapes always report usage).
    pub include_usage: bool,
    /// An opaque end-user id (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
    /// Provider-specific parameters and fields that bind the request to a family.
    pub extensions: Extensions,
}

/// Sampling parameters and output limits. `None` means "the provider's default".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sampling {
    /// Maximum output tokens (reasoning included).
    pub max_output_tokens: Option<u64>,
    /// Temperature (0–2 in OpenAI terms; Anthropic accepts 0–1).
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Top-k sampling (Anthropic, Gemini, Ollama).
    pub top_k: Option<u64>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Sampling seed.
    pub seed: Option<i64>,
    /// Presence penalty.
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    pub frequency_penalty: Option<f64>,
}

/// Who speaks a message. System text lives in [`ChatRequest::system`]; tool results
/// are parts of a `User` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The caller's side, tool results included.
    User,
    /// The model's side, tool calls included.
    Assistant,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What was said, in order.
    pub parts: Vec<Part>,
}

impl Message {
    /// A message with a single text part.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            parts: vec![Part::text(text)],
        }
    }
}

/// A piece of content.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Plain text.
    Text {
        /// The text.
        text: String,
        /// Anthropic prompt-cache breakpoint, kept only for Anthropic upstreams.
        cache_control: Option<Value>,
    },
    /// An image.
    Image(Image),
    /// A document or file (PDF, plain text, audio).
    Document(Document),
    /// A call the model made to a tool.
    ToolCall(ToolCall),
    /// The result of a tool call, sent back by the caller.
    ToolResult(ToolResult),
    /// Model reasoning (thinking) and its opaque signature.
    Reasoning(Reasoning),
}

impl Part {
    /// A text part without cache hints.
    pub fn text(text: impl Into<String>) -> Self {
        Part::Text {
            text: text.into(),
            cache_control: None,
        }
    }

    /// The text of a text part.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Part::Text { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// Where media bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// A URL the upstream (or the gateway) fetches.
    Url(String),
    /// Inline base64 data with its MIME type.
    Base64 {
        /// MIME type, e.g. `image/png`.
        media_type: String,
        /// Standard base64, padded.
        data: String,
    },
    /// A provider-side file id (OpenAI `file_id`, Anthropic Files, Gemini Files URI).
    FileId(String),
}

/// An image input.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The image bytes or their location.
    pub source: MediaSource,
    /// OpenAI's `detail` hint (`auto`, `low`, `high`).
    pub detail: Option<String>,
    /// Anthropic prompt-cache breakpoint.
    pub cache_control: Option<Value>,
}

/// A document or other file input.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file bytes or their location.
    pub source: MediaSource,
    /// The file name, when the caller gave one.
    pub filename: Option<String>,
    /// Anthropic document title.
    pub title: Option<String>,
    /// Anthropic prompt-cache breakpoint.
    pub cache_control: Option<Value>,
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The call id the result refers to. Shapes without ids (Gemini, Ollama) get one
    /// synthesised by their decoder.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as JSON text (an object).
    pub arguments: String,
    /// Gemini's `thoughtSignature` on this call, replayed only to Gemini.
    pub signature: Option<String>,
}

/// The result of a tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The id of the call this answers.
    pub call_id: String,
    /// The tool's name when the caller's shape carries it (Gemini, Ollama).
    pub name: Option<String>,
    /// Text, images or documents.
    pub content: Vec<Part>,
    /// True when the tool failed.
    pub is_error: bool,
}

/// Model reasoning. Signatures are only valid for the family that produced them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reasoning {
    /// Readable thinking or summary text (may be empty).
    pub text: String,
    /// Opaque signature that lets the provider verify replayed thinking.
    pub signature: Option<String>,
    /// Anthropic `redacted_thinking` data or OpenAI `encrypted_content`.
    pub redacted: Option<String>,
    /// Provider-side id (OpenAI Responses `rs_...`).
    pub id: Option<String>,
    /// The family whose model produced this, when known.
    pub source: Option<Family>,
}

/// A function tool definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// The tool's name as the caller knows it.
    pub name: String,
    /// What the tool does.
    pub description: Option<String>,
    /// JSON Schema of the arguments (`None`: no parameters), kept as text.
    pub parameters: Option<RawJson>,
    /// Strict schema adherence (OpenAI, Anthropic).
    pub strict: Option<bool>,
    /// Anthropic prompt-cache breakpoint.
    pub cache_control: Option<Value>,
}

/// How the model must use tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool calls.
    None,
    /// At least one tool call.
    Required,
    /// Exactly this tool.
    Tool(String),
    /// Only these tools; `required` forces a call among them.
    Allowed {
        /// The permitted tool names.
        names: Vec<String>,
        /// Whether a call is forced.
        required: bool,
    },
}

/// The format the answer must take.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    /// Free text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// Schema name (OpenAI requires one).
        name: String,
        /// What the schema is for.
        description: Option<String>,
        /// The JSON Schema.
        schema: Value,
        /// Strict adherence.
        strict: Option<bool>,
    },
}

/// Reasoning effort levels, as OpenAI names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Effort {
    /// No reasoning.
    None,
    /// Least reasoning.
    Minimal,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Extra high.
    XHigh,
    /// Maximum.
    Max,
}

impl Effort {
    /// OpenAI's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::None => "none",
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::XHigh => "xhigh",
            Effort::Max => "max",
        }
    }

    /// Parses OpenAI's spelling.
    pub fn parse(s: &str) -> Option<Effort> {
        Some(match s {
            "none" => Effort::None,
            "minimal" => Effort::Minimal,
            "low" => Effort::Low,
            "medium" => Effort::Medium,
            "high" => Effort::High,
            "xhigh" => Effort::XHigh,
            "max" => Effort::Max,
            _ => return None,
        })
    }

    /// The thinking budget used when a budget-based provider is the target
    /// (PROTOCOLS §8.9; Anthropic's minimum is 1024).
    pub fn budget_tokens(self) -> u64 {
        match self {
            Effort::None => 0,
            Effort::Minimal | Effort::Low => 1024,
            Effort::Medium => 2048,
            Effort::High => 4096,
            Effort::XHigh => 16384,
            Effort::Max => 32768,
        }
    }

    /// The effort bucket of a thinking budget (the reverse of [`Effort::budget_tokens`]).
    pub fn from_budget(budget: u64) -> Effort {
        match budget {
            0 => Effort::None,
            1..=1024 => Effort::Low,
            1025..=2048 => Effort::Medium,
            2049..=8192 => Effort::High,
            8193..=24576 => Effort::XHigh,
            _ => Effort::Max,
        }
    }
}

/// What the caller asked of reasoning. Either an effort or an explicit budget, or both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReasoningConfig {
    /// Effort level.
    pub effort: Option<Effort>,
    /// Explicit thinking-token budget.
    pub budget_tokens: Option<u64>,
    /// Whether readable thoughts / summaries should be returned.
    pub include_thoughts: bool,
}

impl ReasoningConfig {
    /// The effort, derived from the budget when only a budget was given.
    pub fn effective_effort(&self) -> Option<Effort> {
        self.effort
            .or_else(|| self.budget_tokens.map(Effort::from_budget))
    }

    /// The budget, derived from the effort when only an effort was given.
    pub fn effective_budget(&self) -> Option<u64> {
        self.budget_tokens
            .or_else(|| self.effort.map(Effort::budget_tokens))
    }

    /// True when reasoning is asked for (not disabled).
    pub fn enabled(&self) -> bool {
        self.effective_budget().is_some_and(|b| b > 0)
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StopReason {
    /// Natural end of the turn.
    #[default]
    EndTurn,
    /// A stop sequence matched.
    StopSequence,
    /// The output limit was reached.
    MaxTokens,
    /// The model called tools and waits for results.
    ToolUse,
    /// Output was blocked or refused.
    ContentFilter,
    /// A server-side tool loop paused (Anthropic `pause_turn`).
    PauseTurn,
    /// The context window was exceeded.
    ContextExceeded,
    /// Anything else.
    Other,
}

/// A complete (non-streamed) chat answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatResponse {
    /// The provider's response id (synthesised when the provider gives none).
    pub id: String,
    /// The model that answered.
    pub model: String,
    /// Unix seconds of creation, when the provider said.
    pub created: Option<u64>,
    /// The answer's content in order.
    pub parts: Vec<Part>,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// The stop sequence that matched, when known.
    pub stop_sequence: Option<String>,
    /// Token usage.
    pub usage: Usage,
}

/// The answer to a token-count request (Anthropic `count_tokens`, Gemini `countTokens`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountTokensResponse {
    /// Input tokens the request would use.
    pub input_tokens: u64,
}
