//! What answer codecs need to know about the request they answer.

use gateway_protocol::{ApiShape, ChatRequest};

use crate::names::ToolNameMap;

/// Options for encoding a request for an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOptions {
    /// `max_tokens` to send when the target requires one and the caller gave none
    /// (Anthropic). The server passes the model's catalogue value.
    pub default_max_tokens: u64,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            default_max_tokens: 4096,
        }
    }
}

/// Facts about the request that response and stream codecs need: names to restore,
/// ids and timestamps to use, and what the caller asked to see.
///
/// Codecs are pure, so the clock and id seeds come from here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseContext {
    /// The model name reported to the caller.
    pub model: String,
    /// Upstream tool names → caller tool names.
    pub tool_names: ToolNameMap,
    /// OpenAI Chat callers: whether to send the usage chunk.
    pub include_usage: bool,
    /// Whether reasoning text should be shown to callers whose shape shows it only on
    /// request (Gemini `includeThoughts`).
    pub include_thoughts: bool,
    /// Unix seconds to stamp on answers whose shape needs a creation time.
    pub created: u64,
    /// Seed for ids the gateway must invent (response ids, Gemini/Ollama call ids);
    /// the server passes its request id.
    pub id_seed: String,
    /// Gemini callers: stream as one JSON array instead of SSE (no `alt=sse`).
    pub json_array: bool,
    /// Ollama callers of `/api/generate`: answer in its form (`response` text, no
    /// `message`) instead of `/api/chat`'s.
    pub ollama_generate: bool,
    /// Ollama callers: nanoseconds the request had taken when its answer was ready,
    /// written as `total_duration` of a whole answer; `None` writes no duration.
    pub elapsed_ns: Option<u64>,
    /// Responses callers: the response id to report instead of one derived from the
    /// upstream's (the gateway's own id for a response it stores).
    pub response_id: Option<String>,
}

impl ResponseContext {
    /// The context for answering `req` from a `target`-shaped upstream.
    pub fn for_request(req: &ChatRequest, target: ApiShape) -> Self {
        ResponseContext {
            model: req.model.clone(),
            tool_names: ToolNameMap::for_target(&req.tools, target),
            include_usage: req.include_usage,
            include_thoughts: req.reasoning.as_ref().is_some_and(|r| r.include_thoughts),
            created: 0,
            id_seed: String::new(),
            json_array: false,
            ollama_generate: false,
            elapsed_ns: None,
            response_id: None,
        }
    }
}
