//! What a provider is, as data: its kind, its preset, and the configuration the
//! server reads from `[providers.<name>]`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::mock::MockConfig;

/// The adapter a provider uses. Spelled in snake case in the config
/// (`kind = "openai_compatible"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI (`/v1/chat/completions`, Bearer key).
    #[serde(rename = "openai")]
    OpenAi,
    /// Azure OpenAI (deployments, `api-version`, `api-key` header).
    #[serde(rename = "azure_openai")]
    AzureOpenAi,
    /// Anthropic Messages (`x-api-key`, `anthropic-version`).
    Anthropic,
    /// Google AI Studio Gemini (`x-goog-api-key`).
    Gemini,
    /// Ollama's native API (`/api/chat`).
    Ollama,
    /// Gemini models on Google Vertex AI (publisher `google`; OAuth Bearer token).
    Vertex,
    /// Claude models on Google Vertex AI (publisher `anthropic`, `rawPredict`; OAuth
    /// Bearer token).
    VertexAnthropic,
    /// Amazon Bedrock's Converse API (SigV4-signed; `region` and AWS credentials).
    Bedrock,
    /// Claude on Amazon Bedrock through `InvokeModel`, in Anthropic's own Messages
    /// shape (signed as `bedrock`).
    BedrockAnthropic,
    /// Cohere's native v2 Chat API (`/v2/chat`, Bearer key).
    Cohere,
    /// Any OpenAI-compatible server: a preset or a custom base URL.
    #[serde(rename = "openai_compatible")]
    OpenAiCompatible,
    /// The built-in deterministic mock; no network.
    Mock,
}

impl ProviderKind {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::AzureOpenAi => "azure_openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Vertex => "vertex",
            ProviderKind::VertexAnthropic => "vertex_anthropic",
            ProviderKind::Bedrock => "bedrock",
            ProviderKind::BedrockAnthropic => "bedrock_anthropic",
            ProviderKind::Cohere => "cohere",
            ProviderKind::OpenAiCompatible => "openai_compatible",
            ProviderKind::Mock => "mock",
        }
    }

    /// Every kind, in the order a list of them shows.
    pub const ALL: [ProviderKind; 12] = [
        ProviderKind::OpenAi,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
        ProviderKind::AzureOpenAi,
        ProviderKind::Vertex,
        ProviderKind::VertexAnthropic,
        ProviderKind::Bedrock,
        ProviderKind::BedrockAnthropic,
        ProviderKind::Cohere,
        ProviderKind::Ollama,
        ProviderKind::OpenAiCompatible,
        ProviderKind::Mock,
    ];

    /// The API root used when a provider of this kind names none (`None`: it must
    /// name one, or a preset does, or it needs none; Vertex AI's follows from its
    /// `location`).
    pub fn default_base_url(self) -> Option<&'static str> {
        crate::routes::default_base(self)
    }
}

/// How an OpenAI-compatible provider departs from OpenAI. Data for the server and
/// the router; the adapter itself reads `key_required` and applies `chat_defaults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quirks {
    /// Requests without a key are refused (hosted services); local servers need none.
    pub key_required: bool,
    /// Serves `/embeddings`.
    pub embeddings: bool,
    /// Streams reasoning as `reasoning_content` beside `content`.
    pub reasoning_content: bool,
    /// Top-level Chat Completions fields the vendor needs to behave like the others,
    /// as (name, JSON text): added to a chat body that does not set them (the
    /// caller's own value wins).
    pub chat_defaults: &'static [(&'static str, &'static str)],
}

/// One OpenAI-compatible service: a row of [`crate::presets::PRESETS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The config name (`preset = "deepseek"`).
    pub name: &'static str,
    /// A human name.
    pub label: &'static str,
    /// The API root, version included (`https://api.deepseek.com/v1`); endpoint
    /// paths such as `/chat/completions` are appended to it.
    pub base_url: &'static str,
    /// The environment variable the key is usually kept in.
    pub api_key_env: &'static str,
    /// Departures from OpenAI.
    pub quirks: Quirks,
}

/// The preset called `name` (`"deepseek"`, `"dashscope-intl"`, `"lmstudio"`, ...).
pub fn preset(name: &str) -> Option<&'static Preset> {
    crate::presets::preset(name)
}

