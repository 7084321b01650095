//! The mock provider in every shape, read back with each shape's own decoders.

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_protocol::{
    ApiShape, ChatRequest, ChatResponse, ErrorKind, GatewayError, Message, Part, RawJson, Role,
    StopReason, Tool,
};
use gateway_providers::mock::{self, MockAnswer};
use gateway_providers::{
    HttpClient, MockConfig, Operation, Provider, ProviderConfig, ProviderKind, Scenario,
    UpstreamCall,
};
use gateway_translate::assemble::Aggregator;
use gateway_translate::codec::{self, StreamDecoder};
use gateway_translate::{EncodeOptions, Framer, ResponseContext};

fn request(tools: bool, stream: bool) -> ChatRequest {
    let mut req = ChatRequest {
        model: "mock-model".into(),
        messages: vec![
            Message::text(Role::User, "first"),
            Message::text(Role::Assistant, "ok"),
            Message::text(Role::User, "say this back"),
        ],
        stream,
        include_usage: true,
        ..ChatRequest::default()
    };
    if tools {
        req.tools.push(Tool {
            name: "get_weather".into(),
            description: Some("Weather".into()),
            parameters: Some(
                RawJson::parse(
                    r#"{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"]}"#,
                )
                .expect("schema"),
            ),
            strict: None,
            cache_control: None,
        });
    }
    req
}

fn mock_provider(shape: ApiShape, edit: impl FnOnce(&mut MockConfig)) -> Provider {
    let mut cfg = ProviderConfig::new(ProviderKind::Mock);
    cfg.mock.shape = Some(shape);
    edit(&mut cfg.mock);
    Provider::new("mock", &cfg, &HttpClient::new().expect("client")).expect("mock")
}

fn call(shape: ApiShape, req: &ChatRequest) -> UpstreamCall {
    let body = codec::encode_request(shape, req, &EncodeOptions::default()).expect("encode");
    UpstreamCall {
        operation: Operation::Chat,
        model: req.model.clone(),
        stream: req.stream,
        body: Bytes::from(body),
        headers: Default::default(),
    }
}

async fn run(p: &Provider, req: &ChatRequest) -> Result<ChatResponse, GatewayError> {
    let shape = p.shape();
    let reply = p.send(call(shape, req)).await?;
    let chunks: Vec<_> = reply.body.collect().await;
    let ctx = ResponseContext::for_request(req, shape);
    if !req.stream {
        let body: Vec<u8> = chunks
            .into_iter()
            .map(|c| c.expect("chunk"))
            .flat_map(|b| b.to_vec())
            .collect();
        return Ok(codec::decode_response(shape, &body, &ctx).expect("decodes"));
    }
    let mut framer = Framer::new(codec::upstream_framing(shape));
    let mut decoder = StreamDecoder::new(shape, &ctx);
    let mut agg = Aggregator::default();
    let (mut frames, mut events) = (Vec::new(), Vec::new());
    for chunk in chunks {
        framer.push(&chunk?, &mut frames).expect("frames fit");
    }
    framer.finish(&mut frames);
    for frame in frames.drain(..) {
        decoder.decode(&frame, &mut events).expect("frame decodes");
    }
    decoder.finish(&mut events);
    for e in &events {
        agg.push(e);
    }
    agg.finish()
}

fn text_of(resp: &ChatResponse) -> String {
    resp.parts.iter().filter_map(Part::as_text).collect()
}

#[tokio::test]
async fn text_scenario_in_every_shape_streamed_or_not() {
    for shape in ApiShape::ALL {
        for stream in [false, true] {
            let p = mock_provider(shape, |m| {
                m.scenario = Scenario::Text;
                m.tokens = 5;
                m.chunks = 3;
            });
            let resp = run(&p, &request(false, stream)).await.expect("answer");
            assert_eq!(
                text_of(&resp),
                "lorem ipsum dolor sit amet",
                "{shape} stream={stream}"
            );
            assert_eq!(resp.usage.output_tokens, 5, "{shape} stream={stream}");
            assert!(resp.usage.input_tokens > 0, "{shape} stream={stream}");
            assert_eq!(resp.stop_reason, StopReason::EndTurn);
        }
    }
}

