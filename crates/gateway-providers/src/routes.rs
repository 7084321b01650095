//! Where each kind's endpoints live: base URL normalisation and the URL of each
//! operation.
//!
//! Base URLs are stored so that joining is unambiguous: OpenAI-style kinds keep the
//! version in the base (`…/v1`, `…/api/v3`) and append `/chat/completions`;
//! Anthropic, Gemini, Azure, Cohere and Ollama keep the host root and append the versioned
//! path (`/v1/messages`). A configured base that already ends in the version those
//! kinds append has it removed, so it is never doubled.

use gateway_protocol::{ErrorKind, GatewayError};

use crate::error::ProviderError;
use crate::provider::Operation;
use crate::spec::ProviderKind;

/// Azure OpenAI's `api-version` when none is configured.
pub const AZURE_API_VERSION: &str = "2024-10-21";

/// The default base URL of a kind (none for Azure and custom compatible servers).
pub(crate) fn default_base(kind: ProviderKind) -> Option<&'static str> {
    match kind {
        ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
        ProviderKind::Anthropic => Some("https://api.anthropic.com"),
        ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com"),
        ProviderKind::Ollama => Some("http://127.0.0.1:11434"),
        ProviderKind::Cohere => Some("https://api.cohere.com"),
        ProviderKind::AzureOpenAi
        | ProviderKind::OpenAiCompatible
        | ProviderKind::Vertex
        | ProviderKind::VertexAnthropic
        | ProviderKind::Bedrock
        | ProviderKind::BedrockAnthropic
        | ProviderKind::Mock => None,
    }
}

/// Validates `raw` and puts it in the stored form for `kind`.
pub(crate) fn normalise_base(
    provider: &str,
    kind: ProviderKind,
    raw: &str,
) -> Result<String, ProviderError> {
    let bad = |reason: &str| ProviderError::BadUrl {
        provider: provider.to_owned(),
        url: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "it must not have a query or fragment (put keys in api_key, versions in api_version)",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials go in api_key, not in the URL"));
    }
    let mut base = url.as_str().trim_end_matches('/').to_owned();
    let strip: &[&str] = match kind {
        ProviderKind::Anthropic => &["/v1"],
        ProviderKind::Gemini => &["/v1beta", "/v1"],
        ProviderKind::AzureOpenAi => &["/openai"],
        ProviderKind::Ollama => &["/api"],
        ProviderKind::Cohere => &["/v2"],
        ProviderKind::Vertex | ProviderKind::VertexAnthropic => &["/v1beta1", "/v1"],
        _ => &[],
    };
    for suffix in strip {
        if let Some(stripped) = base.strip_suffix(suffix) {
            base = stripped.to_owned();
            break;
        }
    }
    if kind == ProviderKind::OpenAi && url.path().trim_matches('/').is_empty() {
        base.push_str("/v1");
    }
    Ok(base)
}

/// What a call goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// GET (model lists) or POST.
    pub post: bool,
    /// The full URL.
    pub url: String,
}

/// Azure settings a URL needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Azure<'a> {
    pub api_version: &'a str,
    pub deployment: &'a str,
}

