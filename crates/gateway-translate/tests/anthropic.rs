//! Fixture-driven tests of the Anthropic Messages codec (`BLESS=1` rewrites snapshots).

mod support;

use std::path::Path;

use gateway_protocol::{
    ApiShape, ChatRequest, ChatResponse, Delta, ErrorKind, GatewayError, Part, StreamEvent,
};
use gateway_translate::anthropic::{request, response, stream};
use gateway_translate::framing::{Frame, Framer, Framing};
use gateway_translate::{ResponseContext, TranslateError};
use proptest::prelude::*;
use serde_json::Value;
use support::{cases, check_snapshot, fixture, frames, frames_chunked, pretty_json, read_opt};

const SHAPE: &str = "anthropic";

/// Cases whose encoding legitimately changes the canonical request: `id_sanitize`
/// sanitises tool ids (`functions.Bash:0` → `functions_Bash_0`, the colliding one gets
/// a hash suffix) and adds a stub tool for the history's tool blocks (no `tools` sent);
/// `server_tool` carries `patchbay.ext.openai` params, which an Anthropic body does not.
const NORMALISING: &[&str] = &["id_sanitize", "server_tool"];

fn ctx_for(req: &ChatRequest) -> ResponseContext {
    let mut ctx = ResponseContext::for_request(req, ApiShape::Anthropic);
    ctx.id_seed = "seed".into();
    ctx.created = 1_760_000_000;
    ctx
}

/// The request of a case, or a stand-in naming the case's model.
fn case_request(dir: &Path) -> Option<ChatRequest> {
    read_opt(&dir.join("request.json")).map(|b| request::decode(&b).expect("decode request"))
}

fn decode_frames(frames: &[Frame], ctx: &ResponseContext) -> Vec<StreamEvent> {
    let mut dec = stream::Decoder::new(ctx);
    let mut out = Vec::new();
    for f in frames {
        dec.decode(f, &mut out).expect("decode frame");
    }
    dec.finish(&mut out);
    out
}

fn encode_events(events: &[StreamEvent], ctx: &ResponseContext) -> Vec<u8> {
    let mut enc = stream::Encoder::new(ctx);
    let mut out = Vec::new();
    for e in events {
        enc.encode(e, &mut out);
    }
    out
}

/// Errors survive a trip through an Anthropic error frame with their kind and message;
/// status and blame are re-derived from the frame's type.
fn normalise(events: &[StreamEvent]) -> Vec<StreamEvent> {
    events
        .iter()
        .map(|e| match e {
            StreamEvent::Error(err) => StreamEvent::Error(GatewayError::new(err.kind, err.message.clone())),
            other => other.clone(),
        })
        .collect()
}

/// Text, reasoning and tool-call arguments per part, accumulated from events.
fn accumulate(events: &[StreamEvent]) -> Vec<(String, String)> {
    let mut parts: Vec<(String, String)> = Vec::new();
    for e in events {
        match e {
            StreamEvent::PartStart { index, part } => {
                assert_eq!(*index, parts.len(), "part indexes are 0,1,2…");
                parts.push((format!("{part:?}").split([' ', '{']).next().unwrap_or("").to_owned(), String::new()));
            }
            StreamEvent::Delta { index, delta } => {
                let slot = &mut parts[*index].1;
                match delta {
                    Delta::Text(t) | Delta::ToolArguments(t) | Delta::Reasoning(t) => slot.push_str(t),
                    Delta::Signature(_) => {}
                }
            }
            _ => {}
        }
    }
    parts
}

fn response_parts(resp: &ChatResponse) -> Vec<(String, String)> {
    resp.parts
        .iter()
        .map(|p| match p {
            Part::Text { text, .. } => ("Text".to_owned(), text.clone()),
            Part::ToolCall(c) => ("ToolCall".to_owned(), c.arguments.clone()),
            Part::Reasoning(r) => (
                if r.redacted.is_some() { "RedactedReasoning" } else { "Reasoning" }.to_owned(),
                r.text.clone(),
            ),
            other => panic!("unexpected part {other:?}"),
        })
        .collect()
}

fn same_content(a: &[(String, String)], b: &[(String, String)]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.0, y.0);
        if x.0 == "ToolCall" {
            let xv: Value = serde_json::from_str(&x.1).expect("stream arguments parse");
            let yv: Value = serde_json::from_str(&y.1).expect("response arguments parse");
            assert_eq!(xv, yv);
        } else {
            assert_eq!(x.1, y.1);
        }
    }
}

