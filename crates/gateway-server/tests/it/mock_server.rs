//! `patchbay mock` on loopback: each shape's paths answered with bodies its own
//! decoders read, streams that arrive chunk by chunk, injected failures and cuts,
//! 404 envelopes, the body limit and shutdown.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_protocol::{ApiShape, ChatRequest, ChatResponse, ErrorKind, Message, Part, Role};
use gateway_providers::mock::{self, MockAnswer};
use gateway_providers::{
    HttpClient, MockConfig, Operation, Provider, ProviderConfig, ProviderKind, Scenario,
    UpstreamCall,
};
use gateway_server::mock_server::MockServer;
use gateway_translate::assemble::Aggregator;
use gateway_translate::codec::{self, StreamDecoder};
use gateway_translate::{EncodeOptions, Framer, Framing, ResponseContext};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A mock server on an ephemeral loopback port.
struct Running {
    base: String,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Shuts the server down; panics unless `serve` returns within `within`.
    async fn stop(self, within: Duration) {
        let _ = self.stop.send(());
        tokio::time::timeout(within, self.handle)
            .await
            .expect("serve returns after shutdown")
            .expect("serve task")
            .expect("serve result");
    }
}

/// The shape a server must speak to answer callers of `shape`.
fn server_shape(shape: ApiShape) -> ApiShape {
    match shape {
        ApiShape::OpenAiResponses => ApiShape::OpenAiChat,
        other => other,
    }
}

async fn start(shape: ApiShape, edit: impl FnOnce(&mut MockConfig)) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shape = server_shape(shape);
    let mut config = MockConfig {
        shape: Some(shape),
        ..MockConfig::default()
    };
    edit(&mut config);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = MockServer { shape, config };
    let handle = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));
    Running { base, stop, handle }
}

fn request(model: &str, stream: bool) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![
            Message::text(Role::User, "first"),
            Message::text(Role::Assistant, "ok"),
            Message::text(Role::User, "say this back"),
        ],
        stream,
        include_usage: true,
        ..ChatRequest::default()
    }
}

/// The path of a chat call in `shape` (Gemini: model and stream in the URL).
fn chat_path(shape: ApiShape, model: &str, stream: bool, sse: bool) -> String {
    match shape {
        ApiShape::OpenAiChat => "/v1/chat/completions".into(),
        ApiShape::OpenAiResponses => "/v1/responses".into(),
        ApiShape::Anthropic => "/v1/messages".into(),
        ApiShape::Gemini => match (stream, sse) {
            (false, _) => format!("/v1beta/models/{model}:generateContent"),
            (true, true) => format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"),
            (true, false) => format!("/v1beta/models/{model}:streamGenerateContent"),
        },
        ApiShape::Ollama => "/api/chat".into(),
        ApiShape::Bedrock if stream => format!("/model/{model}/converse-stream"),
        ApiShape::Bedrock => format!("/model/{model}/converse"),
        ApiShape::Cohere => "/v2/chat".into(),
    }
}

