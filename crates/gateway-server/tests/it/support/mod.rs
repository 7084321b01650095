//! Loopback harness: mock upstreams of each shape served over HTTP, a gateway in
//! front of them, and readers that parse answers in the caller's shape.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gateway_protocol::{ApiShape, ChatResponse, Part};
use gateway_providers::MockConfig;
use gateway_server::app::App;
use gateway_server::config::Config;
use gateway_server::listen;
use gateway_server::mock_server::MockServer;
use gateway_translate::assemble::Aggregator;
use gateway_translate::codec::{self, StreamDecoder};
use gateway_translate::{Framer, Framing, ResponseContext};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The key every test gateway accepts.
pub const KEY: &str = "pbk_integration_test_key_0001";

/// Starts the mock provider over HTTP speaking `shape`.
pub async fn mock_upstream(shape: ApiShape, config: MockConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = MockServer { shape, config };
    tokio::spawn(server.serve(listener, std::future::pending()));
    addr
}

/// Mock upstreams of each provider shape.
pub struct Upstreams {
    pub openai: SocketAddr,
    pub anthropic: SocketAddr,
    pub gemini: SocketAddr,
    pub ollama: SocketAddr,
    pub bedrock: SocketAddr,
    pub cohere: SocketAddr,
}

/// An OpenAI-shape mock upstream that answers every request with `status`.
pub async fn failing_upstream(status: u16) -> SocketAddr {
    let config = MockConfig {
        fail_status: Some(status),
        ..MockConfig::default()
    };
    mock_upstream(ApiShape::OpenAiChat, config).await
}

impl Upstreams {
    pub async fn start(config: MockConfig) -> Upstreams {
        Upstreams {
            openai: mock_upstream(ApiShape::OpenAiChat, config.clone()).await,
            anthropic: mock_upstream(ApiShape::Anthropic, config.clone()).await,
            gemini: mock_upstream(ApiShape::Gemini, config.clone()).await,
            ollama: mock_upstream(ApiShape::Ollama, config.clone()).await,
            bedrock: mock_upstream(ApiShape::Bedrock, config.clone()).await,
            cohere: mock_upstream(ApiShape::Cohere, config).await,
        }
    }

    /// `[providers.*]` tables named after each shape, and the test key.
    pub fn toml(&self) -> String {
        format!(
            r#"
[providers.openai]
kind = "openai_compatible"
base_url = "http://{}/v1"
api_key = "sk-upstream"

[providers.anthropic]
kind = "anthropic"
base_url = "http://{}"
api_key = "sk-ant-upstream"

[providers.gemini]
kind = "gemini"
base_url = "http://{}"
api_key = "g-upstream"

[providers.ollama]
kind = "ollama"
base_url = "http://{}"

[[keys]]
name = "test"
secret = "{KEY}"
"#,
            self.openai, self.anthropic, self.gemini, self.ollama
        )
    }
}

impl Upstreams {
    /// Bedrock providers signing with the key whose signatures the mocks verify:
    /// `bedrock` (Converse, the Bedrock mock) and `bedrock_claude` (InvokeModel with
    /// Anthropic's body, the Anthropic mock).
    pub fn bedrock_toml(&self) -> String {
        let (id, secret) = (
            gateway_providers::mock::MOCK_AWS_ACCESS_KEY_ID,
            gateway_providers::mock::MOCK_AWS_SECRET_ACCESS_KEY,
        );
        format!(
            r#"
[providers.bedrock]
kind = "bedrock"
base_url = "http://{}"
region = "us-east-1"
access_key_id = "{id}"
secret_access_key = "{secret}"

[providers.bedrock_claude]
kind = "bedrock_anthropic"
base_url = "http://{}"
region = "us-east-1"
access_key_id = "{id}"
secret_access_key = "{secret}"
"#,
            self.bedrock, self.anthropic
        )
    }

    /// A native Cohere provider (`cohere`, v2 Chat) in front of the Cohere mock,
    /// which wants its Bearer key.
    pub fn cohere_toml(&self) -> String {
        format!(
            r#"
[providers.cohere]
kind = "cohere"
base_url = "http://{}"
api_key = "co-upstream"
"#,
            self.cohere
        )
    }

