//! Fixture-driven tests of the OpenAI Responses codecs (request, response, stream,
//! errors, input_tokens) and the §9 edge cases that concern Responses.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::path::Path;

use gateway_protocol::{
    ApiShape, ChatRequest, ChatResponse, CountTokensResponse, Delta, ErrorKind, Family,
    GatewayError, Part, PartStart, StreamEvent,
};
use gateway_translate::framing::Framing;
use gateway_translate::openai_responses::{count_tokens, error, request, response, stream};
use gateway_translate::{EncodeOptions, ResponseContext, TranslateError};
use proptest::prelude::*;
use serde_json::Value;
use support::{check_snapshot, frames, frames_chunked, pretty_json, read_opt};

const SHAPE: &str = "openai_responses";

fn ctx_for(req: &ChatRequest) -> ResponseContext {
    let mut ctx = ResponseContext::for_request(req, ApiShape::OpenAiResponses);
    ctx.id_seed = "seed".into();
    ctx.created = 1_760_000_000;
    ctx
}

fn decode_stream_chunked(bytes: &[u8], sizes: &[usize], ctx: &ResponseContext) -> Vec<StreamEvent> {
    let mut dec = stream::Decoder::new(ctx);
    let mut out = Vec::new();
    for f in frames_chunked(Framing::Sse, bytes, sizes) {
        dec.decode(&f, &mut out).unwrap();
    }
    dec.finish(&mut out);
    out
}

fn decode_stream(bytes: &[u8], ctx: &ResponseContext) -> Vec<StreamEvent> {
    decode_stream_chunked(bytes, &[usize::MAX], ctx)
}

fn encode_stream(events: &[StreamEvent], ctx: &ResponseContext) -> Vec<u8> {
    let mut enc = stream::Encoder::new(ctx);
    let mut out = Vec::new();
    for e in events {
        enc.encode(e, &mut out);
    }
    out
}

fn events_text(events: &[StreamEvent]) -> String {
    events.iter().map(|e| format!("{e:?}\n")).collect()
}

/// Encoding sets `strict` explicitly (Responses treats a missing `strict` as true), so
/// a tool without one comes back as `Some(false)`.
///
/// Only the `openai` extension params a Responses body accepts are written; other
/// providers' params and `stream_options` (obfuscation padding only) are not.
/// Hosted tools and item references have no canonical form: they bind the request to
/// OpenAI but are not re-encoded (the same-shape fast path forwards them untouched).
fn normalise_request(mut req: ChatRequest) -> ChatRequest {
    req.extensions
        .binding
        .retain(|b| !b.path.contains(['[', '.']) && b.path != "tool_choice");
    for t in &mut req.tools {
        t.strict.get_or_insert(false);
    }
    req.extensions.params.retain(|k, _| k == "openai");
    if let Some(p) = req.extensions.params.get_mut("openai") {
        p.remove("stream_options");
    }
    req
}

/// The text and tool arguments of a response, per part, in order.
fn contents(parts: &[Part]) -> Vec<String> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(text.clone()),
            Part::ToolCall(c) => Some(c.arguments.clone()),
            Part::Reasoning(r) => Some(r.text.clone()),
            _ => None,
        })
        .collect()
}

fn stream_contents(events: &[StreamEvent]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        match e {
            StreamEvent::PartStart { .. } => out.push(String::new()),
            StreamEvent::Delta { delta, .. } => match delta {
                Delta::Text(t) | Delta::ToolArguments(t) | Delta::Reasoning(t) => {
                    out.last_mut().unwrap().push_str(t)
                }
                Delta::Signature(_) => {}
            },
            _ => {}
        }
    }
    out
}