#[tokio::test]
async fn echo_repeats_the_last_user_text() {
    for shape in ApiShape::ALL {
        let p = mock_provider(shape, |_| {});
        for stream in [false, true] {
            let resp = run(&p, &request(false, stream)).await.expect("answer");
            assert_eq!(text_of(&resp), "say this back", "{shape} stream={stream}");
            assert_eq!(resp.usage.output_tokens, 3);
        }
    }
}

#[tokio::test]
async fn tools_scenario_calls_the_first_tool_with_schema_arguments() {
    for shape in ApiShape::ALL {
        for stream in [false, true] {
            let p = mock_provider(shape, |m| m.scenario = Scenario::Tools);
            let resp = run(&p, &request(true, stream)).await.expect("answer");
            let call = resp
                .parts
                .iter()
                .find_map(|p| match p {
                    Part::ToolCall(c) => Some(c),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("{shape} stream={stream}: no tool call in {resp:?}"));
            assert_eq!(call.name, "get_weather");
            let args: serde_json::Value = serde_json::from_str(&call.arguments).expect("json");
            assert_eq!(args, serde_json::json!({"city": "example", "days": 1}));
            assert_eq!(
                resp.stop_reason,
                StopReason::ToolUse,
                "{shape} stream={stream}"
            );
        }
    }
}

#[tokio::test]
async fn agent_scenario_makes_parallel_calls_and_quotes_results_in_every_shape() {
    for shape in ApiShape::ALL {
        for stream in [false, true] {
            let p = mock_provider(shape, |_| {});
            let mut req = request(true, stream);
            req.model = "mock-agent".into();
            req.tools.push(Tool {
                name: "read_file".into(),
                ..req.tools[0].clone()
            });
            req.messages.push(Message::text(
                Role::User,
                "CALL get_weather {\"city\":\"Oslo\",\"days\":2}\nCALL read_file {\"path\":\"a.txt\"}",
            ));
            let resp = run(&p, &req).await.expect("answer");
            let calls: Vec<_> = resp
                .parts
                .iter()
                .filter_map(|p| match p {
                    Part::ToolCall(c) => Some(c.clone()),
                    _ => None,
                })
                .collect();
            let named: Vec<(&str, serde_json::Value)> = calls
                .iter()
                .map(|c| {
                    (
                        c.name.as_str(),
                        serde_json::from_str(&c.arguments).expect("json"),
                    )
                })
                .collect();
            assert_eq!(
                named,
                [
                    (
                        "get_weather",
                        serde_json::json!({"city": "Oslo", "days": 2})
                    ),
                    ("read_file", serde_json::json!({"path": "a.txt"})),
                ],
                "{shape} stream={stream}"
            );
            assert_eq!(
                resp.stop_reason,
                StopReason::ToolUse,
                "{shape} stream={stream}"
            );

            // The caller runs both tools and sends the results back.
            req.messages.push(Message {
                role: Role::Assistant,
                parts: calls.iter().cloned().map(Part::ToolCall).collect(),
            });
            req.messages.push(Message {
                role: Role::User,
                parts: calls
                    .iter()
                    .zip(["sunny", "file body"])
                    .map(|(c, out)| {
                        Part::ToolResult(gateway_protocol::ToolResult {
                            call_id: c.id.clone(),
                            name: Some(c.name.clone()),
                            content: vec![Part::text(out)],
                            is_error: false,
                        })
                    })
                    .collect(),
            });
            let resp = run(&p, &req).await.expect("final answer");
            assert_eq!(
                text_of(&resp),
                "Result of get_weather: sunny\nResult of read_file: file body",
                "{shape} stream={stream}"
            );
            assert_eq!(resp.stop_reason, StopReason::EndTurn);
        }
    }
}

#[tokio::test]
async fn model_name_and_extension_params_choose_the_scenario() {
    let p = mock_provider(ApiShape::OpenAiChat, |_| {});
    let mut req = request(true, false);
    req.model = "mock-tools".into();
    let resp = run(&p, &req).await.expect("answer");
    assert!(matches!(resp.parts[0], Part::ToolCall(_)));

    let mut req = request(false, false);
    req.model = "mock-fail-429".into();
    let err = run(&p, &req).await.expect_err("fails");
    assert_eq!(
        (err.kind, err.status, err.retryable),
        (ErrorKind::RateLimited, 429, true)
    );

    let body = br#"{"model":"m","messages":[{"role":"user","content":"x"}],"patchbay":{"ext":{"mock":{"scenario":"text","tokens":2,"fail_status":503}}}}"#;
    let err = p
        .send(UpstreamCall {
            operation: Operation::Chat,
            model: "m".into(),
            stream: false,
            body: Bytes::from_static(body),
            headers: Default::default(),
        })
        .await
        .expect_err("injected");
    assert_eq!(err.status, 503);
    assert!(err.retryable);

    let body = br#"{"model":"m","messages":[{"role":"user","content":"x"}],"patchbay":{"ext":{"mock":{"scenario":"text","tokens":2}}}}"#;
    match mock::answer(ApiShape::OpenAiChat, body, &MockConfig::default()) {
        MockAnswer::Whole(bytes) => {
            let resp =
                codec::decode_response(ApiShape::OpenAiChat, &bytes, &ResponseContext::default())
                    .expect("decodes");
            assert_eq!(text_of(&resp), "lorem ipsum");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn cut_after_chunks_ends_with_a_connection_reset() {
    for shape in ApiShape::ALL {
        let p = mock_provider(shape, |m| {
            m.scenario = Scenario::Text;
            m.tokens = 10;
            m.chunks = 5;
            m.cut_after_chunks = Some(2);
        });
        let reply = p
            .send(call(shape, &request(false, true)))
            .await
            .expect("headers");
        let items: Vec<_> = reply.body.collect().await;
        assert_eq!(items.len(), 3, "{shape}");
        assert!(items[..2].iter().all(Result::is_ok));
        let err = items[2].as_ref().expect_err("cut");
        assert_eq!(err.kind, ErrorKind::Upstream);
        assert!(err.message.contains("connection reset"));
    }
}

#[tokio::test]
async fn stream_has_the_configured_chunk_count_and_delay() {
    let p = mock_provider(ApiShape::Anthropic, |m| {
        m.scenario = Scenario::Text;
        m.tokens = 8;
        m.chunks = 4;
        m.chunk_delay_ms = 30;
    });
    let started = std::time::Instant::now();
    let reply = p
        .send(call(ApiShape::Anthropic, &request(false, true)))
        .await
        .expect("headers");
    assert_eq!(
        reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let items: Vec<_> = reply.body.collect().await;
    assert_eq!(items.len(), 5, "4 text chunks and the closing chunk");
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
}

#[tokio::test]
async fn embeddings_and_models_are_deterministic() {
    let p = mock_provider(ApiShape::OpenAiChat, |_| {});
    let embed = |input: &'static str| UpstreamCall {
        operation: Operation::Embeddings,
        model: "mock-embed".into(),
        stream: false,
        body: Bytes::from(format!(r#"{{"model":"mock-embed","input":["{input}"]}}"#)),
        headers: Default::default(),
    };
    let read = |reply: gateway_providers::UpstreamReply| async move {
        let bytes: Vec<u8> = reply
            .body
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flat_map(|c| c.expect("chunk").to_vec())
            .collect();
        gateway_translate::openai_embeddings::response::decode(&bytes).expect("decodes")
    };
    let a = read(p.send(embed("hello")).await.expect("ok")).await;
    let b = read(p.send(embed("hello")).await.expect("ok")).await;
    let c = read(p.send(embed("other")).await.expect("ok")).await;
    assert_eq!(a.vectors[0].len(), 8);
    assert_eq!(a.vectors, b.vectors);
    assert_ne!(a.vectors, c.vectors);

    for shape in [
        ApiShape::OpenAiChat,
        ApiShape::Anthropic,
        ApiShape::Gemini,
        ApiShape::Ollama,
    ] {
        let bytes = mock::models(shape);
        let list = match shape {
            ApiShape::Anthropic => gateway_translate::anthropic::models::decode(&bytes),
            ApiShape::Gemini => gateway_translate::gemini::models::decode(&bytes),
            ApiShape::Ollama => gateway_translate::ollama::models::decode(&bytes),
            _ => gateway_translate::openai_chat::models::decode_list(&bytes),
        }
        .expect("model list decodes");
        assert!(
            list.models.iter().any(|m| m.id.ends_with("mock-tools")),
            "{shape}"
        );
    }
}
