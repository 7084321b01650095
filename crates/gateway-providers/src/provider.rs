//! A resolved provider and its one operation: send a call, get the reply stream.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use gateway_protocol::{ApiShape, Blame, ErrorKind, GatewayError};
use gateway_translate::codec;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::Full;
use tokio::time::Instant;

use crate::body::{self, BodyStream, Limits};
use crate::client::HttpClient;
use crate::error::ProviderError;
use crate::google_auth::TokenSource;
use crate::mock::{self, MockAnswer, MockConfig};
use crate::routes::{self, AZURE_API_VERSION, Azure};
use crate::spec::{Preset, ProviderConfig, ProviderKind, Timeouts};
use crate::upstream;

/// The `anthropic-version` sent when none is configured.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The `user-agent` sent when none is configured.
const USER_AGENT: &str = concat!("patchbay/", env!("CARGO_PKG_VERSION"));

/// What a call asks of the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// A chat completion (streamed or not).
    Chat,
    /// Embeddings.
    Embeddings,
    /// Counting a request's input tokens.
    CountTokens,
    /// Listing models (GET, no body).
    ListModels,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 4] = [
        Operation::Chat,
        Operation::Embeddings,
        Operation::CountTokens,
        Operation::ListModels,
    ];

    /// This operation's bit in a set of operations.
    fn bit(self) -> u8 {
        1 << self as u8
    }

    /// A short name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Chat => "chat",
            Operation::Embeddings => "embeddings",
            Operation::CountTokens => "count-tokens",
            Operation::ListModels => "model-list",
        }
    }
}

/// One call to an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamCall {
    /// What is asked.
    pub operation: Operation,
    /// The upstream model name (Gemini and Azure put it in the URL).
    pub model: String,
    /// Whether a stream is asked for (Gemini picks the method by it).
    pub stream: bool,
    /// The request body, already in the provider's [`Provider::shape`].
    pub body: Bytes,
    /// Headers sent besides the provider's own (a `traceparent`, say); they never
    /// replace one the provider sets (its key, version, content type).
    pub headers: HeaderMap,
}

/// A successful (2xx) upstream reply.
pub struct UpstreamReply {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body; dropping it cancels the upstream request.
    pub body: BodyStream,
}

impl std::fmt::Debug for UpstreamReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamReply")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// A provider ready to serve: its endpoints, headers and time limits resolved, and a
/// handle on the shared HTTP pool.
#[derive(Clone)]
pub struct Provider {
    name: Arc<str>,
    kind: ProviderKind,
    shape: ApiShape,
    preset: Option<&'static Preset>,
    /// The stored base URL (empty for the mock).
    base: String,
    /// The host, for the operator's log (callers are told the provider's name; never
    /// the URL: it may carry a key).
    host: Arc<str>,
    headers: HeaderMap,
    api_version: String,
    deployments: BTreeMap<String, String>,
    timeouts: Timeouts,
    /// The pooled client (this thread's pool is taken per call); none for the mock.
    client: Option<HttpClient>,
    /// The operations its kind has an endpoint for ([`Operation::bit`]s), worked out
    /// once: asked on every request.
    supported: u8,
    mock: MockConfig,
    /// Vertex AI with a service-account key: its tokens (a configured token is in
    /// `headers`).
    google: Option<Arc<TokenSource>>,
    /// Bedrock: the region and credentials every call is signed with (SigV4).
    aws: Option<Arc<crate::aws::Signer>>,
    /// Parsed endpoint URIs by their text: parsing one costs microseconds on every
    /// request, and most providers have a handful.
    urls: Arc<std::sync::Mutex<foldhash::HashMap<String, http::Uri>>>,
}