/// Checks the Responses grammar of encoded bytes: `sequence_number` 0,1,2…, created and
/// in_progress first, at most one terminal (or `error`) and nothing after it.
fn assert_grammar(bytes: &[u8]) -> Vec<Value> {
    let evs: Vec<Value> = frames(Framing::Sse, bytes)
        .iter()
        .map(|f| {
            let v: Value = serde_json::from_str(&f.data).unwrap();
            assert_eq!(f.event.as_deref(), v["type"].as_str(), "event line = type");
            v
        })
        .collect();
    for (i, v) in evs.iter().enumerate() {
        assert_eq!(
            v["sequence_number"], i as u64,
            "sequence_number of event {i}"
        );
    }
    assert_eq!(evs[0]["type"], "response.created");
    assert_eq!(evs[0]["response"]["status"], "in_progress");
    assert_eq!(evs[0]["response"]["output"], Value::Array(vec![]));
    assert_eq!(evs[1]["type"], "response.in_progress");
    let terminal = |v: &Value| {
        matches!(
            v["type"].as_str(),
            Some("response.completed" | "response.incomplete" | "response.failed" | "error")
        )
    };
    let n = evs.iter().filter(|v| terminal(v)).count();
    assert!(n <= 1);
    if n == 1 {
        assert!(
            terminal(evs.last().unwrap()),
            "nothing after the terminal event"
        );
    }
    evs
}

/// Decoding errors of the stream encoder's `error` event give a code the original did
/// not necessarily have (the kind's default code).
fn normalise_events(events: &[StreamEvent]) -> Vec<StreamEvent> {
    events
        .iter()
        .map(|e| match e {
            StreamEvent::Error(err) => StreamEvent::Error(GatewayError {
                code: None,
                ..err.clone()
            }),
            other => other.clone(),
        })
        .collect()
}

#[test]
fn fixtures() {
    let mut ran = 0;
    for dir in support::cases(SHAPE) {
        if !dir.join("request.json").exists() && !dir.join("stream.sse").exists() {
            continue;
        }
        run_case(&dir);
        ran += 1;
    }
    assert!(ran >= 11, "expected the 11 common cases, ran {ran}");
}