/// The endpoint of `op` for `model`.
pub(crate) fn endpoint(
    kind: ProviderKind,
    base: &str,
    op: Operation,
    model: &str,
    stream: bool,
    azure: Option<Azure<'_>>,
) -> Result<Endpoint, GatewayError> {
    let post = |path: String| {
        Ok(Endpoint {
            post: true,
            url: format!("{base}{path}"),
        })
    };
    let get = |path: String| {
        Ok(Endpoint {
            post: false,
            url: format!("{base}{path}"),
        })
    };
    match (kind, op) {
        (ProviderKind::OpenAi | ProviderKind::OpenAiCompatible, Operation::Chat) => {
            post("/chat/completions".into())
        }
        (ProviderKind::OpenAi | ProviderKind::OpenAiCompatible, Operation::Embeddings) => {
            post("/embeddings".into())
        }
        (ProviderKind::OpenAi | ProviderKind::OpenAiCompatible, Operation::ListModels) => {
            get("/models".into())
        }
        (ProviderKind::AzureOpenAi, op) => {
            let azure = azure.unwrap_or(Azure {
                api_version: AZURE_API_VERSION,
                deployment: model,
            });
            let version = segment(azure.api_version);
            let dep = segment(azure.deployment);
            match op {
                Operation::Chat => post(format!(
                    "/openai/deployments/{dep}/chat/completions?api-version={version}"
                )),
                Operation::Embeddings => post(format!(
                    "/openai/deployments/{dep}/embeddings?api-version={version}"
                )),
                Operation::ListModels => get(format!("/openai/models?api-version={version}")),
                Operation::CountTokens => Err(unsupported(kind, op)),
            }
        }
        (ProviderKind::Anthropic, Operation::Chat) => post("/v1/messages".into()),
        (ProviderKind::Anthropic, Operation::CountTokens) => {
            post("/v1/messages/count_tokens".into())
        }
        (ProviderKind::Anthropic, Operation::ListModels) => get("/v1/models".into()),
        (ProviderKind::Gemini, Operation::ListModels) => get("/v1beta/models".into()),
        (ProviderKind::Gemini, op) => {
            let model = segment(model.strip_prefix("models/").unwrap_or(model));
            let method = match (op, stream) {
                (Operation::Chat, false) => "generateContent",
                (Operation::Chat, true) => "streamGenerateContent?alt=sse",
                (Operation::CountTokens, _) => "countTokens",
                _ => "batchEmbedContents",
            };
            post(format!("/v1beta/models/{model}:{method}"))
        }
        // The base already ends in `…/publishers/{google|anthropic}` (see `vertex`).
        (ProviderKind::Vertex, Operation::Chat) => {
            let model = segment(model.strip_prefix("models/").unwrap_or(model));
            let method = if stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            post(format!("/models/{model}:{method}"))
        }
        (ProviderKind::Vertex, Operation::Embeddings) => {
            let model = segment(model.strip_prefix("models/").unwrap_or(model));
            post(format!("/models/{model}:predict"))
        }
        (ProviderKind::Vertex, Operation::CountTokens) => {
            let model = segment(model.strip_prefix("models/").unwrap_or(model));
            post(format!("/models/{model}:countTokens"))
        }
        // Counting names no model in the URL; the body keeps its `model`.
        (ProviderKind::VertexAnthropic, Operation::CountTokens) => {
            post("/models/count-tokens:rawPredict".into())
        }
        (ProviderKind::VertexAnthropic, Operation::Chat) => {
            let method = if stream {
                "streamRawPredict"
            } else {
                "rawPredict"
            };
            post(format!("/models/{}:{method}", segment(model)))
        }
        // The model id is encoded whole (`:` of `…-v1:0` and `/` of an ARN included),
        // as AWS's SDKs send it.
        (ProviderKind::Bedrock, Operation::Chat) => {
            let method = if stream {
                "converse-stream"
            } else {
                "converse"
            };
            post(format!("/model/{}/{method}", strict_segment(model)))
        }
        (ProviderKind::BedrockAnthropic, Operation::Chat) => {
            let method = if stream {
                "invoke-with-response-stream"
            } else {
                "invoke"
            };
            post(format!("/model/{}/{method}", strict_segment(model)))
        }
        (ProviderKind::Cohere, Operation::Chat) => post("/v2/chat".into()),
        (ProviderKind::Ollama, Operation::Chat) => post("/api/chat".into()),
        (ProviderKind::Ollama, Operation::Embeddings) => post("/api/embed".into()),
        (ProviderKind::Ollama, Operation::ListModels) => get("/api/tags".into()),
        (_, op) => Err(unsupported(kind, op)),
    }
}

/// Whether a kind has an endpoint for `op`.
pub(crate) fn supports(kind: ProviderKind, op: Operation) -> bool {
    match kind {
        ProviderKind::Mock => true,
        _ => endpoint(kind, "", op, "m", false, None).is_ok(),
    }
}

fn unsupported(kind: ProviderKind, op: Operation) -> GatewayError {
    GatewayError::new(
        ErrorKind::NotFound,
        format!(
            "providers of kind `{}` have no {} endpoint; route this request to another provider",
            kind.as_str(),
            op.as_str()
        ),
    )
}