/// How many parsed URLs a provider keeps (Gemini and Azure put model names in them).
const URL_CACHE: usize = 256;

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("shape", &self.shape)
            .field("base_url", &self.base)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// Resolves `cfg` for the provider called `name`.
    pub fn new(
        name: &str,
        cfg: &ProviderConfig,
        client: &HttpClient,
    ) -> Result<Provider, ProviderError> {
        let kind = cfg.kind;
        let preset = match (&cfg.preset, kind) {
            (None, _) => None,
            (Some(p), ProviderKind::OpenAiCompatible) => Some(
                crate::presets::preset(p).ok_or_else(|| ProviderError::UnknownPreset {
                    provider: name.to_owned(),
                    preset: p.clone(),
                    known: crate::presets::names(),
                })?,
            ),
            (Some(_), _) => {
                return Err(ProviderError::PresetNeedsCompatible {
                    provider: name.to_owned(),
                    kind: kind.as_str(),
                });
            }
        };
        let not_for = |setting| ProviderError::NotForKind {
            provider: name.to_owned(),
            setting,
            kind: kind.as_str(),
        };
        if !cfg.deployments.is_empty() && kind != ProviderKind::AzureOpenAi {
            return Err(not_for("deployments"));
        }
        if cfg.api_version.is_some()
            && !matches!(
                kind,
                ProviderKind::AzureOpenAi
                    | ProviderKind::Anthropic
                    | ProviderKind::VertexAnthropic
                    | ProviderKind::BedrockAnthropic
            )
        {
            return Err(not_for("api_version"));
        }
        let vertex = matches!(kind, ProviderKind::Vertex | ProviderKind::VertexAnthropic);
        let bedrock = matches!(kind, ProviderKind::Bedrock | ProviderKind::BedrockAnthropic);
        for (setting, set) in [
            ("region", cfg.region.is_some()),
            ("access_key_id", cfg.access_key_id.is_some()),
            ("secret_access_key", cfg.secret_access_key.is_some()),
            ("session_token", cfg.session_token.is_some()),
        ] {
            if set && !bedrock {
                return Err(not_for(setting));
            }
        }
        for (setting, set) in [
            ("project", cfg.project.is_some()),
            ("location", cfg.location.is_some()),
            ("access_token", cfg.access_token.is_some()),
            ("credentials_file", cfg.credentials_file.is_some()),
        ] {
            if set && !vertex {
                return Err(not_for(setting));
            }
        }
        if (vertex || bedrock) && cfg.api_key.is_some() {
            return Err(not_for("api_key"));
        }
        if cfg.mock != MockConfig::default() && kind != ProviderKind::Mock {
            return Err(not_for("mock"));
        }

        let mut provider = Provider {
            name: Arc::from(name),
            kind,
            shape: shape_of(kind, &cfg.mock),
            preset,
            base: String::new(),
            host: Arc::from(""),
            headers: HeaderMap::new(),
            api_version: String::new(),
            deployments: cfg.deployments.clone(),
            timeouts: cfg.timeouts,
            client: None,
            supported: Operation::ALL
                .into_iter()
                .filter(|op| routes::supports(kind, *op))
                .fold(0, |set, op| set | op.bit()),
            mock: cfg.mock.clone(),
            google: None,
            aws: None,
            urls: Arc::default(),
        };
        if kind == ProviderKind::Mock {
            if cfg.base_url.is_some() {
                return Err(not_for("base_url"));
            }
            provider.host = Arc::from("mock");
            return Ok(provider);
        }

        if vertex {
            return provider.resolve_vertex(cfg, client);
        }
        if bedrock {
            let env = |name: &str| std::env::var(name).ok();
            return provider.resolve_bedrock(cfg, client, &env);
        }
        let raw_base = cfg
            .base_url
            .as_deref()
            .or(preset.map(|p| p.base_url))
            .or(routes::default_base(kind))
            .ok_or_else(|| ProviderError::MissingBaseUrl {
                provider: name.to_owned(),
                kind: kind.as_str(),
                example: match kind {
                    ProviderKind::AzureOpenAi => "https://my-resource.openai.azure.com",
                    _ => "http://127.0.0.1:8080/v1",
                },
            })?;
        provider.base = routes::normalise_base(name, kind, raw_base)?;
        provider.host = host_of(&provider.base);
        provider.api_version = match kind {
            ProviderKind::AzureOpenAi => {
                cfg.api_version.clone().unwrap_or(AZURE_API_VERSION.into())
            }
            ProviderKind::Anthropic => cfg.api_version.clone().unwrap_or(ANTHROPIC_VERSION.into()),
            _ => String::new(),
        };

        let key = cfg.api_key.as_deref().filter(|k| !k.trim().is_empty());
        let key_required = match kind {
            ProviderKind::Ollama => false,
            ProviderKind::OpenAiCompatible => preset.is_some_and(|p| p.quirks.key_required),
            _ => true,
        };
        if key.is_none() && key_required {
            return Err(ProviderError::MissingApiKey {
                provider: name.to_owned(),
                kind: preset.map_or(kind.as_str().to_owned(), |p| {
                    format!("{} (preset {})", kind.as_str(), p.name)
                }),
                env: preset.map_or(key_env(kind), |p| p.api_key_env),
            });
        }
        provider.headers = headers(name, kind, key, &provider.api_version, &cfg.headers)?;
        provider.client = Some(client.clone());
        Ok(provider)
    }

    /// The Vertex AI kinds' settings: the project's base, the body's
    /// `anthropic_version`, and the token or key.
    fn resolve_vertex(
        mut self,
        cfg: &ProviderConfig,
        client: &HttpClient,
    ) -> Result<Provider, ProviderError> {
        let name = self.name.clone();
        self.base = crate::vertex::base(&name, self.kind, cfg)?;
        self.host = host_of(&self.base);
        if self.kind == ProviderKind::VertexAnthropic {
            self.api_version = cfg
                .api_version
                .clone()
                .unwrap_or(crate::vertex::VERTEX_ANTHROPIC_VERSION.into());
        }
        let env_file = std::env::var(crate::vertex::CREDENTIALS_ENV).ok();
        let token = match crate::vertex::credentials(&name, self.kind, cfg, env_file, client)? {
            crate::vertex::Credentials::Static(token) => Some(token),
            crate::vertex::Credentials::ServiceAccount(source) => {
                self.google = Some(source);
                None
            }
        };
        self.headers = headers(&name, self.kind, token.as_deref(), "", &cfg.headers)?;
        self.client = Some(client.clone());
        Ok(self)
    }

    /// Bedrock: the region and credentials (from `env` when not configured), and the
    /// region's runtime host unless `base_url` replaces it.
    fn resolve_bedrock(
        mut self,
        cfg: &ProviderConfig,
        client: &HttpClient,
        env: crate::aws::Env<'_>,
    ) -> Result<Provider, ProviderError> {
        let name = self.name.clone();
        let signer = crate::aws::signer(&name, self.kind, cfg, env)?;
        self.base = match &cfg.base_url {
            Some(url) => routes::normalise_base(&name, self.kind, url)?,
            None => crate::aws::default_root(&signer.region),
        };
        self.host = host_of(&self.base);
        self.aws = Some(Arc::new(signer));
        if self.kind == ProviderKind::BedrockAnthropic {
            self.api_version = cfg
                .api_version
                .clone()
                .unwrap_or(gateway_translate::bedrock::invoke::ANTHROPIC_VERSION.into());
        }
        self.headers = headers(&name, self.kind, None, "", &cfg.headers)?;
        self.client = Some(client.clone());
        Ok(self)
    }

    /// The provider's name (its config key).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The adapter kind.
    pub fn kind(&self) -> ProviderKind {
        self.kind
    }

    /// The preset, for OpenAI-compatible providers configured with one.
    pub fn preset(&self) -> Option<&'static Preset> {
        self.preset
    }

    /// The wire shape the provider speaks: call bodies must be in it.
    pub fn shape(&self) -> ApiShape {
        self.shape
    }

    /// Azure OpenAI: model name → deployment name, from the config.
    pub fn deployments(&self) -> &BTreeMap<String, String> {
        &self.deployments
    }

    /// The stored base URL (empty for the mock).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The time limits.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Whether the provider has an endpoint for `op` (Ollama cannot count tokens,
    /// Anthropic has no embeddings, ...).
    pub fn supports(&self, op: Operation) -> bool {
        self.supported & op.bit() != 0
    }

    /// Sends `call` and returns the reply once its headers are in.
    ///
    /// A non-2xx answer is read (up to 1 MiB) and returned as the upstream's error,
    /// blamed on the upstream, with its `retry-after`. Connection failures are
    /// retryable `Upstream` errors; time limits give `UpstreamTimeout`.
    pub async fn send(&self, call: UpstreamCall) -> Result<UpstreamReply, GatewayError> {
        let Some(client) = &self.client else {
            return self.send_mock(call).await;
        };
        let client = client.for_connect_timeout(self.timeouts.connect());
        let started = Instant::now();
        let deadline = started + self.timeouts.total();
        let deployment = self
            .deployments
            .get(&call.model)
            .map_or(call.model.as_str(), String::as_str);
        let azure = (self.kind == ProviderKind::AzureOpenAi).then_some(Azure {
            api_version: &self.api_version,
            deployment,
        });
        let endpoint = routes::endpoint(
            self.kind,
            &self.base,
            call.operation,
            &call.model,
            call.stream,
            azure,
        )?;
        let uri = self.parsed(&endpoint.url)?;
        // Configured headers win over the defaults below (a configured content-type or
        // user-agent replaces ours), as they did with reqwest.
        let mut headers = self.headers.clone();
        if let Some(tokens) = &self.google {
            headers.insert(http::header::AUTHORIZATION, tokens.authorization().await?);
        }
        if endpoint.post {
            headers
                .entry(http::header::CONTENT_TYPE)
                .or_insert(HeaderValue::from_static("application/json"));
        }
        if call.stream && call.operation == Operation::Chat {
            let accept = match self.shape {
                ApiShape::Ollama => "application/x-ndjson",
                _ if self.aws.is_some() => "application/vnd.amazon.eventstream",
                _ => "text/event-stream",
            };
            headers.append(http::header::ACCEPT, HeaderValue::from_static(accept));
        }
        // InvokeModel reads `Accept` as the answer's body type.
        let accept = if self.kind == ProviderKind::BedrockAnthropic {
            "application/json"
        } else {
            "*/*"
        };
        headers
            .entry(http::header::ACCEPT)
            .or_insert(HeaderValue::from_static(accept));
        headers
            .entry(http::header::USER_AGENT)
            .or_insert(HeaderValue::from_static(USER_AGENT));
        for (name, value) in &call.headers {
            if let http::header::Entry::Vacant(slot) = headers.entry(name) {
                slot.insert(value.clone());
            }
        }
        let body = match self.preset {
            Some(preset) if call.operation == Operation::Chat => {
                crate::quirks::chat_body(call.body, &preset.quirks)
            }
            _ if self.kind == ProviderKind::VertexAnthropic => {
                let keep_model = call.operation == Operation::CountTokens;
                crate::vertex::anthropic_body(call.body, &self.api_version, keep_model)
            }
            _ if self.kind == ProviderKind::BedrockAnthropic => {
                crate::vertex::anthropic_body_without(
                    call.body,
                    &self.api_version,
                    &["model", "stream"],
                )
            }
            _ if self.kind == ProviderKind::Vertex && call.operation == Operation::CountTokens => {
                crate::vertex::gemini_count_tokens_body(call.body)
            }
            _ if self.kind == ProviderKind::Vertex && call.operation == Operation::Embeddings => {
                crate::vertex::embed::predict_request(&call.body).map_or(call.body, Bytes::from)
            }
            _ => call.body,
        };
        if let Some(signer) = &self.aws {
            let method = if endpoint.post { "POST" } else { "GET" };
            signer
                .sign(method, &uri, &mut headers, &body, SystemTime::now())
                .map_err(|_| {
                    GatewayError::new(
                        ErrorKind::Internal,
                        format!(
                            "provider `{}`: the AWS credentials hold characters a header cannot carry",
                            self.name
                        ),
                    )
                })?;
        }
        let (method, body) = if endpoint.post {
            (http::Method::POST, Full::new(body))
        } else {
            (http::Method::GET, Full::default())
        };
        let mut request = http::Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;

        let first_byte_end = (started + self.timeouts.first_byte()).min(deadline);
        let response = match tokio::time::timeout_at(first_byte_end, client.request(request)).await
        {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => return Err(upstream::before_headers(&err, &self.name, &self.host)),
            Err(_) => {
                let which = if first_byte_end < deadline {
                    "timeouts.first_byte_ms"
                } else {
                    "timeouts.total_ms"
                };
                return Err(GatewayError::new(
                    ErrorKind::UpstreamTimeout,
                    format!(
                        "provider `{}` sent no response headers within {which}",
                        self.name
                    ),
                ));
            }
        };
        let limits = Limits {
            provider: self.name.clone(),
            host: self.host.clone(),
            idle: self.timeouts.idle(),
            deadline,
        };
        let (head, incoming) = response.into_parts();
        let status = head.status.as_u16();
        let headers = head.headers;
        if !head.status.is_success() {
            if let (401, Some(tokens)) = (status, &self.google) {
                // Revoked or expired early: the next request mints another.
                tokens.forget();
            }
            let body = body::read_bounded(incoming, limits).await;
            let mut err = if self.aws.is_some() {
                let kind = headers
                    .get("x-amzn-errortype")
                    .and_then(|v| v.to_str().ok());
                gateway_translate::bedrock::error::decode_typed(status, kind, &body)
            } else {
                codec::decode_error(self.shape, status, &body)
            };
            err.blame = Blame::Upstream;
            err.upstream_status = Some(status);
            if let Some(secs) = upstream::retry_after(&headers, SystemTime::now()) {
                err.retry_after = Some(secs);
            }
            tracing::debug!(
                provider = %self.name,
                status,
                kind = ?err.kind,
                "upstream answered with an error"
            );
            return Err(err);
        }
        let mut body = body::timed(incoming, limits);
        if self.kind == ProviderKind::Vertex && call.operation == Operation::Embeddings {
            body = crate::vertex::embed_answer(body, self.name.clone());
        }
        if self.kind == ProviderKind::BedrockAnthropic && call.stream {
            body = crate::aws::unwrap_stream(body);
        }
        Ok(UpstreamReply {
            status,
            headers,
            body,
        })
    }

    /// `url` parsed, from the cache when it was seen before.
    fn parsed(&self, url: &str) -> Result<http::Uri, GatewayError> {
        let mut cache = self
            .urls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(u) = cache.get(url) {
            return Ok(u.clone());
        }
        let parsed = http::Uri::try_from(url).map_err(|e| {
            GatewayError::new(
                ErrorKind::Internal,
                format!("provider {}: bad endpoint URL: {e}", self.name),
            )
        })?;
        if cache.len() >= URL_CACHE {
            cache.clear();
        }
        cache.insert(url.to_owned(), parsed.clone());
        Ok(parsed)
    }

    async fn send_mock(&self, call: UpstreamCall) -> Result<UpstreamReply, GatewayError> {
        let shape = self.shape;
        let (answer, stream) = match call.operation {
            Operation::Chat => (
                mock::answer_for(shape, &call.model, call.stream, &call.body, &self.mock),
                call.stream,
            ),
            Operation::Embeddings => (mock::embeddings(shape, &call.model, &call.body), false),
            Operation::CountTokens => (mock::count_tokens(shape, &call.body), false),
            Operation::ListModels => (MockAnswer::Whole(mock::models(shape)), false),
        };
        let stream = stream && matches!(answer, MockAnswer::Stream { .. });
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(mock::content_type(shape, stream)),
        );
        Ok(UpstreamReply {
            status: 200,
            headers,
            body: answer.into_body()?,
        })
    }
}

