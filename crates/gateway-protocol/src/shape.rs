//! Names for the API shapes and the provider families that own them.

use std::fmt;

/// An API shape: the wire format of one family of endpoints.
///
/// A request arrives in one shape (the caller's) and may be served by an upstream
/// speaking another; the pair decides whether the same-shape fast path applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApiShape {
    /// OpenAI Chat Completions (`/v1/chat/completions`), also every OpenAI-compatible server.
    OpenAiChat,
    /// OpenAI Responses (`/v1/responses`).
    OpenAiResponses,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// Google Gemini Developer API (`generateContent` and friends).
    Gemini,
    /// Ollama native (`/api/chat`, `/api/generate`, `/api/embed`, NDJSON streams): an
    /// upstream shape, and a caller shape for tools that speak Ollama's API.
    Ollama,
    /// Amazon Bedrock's Converse API (`/model/{id}/converse`, `converse-stream` in AWS's
    /// binary event stream): an upstream shape only.
    Bedrock,
    /// Cohere's v2 Chat API (`/v2/chat`, typed SSE events): an upstream shape only.
    Cohere,
}

impl ApiShape {
    /// Every shape, in a stable order (useful for test matrices).
    pub const ALL: [ApiShape; 7] = [
        ApiShape::OpenAiChat,
        ApiShape::OpenAiResponses,
        ApiShape::Anthropic,
        ApiShape::Gemini,
        ApiShape::Ollama,
        ApiShape::Bedrock,
        ApiShape::Cohere,
    ];

    /// The provider family whose extension parameters apply to this shape.
    pub fn family(self) -> Family {
        match self {
            ApiShape::OpenAiChat | ApiShape::OpenAiResponses => Family::OpenAi,
            ApiShape::Anthropic => Family::Anthropic,
            ApiShape::Gemini => Family::Gemini,
            ApiShape::Ollama => Family::Ollama,
            ApiShape::Bedrock => Family::Bedrock,
            ApiShape::Cohere => Family::Cohere,
        }
    }

    /// A short stable name, used in logs, metrics and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiShape::OpenAiChat => "openai-chat",
            ApiShape::OpenAiResponses => "openai-responses",
            ApiShape::Anthropic => "anthropic",
            ApiShape::Gemini => "gemini",
            ApiShape::Ollama => "ollama",
            ApiShape::Bedrock => "bedrock",
            ApiShape::Cohere => "cohere",
        }
    }
}

impl fmt::Display for ApiShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider family: the owner of provider-specific parameters and opaque tokens
/// (thinking signatures) that only its own endpoints accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// OpenAI and OpenAI-compatible servers.
    OpenAi,
    /// Anthropic.
    Anthropic,
    /// Google Gemini.
    Gemini,
    /// Ollama.
    Ollama,
    /// Amazon Bedrock (Converse): its reasoning signatures are replayed to Bedrock only.
    Bedrock,
    /// Cohere (v2 Chat): its thinking is replayed to Cohere only.
    Cohere,
}

impl Family {
    /// Every family, for reading one back by name.
    pub const ALL: [Family; 6] = [
        Family::OpenAi,
        Family::Anthropic,
        Family::Gemini,
        Family::Ollama,
        Family::Bedrock,
        Family::Cohere,
    ];

    /// The family [`Family::as_str`] names; `None` for a name this build does not know.
    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The key used for this family under `extensions` (`"openai"`, `"anthropic"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Family::OpenAi => "openai",
            Family::Anthropic => "anthropic",
            Family::Gemini => "gemini",
            Family::Ollama => "ollama",
            Family::Bedrock => "bedrock",
            Family::Cohere => "cohere",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_read_back_by_its_name() {
        // A new family must be added to this match, and so to `ALL` beside it.
        let listed = |f: Family| match f {
            Family::OpenAi | Family::Anthropic | Family::Gemini | Family::Ollama => true,
            Family::Bedrock | Family::Cohere => true,
        };
        for f in Family::ALL {
            assert!(listed(f));
            assert_eq!(Family::from_name(f.as_str()), Some(f));
        }
        assert_eq!(Family::from_name("acme"), None);
    }
}
