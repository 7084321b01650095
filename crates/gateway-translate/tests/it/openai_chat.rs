//! Fixture-driven tests of the OpenAI Chat Completions codec, plus its §9 edge cases.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::path::Path;

use gateway_protocol::{
    ApiShape, ChatRequest, ChatResponse, Delta, ErrorKind, Family, GatewayError, Message, Part,
    PartStart, Reasoning, Role, StopReason, StreamEvent, Tool, ToolCall, ToolChoice, ToolResult,
    Usage,
};
use gateway_translate::context::{EncodeOptions, ResponseContext};
use gateway_translate::framing::Framing;
use gateway_translate::openai_chat::{error, models, request, response, stream};
use gateway_translate::{TranslateError, ids, names};
use proptest::prelude::*;
use serde_json::{Value, json};

const SHAPE: &str = "openai_chat";

fn ctx_for(req: &ChatRequest) -> ResponseContext {
    let mut ctx = ResponseContext::for_request(req, ApiShape::OpenAiChat);
    ctx.id_seed = "seed".into();
    ctx.created = 1_760_000_000;
    ctx
}

fn decode_stream_chunked(bytes: &[u8], ctx: &ResponseContext, sizes: &[usize]) -> Vec<StreamEvent> {
    let frames = support::frames_chunked(Framing::Sse, bytes, sizes);
    let mut dec = stream::Decoder::new(ctx);
    let mut out = Vec::new();
    for f in &frames {
        dec.decode(f, &mut out).expect("decode frame");
    }
    dec.finish(&mut out);
    out
}

fn decode_stream(bytes: &[u8], ctx: &ResponseContext) -> Vec<StreamEvent> {
    decode_stream_chunked(bytes, ctx, &[usize::MAX])
}

fn encode_stream(events: &[StreamEvent], ctx: &ResponseContext) -> Vec<u8> {
    let mut enc = stream::Encoder::new(ctx);
    let mut out = Vec::new();
    for e in events {
        enc.encode(e, &mut out);
    }
    out
}

/// Request normalisation for the decode → encode → decode comparison:
/// - encoding a streaming request always asks for usage (§8.13), so `include_usage`
///   comes back true;
/// - `tool` messages carry no name, so a legacy `function` message's name is lost;
/// - tool names over OpenAI's limits are sent shortened (§9.8; answers restore them).
fn normalise_request(mut r: ChatRequest) -> ChatRequest {
    let short = |n: &str| names::upstream_name(ApiShape::OpenAiChat, n);
    r.include_usage = r.stream;
    for m in &mut r.messages {
        for p in &mut m.parts {
            match p {
                Part::ToolResult(t) => t.name = None,
                Part::ToolCall(c) => c.name = short(&c.name),
                _ => {}
            }
        }
    }
    for t in &mut r.tools {
        t.name = short(&t.name);
    }
    if let Some(ToolChoice::Tool(n)) = &mut r.tool_choice {
        *n = short(n);
    }
    r
}

/// Response normalisation: Chat callers never see reasoning (§8.9).
fn normalise_response(mut r: ChatResponse) -> ChatResponse {
    r.parts.retain(|p| !matches!(p, Part::Reasoning(_)));
    r
}

/// Stream normalisation: reasoning parts are not shown to Chat callers (the remaining
/// parts are renumbered), and usage is compared separately (an encoder asked for
/// usage always sends a usage chunk, zero when the upstream sent none).
fn normalise_events(events: &[StreamEvent]) -> Vec<StreamEvent> {
    let mut hidden = Vec::new();
    let mut out = Vec::new();
    for e in events {
        match e {
            StreamEvent::PartStart {
                index,
                part: PartStart::Reasoning { .. },
            } => hidden.push(*index),
            StreamEvent::PartStart { index, .. }
            | StreamEvent::Delta { index, .. }
            | StreamEvent::PartStop { index }
                if hidden.contains(index) => {}
            StreamEvent::Usage(_) => {}
            other => out.push(renumber(other, &hidden)),
        }
    }
    out
}

fn renumber(e: &StreamEvent, hidden: &[usize]) -> StreamEvent {
    let shift = |i: usize| i - hidden.iter().filter(|h| **h < i).count();
    match e.clone() {
        StreamEvent::PartStart { index, part } => StreamEvent::PartStart {
            index: shift(index),
            part,
        },
        StreamEvent::Delta { index, delta } => StreamEvent::Delta {
            index: shift(index),
            delta,
        },
        StreamEvent::PartStop { index } => StreamEvent::PartStop {
            index: shift(index),
        },
        other => other,
    }
}

fn last_usage(events: &[StreamEvent]) -> Option<Usage> {
    events.iter().rev().find_map(|e| match e {
        StreamEvent::Usage(u) => Some(*u),
        _ => None,
    })
}

/// Text and tool calls (id, name, arguments) accumulated from a stream.
fn accumulate(events: &[StreamEvent]) -> (String, Vec<(String, String, String)>) {
    let mut text = String::new();
    let mut calls: Vec<(usize, String, String, String)> = Vec::new();
    for e in events {
        match e {
            StreamEvent::PartStart {
                index,
                part: PartStart::ToolCall { id, name, .. },
            } => calls.push((*index, id.clone(), name.clone(), String::new())),
            StreamEvent::Delta {
                delta: Delta::Text(t),
                ..
            } => text.push_str(t),
            StreamEvent::Delta {
                index,
                delta: Delta::ToolArguments(a),
            } => {
                if let Some(c) = calls.iter_mut().find(|c| c.0 == *index) {
                    c.3.push_str(a);
                }
            }
            _ => {}
        }
    }
    (text, calls.into_iter().map(|c| (c.1, c.2, c.3)).collect())
}