    /// Vertex AI providers in front of the Gemini and Anthropic mocks, with a
    /// static access token: `vertex` (Gemini) and `vertex_claude` (Claude).
    pub fn vertex_toml(&self) -> String {
        format!(
            r#"
[providers.vertex]
kind = "vertex"
base_url = "http://{}"
project = "matrix-project"
location = "us-east5"
access_token = "ya29.matrix"

[providers.vertex_claude]
kind = "vertex_anthropic"
base_url = "http://{}"
project = "matrix-project"
location = "us-east5"
access_token = "ya29.matrix"
"#,
            self.gemini, self.anthropic
        )
    }
}

/// A gateway serving on loopback.
pub struct Gateway {
    pub base: String,
    pub app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl Gateway {
    pub async fn start(config_toml: &str) -> Gateway {
        // A private database per gateway: no files left behind.
        let mut text = format!("[storage]\npath = \":memory:\"\n{config_toml}");
        // The access log only where a test asks for it: not on the test's stderr.
        if !config_toml.contains("[access_log]") {
            text.push_str("\n[access_log]\nformat = \"off\"\n");
        }
        let config = Config::from_toml_str(&text, &|_| None).unwrap();
        let app = Arc::new(App::from_config(&config).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let served = app.clone();
        let done = tokio::spawn(async move {
            let stop = async {
                let _ = rx.await;
            };
            listen::serve(served, listener, None, stop, Duration::from_secs(5))
                .await
                .unwrap();
        });
        Gateway {
            base,
            app,
            stop: Some(tx),
            done: Some(done),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops accepting and waits for open connections to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(done) = self.done.take() {
            done.await.unwrap();
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The caller shapes with an ingress.
pub const CALLERS: [ApiShape; 5] = [
    ApiShape::OpenAiChat,
    ApiShape::OpenAiResponses,
    ApiShape::Anthropic,
    ApiShape::Gemini,
    ApiShape::Ollama,
];

/// The path and body of a chat request in `shape` for `model`.
pub fn chat_request(
    shape: ApiShape,
    model: &str,
    text: &str,
    stream: bool,
    tools: bool,
) -> (String, serde_json::Value) {
    use serde_json::json;
    let schema =
        json!({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]});
    match shape {
        ApiShape::OpenAiChat => {
            let mut b = json!({"model": model, "stream": stream, "messages": [{"role":"user","content": text}]});
            if tools {
                b["tools"] = json!([{"type":"function","function":{"name":"get_weather","description":"Weather","parameters": schema}}]);
            }
            ("/v1/chat/completions".into(), b)
        }
        ApiShape::OpenAiResponses => {
            let mut b = json!({"model": model, "stream": stream, "input": text});
            if tools {
                b["tools"] = json!([{"type":"function","name":"get_weather","description":"Weather","parameters": schema}]);
            }
            ("/v1/responses".into(), b)
        }
        ApiShape::Anthropic => {
            let mut b = json!({"model": model, "max_tokens": 256, "stream": stream, "messages": [{"role":"user","content": text}]});
            if tools {
                b["tools"] =
                    json!([{"name":"get_weather","description":"Weather","input_schema": schema}]);
            }
            ("/v1/messages?beta=true".into(), b)
        }
        ApiShape::Ollama => {
            let mut b = json!({"model": model, "stream": stream, "messages": [{"role":"user","content": text}]});
            if tools {
                b["tools"] = json!([{"type":"function","function":{"name":"get_weather","description":"Weather","parameters": schema}}]);
            }
            ("/api/chat".into(), b)
        }
        ApiShape::Gemini => {
            let mut b = json!({"contents": [{"role":"user","parts":[{"text": text}]}]});
            if tools {
                b["tools"] = json!([{"functionDeclarations":[{"name":"get_weather","description":"Weather","parametersJsonSchema": schema}]}]);
            }
            let path = if stream {
                format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
            } else {
                format!("/v1beta/models/{model}:generateContent")
            };
            (path, b)
        }
        ApiShape::Bedrock | ApiShape::Cohere => {
            unreachable!("{shape} is an upstream shape, never a caller")
        }
    }
}

/// Sends a chat request in `shape` with the test key in that shape's header.
pub async fn send(
    gw: &Gateway,
    shape: ApiShape,
    path: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    let req = client().post(gw.url(path)).json(body);
    let req = match shape {
        ApiShape::Anthropic => req
            .header("x-api-key", KEY)
            .header("anthropic-version", "2023-06-01"),
        ApiShape::Gemini => req.header("x-goog-api-key", KEY),
        _ => req.bearer_auth(KEY),
    };
    req.send().await.unwrap()
}

/// Parses a whole answer in `shape`.
pub fn parse_whole(shape: ApiShape, body: &[u8]) -> ChatResponse {
    codec::decode_response(shape, body, &ResponseContext::default()).unwrap_or_else(|e| {
        panic!(
            "{shape:?} answer does not parse: {e}\n{}",
            String::from_utf8_lossy(body)
        )
    })
}

/// Parses a streamed answer in `shape` into the response it adds up to; stream
/// errors come back as `Err`.
pub fn parse_stream(
    shape: ApiShape,
    body: &[u8],
    json_array: bool,
) -> Result<ChatResponse, gateway_protocol::GatewayError> {
    let framing = if json_array {
        Framing::JsonArray
    } else if shape == ApiShape::Ollama {
        Framing::Ndjson
    } else {
        Framing::Sse
    };
    let mut framer = Framer::new(framing);
    let mut frames = Vec::new();
    framer.push(body, &mut frames).unwrap();
    framer.finish(&mut frames);
    let mut decoder = StreamDecoder::new(shape, &ResponseContext::default());
    let mut events = Vec::new();
    for frame in &frames {
        decoder
            .decode(frame, &mut events)
            .unwrap_or_else(|e| panic!("{shape:?} stream frame does not parse: {e}: {frame:?}"));
    }
    decoder.finish(&mut events);
    let mut agg = Aggregator::default();
    for event in &events {
        if let gateway_protocol::StreamEvent::Error(err) = event {
            return Err(err.clone());
        }
        agg.push(event);
    }
    agg.finish()
}

/// The answer's text.
pub fn text_of(resp: &ChatResponse) -> String {
    resp.parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// The names of the tools the answer calls.
pub fn tool_calls(resp: &ChatResponse) -> Vec<String> {
    resp.parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall(c) => Some(c.name.clone()),
            _ => None,
        })
        .collect()
}

/// Serves `handle` over HTTP/1.1 and HTTP/2 on a loopback port: a hand-made upstream
/// (or a file server) for one test. Its address.
pub async fn serve_fn<F, Fut, B>(handle: F) -> SocketAddr
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = hyper::Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let handle = handle.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let answer = handle(req);
                    async move { Ok::<_, std::convert::Infallible>(answer.await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
            });
        }
    });
    addr
}

