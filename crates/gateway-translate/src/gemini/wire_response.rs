//! Gemini `GenerateContentResponse` and error-envelope wire types.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::wire::{Content, EnumValue};

/// `GenerateContentResponse` (also every streamed chunk).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// Candidates (usually one; none when the prompt was blocked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
    /// Why the prompt was blocked, if it was.
    #[serde(
        default,
        alias = "prompt_feedback",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt_feedback: Option<PromptFeedback>,
    /// Token counts (running totals when streaming).
    #[serde(
        default,
        alias = "usage_metadata",
        skip_serializing_if = "Option::is_none"
    )]
    pub usage_metadata: Option<UsageMetadata>,
    /// The model that answered.
    #[serde(
        default,
        alias = "model_version",
        skip_serializing_if = "Option::is_none"
    )]
    pub model_version: Option<String>,
    /// Response id (Developer API).
    #[serde(
        default,
        alias = "response_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_id: Option<String>,
}

/// One candidate answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The content (may be absent, e.g. when blocked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Why generation stopped (only on the last chunk when streaming).
    #[serde(
        default,
        alias = "finish_reason",
        skip_serializing_if = "Option::is_none"
    )]
    pub finish_reason: Option<EnumValue>,
    /// Candidate index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
}

/// `promptFeedback`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    /// Set when the prompt was blocked.
    #[serde(
        default,
        alias = "block_reason",
        skip_serializing_if = "Option::is_none"
    )]
    pub block_reason: Option<EnumValue>,
    /// Human-readable block explanation.
    #[serde(
        default,
        alias = "block_reason_message",
        skip_serializing_if = "Option::is_none"
    )]
    pub block_reason_message: Option<String>,
}

/// `usageMetadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Prompt tokens, cached ones included.
    #[serde(
        default,
        alias = "prompt_token_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt_token_count: Option<u64>,
    /// Cached prompt tokens.
    #[serde(
        default,
        alias = "cached_content_token_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub cached_content_token_count: Option<u64>,
    /// Answer tokens, thoughts excluded.
    #[serde(
        default,
        alias = "candidates_token_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub candidates_token_count: Option<u64>,
    /// Prompt tokens of grounding tools.
    #[serde(
        default,
        alias = "tool_use_prompt_token_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub tool_use_prompt_token_count: Option<u64>,
    /// Thinking tokens.
    #[serde(
        default,
        alias = "thoughts_token_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub thoughts_token_count: Option<u64>,
    /// Everything.
    #[serde(
        default,
        alias = "total_token_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_token_count: Option<u64>,
}

/// `{"error": {...}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// The `error` object (google.rpc.Status in JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    /// HTTP status.
    #[serde(default)]
    pub code: u16,
    /// Message.
    #[serde(default)]
    pub message: String,
    /// Canonical status name (`INVALID_ARGUMENT`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `ErrorInfo`, `RetryInfo`, `BadRequest`, ... objects with an `@type`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Value>,
}