fn response_content(r: &ChatResponse) -> (String, Vec<(String, String, String)>) {
    let text = r.parts.iter().filter_map(Part::as_text).collect();
    let calls = r
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall(c) => Some((c.id.clone(), c.name.clone(), c.arguments.clone())),
            _ => None,
        })
        .collect();
    (text, calls)
}

fn events_text(events: &[StreamEvent]) -> String {
    events.iter().map(|e| format!("{e:?}\n")).collect()
}

fn run_case(dir: &Path) {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?")
        .to_owned();
    let req_bytes = support::read_opt(&dir.join("request.json")).expect("request.json");

    // 1. request
    let req = request::decode(&req_bytes).unwrap_or_else(|e| panic!("{name}: decode request: {e}"));
    support::check_snapshot(&dir.join("request.canonical.txt"), &format!("{req:#?}\n"));
    let encoded = request::encode(&req, &EncodeOptions::default()).expect("encode request");
    support::check_snapshot(
        &dir.join("request.encoded.json"),
        &support::pretty_json(&encoded),
    );
    let again = request::decode(&encoded).expect("re-decode request");
    assert_eq!(
        normalise_request(again),
        normalise_request(req.clone()),
        "{name}: request round trip"
    );

    let ctx = ctx_for(&req);

    // 2. response
    let resp = support::read_opt(&dir.join("response.json")).map(|bytes| {
        let resp = response::decode(&bytes, &ctx).expect("decode response");
        support::check_snapshot(&dir.join("response.canonical.txt"), &format!("{resp:#?}\n"));
        let enc = response::encode(&resp, &ctx);
        support::check_snapshot(
            &dir.join("response.encoded.json"),
            &support::pretty_json(&enc),
        );
        let back = response::decode(&enc, &ctx).expect("re-decode response");
        assert_eq!(
            back,
            normalise_response(resp.clone()),
            "{name}: response round trip"
        );
        resp
    });

    // 3. stream
    let Some(sse) = support::read_opt(&dir.join("stream.sse")) else {
        return;
    };
    let events = decode_stream(&sse, &ctx);
    support::check_snapshot(&dir.join("stream.events.txt"), &events_text(&events));
    assert_eq!(
        decode_stream_chunked(&sse, &ctx, &[1]),
        events,
        "{name}: 1-byte chunks"
    );
    for cut in 1..sse.len() {
        assert_eq!(
            decode_stream_chunked(&sse, &ctx, &[cut, usize::MAX]),
            events,
            "{name}: split at {cut}"
        );
    }
    if let Some(resp) = &resp {
        assert_eq!(
            accumulate(&events),
            response_content(resp),
            "{name}: stream content = response content"
        );
        if let Some(u) = last_usage(&events) {
            assert_eq!(u, resp.usage, "{name}: stream usage = response usage");
        }
    }
    let mut enc_ctx = ctx.clone();
    enc_ctx.include_usage = true;
    let bytes = encode_stream(&events, &enc_ctx);
    support::check_snapshot(
        &dir.join("stream.encoded.sse"),
        &String::from_utf8_lossy(&bytes),
    );
    let back = decode_stream(&bytes, &ctx);
    assert_eq!(
        normalise_events(&back),
        normalise_events(&events),
        "{name}: stream round trip"
    );
    if let Some(u) = last_usage(&events) {
        assert_eq!(last_usage(&back), Some(u), "{name}: usage round trip");
    }
}

#[test]
fn fixture_cases() {
    let cases = support::cases(SHAPE);
    let mut ran = 0;
    for dir in cases {
        if dir.join("request.json").exists() {
            run_case(&dir);
            ran += 1;
        }
    }
    assert!(ran >= 11, "only {ran} cases");
}