/// Percent-encodes a path segment (also Vertex AI's project and location) (model and deployment names): everything but
/// unreserved characters and `:@!$&'()*+,;=` is escaped, and so are the dots of a
/// `.` or `..` segment, which servers and proxies would otherwise resolve as "this" or
/// "the parent" directory (a deployment named `..` must not climb out of its path).
pub(crate) fn segment(s: &str) -> String {
    if s == "." || s == ".." {
        return "%2E".repeat(s.len());
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters (Bedrock model
/// ids and inference-profile ARNs in a path).
pub(crate) fn strict_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out == "." || out == ".." {
        return "%2E".repeat(out.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bedrock_model_ids_are_encoded_whole() {
        let e = endpoint(
            ProviderKind::Bedrock,
            "https://bedrock-runtime.us-east-1.amazonaws.com",
            Operation::Chat,
            "arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            true,
            None,
        )
        .unwrap();
        assert_eq!(
            e.url,
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream"
        );
        assert_eq!(strict_segment(".."), "%2E%2E");
        assert!(!supports(ProviderKind::Bedrock, Operation::Embeddings));
    }

    #[test]
    fn dot_segments_cannot_climb_out_of_the_path() {
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("."), "%2E");
        assert_eq!(segment("../chat"), "..%2Fchat");
        assert_eq!(segment("gpt-4.1"), "gpt-4.1");
        assert_eq!(segment("a..b"), "a..b");
    }

    #[test]
    fn bases_join_without_doubled_versions() {
        let n = |k, u| normalise_base("p", k, u).expect("valid");
        assert_eq!(
            n(ProviderKind::OpenAi, "https://x.test"),
            "https://x.test/v1"
        );
        assert_eq!(
            n(ProviderKind::OpenAi, "https://x.test/v1/"),
            "https://x.test/v1"
        );
        assert_eq!(
            n(ProviderKind::OpenAiCompatible, "https://ark.test/api/v3/"),
            "https://ark.test/api/v3"
        );
        assert_eq!(
            n(ProviderKind::Anthropic, "https://a.test/v1"),
            "https://a.test"
        );
        assert_eq!(
            n(ProviderKind::Gemini, "https://g.test/v1beta/"),
            "https://g.test"
        );
        assert_eq!(
            n(ProviderKind::AzureOpenAi, "https://r.test/openai"),
            "https://r.test"
        );
        assert!(normalise_base("p", ProviderKind::OpenAi, "ftp://x.test").is_err());
        assert!(normalise_base("p", ProviderKind::OpenAi, "https://x.test/?key=1").is_err());
    }

    #[test]
    fn vertex_methods_follow_the_family_and_the_stream_flag() {
        let base = "https://v.test/v1/projects/p/locations/l/publishers/google";
        let url = |kind, model, stream| {
            endpoint(kind, base, Operation::Chat, model, stream, None)
                .expect("vertex chat")
                .url
        };
        assert_eq!(
            url(ProviderKind::Vertex, "models/gemini-2.5-pro", false),
            format!("{base}/models/gemini-2.5-pro:generateContent")
        );
        assert_eq!(
            url(ProviderKind::Vertex, "gemini-2.5-pro", true),
            format!("{base}/models/gemini-2.5-pro:streamGenerateContent?alt=sse")
        );
        assert_eq!(
            url(
                ProviderKind::VertexAnthropic,
                "claude-sonnet-4@20250514",
                false
            ),
            format!("{base}/models/claude-sonnet-4@20250514:rawPredict")
        );
        assert_eq!(
            url(
                ProviderKind::VertexAnthropic,
                "claude-sonnet-4@20250514",
                true
            ),
            format!("{base}/models/claude-sonnet-4@20250514:streamRawPredict")
        );
        let count = endpoint(
            ProviderKind::Vertex,
            base,
            Operation::CountTokens,
            "gemini-2.5-pro",
            false,
            None,
        )
        .expect("vertex count");
        assert_eq!(
            count.url,
            format!("{base}/models/gemini-2.5-pro:countTokens")
        );
        let claude_count = endpoint(
            ProviderKind::VertexAnthropic,
            base,
            Operation::CountTokens,
            "claude",
            false,
            None,
        )
        .expect("claude count");
        assert_eq!(
            claude_count.url,
            format!("{base}/models/count-tokens:rawPredict")
        );
        for kind in [ProviderKind::Vertex, ProviderKind::VertexAnthropic] {
            assert!(supports(kind, Operation::CountTokens));
        }
        for kind in [ProviderKind::Vertex, ProviderKind::VertexAnthropic] {
            assert!(supports(kind, Operation::Chat));
            assert!(!supports(kind, Operation::ListModels));
        }
        assert!(supports(ProviderKind::Vertex, Operation::Embeddings));
        assert!(!supports(
            ProviderKind::VertexAnthropic,
            Operation::Embeddings
        ));
    }

    #[test]
    fn model_names_are_escaped_in_paths() {
        let e = endpoint(
            ProviderKind::Gemini,
            "https://g.test",
            Operation::Chat,
            "models/a b/c",
            true,
            None,
        )
        .expect("gemini chat");
        assert_eq!(
            e.url,
            "https://g.test/v1beta/models/a%20b%2Fc:streamGenerateContent?alt=sse"
        );
    }
}