/// Posts a chat request in `shape` to the running server.
async fn post_chat(
    client: &reqwest::Client,
    server: &Running,
    shape: ApiShape,
    req: &ChatRequest,
    sse: bool,
) -> reqwest::Response {
    let body = codec::encode_request(shape, req, &EncodeOptions::default()).expect("encode");
    let url = format!(
        "{}{}",
        server.base,
        chat_path(shape, &req.model, req.stream, sse)
    );
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    if shape == ApiShape::Bedrock {
        sign_for_mock(&url, &mut headers, &body);
    }
    if shape == ApiShape::Cohere {
        headers.insert(
            "authorization",
            http::HeaderValue::from_static("Bearer co-test"),
        );
    }
    client
        .post(url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .expect("send")
}

/// Signs a Bedrock call with the key whose signatures the mock verifies.
fn sign_for_mock(url: &str, headers: &mut http::HeaderMap, body: &[u8]) {
    let creds = gateway_providers::aws::sigv4::Credentials {
        access_key_id: mock::MOCK_AWS_ACCESS_KEY_ID.to_owned(),
        secret_access_key: mock::MOCK_AWS_SECRET_ACCESS_KEY.to_owned(),
        session_token: None,
    };
    let uri: http::Uri = url.parse().expect("url");
    gateway_providers::aws::sign(
        &creds,
        "us-east-1",
        "POST",
        &uri,
        headers,
        body,
        std::time::SystemTime::now(),
    )
    .expect("sign");
}

#[tokio::test]
async fn the_bedrock_mock_verifies_sigv4_signatures() {
    let server = start(ApiShape::Bedrock, |_| {}).await;
    let client = reqwest::Client::new();
    let req = request("mock-echo", false);
    let body = codec::encode_request(ApiShape::Bedrock, &req, &EncodeOptions::default()).unwrap();
    let url = format!("{}/model/mock-echo/converse", server.base);
    // Unsigned: refused in Bedrock's form.
    let resp = client.post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "UnrecognizedClientException"
    );
    assert!(resp.text().await.unwrap().contains("Authorization"));
    // Signed, then the body changed: the signature no longer matches.
    let mut headers = http::HeaderMap::new();
    sign_for_mock(&url, &mut headers, &body);
    let resp = client
        .post(&url)
        .headers(headers.clone())
        .body(b"{\"messages\":[]}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("does not match"));
    // Signed and sent as signed: answered.
    let resp = client
        .post(&url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    server.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_cohere_mock_wants_a_bearer_key_and_refuses_its_invalid_one() {
    let server = start(ApiShape::Cohere, |_| {}).await;
    let client = reqwest::Client::new();
    let req = request("mock-echo", false);
    let body = codec::encode_request(ApiShape::Cohere, &req, &EncodeOptions::default()).unwrap();
    let url = format!("{}/v2/chat", server.base);
    let send = |key: Option<&str>| {
        let mut post = client.post(&url).body(body.clone());
        if let Some(key) = key {
            post = post.bearer_auth(key);
        }
        post.send()
    };
    // No key: 401 in Cohere's form.
    let resp = send(None).await.unwrap();
    assert_eq!(resp.status(), 401);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("\"message\"") && text.contains("no api key"),
        "{text}"
    );
    // The mock's invalid key: Cohere's 498, which reads as an authentication failure.
    let resp = send(Some(mock::MOCK_COHERE_INVALID_KEY)).await.unwrap();
    assert_eq!(resp.status(), 498);
    let err = codec::decode_error(ApiShape::Cohere, 498, &resp.bytes().await.unwrap());
    assert_eq!(
        (err.status, err.message.as_str()),
        (401, "invalid api token")
    );
    // Any other key: answered.
    let resp = send(Some("co-test")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let answer = codec::decode_response(
        ApiShape::Cohere,
        &resp.bytes().await.unwrap(),
        &ResponseContext::default(),
    )
    .unwrap();
    assert_eq!(answer.parts.len(), 1, "{answer:?}");
    server.stop(Duration::from_secs(5)).await;
}

fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Decodes a whole stream's bytes into the response it describes.
fn decode_stream(
    shape: ApiShape,
    framing: Framing,
    req: &ChatRequest,
    bytes: &[u8],
) -> ChatResponse {
    let ctx = ResponseContext::for_request(req, shape);
    let mut framer = Framer::new(framing);
    let mut decoder = StreamDecoder::new(shape, &ctx);
    let (mut frames, mut events) = (Vec::new(), Vec::new());
    framer.push(bytes, &mut frames).unwrap();
    framer.finish(&mut frames);
    for frame in &frames {
        decoder.decode(frame, &mut events).expect("frame decodes");
    }
    decoder.finish(&mut events);
    let mut agg = Aggregator::default();
    for e in &events {
        agg.push(e);
    }
    agg.finish().expect("complete stream")
}

fn text_of(resp: &ChatResponse) -> String {
    resp.parts.iter().filter_map(Part::as_text).collect()
}

#[tokio::test]
async fn whole_answers_decode_in_every_shape() {
    let client = reqwest::Client::new();
    for shape in ApiShape::ALL {
        let server = start(shape, |_| {}).await;
        let req = request("mock-model", false);
        let resp = post_chat(&client, &server, shape, &req, true).await;
        assert_eq!(resp.status(), 200, "{shape}");
        assert_eq!(content_type(&resp), "application/json", "{shape}");
        let body = resp.bytes().await.expect("body");
        let ctx = ResponseContext::for_request(&req, shape);
        let answer = codec::decode_response(shape, &body, &ctx).expect("decodes");
        assert_eq!(text_of(&answer), "say this back", "{shape}");
        server.stop(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn streams_arrive_chunk_by_chunk_in_every_shape() {
    let delay = Duration::from_millis(60);
    let client = reqwest::Client::new();
    for shape in ApiShape::ALL {
        let server = start(shape, |c| {
            c.scenario = Scenario::Text;
            c.tokens = 8;
            c.chunks = 4;
            c.chunk_delay_ms = delay.as_millis() as u64;
        })
        .await;
        let req = request("mock-model", true);
        let resp = post_chat(&client, &server, shape, &req, true).await;
        assert_eq!(resp.status(), 200, "{shape}");
        let expected_type = match shape {
            ApiShape::Ollama => "application/x-ndjson",
            ApiShape::Bedrock => "application/vnd.amazon.eventstream",
            _ => "text/event-stream",
        };
        assert_eq!(content_type(&resp), expected_type, "{shape}");
        let mut body = resp.bytes_stream();
        let (mut bytes, mut arrivals) = (Vec::new(), Vec::new());
        while let Some(chunk) = body.next().await {
            bytes.extend_from_slice(&chunk.expect("chunk"));
            arrivals.push(Instant::now());
        }
        // Five chunks (four text deltas, then the closing events), each produced
        // `delay` after the one before: the first must arrive well before the last.
        let (first, last) = (arrivals[0], arrivals[arrivals.len() - 1]);
        assert!(arrivals.len() >= 3, "{shape}: {} reads", arrivals.len());
        assert!(
            last.duration_since(first) >= delay * 2,
            "{shape}: the first chunk came with the last"
        );
        let answer = decode_stream(shape, codec::upstream_framing(shape), &req, &bytes);
        assert_eq!(
            text_of(&answer),
            "lorem ipsum dolor sit amet consectetur adipiscing elit",
            "{shape}"
        );
        assert_eq!(answer.usage.output_tokens, 8, "{shape}");
        server.stop(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn gemini_without_alt_sse_streams_a_json_array() {
    let client = reqwest::Client::new();
    let server = start(ApiShape::Gemini, |c| c.chunks = 3).await;
    let req = request("mock-text-6", true);
    let resp = post_chat(&client, &server, ApiShape::Gemini, &req, false).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "application/json");
    let bytes = resp.bytes().await.expect("body");
    let array: Vec<serde_json::Value> = serde_json::from_slice(&bytes).expect("one JSON array");
    assert!(array.len() >= 3, "{array:?}");
    let answer = decode_stream(ApiShape::Gemini, Framing::JsonArray, &req, &bytes);
    assert_eq!(text_of(&answer), "lorem ipsum dolor sit amet consectetur");
    server.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn injected_failures_use_each_shapes_envelope() {
    let client = reqwest::Client::new();
    for shape in ApiShape::ALL {
        let server = start(shape, |_| {}).await;
        for (model, status, kind) in [
            ("mock-fail-503", 503, ErrorKind::Overloaded),
            ("mock-fail-429", 429, ErrorKind::RateLimited),
            ("mock-fail-400", 400, ErrorKind::InvalidRequest),
        ] {
            for stream in [false, true] {
                let req = request(model, stream);
                let resp = post_chat(&client, &server, shape, &req, true).await;
                // Anthropic reports overload as 529, as its API does.
                let status = match (shape, status) {
                    (ApiShape::Anthropic, 503) => 529,
                    _ => status,
                };
                assert_eq!(resp.status(), status, "{shape} {model}");
                let retry = resp.headers().get("retry-after").cloned();
                assert_eq!(
                    retry.is_some(),
                    status != 400,
                    "{shape} {model}: retry-after {retry:?}"
                );
                let body = resp.bytes().await.expect("body");
                let err = codec::decode_error(shape, status, &body);
                assert_eq!(err.kind, kind, "{shape} {model}: {err:?}");
                assert!(err.message.contains("injected"), "{shape}: {}", err.message);
            }
        }
        server.stop(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn a_cut_stream_is_a_body_error_not_an_end() {
    let http1 = reqwest::Client::new();
    let http2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    for shape in ApiShape::ALL {
        let server = start(shape, |_| {}).await;
        for client in [&http1, &http2] {
            let req = request("mock-text-40-chunks-10-cut-3", true);
            let resp = post_chat(client, &server, shape, &req, true).await;
            assert_eq!(resp.status(), 200, "{shape}");
            let mut body = resp.bytes_stream();
            let mut received = Vec::new();
            let mut failed = false;
            while let Some(chunk) = body.next().await {
                match chunk {
                    Ok(bytes) => received.extend_from_slice(&bytes),
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            assert!(failed, "{shape}: the cut stream ended cleanly");
            // Every chunk before the cut arrives, and nothing after it.
            let sent =
                codec::encode_request(shape, &req, &EncodeOptions::default()).expect("encode");
            let expected =
                match mock::answer_for(shape, &req.model, true, &sent, &MockConfig::default()) {
                    MockAnswer::Stream { chunks, .. } => chunks[..3].concat(),
                    other => panic!("{shape}: {other:?}"),
                };
            assert_eq!(
                String::from_utf8_lossy(&received),
                String::from_utf8_lossy(&expected),
                "{shape}"
            );
        }
        server.stop(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn unknown_paths_get_a_404_in_the_shapes_envelope() {
    let client = reqwest::Client::new();
    for shape in [
        ApiShape::OpenAiChat,
        ApiShape::Anthropic,
        ApiShape::Gemini,
        ApiShape::Ollama,
    ] {
        let server = start(shape, |_| {}).await;
        for (post, path) in [
            (true, "/v1/nothing/here"),
            (false, &chat_path(shape, "m", false, false)[..]),
        ] {
            let url = format!("{}{path}", server.base);
            let resp = if post {
                client.post(url).body("{}").send().await
            } else {
                client.get(url).send().await
            }
            .expect("send");
            assert_eq!(resp.status(), 404, "{shape} {path}");
            let body = resp.bytes().await.expect("body");
            let err = codec::decode_error(shape, 404, &body);
            assert_eq!(err.kind, ErrorKind::NotFound, "{shape} {path}: {err:?}");
        }
        server.stop(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn bodies_over_ten_mib_are_refused_with_413() {
    let server = start(ApiShape::Anthropic, |_| {}).await;
    let client = reqwest::Client::new();
    let big = vec![b' '; (10 << 20) + 1];
    let url = format!("{}/v1/messages", server.base);
    let resp = client.post(&url).body(big).send().await.expect("send");
    assert_eq!(resp.status(), 413);
    let body = resp.bytes().await.expect("body");
    let err = codec::decode_error(ApiShape::Anthropic, 413, &body);
    assert_eq!(err.kind, ErrorKind::PayloadTooLarge);
    // Without a content-length (a streamed body) the limit holds too.
    let chunks = futures_util::stream::iter(
        (0..11).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 1 << 20]))),
    );
    let resp = client
        .post(&url)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 413);
    server.stop(Duration::from_secs(5)).await;
}

/// Providers of each kind, their base URLs pointed at the mock, reach every
/// endpoint they have: the paths match what `gateway-providers` sends.
#[tokio::test]
async fn providers_of_each_kind_reach_the_mock() {
    let http = HttpClient::new().expect("client");
    for (kind, shape, suffix) in [
        (ProviderKind::OpenAiCompatible, ApiShape::OpenAiChat, "/v1"),
        (ProviderKind::OpenAi, ApiShape::OpenAiChat, ""),
        (ProviderKind::Anthropic, ApiShape::Anthropic, ""),
        (ProviderKind::Gemini, ApiShape::Gemini, "/v1beta"),
        (ProviderKind::Ollama, ApiShape::Ollama, ""),
    ] {
        let server = start(shape, |_| {}).await;
        let mut cfg = ProviderConfig::new(kind);
        cfg.base_url = Some(format!("{}{suffix}", server.base));
        cfg.api_key = Some("any-key".into());
        let provider = Provider::new("up", &cfg, &http).expect("provider");
        for stream in [false, true] {
            let req = request("mock/odd name", stream);
            let body =
                codec::encode_request(shape, &req, &EncodeOptions::default()).expect("encode");
            let reply = provider
                .send(UpstreamCall {
                    operation: Operation::Chat,
                    model: req.model.clone(),
                    stream,
                    body: Bytes::from(body),
                    headers: Default::default(),
                })
                .await
                .unwrap_or_else(|e| panic!("{kind:?} stream={stream}: {e}"));
            let bytes: Vec<u8> = reply
                .body
                .map(|c| c.expect("chunk").to_vec())
                .concat()
                .await;
            let answer = if stream {
                decode_stream(shape, codec::upstream_framing(shape), &req, &bytes)
            } else {
                let ctx = ResponseContext::for_request(&req, shape);
                codec::decode_response(shape, &bytes, &ctx).expect("decodes")
            };
            assert_eq!(
                text_of(&answer),
                "say this back",
                "{kind:?} stream={stream}"
            );
        }
        let models = provider
            .send(UpstreamCall {
                operation: Operation::ListModels,
                model: String::new(),
                stream: false,
                body: Bytes::new(),
                headers: Default::default(),
            })
            .await
            .unwrap_or_else(|e| panic!("{kind:?} models: {e}"));
        let bytes: Vec<u8> = models
            .body
            .map(|c| c.expect("chunk").to_vec())
            .concat()
            .await;
        assert!(
            String::from_utf8_lossy(&bytes).contains("mock-tools"),
            "{kind:?}"
        );
        for (op, body) in [
            (
                Operation::Embeddings,
                embeddings_body(shape).map(str::to_owned),
            ),
            (Operation::CountTokens, count_body(shape)),
        ] {
            if !provider.supports(op) {
                continue;
            }
            let Some(body) = body else { continue };
            let reply = provider
                .send(UpstreamCall {
                    operation: op,
                    model: "mock".into(),
                    stream: false,
                    body: Bytes::from(body),
                    headers: Default::default(),
                })
                .await
                .unwrap_or_else(|e| panic!("{kind:?} {op:?}: {e}"));
            let bytes: Vec<u8> = reply
                .body
                .map(|c| c.expect("chunk").to_vec())
                .concat()
                .await;
            let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
            assert!(json.is_object(), "{kind:?} {op:?}: {json}");
        }
        server.stop(Duration::from_secs(5)).await;
    }
}

fn embeddings_body(shape: ApiShape) -> Option<&'static str> {
    match shape {
        ApiShape::OpenAiChat => Some(r#"{"model":"mock","input":["a","b"]}"#),
        ApiShape::Gemini => {
            Some(r#"{"requests":[{"model":"models/mock","content":{"parts":[{"text":"a"}]}}]}"#)
        }
        ApiShape::Ollama => Some(r#"{"model":"mock","input":["a","b"]}"#),
        _ => None,
    }
}

fn count_body(shape: ApiShape) -> Option<String> {
    let req = request("mock", false);
    match shape {
        ApiShape::Anthropic => {
            Some(r#"{"model":"mock","messages":[{"role":"user","content":"hi"}]}"#.into())
        }
        ApiShape::Gemini => String::from_utf8(
            codec::encode_request(shape, &req, &EncodeOptions::default()).expect("encode"),
        )
        .ok(),
        _ => None,
    }
}

/// The endpoints no provider kind calls yet but real APIs have.
#[tokio::test]
async fn gemini_embed_content_and_responses_input_tokens() {
    let client = reqwest::Client::new();
    let server = start(ApiShape::Gemini, |_| {}).await;
    let resp = client
        .post(format!("{}/v1beta/models/mock:embedContent", server.base))
        .body(r#"{"content":{"parts":[{"text":"hello"}]},"outputDimensionality":4}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let json = json_of(resp).await;
    assert_eq!(
        json["embedding"]["values"].as_array().map(Vec::len),
        Some(4)
    );
    server.stop(Duration::from_secs(5)).await;

    let server = start(ApiShape::OpenAiChat, |_| {}).await;
    let resp = client
        .post(format!("{}/v1/responses/input_tokens", server.base))
        .body(r#"{"model":"mock","input":"hello there"}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let json = json_of(resp).await;
    assert!(
        json["input_tokens"].as_u64().is_some_and(|n| n > 0),
        "{json}"
    );
    server.stop(Duration::from_secs(5)).await;
}

async fn json_of(resp: reqwest::Response) -> serde_json::Value {
    let bytes = resp.bytes().await.expect("body");
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test]
async fn shutdown_lets_an_inflight_stream_finish_then_returns() {
    let server = start(ApiShape::OpenAiChat, |c| {
        c.scenario = Scenario::Text;
        c.chunks = 4;
        c.chunk_delay_ms = 100;
    })
    .await;
    let client = reqwest::Client::new();
    // An idle keep-alive connection must not hold the shutdown up.
    let idle = post_chat(
        &client,
        &server,
        ApiShape::OpenAiChat,
        &request("m", false),
        true,
    )
    .await;
    assert_eq!(idle.status(), 200);
    idle.bytes().await.expect("body");
    let req = request("m", true);
    let resp = post_chat(
        &reqwest::Client::new(),
        &server,
        ApiShape::OpenAiChat,
        &req,
        true,
    )
    .await;
    let base = server.base.clone();
    let started = Instant::now();
    let stopping = tokio::spawn(server.stop(Duration::from_secs(5)));
    let bytes = resp.bytes().await.expect("the in-flight stream completes");
    let answer = decode_stream(ApiShape::OpenAiChat, Framing::Sse, &req, &bytes);
    assert_eq!(text_of(&answer).split(' ').count(), 16);
    stopping.await.expect("stopped");
    assert!(started.elapsed() < Duration::from_secs(3));
    let refused = reqwest::Client::new()
        .get(format!("{base}/v1/models"))
        .send()
        .await;
    assert!(refused.is_err(), "still accepting after shutdown");
}

#[tokio::test]
async fn shutdown_gives_up_on_a_stalled_stream_after_five_seconds() {
    let server = start(ApiShape::Anthropic, |c| c.chunk_delay_ms = 60_000).await;
    let req = request("m", true);
    let resp = post_chat(
        &reqwest::Client::new(),
        &server,
        ApiShape::Anthropic,
        &req,
        true,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let started = Instant::now();
    server.stop(Duration::from_secs(8)).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4),
        "returned after {waited:?}"
    );
    assert!(
        resp.bytes().await.is_err(),
        "the stalled stream is broken off, not ended"
    );
}
