//! Fixture-driven tests of the OpenAI Chat Completions codec, plus its §9 edge cases.

mod support;

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