fn fixture_streams() -> Vec<(ResponseContext, Vec<u8>)> {
    support::cases(SHAPE)
        .into_iter()
        .filter_map(|dir| {
            let sse = support::read_opt(&dir.join("stream.sse"))?;
            let req = request::decode(&support::read_opt(&dir.join("request.json"))?).ok()?;
            Some((ctx_for(&req), sse))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_chunking_gives_the_same_events(sizes in proptest::collection::vec(1usize..64, 1..16)) {
        for (ctx, sse) in fixture_streams() {
            let whole = decode_stream(&sse, &ctx);
            prop_assert_eq!(decode_stream_chunked(&sse, &ctx, &sizes), whole);
        }
    }
}

// ---- 5. bad input ----------------------------------------------------------------

fn invalid_path(body: &[u8]) -> String {
    match request::decode(body) {
        Err(TranslateError::InvalidRequest { path, .. }) => path,
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

#[test]
fn bad_requests_name_the_field() {
    let cases = [
        ("malformed.json", "messages"),
        ("wrong_type.json", "temperature"),
        ("missing_model.json", "."),
        ("missing_tool_call_id.json", "messages[1].tool_call_id"),
        ("unknown_role.json", "messages[0].role"),
        ("unknown_part.json", "messages[0].content[1].type"),
        ("huge_integer.json", "max_completion_tokens"),
        ("deep_nesting.json", "metadata[0][0][0]"),
        ("part_wrong_type.json", "messages[0].content[0].text"),
        ("bad_effort.json", "reasoning_effort"),
        ("bad_data_url.json", "messages[0].content[0].image_url.url"),
        ("messages_not_array.json", "messages"),
        ("content_wrong_type.json", "messages[0].content"),
    ];
    for (file, path) in cases {
        let body = std::fs::read(support::fixture(format!("{SHAPE}/bad/{file}"))).expect(file);
        let got = invalid_path(&body);
        if file.starts_with("deep") {
            // Too deep for serde_json (128 levels): the path is where the limit was hit.
            assert!(got.starts_with(path), "{file}: {got}");
        } else {
            assert_eq!(got, path, "{file}");
        }
    }
}

#[test]
fn truncated_bodies_never_panic() {
    let body = std::fs::read(support::fixture(format!(
        "{SHAPE}/tool_results/request.json"
    )))
    .unwrap();
    for cut in 0..body.len() {
        let _ = request::decode(&body[..cut]);
    }
    let resp = std::fs::read(support::fixture(format!("{SHAPE}/tools/response.json"))).unwrap();
    for cut in 0..resp.len() {
        let _ = response::decode(&resp[..cut], &ResponseContext::default());
    }
}

// ---- 6. errors ---------------------------------------------------------------------

#[test]
fn error_encode_per_kind() {
    let kinds = [
        (
            ErrorKind::InvalidRequest,
            400,
            "invalid_request_error",
            None,
        ),
        (
            ErrorKind::Authentication,
            401,
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        (ErrorKind::PermissionDenied, 403, "permission_error", None),
        (
            ErrorKind::NotFound,
            404,
            "invalid_request_error",
            Some("model_not_found"),
        ),
        (
            ErrorKind::PayloadTooLarge,
            413,
            "invalid_request_error",
            None,
        ),
        (
            ErrorKind::RateLimited,
            429,
            "rate_limit_exceeded",
            Some("rate_limit_exceeded"),
        ),
        (
            ErrorKind::QuotaExceeded,
            429,
            "insufficient_quota",
            Some("insufficient_quota"),
        ),
        (
            ErrorKind::ContextLengthExceeded,
            400,
            "invalid_request_error",
            Some("context_length_exceeded"),
        ),
        (ErrorKind::Upstream, 502, "server_error", None),
        (
            ErrorKind::UpstreamTimeout,
            504,
            "server_error",
            Some("timeout"),
        ),
        (
            ErrorKind::Overloaded,
            503,
            "server_error",
            Some("overloaded"),
        ),
        (ErrorKind::Internal, 500, "server_error", None),
    ];
    for (kind, status, ty, code) in kinds {
        let (s, body) = error::encode(&GatewayError::new(kind, "it broke"));
        assert_eq!(s, status, "{kind:?}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        let e = &v["error"];
        assert_eq!(e["message"], "it broke");
        assert_eq!(e["type"], ty, "{kind:?}");
        assert_eq!(
            e["code"],
            code.map_or(Value::Null, |c| json!(c)),
            "{kind:?}"
        );
        // All four keys are required by the OpenAPI `Error` schema.
        assert!(e.get("param").is_some() && e.get("code").is_some());
    }
    let err =
        GatewayError::invalid_request("messages[0].role", "bad role").with_code("invalid_value");
    let (_, body) = error::encode(&err);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["param"], "messages[0].role");
    assert_eq!(v["error"]["code"], "invalid_value");
    // Anthropic's 529 is a 503 for OpenAI callers (§8.14).
    assert_eq!(
        error::encode(&GatewayError::new(ErrorKind::Overloaded, "busy").with_status(529)).0,
        503
    );
}

#[test]
fn error_decode_real_bodies() {
    let read = |f: &str| std::fs::read(support::fixture(format!("{SHAPE}/errors/{f}"))).unwrap();
    let e = error::decode(400, &read("context_length.json"));
    assert_eq!(
        (e.kind, e.status, e.retryable),
        (ErrorKind::ContextLengthExceeded, 400, false)
    );
    assert_eq!(e.param.as_deref(), Some("messages"));
    assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
    let e = error::decode(429, &read("insufficient_quota.json"));
    assert_eq!(
        (e.kind, e.status, e.retryable),
        (ErrorKind::QuotaExceeded, 429, false)
    );
    let e = error::decode(401, &read("invalid_api_key.json"));
    assert_eq!(
        (e.kind, e.status, e.retryable),
        (ErrorKind::Authentication, 401, false)
    );
    assert!(e.message.starts_with("Incorrect API key"));
    let e = error::decode(429, &read("rate_limit.json"));
    assert_eq!(
        (e.kind, e.status, e.retryable),
        (ErrorKind::RateLimited, 429, true)
    );
    let e = error::decode(500, &read("server_error.json"));
    assert_eq!(
        (e.kind, e.status, e.retryable),
        (ErrorKind::Upstream, 500, true)
    );
    let e = error::decode(404, &read("model_not_found.json"));
    assert_eq!((e.kind, e.status), (ErrorKind::NotFound, 404));
    let e = error::decode(401, &read("compat_detail.json"));
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::Authentication, "Not authenticated")
    );
    let e = error::decode(502, &read("html.txt"));
    assert_eq!(
        (e.kind, e.status, e.retryable),
        (ErrorKind::Upstream, 502, true)
    );
    assert_eq!(e.message, "upstream returned HTTP 502");
    let e = error::decode(503, b"");
    assert_eq!((e.kind, e.status), (ErrorKind::Overloaded, 503));
}

#[test]
fn mid_stream_error_frame_decodes_and_encodes() {
    let ctx = ResponseContext::default();
    let mut dec = stream::Decoder::new(&ctx);
    let mut out = Vec::new();
    let frame = gateway_translate::Frame::data(
        r#"{"error":{"message":"Rate limit reached","type":"rate_limit_exceeded","param":null,"code":"rate_limit_exceeded"}}"#,
    );
    dec.decode(&frame, &mut out).unwrap();
    dec.decode(&gateway_translate::Frame::data("[DONE]"), &mut out)
        .unwrap();
    dec.finish(&mut out);
    assert_eq!(out.len(), 1, "nothing after the error: {out:?}");
    let StreamEvent::Error(e) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (e.kind, e.status, e.retryable),
        (ErrorKind::RateLimited, 429, true)
    );

    // Encoding: the error frame, then nothing (no finish chunk, no [DONE]).
    let mut enc = stream::Encoder::new(&ctx);
    let mut bytes = Vec::new();
    enc.encode(
        &StreamEvent::MessageStart {
            id: "x".into(),
            model: "m".into(),
        },
        &mut bytes,
    );
    enc.encode(
        &StreamEvent::Error(GatewayError::new(ErrorKind::Overloaded, "busy")),
        &mut bytes,
    );
    enc.encode(
        &StreamEvent::MessageStop {
            stop_reason: StopReason::EndTurn,
            stop_sequence: None,
        },
        &mut bytes,
    );
    let text = String::from_utf8(bytes).unwrap();
    let last = text.trim_end().lines().last().unwrap();
    assert_eq!(
        last,
        r#"data: {"error":{"message":"busy","type":"server_error","param":null,"code":"overloaded"}}"#
    );
    assert!(!text.contains("[DONE]") && !text.contains("finish_reason\":\"stop"));
}

#[test]
fn stream_cut_off_before_finish_is_an_error() {
    let sse = std::fs::read(support::fixture(format!("{SHAPE}/text/stream.sse"))).unwrap();
    let text = String::from_utf8(sse).unwrap();
    let cut = text.find("\"finish_reason\":\"stop\"").unwrap();
    let cut = text[..cut].rfind("data:").unwrap();
    let events = decode_stream(&text.as_bytes()[..cut], &ResponseContext::default());
    let StreamEvent::Error(e) = events.last().unwrap() else {
        panic!("{events:?}")
    };
    assert_eq!(e.kind, ErrorKind::Upstream);
    assert_eq!(e.message, "upstream stream ended before it finished");
    // A stream that finished but lost its [DONE] still ends normally.
    let cut = text.find("data: [DONE]").unwrap();
    let events = decode_stream(&text.as_bytes()[..cut], &ResponseContext::default());
    assert!(matches!(
        events.last(),
        Some(StreamEvent::MessageStop {
            stop_reason: StopReason::EndTurn,
            ..
        })
    ));
}

#[test]
fn malformed_stream_json_is_an_upstream_protocol_error() {
    let mut dec = stream::Decoder::new(&ResponseContext::default());
    let err = dec
        .decode(&gateway_translate::Frame::data("{\"id\":"), &mut Vec::new())
        .unwrap_err();
    assert!(matches!(err, TranslateError::UpstreamProtocol { .. }));
    // Comments never reach the codec; empty data frames are ignored.
    dec.decode(&gateway_translate::Frame::data(""), &mut Vec::new())
        .unwrap();
}

// ---- 7. §9 edge cases ----------------------------------------------------------------

fn text_events() -> Vec<StreamEvent> {
    vec![
        StreamEvent::MessageStart {
            id: "chatcmpl-1".into(),
            model: "up".into(),
        },
        StreamEvent::PartStart {
            index: 0,
            part: PartStart::Reasoning {
                id: None,
                source: Some(Family::Anthropic),
            },
        },
        StreamEvent::Delta {
            index: 0,
            delta: Delta::Reasoning("hmm".into()),
        },
        StreamEvent::Delta {
            index: 0,
            delta: Delta::Signature("sig".into()),
        },
        StreamEvent::PartStop { index: 0 },
        StreamEvent::PartStart {
            index: 1,
            part: PartStart::Text,
        },
        StreamEvent::Delta {
            index: 1,
            delta: Delta::Text("Hi".into()),
        },
        StreamEvent::PartStop { index: 1 },
        StreamEvent::PartStart {
            index: 2,
            part: PartStart::ToolCall {
                id: "toolu_1".into(),
                name: "f".into(),
                signature: None,
            },
        },
        StreamEvent::Delta {
            index: 2,
            delta: Delta::ToolArguments("{\"a\":".into()),
        },
        StreamEvent::Delta {
            index: 2,
            delta: Delta::ToolArguments("1}".into()),
        },
        StreamEvent::PartStop { index: 2 },
        StreamEvent::Usage(Usage {
            input_tokens: 5,
            output_tokens: 7,
            reasoning_tokens: 3,
            ..Usage::default()
        }),
        StreamEvent::MessageStop {
            stop_reason: StopReason::ToolUse,
            stop_sequence: None,
        },
    ]
}

fn chunks(bytes: &[u8]) -> Vec<Value> {
    support::frames(Framing::Sse, bytes)
        .iter()
        .filter(|f| f.data != "[DONE]")
        .map(|f| serde_json::from_str(&f.data).unwrap())
        .collect()
}

#[test]
fn include_usage_false_sends_no_usage_key() {
    let ctx = ResponseContext {
        model: "m".into(),
        created: 7,
        ..ResponseContext::default()
    };
    let bytes = encode_stream(&text_events(), &ctx);
    let cs = chunks(&bytes);
    assert!(cs.iter().all(|c| c.get("usage").is_none()), "{cs:?}");
    assert!(
        cs.iter()
            .all(|c| !c["choices"].as_array().unwrap().is_empty())
    );
    assert!(
        String::from_utf8(bytes)
            .unwrap()
            .ends_with("data: [DONE]\n\n")
    );
}

#[test]
fn include_usage_true_sends_one_usage_chunk_just_before_done() {
    let ctx = ResponseContext {
        model: "m".into(),
        created: 7,
        include_usage: true,
        ..ResponseContext::default()
    };
    let bytes = encode_stream(&text_events(), &ctx);
    let cs = chunks(&bytes);
    let (last, earlier) = cs.split_last().unwrap();
    assert!(
        earlier
            .iter()
            .all(|c| c["usage"].is_null() && c.get("usage").is_some())
    );
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 5);
    assert_eq!(last["usage"]["completion_tokens"], 7);
    assert_eq!(last["usage"]["total_tokens"], 12);
    assert_eq!(
        last["usage"]["completion_tokens_details"]["reasoning_tokens"],
        3
    );
    let text = String::from_utf8(bytes).unwrap();
    let frames: Vec<&str> = text.split("\n\n").filter(|s| !s.is_empty()).collect();
    assert_eq!(frames.last(), Some(&"data: [DONE]"));
}

#[test]
fn stream_encoder_grammar_first_chunk_tool_indexes_and_hidden_reasoning() {
    let ctx = ResponseContext {
        model: "m".into(),
        created: 7,
        ..ResponseContext::default()
    };
    let cs = chunks(&encode_stream(&text_events(), &ctx));
    assert_eq!(
        cs[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert!(
        cs.iter()
            .all(|c| c["id"] == "chatcmpl-1" && c["model"] == "m" && c["created"] == 7)
    );
    // Reasoning and its signature produce nothing; the tool call is tool number 0 even
    // though it is part 2.
    let tool_chunks: Vec<&Value> = cs
        .iter()
        .filter(|c| c["choices"][0]["delta"].get("tool_calls").is_some())
        .collect();
    assert_eq!(tool_chunks.len(), 3);
    assert_eq!(
        tool_chunks[0]["choices"][0]["delta"]["tool_calls"][0],
        json!({"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": ""}})
    );
    let args: String = tool_chunks[1..]
        .iter()
        .map(|c| {
            c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(args, "{\"a\":1}");
    assert!(cs.iter().all(|c| !c.to_string().contains("hmm")));
    let fin = cs.last().unwrap();
    assert_eq!(fin["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(fin["choices"][0]["delta"], json!({}));
}

#[test]
fn stream_encoder_is_robust_to_odd_orders() {
    let ctx = ResponseContext {
        id_seed: "s".into(),
        ..ResponseContext::default()
    };
    let mut enc = stream::Encoder::new(&ctx);
    let mut out = Vec::new();
    enc.encode(
        &StreamEvent::Delta {
            index: 4,
            delta: Delta::Text("x".into()),
        },
        &mut out,
    );
    enc.encode(
        &StreamEvent::Delta {
            index: 9,
            delta: Delta::ToolArguments("{".into()),
        },
        &mut out,
    );
    enc.encode(&StreamEvent::PartStop { index: 77 }, &mut out);
    enc.encode(
        &StreamEvent::MessageStop {
            stop_reason: StopReason::MaxTokens,
            stop_sequence: None,
        },
        &mut out,
    );
    let n = out.len();
    enc.encode(
        &StreamEvent::Delta {
            index: 4,
            delta: Delta::Text("late".into()),
        },
        &mut out,
    );
    assert_eq!(out.len(), n, "nothing after MessageStop");
    let cs = chunks(&out);
    assert_eq!(cs[0]["id"], "chatcmpl-s");
    assert_eq!(cs[1]["choices"][0]["delta"]["content"], "x");
    assert_eq!(cs.last().unwrap()["choices"][0]["finish_reason"], "length");
}

#[test]
fn streaming_request_encode_always_asks_for_usage() {
    let req = ChatRequest {
        model: "m".into(),
        messages: vec![Message::text(Role::User, "hi")],
        stream: true,
        include_usage: false,
        ..ChatRequest::default()
    };
    let body: Value =
        serde_json::from_slice(&request::encode(&req, &EncodeOptions::default()).unwrap()).unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    // A caller's own include_usage is read only for streaming requests.
    let r = request::decode(
        br#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}"#,
    )
    .unwrap();
    assert!(r.include_usage);
    let r = request::decode(br#"{"model":"m","messages":[],"stream":true}"#).unwrap();
    assert!(!r.include_usage);
}

#[test]
fn stream_decoder_reads_usage_from_the_usage_chunk_and_holds_the_stop() {
    let sse = std::fs::read(support::fixture(format!("{SHAPE}/text/stream.sse"))).unwrap();
    let events = decode_stream(&sse, &ResponseContext::default());
    let n = events.len();
    assert!(matches!(
        events[n - 2],
        StreamEvent::Usage(Usage {
            input_tokens: 9,
            output_tokens: 3,
            ..
        })
    ));
    assert!(matches!(events[n - 1], StreamEvent::MessageStop { .. }));
}

#[test]
fn max_tokens_and_max_completion_tokens_both_read() {
    let r = request::decode(br#"{"model":"m","messages":[],"max_tokens":12}"#).unwrap();
    assert_eq!(r.sampling.max_output_tokens, Some(12));
    let r = request::decode(
        br#"{"model":"m","messages":[],"max_tokens":12,"max_completion_tokens":34}"#,
    )
    .unwrap();
    assert_eq!(r.sampling.max_output_tokens, Some(34));
    let body: Value =
        serde_json::from_slice(&request::encode(&r, &EncodeOptions::default()).unwrap()).unwrap();
    assert_eq!(body["max_completion_tokens"], 34);
    assert!(body.get("max_tokens").is_none());
}

#[test]
fn binding_fields_and_patchbay_ext() {
    let r = request::decode(
        br#"{"model":"m","messages":[],"n":2,"logprobs":true,"audio":{"voice":"alloy","format":"wav"},
            "modalities":["text","audio"],"prediction":{"type":"content","content":"x"},
            "web_search_options":{},"store":true,
            "patchbay":{"ext":{"anthropic":{"top_k":5},"openai":{"service_tier":"flex"}}}}"#,
    )
    .unwrap();
    let paths: Vec<&str> = r
        .extensions
        .binding
        .iter()
        .map(|b| b.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "audio",
            "logprobs",
            "modalities",
            "n",
            "prediction",
            "web_search_options"
        ]
    );
    assert!(
        r.extensions
            .binding
            .iter()
            .all(|b| b.family == Family::OpenAi)
    );
    let openai = r.extensions.for_key("openai").unwrap();
    assert_eq!(openai["store"], true);
    assert_eq!(openai["service_tier"], "flex");
    assert_eq!(r.extensions.for_key("anthropic").unwrap()["top_k"], 5);
    // Same family: re-applied; nothing binding against OpenAI.
    let body: Value =
        serde_json::from_slice(&request::encode(&r, &EncodeOptions::default()).unwrap()).unwrap();
    assert_eq!(body["n"], 2);
    assert_eq!(body["service_tier"], "flex");
    assert!(body.get("top_k").is_none() && body.get("patchbay").is_none());
    // Harmless values do not bind.
    let r = request::decode(
        br#"{"model":"m","messages":[],"n":1,"logprobs":false,"modalities":["text"]}"#,
    )
    .unwrap();
    assert!(r.extensions.binding.is_empty());
}

#[test]
fn binding_field_of_another_family_is_untranslatable() {
    let mut req = ChatRequest {
        model: "m".into(),
        ..ChatRequest::default()
    };
    req.extensions.binding.push(gateway_protocol::BindingField {
        only_shape: None,
        family: Family::Anthropic,
        path: "tools[0]".into(),
        reason: "server tool".into(),
    });
    let err = request::encode(&req, &EncodeOptions::default()).unwrap_err();
    assert!(
        matches!(err, TranslateError::Untranslatable { ref path, .. } if path == "tools[0]"),
        "{err:?}"
    );
}

#[test]
fn tool_results_split_into_tool_messages_then_user_text() {
    // An Anthropic-style user turn: text first, then two results, plus an image inside a result.
    let result = |id: &str, content: Vec<Part>, is_error| {
        Part::ToolResult(ToolResult {
            call_id: id.into(),
            name: None,
            content,
            is_error,
        })
    };
    let image = Part::Image(gateway_protocol::Image {
        source: gateway_protocol::MediaSource::Url("https://x/y.png".into()),
        detail: None,
        cache_control: None,
    });
    let req = ChatRequest {
        model: "m".into(),
        system: vec![Part::text("Be brief.")],
        messages: vec![
            Message {
                role: Role::User,
                parts: vec![Part::text("go")],
            },
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Reasoning(Reasoning {
                        text: "think".into(),
                        signature: Some("s".into()),
                        source: Some(Family::Anthropic),
                        ..Reasoning::default()
                    }),
                    Part::text("Calling."),
                    Part::ToolCall(ToolCall {
                        id: "a".into(),
                        name: "f".into(),
                        arguments: "{}".into(),
                        signature: None,
                    }),
                    Part::ToolCall(ToolCall {
                        id: "b".into(),
                        name: "g".into(),
                        arguments: "{}".into(),
                        signature: Some("gsig".into()),
                    }),
                ],
            },
            Message {
                role: Role::User,
                parts: vec![
                    Part::text("and then?"),
                    result("a", vec![Part::text("1")], false),
                    result("b", vec![Part::text("no"), image.clone()], true),
                ],
            },
        ],
        ..ChatRequest::default()
    };
    let body: Value =
        serde_json::from_slice(&request::encode(&req, &EncodeOptions::default()).unwrap()).unwrap();
    let msgs = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "tool", "user"]
    );
    assert_eq!(msgs[0]["content"], "Be brief.");
    // Foreign reasoning is not replayed; text joins content; ids are plain.
    assert!(msgs[2].get("reasoning_content").is_none());
    assert_eq!(msgs[2]["content"], "Calling.");
    assert_eq!(msgs[2]["tool_calls"][1]["id"], "b");
    assert_eq!(
        msgs[3],
        json!({"role": "tool", "tool_call_id": "a", "content": "1"})
    );
    assert_eq!(msgs[4]["content"], "Error: no");
    assert_eq!(msgs[5]["content"][0]["image_url"]["url"], "https://x/y.png");
    assert_eq!(
        msgs[5]["content"][1],
        json!({"type": "text", "text": "and then?"})
    );
}

#[test]
fn developer_is_system_and_tool_messages_become_user_tool_results() {
    let r = request::decode(
        br#"{"model":"m","messages":[{"role":"developer","content":"A"},{"role":"user","content":"q"},
            {"role":"assistant","content":"","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"r"}]},{"role":"system","content":"B"}]}"#,
    )
    .unwrap();
    assert_eq!(r.system, vec![Part::text("A"), Part::text("B")]);
    assert_eq!(r.messages.len(), 3);
    assert_eq!(
        r.messages[1].parts.len(),
        1,
        "empty assistant content gives no text part"
    );
    assert_eq!(r.messages[2].role, Role::User);
    assert!(
        matches!(&r.messages[2].parts[0], Part::ToolResult(t) if t.call_id == "c1" && t.content == vec![Part::text("r")])
    );
}

#[test]
fn gemini_signature_rides_in_the_call_id_and_comes_back() {
    let resp = ChatResponse {
        id: String::new(),
        parts: vec![Part::ToolCall(ToolCall {
            id: "call_1".into(),
            name: "f".into(),
            arguments: "{}".into(),
            signature: Some("c2lnLWdlbQ==".into()),
        })],
        stop_reason: StopReason::ToolUse,
        ..ChatResponse::default()
    };
    let ctx = ResponseContext {
        model: "m".into(),
        id_seed: "seed".into(),
        ..ResponseContext::default()
    };
    let body = response::encode(&resp, &ctx);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["id"], "chatcmpl-seed");
    let id = v["choices"][0]["message"]["tool_calls"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id, ids::attach_signature("call_1", "c2lnLWdlbQ=="));
    // The caller replays it: the signature returns to the call, results use the plain id.
    let next = json!({"model": "m", "messages": [
        {"role": "assistant", "tool_calls": [{"id": id, "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": id, "content": "ok"}]});
    let r = request::decode(next.to_string().as_bytes()).unwrap();
    assert!(
        matches!(&r.messages[0].parts[0], Part::ToolCall(c) if c.id == "call_1" && c.signature.as_deref() == Some("c2lnLWdlbQ=="))
    );
    assert!(matches!(&r.messages[1].parts[0], Part::ToolResult(t) if t.call_id == "call_1"));
}

#[test]
fn long_tool_name_is_shortened_on_encode_and_restored_in_answers() {
    let long = "n".repeat(90);
    let req = ChatRequest {
        model: "m".into(),
        tools: vec![Tool {
            name: long.clone(),
            description: None,
            parameters: None,
            strict: None,
            cache_control: None,
        }],
        tool_choice: Some(ToolChoice::Tool(long.clone())),
        messages: vec![Message {
            role: Role::Assistant,
            parts: vec![Part::ToolCall(ToolCall {
                id: "c".into(),
                name: long.clone(),
                arguments: "{}".into(),
                signature: None,
            })],
        }],
        ..ChatRequest::default()
    };
    let body: Value =
        serde_json::from_slice(&request::encode(&req, &EncodeOptions::default()).unwrap()).unwrap();
    let sent = body["tools"][0]["function"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sent.len() <= 64);
    assert_eq!(body["tool_choice"]["function"]["name"], sent.as_str());
    assert_eq!(
        body["messages"][0]["tool_calls"][0]["function"]["name"],
        sent.as_str()
    );
    let ctx = ctx_for(&req);
    let upstream = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "c2", "type": "function", "function": {"name": sent, "arguments": "{}"}}]},
            "finish_reason": "tool_calls"}]});
    let resp = response::decode(upstream.to_string().as_bytes(), &ctx).unwrap();
    assert!(matches!(&resp.parts[0], Part::ToolCall(c) if c.name == long));
    let sse = format!(
        "data: {}\n\ndata: [DONE]\n\n",
        json!({"id": "x", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c2", "type": "function", "function": {"name": sent, "arguments": "{}"}}]}, "finish_reason": "tool_calls"}]})
    );
    let events = decode_stream(sse.as_bytes(), &ctx);
    assert!(events.iter().any(|e| matches!(e, StreamEvent::PartStart { part: PartStart::ToolCall { name, .. }, .. } if *name == long)));
}

#[test]
fn response_decode_synthesises_missing_ids_and_overrides_stop_for_tool_calls() {
    let body = br#"{"id":"","model":"","choices":[{"index":0,"message":{"role":"assistant","content":"",
        "tool_calls":[{"type":"function","function":{"name":"f","arguments":{"a":1}}}]},"finish_reason":"stop"}]}"#;
    let ctx = ResponseContext {
        model: "m".into(),
        id_seed: "seed".into(),
        ..ResponseContext::default()
    };
    let r = response::decode(body, &ctx).unwrap();
    assert_eq!(r.stop_reason, StopReason::ToolUse);
    assert_eq!(r.model, "m");
    assert!(
        matches!(&r.parts[..], [Part::ToolCall(c)] if c.id == ids::synthesize_call_id("seed", 0) && c.arguments == "{\"a\":1}")
    );
    assert!(matches!(
        response::decode(br#"{"error":{"message":"x"}}"#, &ctx),
        Err(TranslateError::UpstreamProtocol { .. })
    ));
    assert!(matches!(
        response::decode(b"[1,2]", &ctx),
        Err(TranslateError::UpstreamProtocol { .. })
    ));
}

