//! The mock's settings: `[providers.<name>.mock]`, the model name (`mock-tools`,
//! `mock-fail-503`) and the request's `patchbay.ext.mock` parameters, in that order
//! of precedence (last wins).

use gateway_protocol::{ApiShape, GatewayError};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// What the mock answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Repeats the text of the last user message.
    #[default]
    Echo,
    /// `tokens` words of lorem ipsum.
    Text,
    /// Calls the request's first tool with arguments built from its schema.
    Tools,
    /// A scripted agent: `CALL <tool> <json>` lines in the user's text become tool
    /// calls, tool results are quoted back (see `mock::agent`).
    Agent,
}

/// The mock provider's behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MockConfig {
    /// The wire shape the mock speaks (`openai`, `openai_responses`, `anthropic`,
    /// `gemini`, `ollama`); OpenAI Chat when unset.
    #[serde(deserialize_with = "shape_name")]
    pub shape: Option<ApiShape>,
    /// What to answer.
    pub scenario: Scenario,
    /// Words the `text` scenario emits.
    pub tokens: u32,
    /// Text deltas a streamed answer is split into (at word boundaries).
    pub chunks: u32,
    /// Pause before each streamed chunk, in milliseconds.
    pub chunk_delay_ms: u64,
    /// Fail with this HTTP status before the first byte.
    pub fail_status: Option<u16>,
    /// Cut the stream (as a connection reset) after this many chunks.
    pub cut_after_chunks: Option<u32>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            shape: None,
            scenario: Scenario::Echo,
            tokens: 16,
            chunks: 4,
            chunk_delay_ms: 0,
            fail_status: None,
            cut_after_chunks: None,
        }
    }
}

/// Per-request overrides (`{"patchbay":{"ext":{"mock":{...}}}}`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    scenario: Option<Scenario>,
    tokens: Option<u32>,
    chunks: Option<u32>,
    chunk_delay_ms: Option<u64>,
    fail_status: Option<u16>,
    cut_after_chunks: Option<u32>,
}

/// The most words the `text` scenario writes for one request (~600 KB): the mock is the
/// no-config default, so a caller must not be able to make it build an answer of any
/// size. Model names ask for at most this (`mock-text-10000000` gets this many);
/// `patchbay.ext.mock.tokens` above it is refused.
pub const MAX_TOKENS: u32 = 100_000;

impl MockConfig {
    /// Applies what a model name asks for: `mock-echo`, `mock-text`, `mock-text-200`,
    /// `mock-tools`, `mock-agent`, `mock-fail-503`, `mock-cut-2`, `mock-chunks-8`, `mock-tokens-50`,
    /// combinable (`mock-text-40-chunks-10-cut-3`). Other segments are ignored, so any
    /// model name works.
    pub fn apply_model_name(&mut self, model: &str) {
        let model = model.rsplit('/').next().unwrap_or(model);
        let mut segments = model.split('-').peekable();
        while let Some(seg) = segments.next() {
            let number = segments.peek().and_then(|n| n.parse::<u64>().ok());
            match seg {
                "echo" => self.scenario = Scenario::Echo,
                "text" => {
                    self.scenario = Scenario::Text;
                    if let Some(n) = number {
                        self.tokens = n.min(u64::from(MAX_TOKENS)) as u32;
                        segments.next();
                    }
                }
                "tools" | "tool" => self.scenario = Scenario::Tools,
                "agent" => self.scenario = Scenario::Agent,
                "fail" => {
                    if let Some(n) = number.filter(|n| (400..600).contains(n)) {
                        self.fail_status = Some(n as u16);
                        segments.next();
                    }
                }
                "cut" | "tokens" | "chunks" => {
                    if let Some(n) = number {
                        let n = n.min(u64::from(u32::MAX)) as u32;
                        match seg {
                            "cut" => self.cut_after_chunks = Some(n),
                            "tokens" => self.tokens = n.min(MAX_TOKENS),
                            _ => self.chunks = n,
                        }
                        segments.next();
                    }
                }
                _ => {}
            }
        }
    }

    /// Applies a request's `patchbay.ext.mock` parameters.
    pub fn apply_params(&mut self, params: &Map<String, Value>) -> Result<(), GatewayError> {
        let o: Override = serde_json::from_value(Value::Object(params.clone())).map_err(|e| {
            GatewayError::invalid_request(
                "patchbay.ext.mock",
                format!(
                    "{e}; the mock takes scenario (echo|text|tools|agent), tokens, chunks, chunk_delay_ms, fail_status, cut_after_chunks"
                ),
            )
        })?;
        if let Some(v) = o.scenario {
            self.scenario = v;
        }
        if let Some(v) = o.tokens {
            if v > MAX_TOKENS {
                return Err(GatewayError::invalid_request(
                    "patchbay.ext.mock.tokens",
                    format!(
                        "the mock writes at most {MAX_TOKENS} tokens per answer; {v} were asked"
                    ),
                ));
            }
            self.tokens = v;
        }
        if let Some(v) = o.chunks {
            self.chunks = v;
        }
        if let Some(v) = o.chunk_delay_ms {
            self.chunk_delay_ms = v;
        }
        if let Some(v) = o.fail_status {
            self.fail_status = Some(v);
        }
        if let Some(v) = o.cut_after_chunks {
            self.cut_after_chunks = Some(v);
        }
        Ok(())
    }
}

/// Parses a shape name as the config spells it.
pub fn parse_shape(name: &str) -> Option<ApiShape> {
    Some(match name.to_ascii_lowercase().replace('-', "_").as_str() {
        "openai" | "openai_chat" | "chat" => ApiShape::OpenAiChat,
        "openai_responses" | "responses" => ApiShape::OpenAiResponses,
        "anthropic" => ApiShape::Anthropic,
        "gemini" => ApiShape::Gemini,
        "ollama" => ApiShape::Ollama,
        "bedrock" => ApiShape::Bedrock,
        "cohere" => ApiShape::Cohere,
        _ => return None,
    })
}

fn shape_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ApiShape>, D::Error> {
    let name = Option::<String>::deserialize(d)?;
    match name {
        None => Ok(None),
        Some(name) => parse_shape(&name).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown shape `{name}`; use openai, openai_responses, anthropic, gemini or ollama"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_select_scenarios() {
        let mut c = MockConfig::default();
        c.apply_model_name("mock-text-40-chunks-10-cut-3");
        assert_eq!(c.scenario, Scenario::Text);
        assert_eq!((c.tokens, c.chunks, c.cut_after_chunks), (40, 10, Some(3)));
        let mut c = MockConfig::default();
        c.apply_model_name("mock-fail-503");
        assert_eq!(c.fail_status, Some(503));
        let mut c = MockConfig::default();
        c.apply_model_name("gpt-4o");
        assert_eq!(c, MockConfig::default());
    }

    #[test]
    fn callers_cannot_ask_the_mock_for_unbounded_answers() {
        let mut c = MockConfig::default();
        c.apply_model_name("mock-text-4294967295");
        assert_eq!(c.tokens, MAX_TOKENS);
        c.apply_model_name("mock-tokens-99999999999");
        assert_eq!(c.tokens, MAX_TOKENS);
        let mut params = Map::new();
        params.insert("tokens".to_owned(), Value::from(10_000_000u64));
        let err = MockConfig::default().apply_params(&params).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("patchbay.ext.mock.tokens"));
        params.insert("tokens".to_owned(), Value::from(MAX_TOKENS));
        let mut ok = MockConfig::default();
        ok.apply_params(&params).unwrap();
        assert_eq!(ok.tokens, MAX_TOKENS);
    }
}