/// One provider's configuration: the server's `[providers.<name>]` table. Its `Debug`
/// shows neither the key nor the extra headers' values (they may hold credentials).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The adapter.
    pub kind: ProviderKind,
    /// An OpenAI-compatible preset (`kind = "openai_compatible"` only).
    #[serde(default)]
    pub preset: Option<String>,
    /// The API root. Defaults per kind (or preset). OpenAI-style kinds include the
    /// version (`https://api.openai.com/v1`); Anthropic, Gemini, Azure and Ollama
    /// take the host root (`https://api.anthropic.com`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The key, already interpolated from the environment by the server.
    #[serde(default)]
    pub api_key: Option<String>,
    /// Azure `api-version`, the `anthropic-version` header for Anthropic, or the
    /// body's `anthropic_version` for Claude on Vertex AI and on Bedrock.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Vertex AI: the Google Cloud project id.
    #[serde(default)]
    pub project: Option<String>,
    /// Vertex AI: the region (`us-central1`, `europe-west4`, or `global`).
    #[serde(default)]
    pub location: Option<String>,
    /// Vertex AI: a ready OAuth access token, sent as `Authorization: Bearer` (it is
    /// not refreshed; `credentials_file` is, for long-running gateways).
    #[serde(default)]
    pub access_token: Option<String>,
    /// Vertex AI: a service-account JSON key file; the gateway signs its own tokens
    /// with it. Defaults to `GOOGLE_APPLICATION_CREDENTIALS` when no `access_token`.
    #[serde(default)]
    pub credentials_file: Option<String>,
    /// Bedrock: the AWS region (`us-east-1`); defaults to `AWS_REGION`, then
    /// `AWS_DEFAULT_REGION`.
    #[serde(default)]
    pub region: Option<String>,
    /// Bedrock: the AWS access key id. Without it (and `secret_access_key`), the
    /// environment's `AWS_ACCESS_KEY_ID`, then the shared credentials file.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Bedrock: the AWS secret access key (with `access_key_id`).
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Bedrock: the session token of temporary credentials.
    #[serde(default)]
    pub session_token: Option<String>,
    /// Azure: model name → deployment name (a model not listed is its own deployment).
    #[serde(default)]
    pub deployments: BTreeMap<String, String>,
    /// Extra headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Time limits.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// The mock's behaviour (`kind = "mock"` only).
    #[serde(default)]
    pub mock: MockConfig,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<&str> = self.headers.keys().map(String::as_str).collect();
        f.debug_struct("ProviderConfig")
            .field("kind", &self.kind)
            .field("preset", &self.preset)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_version", &self.api_version)
            .field("project", &self.project)
            .field("location", &self.location)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .field("credentials_file", &self.credentials_file)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("deployments", &self.deployments)
            .field("headers (values redacted)", &headers)
            .field("timeouts", &self.timeouts)
            .field("mock", &self.mock)
            .finish()
    }
}

impl ProviderConfig {
    /// A configuration of `kind` with every other setting at its default.
    pub fn new(kind: ProviderKind) -> Self {
        ProviderConfig {
            kind,
            preset: None,
            base_url: None,
            api_key: None,
            api_version: None,
            project: None,
            location: None,
            access_token: None,
            credentials_file: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            deployments: BTreeMap::new(),
            headers: BTreeMap::new(),
            timeouts: Timeouts::default(),
            mock: MockConfig::default(),
        }
    }
}

/// Time limits of upstream calls, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Establishing the TCP (and TLS) connection.
    pub connect_ms: u64,
    /// From sending the request to the response headers. Non-streaming answers arrive
    /// whole, so this covers the whole generation for them.
    pub first_byte_ms: u64,
    /// Longest silence between two body chunks.
    pub idle_ms: u64,
    /// The whole call, body included.
    pub total_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_ms: 10_000,
            first_byte_ms: 300_000,
            idle_ms: 120_000,
            total_ms: 900_000,
        }
    }
}

impl Timeouts {
    /// `connect_ms` as a duration.
    pub fn connect(&self) -> Duration {
        Duration::from_millis(self.connect_ms)
    }

    /// `first_byte_ms` as a duration.
    pub fn first_byte(&self) -> Duration {
        Duration::from_millis(self.first_byte_ms)
    }

    /// `idle_ms` as a duration.
    pub fn idle(&self) -> Duration {
        Duration::from_millis(self.idle_ms)
    }

    /// `total_ms` as a duration.
    pub fn total(&self) -> Duration {
        Duration::from_millis(self.total_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_key_and_header_values() {
        let mut cfg = ProviderConfig::new(ProviderKind::OpenAi);
        cfg.api_key = Some("sk-live-secret-1234".to_owned());
        cfg.access_token = Some("ya29.token-secret-9012".to_owned());
        cfg.secret_access_key = Some("aws-secret-3456".to_owned());
        cfg.session_token = Some("aws-session-7890".to_owned());
        cfg.headers
            .insert("x-org-token".to_owned(), "org-secret-5678".to_owned());
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("sk-live-secret-1234"), "{shown}");
        assert!(!shown.contains("org-secret-5678"), "{shown}");
        assert!(!shown.contains("token-secret-9012"), "{shown}");
        assert!(
            !shown.contains("aws-secret-3456") && !shown.contains("aws-session-7890"),
            "{shown}"
        );
        assert!(
            shown.contains("<redacted>") && shown.contains("x-org-token"),
            "{shown}"
        );
    }
}