/// An OpenAI Chat upstream whose stream stays open for `linger` after its last chunk
/// and `[DONE]`, as a slow-closing upstream's does; and how many connections it has
/// accepted.
pub async fn lingering_upstream(
    linger: Duration,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use futures_util::StreamExt;
    const EVENTS: &str = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"up\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
        "data: [DONE]\n\n",
    );
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counted = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |_req| {
                        let now = futures_util::stream::once(async {
                            Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(
                                bytes::Bytes::from_static(EVENTS.as_bytes()),
                            ))
                        });
                        let then_end = futures_util::stream::once(tokio::time::sleep(linger))
                            .filter_map(|()| async {
                                None::<
                                    Result<
                                        hyper::body::Frame<bytes::Bytes>,
                                        std::convert::Infallible,
                                    >,
                                >
                            });
                        let answer = hyper::Response::builder()
                            .header("content-type", "text/event-stream")
                            .body(http_body_util::StreamBody::new(now.chain(then_end)))
                            .unwrap();
                        async move { Ok::<_, std::convert::Infallible>(answer) }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, accepted)
}

/// A database key named `name` with `limits`: its id and secret.
pub fn key_with(gw: &Gateway, name: &str, limits: gateway_auth::Limits) -> (String, String) {
    let policy = gateway_auth::KeyPolicy {
        limits,
        ..gateway_auth::KeyPolicy::default()
    };
    let (record, secret) = gw
        .app
        .key_store()
        .unwrap()
        .create(gateway_auth::keys::NewKey {
            name: name.into(),
            policy: Some(policy),
            ..gateway_auth::keys::NewKey::default()
        })
        .unwrap();
    (record.id, secret)
}

/// The admin API for `gw`'s app on a loopback port, with `token`: its base URL.
pub async fn start_admin(gw: &Gateway, token: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gateway_server::admin::serve(
        gw.app.clone(),
        listener,
        None,
        gateway_server::admin::AdminToken::from_plain(token),
        None,
        std::future::pending(),
    ));
    base
}