/// The shape a kind speaks.
fn shape_of(kind: ProviderKind, mock: &MockConfig) -> ApiShape {
    match kind {
        ProviderKind::OpenAi | ProviderKind::AzureOpenAi | ProviderKind::OpenAiCompatible => {
            ApiShape::OpenAiChat
        }
        ProviderKind::Anthropic
        | ProviderKind::VertexAnthropic
        | ProviderKind::BedrockAnthropic => ApiShape::Anthropic,
        ProviderKind::Gemini | ProviderKind::Vertex => ApiShape::Gemini,
        ProviderKind::Ollama => ApiShape::Ollama,
        ProviderKind::Bedrock => ApiShape::Bedrock,
        ProviderKind::Mock => mock.shape.unwrap_or(ApiShape::OpenAiChat),
    }
}

/// `host[:port]` of a stored base URL, for the operator's log.
fn host_of(base: &str) -> Arc<str> {
    Arc::from(
        url::Url::parse(base)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| {
                    format!(
                        "{h}{}",
                        u.port().map(|p| format!(":{p}")).unwrap_or_default()
                    )
                })
            })
            .unwrap_or_default(),
    )
}

/// The environment variable a kind's key usually lives in.
fn key_env(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::AzureOpenAi => "AZURE_OPENAI_API_KEY",
        ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
        ProviderKind::Gemini => "GEMINI_API_KEY",
        _ => "OPENAI_API_KEY",
    }
}