fn run_case(dir: &Path) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    // 1. request
    let req = match read_opt(&dir.join("request.json")) {
        Some(body) => {
            let req = request::decode(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            check_snapshot(&dir.join("request.canonical.txt"), &format!("{req:#?}\n"));
            let encoded = request::encode(&req, &EncodeOptions::default()).unwrap();
            check_snapshot(&dir.join("request.encoded.json"), &pretty_json(&encoded));
            let again = request::decode(&encoded).unwrap();
            assert_eq!(
                again,
                normalise_request(req.clone()),
                "{name}: request stability"
            );
            req
        }
        None => ChatRequest {
            model: format!("m-{name}"),
            ..ChatRequest::default()
        },
    };
    let ctx = ctx_for(&req);
    // 2. response
    let resp = read_opt(&dir.join("response.json")).map(|body| {
        let resp = response::decode(&body, &ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_snapshot(&dir.join("response.canonical.txt"), &format!("{resp:#?}\n"));
        let encoded = response::encode(&resp, &ctx);
        check_snapshot(&dir.join("response.encoded.json"), &pretty_json(&encoded));
        let again = response::decode(&encoded, &ctx).unwrap();
        assert_eq!(again, resp, "{name}: response round trip");
        resp
    });
    // 3. stream
    if let Some(bytes) = read_opt(&dir.join("stream.sse")) {
        let events = decode_stream(&bytes, &ctx);
        check_snapshot(&dir.join("stream.events.txt"), &events_text(&events));
        for cut in 1..bytes.len() {
            assert_eq!(
                decode_stream_chunked(&bytes, &[cut, usize::MAX], &ctx),
                events,
                "{name}: split at {cut}"
            );
        }
        assert_eq!(
            decode_stream_chunked(&bytes, &[1], &ctx),
            events,
            "{name}: 1-byte chunks"
        );
        if let Some(resp) = &resp {
            assert_eq!(
                stream_contents(&events),
                contents(&resp.parts),
                "{name}: stream = body"
            );
            let usage = events.iter().rev().find_map(|e| match e {
                StreamEvent::Usage(u) => Some(*u),
                _ => None,
            });
            assert_eq!(usage, Some(resp.usage), "{name}: stream usage");
            assert!(matches!(
                events.last(),
                Some(StreamEvent::MessageStop { stop_reason, .. }) if *stop_reason == resp.stop_reason
            ));
        }
        let encoded = encode_stream(&events, &ctx);
        check_snapshot(
            &dir.join("stream.encoded.sse"),
            &String::from_utf8(encoded.clone()).unwrap(),
        );
        assert_grammar(&encoded);
        assert_eq!(
            normalise_events(&decode_stream(&encoded, &ctx)),
            normalise_events(&events),
            "{name}: stream re-decode"
        );
    }
}

fn stream_fixtures() -> Vec<(Vec<u8>, ResponseContext, Vec<StreamEvent>)> {
    support::cases(SHAPE)
        .into_iter()
        .filter_map(|dir| {
            let bytes = read_opt(&dir.join("stream.sse"))?;
            let req = read_opt(&dir.join("request.json"))
                .map(|b| request::decode(&b).unwrap())
                .unwrap_or_default();
            let ctx = ctx_for(&req);
            let events = decode_stream(&bytes, &ctx);
            Some((bytes, ctx, events))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_chunking_gives_the_same_events(sizes in prop::collection::vec(1usize..96, 1..24)) {
        for (bytes, ctx, events) in stream_fixtures() {
            prop_assert_eq!(decode_stream_chunked(&bytes, &sizes, &ctx), events);
        }
    }
}

// ---------------------------------------------------------------- bad input

fn bad_path(body: &[u8]) -> String {
    match request::decode(body) {
        Err(TranslateError::InvalidRequest { path, .. }) => path,
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

#[test]
fn bad_requests_name_the_field() {
    let cases: &[(&str, &str)] = &[
        ("malformed.json", "input"),
        ("wrong_type.json", "input[0].content[0].text"),
        ("missing_model.json", "model"),
        ("missing_call_id.json", "input[1].call_id"),
        ("unknown_role.json", "input[0].role"),
        ("unknown_part.json", "input[0].content[1].type"),
        ("unknown_item.json", "input[1].type"),
        ("huge_integer.json", "max_output_tokens"),
        ("bad_effort.json", "reasoning.effort"),
        ("bad_tool_choice.json", "tool_choice"),
        ("bad_format.json", "text.format.type"),
        ("input_not_list.json", "input"),
        ("tool_without_name.json", "tools[0].name"),
        ("bad_tool_output.json", "input[0].output"),
        ("bad_data_url.json", "input[0].content[0].image_url"),
        ("empty_input.json", "input"),
    ];
    for (file, want) in cases {
        let body = std::fs::read(support::fixture(format!("{SHAPE}/bad/{file}"))).unwrap();
        assert_eq!(bad_path(&body), *want, "{file}");
    }
}

#[test]
fn deeply_nested_values_are_refused_without_panic() {
    let body = format!(
        r#"{{"model":"m","input":"hi","metadata":{}1{}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    // Too deep for serde_json (128 levels): the path is where the limit was hit.
    assert!(bad_path(body.as_bytes()).starts_with("metadata[0][0]"));
}

// ---------------------------------------------------------------- errors

#[test]
fn every_error_kind_encodes_to_the_openai_envelope() {
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
            Some("not_found"),
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
        (
            ErrorKind::Upstream,
            502,
            "server_error",
            Some("server_error"),
        ),
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
            Some("server_is_overloaded"),
        ),
        (
            ErrorKind::Internal,
            500,
            "server_error",
            Some("server_error"),
        ),
    ];
    for (kind, status, ty, code) in kinds {
        let err = GatewayError::new(kind, "it broke").with_param("input[0]");
        let (got_status, body) = error::encode(&err);
        assert_eq!(got_status, status, "{kind:?}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["type"], ty, "{kind:?}");
        assert_eq!(v["error"]["message"], "it broke");
        assert_eq!(v["error"]["param"], "input[0]");
        assert_eq!(v["error"]["code"].as_str(), code, "{kind:?}");
        // Decoding our own envelope gives the kind back (a gateway failure seen from
        // the next hop is an upstream failure).
        let back = if kind == ErrorKind::Internal {
            ErrorKind::Upstream
        } else {
            kind
        };
        assert_eq!(
            error::decode(status, &body).kind,
            back,
            "{kind:?} round trip"
        );
    }
}

#[test]
fn upstream_error_bodies_decode_to_kinds() {
    let cases: &[(&str, u16, ErrorKind, u16, bool)] = &[
        ("rate_limit.json", 429, ErrorKind::RateLimited, 429, true),
        (
            "insufficient_quota.json",
            429,
            ErrorKind::QuotaExceeded,
            429,
            false,
        ),
        (
            "context_length.json",
            400,
            ErrorKind::ContextLengthExceeded,
            400,
            false,
        ),
        (
            "invalid_api_key.json",
            401,
            ErrorKind::Authentication,
            401,
            false,
        ),
        ("server_error.json", 500, ErrorKind::Upstream, 500, true),
        ("overloaded.json", 503, ErrorKind::Overloaded, 503, true),
        ("not_json.html", 502, ErrorKind::Upstream, 502, true),
    ];
    for (file, status, kind, want_status, retryable) in cases {
        let body = std::fs::read(support::fixture(format!("{SHAPE}/errors/{file}"))).unwrap();
        let err = error::decode(*status, &body);
        assert_eq!(err.kind, *kind, "{file}");
        assert_eq!(err.status, *want_status, "{file}");
        assert_eq!(err.retryable, *retryable, "{file}");
        assert!(!err.message.is_empty());
    }
    let body = std::fs::read(support::fixture(format!(
        "{SHAPE}/errors/context_length.json"
    )))
    .unwrap();
    let err = error::decode(400, &body);
    assert_eq!(err.code.as_deref(), Some("context_length_exceeded"));
    assert_eq!(err.param.as_deref(), Some("input"));
    let html = error::decode(502, b"<html>bad gateway</html>");
    assert_eq!(html.message, "upstream returned HTTP 502");
}

#[test]
fn mid_stream_error_event_is_the_last_frame() {
    let ctx = ctx_for(&ChatRequest::default());
    let events = vec![
        StreamEvent::MessageStart {
            id: "resp_e".into(),
            model: "m".into(),
        },
        StreamEvent::PartStart {
            index: 0,
            part: PartStart::Text,
        },
        StreamEvent::Delta {
            index: 0,
            delta: Delta::Text("Hel".into()),
        },
        StreamEvent::Error(GatewayError::new(ErrorKind::Overloaded, "busy")),
        StreamEvent::Delta {
            index: 0,
            delta: Delta::Text("lo".into()),
        },
        StreamEvent::MessageStop {
            stop_reason: gateway_protocol::StopReason::EndTurn,
            stop_sequence: None,
        },
    ];
    let bytes = encode_stream(&events, &ctx);
    let evs = assert_grammar(&bytes);
    let last = evs.last().unwrap();
    assert_eq!(last["type"], "error");
    assert_eq!(last["code"], "server_is_overloaded");
    assert_eq!(last["message"], "busy");
    assert!(last.get("param").is_some(), "param is written (null)");
    let back = decode_stream(&bytes, &ctx);
    match back.last() {
        Some(StreamEvent::Error(e)) => {
            assert_eq!(e.kind, ErrorKind::Overloaded);
            assert!(e.retryable);
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------- input_tokens

#[test]
fn input_tokens_answer_round_trips() {
    let body = br#"{"object":"response.input_tokens","input_tokens":1234}"#;
    let resp = count_tokens::decode(body).unwrap();
    assert_eq!(resp, CountTokensResponse { input_tokens: 1234 });
    assert_eq!(count_tokens::encode(&resp), body.to_vec());
    assert!(matches!(
        count_tokens::decode(b"{\"object\":\"x\"}"),
        Err(TranslateError::UpstreamProtocol { .. })
    ));
}

// ---------------------------------------------------------------- §9 edge cases

fn decode_json(v: Value) -> ChatRequest {
    request::decode(&serde_json::to_vec(&v).unwrap()).unwrap()
}

/// §9.22: server-side state binds the request to OpenAI Responses; every other shape,
/// OpenAI Chat included, refuses it.
#[test]
fn previous_response_id_binds_to_openai_responses() {
    let req = decode_json(serde_json::json!({
        "model": "m", "input": "hi", "previous_response_id": "resp_1"
    }));
    let b = req
        .extensions
        .first_binding_against(ApiShape::Anthropic)
        .unwrap();
    assert_eq!(b.path, "previous_response_id");
    assert!(
        req.extensions
            .first_binding_against(ApiShape::OpenAiChat)
            .is_some()
    );
    assert!(
        req.extensions
            .first_binding_against(ApiShape::OpenAiResponses)
            .is_none()
    );
    // An OpenAI Responses upstream gets it back.
    let body: Value =
        serde_json::from_slice(&request::encode(&req, &EncodeOptions::default()).unwrap()).unwrap();
    assert_eq!(body["previous_response_id"], "resp_1");
}

#[test]
fn hosted_tools_and_item_references_bind_and_foreign_bindings_refuse() {
    let body = std::fs::read(support::fixture(format!(
        "{SHAPE}/state_and_hosted/request.json"
    )))
    .unwrap();
    let req = request::decode(&body).unwrap();
    let paths: Vec<&str> = req
        .extensions
        .binding
        .iter()
        .map(|b| b.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "input[0]",
            "tools[0]",
            "tool_choice.tools[1]",
            "previous_response_id",
            "top_logprobs"
        ]
    );
    let mut foreign = req.clone();
    foreign.extensions.binding[0].family = Family::Gemini;
    foreign.extensions.binding[0].only_shape = None;
    match request::encode(&foreign, &EncodeOptions::default()) {
        Err(TranslateError::Untranslatable { path, target, .. }) => {
            assert_eq!(path, "input[0]");
            assert_eq!(target, "OpenAI Responses");
        }
        other => panic!("{other:?}"),
    }
}

/// §9.3: `instructions`, then system/developer messages in order, hoisted.
#[test]
fn instructions_and_developer_messages_are_hoisted_in_order() {
    let body = std::fs::read(support::fixture(format!("{SHAPE}/features/request.json"))).unwrap();
    let req = request::decode(&body).unwrap();
    let system: Vec<&str> = req.system.iter().filter_map(Part::as_text).collect();
    assert_eq!(
        system,
        ["Be brief.", "Answer in English.", "Mid-conversation rule."]
    );
    assert_eq!(req.extensions.params["anthropic"]["top_k"], 5);
    assert_eq!(req.extensions.params["openai"]["prompt_cache_key"], "k1");
    assert_eq!(req.extensions.params["openai"]["store"], false);
    assert_eq!(req.user.as_deref(), Some("user-42"));
    assert!(!req.extensions.params["openai"].contains_key("patchbay"));
    let r = match &req.messages[1].parts[0] {
        Part::Reasoning(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(r.id.as_deref(), Some("rs_prev"));
    assert_eq!(r.redacted.as_deref(), Some("gAAA-enc"));
    assert_eq!(r.source, Some(Family::OpenAi));
}

/// Params that only Chat understands are not sent to a Responses upstream.
#[test]
fn chat_only_params_are_not_applied() {
    let mut req = decode_json(serde_json::json!({"model": "m", "input": "hi"}));
    req.extensions.insert("openai", "n", serde_json::json!(2));
    req.extensions
        .insert("openai", "store", serde_json::json!(false));
    req.extensions
        .insert("openai", "verbosity", serde_json::json!("high"));
    let body: Value =
        serde_json::from_slice(&request::encode(&req, &EncodeOptions::default()).unwrap()).unwrap();
    assert!(body.get("n").is_none());
    assert_eq!(body["store"], false);
    assert_eq!(body["text"]["verbosity"], "high");
    assert!(body.get("stream_options").is_none());
}

/// Reasoning from another family is not replayed to OpenAI; OpenAI's is, with its
/// encrypted content; a request stream flag has no `include_usage`.
#[test]
fn only_openai_reasoning_is_replayed() {
    let mut req = decode_json(serde_json::json!({"model": "m", "input": "hi", "stream": true}));
    req.messages.push(gateway_protocol::Message {
        role: gateway_protocol::Role::Assistant,
        parts: vec![
            Part::Reasoning(gateway_protocol::Reasoning {
                text: "anthropic thinking".into(),
                signature: Some("sig".into()),
                source: Some(Family::Anthropic),
                ..Default::default()
            }),
            Part::Reasoning(gateway_protocol::Reasoning {
                text: "".into(),
                signature: Some("enc".into()),
                id: Some("rs_9".into()),
                source: Some(Family::OpenAi),
                ..Default::default()
            }),
            Part::text("ok"),
        ],
    });
    let body: Value =
        serde_json::from_slice(&request::encode(&req, &EncodeOptions::default()).unwrap()).unwrap();
    let input = body["input"].as_array().unwrap();
    assert_eq!(input.len(), 3);
    assert_eq!(input[1]["type"], "reasoning");
    assert_eq!(input[1]["id"], "rs_9");
    assert_eq!(input[1]["encrypted_content"], "enc");
    assert_eq!(input[2]["content"][0]["type"], "output_text");
    assert_eq!(body["stream"], true);
}

/// §9.8: a 90-character tool name is sent as ≤64 characters and restored in answers.
#[test]
fn long_tool_names_are_shortened_and_restored() {
    let long = "t".repeat(90);
    let req = decode_json(serde_json::json!({
        "model": "m", "input": "go",
        "tools": [{"type": "function", "name": long, "parameters": {"type": "object"}}],
        "tool_choice": {"type": "function", "name": long}
    }));
    let body: Value =
        serde_json::from_slice(&request::encode(&req, &EncodeOptions::default()).unwrap()).unwrap();
    let sent = body["tools"][0]["name"].as_str().unwrap().to_owned();
    assert!(sent.len() <= 64);
    assert_eq!(body["tool_choice"]["name"], sent.as_str());
    let ctx = ctx_for(&req);
    let upstream = serde_json::json!({
        "id": "resp_l", "status": "completed", "model": "m",
        "output": [{"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": sent, "arguments": "{}"}]
    });
    let resp = response::decode(&serde_json::to_vec(&upstream).unwrap(), &ctx).unwrap();
    assert!(matches!(&resp.parts[0], Part::ToolCall(c) if c.name == long));
    assert_eq!(resp.stop_reason, gateway_protocol::StopReason::ToolUse);
    let stream_bytes = format!(
        "event: response.output_item.added\ndata: {}\n\n",
        serde_json::json!({"type": "response.output_item.added", "sequence_number": 0, "output_index": 0,
            "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": sent, "arguments": ""}})
    );
    let events = decode_stream(stream_bytes.as_bytes(), &ctx);
    assert!(events.iter().any(|e| matches!(e,
        StreamEvent::PartStart { part: PartStart::ToolCall { name, .. }, .. } if *name == long)));
}

/// §9.19: a Gemini thought signature rides inside `call_id` and comes back.
#[test]
fn gemini_signatures_travel_in_call_ids() {
    let resp = ChatResponse {
        id: "g1".into(),
        parts: vec![Part::ToolCall(gateway_protocol::ToolCall {
            id: "call_g".into(),
            name: "f".into(),
            arguments: "{}".into(),
            signature: Some("c2lnLWdlbQ==".into()),
        })],
        stop_reason: gateway_protocol::StopReason::ToolUse,
        ..ChatResponse::default()
    };
    let ctx = ctx_for(&ChatRequest::default());
    let body: Value = serde_json::from_slice(&response::encode(&resp, &ctx)).unwrap();
    let call_id = body["output"][0]["call_id"].as_str().unwrap().to_owned();
    assert!(call_id.starts_with("call_g__ts_"));
    let back = response::decode(&serde_json::to_vec(&body).unwrap(), &ctx).unwrap();
    assert_eq!(back.parts, resp.parts);
    // The caller replays the call and its result: the signature is restored on the
    // call and split off the result's id.
    let req = decode_json(serde_json::json!({"model": "m", "input": [
        {"role": "user", "content": "x"},
        {"type": "function_call", "call_id": call_id, "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": call_id, "output": "ok"}
    ]}));
    assert!(matches!(&req.messages[1].parts[0],
        Part::ToolCall(c) if c.id == "call_g" && c.signature.as_deref() == Some("c2lnLWdlbQ==")));
    assert!(matches!(&req.messages[2].parts[0], Part::ToolResult(r) if r.call_id == "call_g"));
    // The stream encoder does the same.
    let bytes = encode_stream(
        &[
            StreamEvent::PartStart {
                index: 0,
                part: PartStart::ToolCall {
                    id: "call_g".into(),
                    name: "f".into(),
                    signature: Some("c2lnLWdlbQ==".into()),
                },
            },
            StreamEvent::PartStop { index: 0 },
        ],
        &ctx,
    );
    let evs = assert_grammar(&bytes);
    assert_eq!(evs[2]["item"]["call_id"], call_id.as_str());
}

/// §9.21: a Chat-like canonical stream (text, then two tool calls, cut by max tokens)
/// becomes the exact Responses grammar.
#[test]
fn chat_upstream_events_become_responses_grammar() {
    let ctx = ctx_for(&ChatRequest {
        model: "gpt-x".into(),
        ..ChatRequest::default()
    });
    let mut events = vec![StreamEvent::MessageStart {
        id: "chatcmpl-9".into(),
        model: "upstream-name".into(),
    }];
    events.push(StreamEvent::PartStart {
        index: 0,
        part: PartStart::Text,
    });
    for t in ["Let me ", "check."] {
        events.push(StreamEvent::Delta {
            index: 0,
            delta: Delta::Text(t.into()),
        });
    }
    events.push(StreamEvent::PartStop { index: 0 });
    for (i, id) in [(1, "call_a"), (2, "call_b")] {
        events.push(StreamEvent::PartStart {
            index: i,
            part: PartStart::ToolCall {
                id: id.into(),
                name: "f".into(),
                signature: None,
            },
        });
        for a in ["{\"x\":", "1}"] {
            events.push(StreamEvent::Delta {
                index: i,
                delta: Delta::ToolArguments(a.into()),
            });
        }
        events.push(StreamEvent::PartStop { index: i });
    }
    events.push(StreamEvent::Usage(gateway_protocol::Usage {
        input_tokens: 10,
        output_tokens: 7,
        ..Default::default()
    }));
    events.push(StreamEvent::MessageStop {
        stop_reason: gateway_protocol::StopReason::MaxTokens,
        stop_sequence: None,
    });
    let bytes = encode_stream(&events, &ctx);
    let evs = assert_grammar(&bytes);
    let types: Vec<&str> = evs.iter().map(|v| v["type"].as_str().unwrap()).collect();
    let call = [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ];
    let mut want = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ];
    want.extend(call);
    want.extend(call);
    want.push("response.incomplete");
    assert_eq!(types, want);
    assert_eq!(evs[0]["response"]["model"], "gpt-x");
    assert_eq!(evs[0]["response"]["created_at"], 1_760_000_000);
    // One item id / output_index per item; call ids kept.
    assert_eq!(evs[9]["output_index"], 1);
    assert_eq!(evs[9]["item"]["call_id"], "call_a");
    assert_eq!(evs[14]["output_index"], 2);
    assert_eq!(evs[15]["item_id"], evs[14]["item"]["id"]);
    assert_eq!(evs[12]["arguments"], "{\"x\":1}");
    // Usage only in the terminal event, with the full output.
    assert!(
        evs[..evs.len() - 1]
            .iter()
            .all(|v| v["response"]["usage"].is_null())
    );
    let last = &evs[evs.len() - 1]["response"];
    assert_eq!(last["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(last["usage"]["total_tokens"], 17);
    assert_eq!(last["output"].as_array().unwrap().len(), 3);
    assert_eq!(last["output"][0]["content"][0]["text"], "Let me check.");
}

/// The encoder survives any event order without panicking and ignores what follows
/// the end.
#[test]
fn encoder_is_robust_to_odd_event_orders() {
    let ctx = ctx_for(&ChatRequest::default());
    let events = vec![
        StreamEvent::Delta {
            index: 3,
            delta: Delta::Text("orphan".into()),
        },
        StreamEvent::Delta {
            index: 4,
            delta: Delta::ToolArguments("{}".into()),
        },
        StreamEvent::PartStop { index: 9 },
        StreamEvent::PartStart {
            index: 0,
            part: PartStart::Reasoning {
                id: None,
                source: Some(Family::Anthropic),
            },
        },
        StreamEvent::Delta {
            index: 0,
            delta: Delta::Reasoning("hidden".into()),
        },
        StreamEvent::Delta {
            index: 0,
            delta: Delta::Signature("sig".into()),
        },
        StreamEvent::PartStart {
            index: 1,
            part: PartStart::RedactedReasoning {
                data: "x".into(),
                source: Some(Family::OpenAi),
            },
        },
        StreamEvent::MessageStart {
            id: "late".into(),
            model: "m".into(),
        },
        StreamEvent::MessageStop {
            stop_reason: gateway_protocol::StopReason::ContentFilter,
            stop_sequence: None,
        },
        StreamEvent::Delta {
            index: 0,
            delta: Delta::Text("after".into()),
        },
    ];
    let bytes = encode_stream(&events, &ctx);
    let evs = assert_grammar(&bytes);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("orphan") && !text.contains("after") && !text.contains("hidden"));
    let last = &evs[evs.len() - 1];
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(last["response"]["id"], "resp_seed");
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "content_filter"
    );
}

/// Garbage frames: malformed JSON is an upstream protocol error; unknown events,
/// comments and `[DONE]` are ignored; nothing panics.
#[test]
fn decoder_handles_unknown_and_malformed_frames() {
    let ctx = ctx_for(&ChatRequest::default());
    let mut dec = stream::Decoder::new(&ctx);
    let mut out = Vec::new();
    let frame = |e: &str, d: &str| gateway_translate::Frame {
        event: Some(e.into()),
        data: d.into(),
    };
    dec.decode(
        &frame(
            "response.future_event",
            r#"{"type":"response.future_event","x":1}"#,
        ),
        &mut out,
    )
    .unwrap();
    dec.decode(&frame("x", "[DONE]"), &mut out).unwrap();
    dec.decode(
        &frame(
            "response.output_text.delta",
            r#"{"type":"response.output_text.delta","delta":"hi"}"#,
        ),
        &mut out,
    )
    .unwrap();
    assert!(matches!(
        dec.decode(&frame("response.completed", "{not json"), &mut out),
        Err(TranslateError::UpstreamProtocol { .. })
    ));
    dec.finish(&mut out);
    assert!(matches!(
        out.first(),
        Some(StreamEvent::MessageStart { .. })
    ));
    assert!(matches!(out.last(), Some(StreamEvent::Error(e)) if e.kind == ErrorKind::Upstream));
}

/// §9.4: empty assistant text next to tool calls produces no empty text part.
#[test]
fn empty_assistant_text_is_dropped() {
    let req = decode_json(serde_json::json!({"model": "m", "input": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "output_text", "text": ""}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    ]}));
    assert_eq!(req.messages.len(), 2);
    assert_eq!(req.messages[1].parts.len(), 1);
    assert!(matches!(req.messages[1].parts[0], Part::ToolCall(_)));
}

#[test]
fn namespace_tools_are_flattened_into_function_tools() {
    let body = br#"{"model":"m","input":"hi","tools":[
        {"type":"namespace","name":"mcp__files","description":"File tools","tools":[
            {"type":"function","name":"read_file","parameters":{"type":"object"}},
            {"type":"function","name":"write_file","parameters":{"type":"object"}},
            {"type":"web_search"}]},
        {"type":"function","name":"shell","parameters":{"type":"object"}}]}"#;
    let req =
        gateway_translate::codec::decode_request(gateway_protocol::ApiShape::OpenAiResponses, body)
            .unwrap();
    let names: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["read_file", "write_file", "shell"]);
    // A hosted tool inside the namespace is still marked as OpenAI's own, at its path.
    assert_eq!(req.extensions.binding.len(), 1);
    assert_eq!(req.extensions.binding[0].path, "tools[0].tools[2]");
    // Encoded for Anthropic, the function tools survive.
    let mut req = req;
    req.extensions.binding.clear();
    let out = gateway_translate::codec::encode_request(
        gateway_protocol::ApiShape::Anthropic,
        &req,
        &gateway_translate::EncodeOptions::default(),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["tools"].as_array().unwrap().len(), 3);
}
