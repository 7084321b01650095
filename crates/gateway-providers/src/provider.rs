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

mod build;

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
    urls: Arc<std::sync::Mutex<foldhash::HashMap<String, Endpoint>>>,
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

/// An endpoint URL parsed, with its `host` header when the gateway writes it.
#[derive(Clone)]
struct Endpoint {
    uri: http::Uri,
    host: Option<HeaderValue>,
}

/// The `host` header of a plain `http://` URL (host, and port unless 80), made once
/// per URL instead of by hyper's client on every request. None for `https://`: that
/// connection may be HTTP/2, which names the host in `:authority` instead.
fn plain_http_host(uri: &http::Uri) -> Option<HeaderValue> {
    if uri.scheme() != Some(&http::uri::Scheme::HTTP) {
        return None;
    }
    let host = uri.host()?;
    let value = match uri.port_u16() {
        Some(port) if port != 80 => format!("{host}:{port}"),
        _ => host.to_owned(),
    };
    HeaderValue::from_str(&value).ok()
}

impl Provider {
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
        self.send_within(call, None).await
    }

    /// [`Provider::send`] for a caller that ends the wait itself at `caller_deadline` (a
    /// route's timeout around the call): when that comes no later than this
    /// provider's own limit for the answer's head, no timer is armed for the head
    /// here — one timer per call instead of two.
    ///
    /// Not an `async fn`: its future is nested in every upstream call's, and an
    /// `async fn` would hold `call` twice; the request is built by plain functions
    /// either side of the one wait it may need (a Google token).
    #[allow(clippy::manual_async_fn)]
    pub fn send_within(
        &self,
        call: UpstreamCall,
        caller_deadline: Option<Instant>,
    ) -> impl Future<Output = Result<UpstreamReply, GatewayError>> + '_ {
        async move {
            let Some(client) = &self.client else {
                return self.send_mock(call).await;
            };
            let started = Instant::now();
            let deadline = started + self.timeouts.total();
            let target = self.target(&call)?;
            let authorization = match &self.google {
                // Boxed: the token exchange's state would size every provider's sends.
                Some(tokens) => Some(Box::pin(tokens.authorization()).await?),
                None => None,
            };
            let (operation, stream) = (call.operation, call.stream);
            let request = self.request(call, target, authorization)?;
            self.exchange(
                client,
                request,
                operation,
                stream,
                started,
                deadline,
                caller_deadline,
            )
            .await
        }
    }

    /// Where `call` goes: its URI, the `host` header of a plain-HTTP one, and
    /// whether it is a POST.
    fn target(&self, call: &UpstreamCall) -> Result<(Endpoint, bool), GatewayError> {
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
        Ok((self.parsed(&endpoint.url)?, endpoint.post))
    }

    /// The HTTP request of `call` to `target`: this provider's headers, then the
    /// call's, its body in the provider's own form, signed where the provider signs.
    fn request(
        &self,
        call: UpstreamCall,
        (Endpoint { uri, host }, post): (Endpoint, bool),
        authorization: Option<HeaderValue>,
    ) -> Result<http::Request<Full<Bytes>>, GatewayError> {
        // Configured headers win over the defaults below (a configured content-type or
        // user-agent replaces ours), as they did with reqwest.
        let mut headers = self.headers.clone();
        if let Some(host) = host {
            headers.entry(http::header::HOST).or_insert(host);
        }
        if let Some(authorization) = authorization {
            headers.insert(http::header::AUTHORIZATION, authorization);
        }
        if post {
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
            let method = if post { "POST" } else { "GET" };
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
        let (method, body) = if post {
            (http::Method::POST, Full::new(body))
        } else {
            (http::Method::GET, Full::default())
        };
        let mut request = http::Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// Sends `request` and reads the answer's head: a 2xx goes back as a stream, an
    /// error status as this provider's error.
    // The call's parts the answer needs, and the three instants its waits end by.
    #[allow(clippy::too_many_arguments, clippy::manual_async_fn)]
    fn exchange<'a>(
        &'a self,
        client: &'a HttpClient,
        request: http::Request<Full<Bytes>>,
        operation: Operation,
        stream: bool,
        started: Instant,
        deadline: Instant,
        caller_deadline: Option<Instant>,
    ) -> impl Future<Output = Result<UpstreamReply, GatewayError>> + 'a {
        async move {
            let first_byte_end = (started + self.timeouts.first_byte()).min(deadline);
            let connect = self.timeouts.connect();
            let sent = client.send(request, connect);
            let waited = if caller_deadline.is_some_and(|end| end <= first_byte_end) {
                Ok(sent.await)
            } else {
                tokio::time::timeout_at(first_byte_end, sent).await
            };
            let (response, lease) = match waited {
                Ok(Ok(answer)) => answer,
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
                let body = body::read_bounded(incoming, lease, limits).await;
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
            let mut body = body::timed(incoming, lease, limits);
            if self.kind == ProviderKind::Vertex && operation == Operation::Embeddings {
                body = crate::vertex::embed_answer(body, self.name.clone());
            }
            if self.kind == ProviderKind::BedrockAnthropic && stream {
                body = crate::aws::unwrap_stream(body);
            }
            Ok(UpstreamReply {
                status,
                headers,
                body,
            })
        }
    }

    /// `url` parsed, from the cache when it was seen before.
    fn parsed(&self, url: &str) -> Result<Endpoint, GatewayError> {
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
        let endpoint = Endpoint {
            host: plain_http_host(&parsed),
            uri: parsed,
        };
        cache.insert(url.to_owned(), endpoint.clone());
        Ok(endpoint)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn host(url: &str) -> Option<String> {
        plain_http_host(&http::Uri::try_from(url).unwrap()).map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn plain_http_urls_get_their_host_header_and_https_ones_none() {
        assert_eq!(
            host("http://127.0.0.1:18080/v1").as_deref(),
            Some("127.0.0.1:18080")
        );
        assert_eq!(
            host("http://example.com:80/x").as_deref(),
            Some("example.com")
        );
        assert_eq!(host("http://example.com/x").as_deref(), Some("example.com"));
        assert_eq!(
            host("http://user:pw@h.test:81/").as_deref(),
            Some("h.test:81")
        );
        assert_eq!(host("http://[::1]:8080/").as_deref(), Some("[::1]:8080"));
        assert_eq!(host("https://api.openai.com/v1"), None);
    }
}
