//! Model lists.

/// One model as the list endpoints describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelInfo {
    /// The id callers use (`gpt-4.1-mini`, `claude-sonnet-4-6`, `gemini-2.5-flash`).
    pub id: String,
    /// A human name.
    pub display_name: Option<String>,
    /// Unix seconds of creation.
    pub created: Option<u64>,
    /// The owning organisation.
    pub owned_by: Option<String>,
    /// Context window in tokens.
    pub context_window: Option<u64>,
    /// Maximum output tokens.
    pub max_output_tokens: Option<u64>,
    /// Micro-USD per million input tokens, when known (the gateway's catalogue).
    pub input_micros_per_mtok: Option<u64>,
    /// Micro-USD per million output tokens, when known.
    pub output_micros_per_mtok: Option<u64>,
    /// What the model takes and does, when the gateway's catalogue knows it.
    pub capabilities: Option<Capabilities>,
}

/// What a model takes and does: the facts model pickers use to offer image upload,
/// a thinking switch or tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// It reads images.
    pub vision: bool,
    /// It calls tools.
    pub tools: bool,
    /// It reasons before answering (a thinking budget or effort applies).
    pub reasoning: bool,
    /// It makes embeddings rather than chat answers.
    pub embeddings: bool,
}

/// A list of models.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelList {
    /// The models, in display order.
    pub models: Vec<ModelInfo>,
}