/// Auth, version and configured headers, validated once.
fn headers(
    provider: &str,
    kind: ProviderKind,
    key: Option<&str>,
    api_version: &str,
    extra: &BTreeMap<String, String>,
) -> Result<HeaderMap, ProviderError> {
    let bad = |header: &str, reason: String| ProviderError::BadHeader {
        provider: provider.to_owned(),
        header: header.to_owned(),
        reason,
    };
    let mut out = HeaderMap::new();
    if let Some(key) = key {
        let (name, value) = match kind {
            ProviderKind::AzureOpenAi => ("api-key", key.to_owned()),
            ProviderKind::Anthropic => ("x-api-key", key.to_owned()),
            ProviderKind::Gemini => ("x-goog-api-key", key.to_owned()),
            _ => ("authorization", format!("Bearer {key}")),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            bad(
                "api_key",
                "the key contains characters not allowed in a header".into(),
            )
        })?;
        value.set_sensitive(true);
        out.insert(HeaderName::from_static(name), value);
    }
    if kind == ProviderKind::Anthropic {
        let value = HeaderValue::from_str(api_version)
            .map_err(|e| bad("anthropic-version", e.to_string()))?;
        out.insert(HeaderName::from_static("anthropic-version"), value);
    }
    for (name, value) in extra {
        let header =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(name, e.to_string()))?;
        let mut value = HeaderValue::from_str(value).map_err(|e| bad(name, e.to_string()))?;
        value.set_sensitive(true);
        out.insert(header, value);
    }
    Ok(out)
}