#[test]
fn fixture_cases() {
    let mut seen = 0;
    for dir in cases(SHAPE) {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned();
        let req = case_request(&dir);
        if let Some(req) = &req {
            check_snapshot(&dir.join("request.canonical.txt"), &format!("{req:#?}\n"));
            let encoded = request::encode(req, &Default::default()).expect("encode request");
            check_snapshot(&dir.join("request.encoded.json"), &pretty_json(&encoded));
            let again = request::decode(&encoded).expect("re-decode request");
            if NORMALISING.contains(&name.as_str()) {
                // Encoding normalises these (see NORMALISING): it must be a fixed point.
                assert_ne!(&again, req, "{name}: expected a normalisation");
                let twice = request::encode(&again, &Default::default()).expect("encode again");
                assert_eq!(pretty_json(&twice), pretty_json(&encoded), "{name}: encode is idempotent");
            } else {
                assert_eq!(&again, req, "{name}: request round trip");
            }
        }
        let mut ctx = ctx_for(&req.clone().unwrap_or_default());
        let mut resp = None;
        if let Some(body) = read_opt(&dir.join("response.json")) {
            let decoded = response::decode(&body, &ctx).expect("decode response");
            if req.is_none() {
                ctx.model = decoded.model.clone();
            }
            check_snapshot(&dir.join("response.canonical.txt"), &format!("{decoded:#?}\n"));
            let encoded = response::encode(&decoded, &ctx);
            check_snapshot(&dir.join("response.encoded.json"), &pretty_json(&encoded));
            let again = response::decode(&encoded, &ctx).expect("re-decode response");
            assert_eq!(again, decoded, "{name}: response round trip");
            resp = Some(decoded);
        }
        if let Some(bytes) = read_opt(&dir.join("stream.sse")) {
            let events = decode_frames(&frames(Framing::Sse, &bytes), &ctx);
            let lines: String = events.iter().map(|e| format!("{e:?}\n")).collect();
            check_snapshot(&dir.join("stream.events.txt"), &lines);
            assert_eq!(decode_frames(&frames_chunked(Framing::Sse, &bytes, &[1]), &ctx), events);
            for cut in 0..=bytes.len() {
                let mut framer = Framer::new(Framing::Sse);
                let mut fr = Vec::new();
                framer.push(&bytes[..cut], &mut fr);
                framer.push(&bytes[cut..], &mut fr);
                framer.finish(&mut fr);
                assert_eq!(decode_frames(&fr, &ctx), events, "{name}: split at {cut}");
            }
            if let Some(resp) = &resp {
                same_content(&accumulate(&events), &response_parts(resp));
                let usage = events.iter().rev().find_map(|e| match e {
                    StreamEvent::Usage(u) => Some(*u),
                    _ => None,
                });
                assert_eq!(usage, Some(resp.usage), "{name}: stream usage");
                assert!(matches!(events.last(), Some(StreamEvent::MessageStop { stop_reason, .. }) if *stop_reason == resp.stop_reason));
            }
            if req.is_none() {
                if let Some(StreamEvent::MessageStart { model, .. }) = events.first() {
                    ctx.model = model.clone();
                }
            }
            let encoded = encode_events(&events, &ctx);
            check_snapshot(&dir.join("stream.encoded.sse"), &String::from_utf8_lossy(&encoded));
            let again = decode_frames(&frames(Framing::Sse, &encoded), &ctx);
            assert_eq!(normalise(&again), normalise(&events), "{name}: stream round trip");
        }
        seen += 1;
    }
    assert!(seen >= 11);
}

fn stream_fixtures() -> Vec<(Vec<u8>, ResponseContext)> {
    cases(SHAPE)
        .into_iter()
        .filter_map(|dir| {
            let bytes = read_opt(&dir.join("stream.sse"))?;
            Some((bytes, ctx_for(&case_request(&dir).unwrap_or_default())))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_chunking_gives_the_same_events(sizes in prop::collection::vec(1usize..80, 1..16)) {
        for (bytes, ctx) in stream_fixtures() {
            let want = decode_frames(&frames(Framing::Sse, &bytes), &ctx);
            let got = decode_frames(&frames_chunked(Framing::Sse, &bytes, &sizes), &ctx);
            prop_assert_eq!(got, want);
        }
    }
}

fn invalid_path(err: TranslateError) -> String {
    match err {
        TranslateError::InvalidRequest { path, .. } => path,
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

#[test]
fn bad_requests_name_the_field() {
    let table = [
        ("malformed.json", "messages"),
        ("wrong_type.json", "max_tokens"),
        ("missing_model.json", "model"),
        ("missing_max_tokens.json", "max_tokens"),
        ("unknown_role.json", "messages[1].role"),
        ("unknown_part.json", "messages[0].content[1].type"),
        ("huge_int.json", "max_tokens"),
        ("deep.json", "."),
        ("bad_image.json", "messages[0].content[0].source"),
        ("nested_tool_use.json", "messages[0].content[0].content[0].type"),
        ("thinking_type.json", "thinking.type"),
        ("tool_name.json", "tools[0]"),
        ("content_number.json", "messages[0].content"),
        ("tool_use_id_type.json", "messages[0].content[0].id"),
        ("text_missing.json", "messages[0].content[0]"),
    ];
    for (file, path) in table {
        let body = std::fs::read(fixture(format!("{SHAPE}/bad/{file}"))).expect("fixture");
        let err = request::decode(&body).expect_err(file);
        assert_eq!(invalid_path(err), path, "{file}");
    }
}
