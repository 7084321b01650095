//! Token usage in one arithmetic, whatever the shape reported.

/// Token counts of one request, with OpenAI's inclusion rules:
/// `input_tokens` counts everything the model read (cache reads and writes included)
/// and `output_tokens` everything it wrote (reasoning included).
///
/// Shapes that count differently (Anthropic excludes cached input, Gemini excludes
/// thoughts from candidates) convert at their codec's edge, so
/// `input_tokens + output_tokens` is always the total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// All input tokens, including `cache_read_tokens` and `cache_write_tokens`.
    pub input_tokens: u64,
    /// Input tokens served from the provider's prompt cache (a subset of input).
    pub cache_read_tokens: u64,
    /// Input tokens written to the provider's prompt cache (a subset of input).
    pub cache_write_tokens: u64,
    /// All output tokens, including `reasoning_tokens`.
    pub output_tokens: u64,
    /// Output tokens spent on reasoning (a subset of output).
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Input plus output.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    /// Input tokens that were neither read from nor written to the cache
    /// (Anthropic's `input_tokens`). Never negative.
    pub fn uncached_input_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_sub(self.cache_read_tokens)
            .saturating_sub(self.cache_write_tokens)
    }

    /// Visible output tokens (output minus reasoning; Gemini's `candidatesTokenCount`).
    pub fn visible_output_tokens(&self) -> u64 {
        self.output_tokens.saturating_sub(self.reasoning_tokens)
    }
}