#[test]
fn usage_arithmetic_with_cache_write_and_reasoning() {
    // §9.12: Anthropic {input 100, cache_read 900, cache_creation 50, output 20} → Chat.
    let resp = ChatResponse {
        id: "r".into(),
        usage: Usage {
            input_tokens: 1050,
            cache_read_tokens: 900,
            cache_write_tokens: 50,
            output_tokens: 20,
            reasoning_tokens: 0,
        },
        ..ChatResponse::default()
    };
    let v: Value =
        serde_json::from_slice(&response::encode(&resp, &ResponseContext::default())).unwrap();
    assert_eq!(v["usage"]["prompt_tokens"], 1050);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 900);
    assert_eq!(v["usage"]["completion_tokens"], 20);
    assert_eq!(v["usage"]["total_tokens"], 1070);
}

#[test]
fn models_list_and_single_model() {
    let list = gateway_protocol::ModelList {
        models: vec![
            gateway_protocol::ModelInfo {
                id: "gpt-4.1-mini".into(),
                created: Some(1_744_000_000),
                owned_by: Some("openai".into()),
                ..Default::default()
            },
            gateway_protocol::ModelInfo {
                id: "claude-x".into(),
                ..Default::default()
            },
        ],
    };
    let v: Value = serde_json::from_slice(&models::encode_list(&list)).unwrap();
    assert_eq!(
        v,
        json!({"object": "list", "data": [
            {"id": "gpt-4.1-mini", "object": "model", "created": 1_744_000_000, "owned_by": "openai"},
            {"id": "claude-x", "object": "model", "created": 0, "owned_by": "system"}]})
    );
    let back = models::decode_list(&models::encode_list(&list)).unwrap();
    assert_eq!(back.models[0], list.models[0]);
    let one = models::decode_model(&models::encode_model(&list.models[0])).unwrap();
    assert_eq!(one, list.models[0]);
    assert!(models::decode_list(b"{").is_err());

    // What the gateway knows beyond OpenAI's fields goes along, and comes back.
    let known = gateway_protocol::ModelInfo {
        id: "gpt-x".into(),
        context_window: Some(400_000),
        max_output_tokens: Some(128_000),
        input_micros_per_mtok: Some(1_250_000),
        output_micros_per_mtok: Some(150_000),
        ..Default::default()
    };
    let v: Value = serde_json::from_slice(&models::encode_model(&known)).unwrap();
    assert_eq!(v["context_window"], 400_000);
    assert_eq!(v["max_output_tokens"], 128_000);
    assert_eq!(
        v["pricing"],
        json!({"input_usd_per_mtok": 1.25, "output_usd_per_mtok": 0.15})
    );
    let back = models::decode_model(&models::encode_model(&known)).unwrap();
    assert_eq!(back.input_micros_per_mtok, Some(1_250_000));
    assert_eq!(back.output_micros_per_mtok, Some(150_000));
    assert_eq!(back.context_window, Some(400_000));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn arbitrary_payloads_never_panic(data in ".{0,200}", n in 0usize..4) {
        let ctx = ResponseContext::default();
        let mut dec = stream::Decoder::new(&ctx);
        let mut out = Vec::new();
        for _ in 0..n {
            let _ = dec.decode(&gateway_translate::Frame::data(data.clone()), &mut out);
        }
        dec.finish(&mut out);
        let _ = response::decode(data.as_bytes(), &ctx);
        let _ = request::decode(data.as_bytes());
        let _ = error::decode(500, data.as_bytes());
    }

    #[test]
    fn tool_chunks_in_any_interleaving_accumulate_whole_arguments(
        order in proptest::collection::vec(0usize..3, 0..24)
    ) {
        // Three calls whose argument fragments arrive in an arbitrary interleaving.
        let frags = [["{\"a\":", "1}"], ["{\"b\":", "2}"], ["{\"c\":", "3}"]];
        let mut next = [0usize; 3];
        let mut sse = String::new();
        let chunk = |delta: Value| format!("data: {}\n\n", json!({"id": "x", "choices": [{"index": 0, "delta": delta, "finish_reason": null}]}));
        for k in 0..3 {
            sse.push_str(&chunk(json!({"tool_calls": [{"index": k, "id": format!("c{k}"), "type": "function", "function": {"name": format!("f{k}"), "arguments": ""}}]})));
        }
        for k in order.into_iter().chain([0, 0, 1, 1, 2, 2]) {
            if let Some(f) = frags[k].get(next[k]) {
                next[k] += 1;
                sse.push_str(&chunk(json!({"tool_calls": [{"index": k, "function": {"arguments": f}}]})));
            }
        }
        sse.push_str(&chunk(json!({})).replace("\"finish_reason\":null", "\"finish_reason\":\"tool_calls\""));
        sse.push_str("data: [DONE]\n\n");
        let events = decode_stream(sse.as_bytes(), &ResponseContext::default());
        let (_, calls) = accumulate(&events);
        prop_assert_eq!(calls, vec![
            ("c0".to_owned(), "f0".to_owned(), "{\"a\":1}".to_owned()),
            ("c1".to_owned(), "f1".to_owned(), "{\"b\":2}".to_owned()),
            ("c2".to_owned(), "f2".to_owned(), "{\"c\":3}".to_owned()),
        ]);
        // Grammar: part indexes 0,1,2 in order, each stopped before the next starts.
        let mut open: Option<usize> = None;
        let mut next_index = 0;
        for e in &events {
            match e {
                StreamEvent::PartStart { index, .. } => {
                    prop_assert!(open.is_none());
                    prop_assert_eq!(*index, next_index);
                    next_index += 1;
                    open = Some(*index);
                }
                StreamEvent::Delta { index, .. } => prop_assert_eq!(Some(*index), open),
                StreamEvent::PartStop { index } => {
                    prop_assert_eq!(Some(*index), open);
                    open = None;
                }
                _ => {}
            }
        }
        let ends_with_tool_use = matches!(
            events.last(),
            Some(StreamEvent::MessageStop { stop_reason: StopReason::ToolUse, .. })
        );
        prop_assert!(ends_with_tool_use);
    }
}
