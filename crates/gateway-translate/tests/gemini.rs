//! Fixture-driven tests of the Gemini codec (`tests/fixtures/gemini/<case>/`) and the
//! PROTOCOLS §9 edge cases that concern Gemini.

mod support;

use std::path::Path;

use gateway_protocol::{
    ApiShape, ChatRequest, ChatResponse, Delta, ErrorKind, GatewayError, Part, StreamEvent,
};
use gateway_translate::framing::Framing;
use gateway_translate::gemini::{request, response, stream};
use gateway_translate::{EncodeOptions, ResponseContext, TranslateError};
use proptest::prelude::*;
use support::{check_snapshot, frames, frames_chunked, pretty_json, read_opt};

/// Directories under `fixtures/gemini` that are not cases.
const NOT_CASES: [&str; 2] = ["bad", "errors"];

fn case_dirs() -> Vec<std::path::PathBuf> {
    support::cases("gemini")
        .into_iter()
        .filter(|d| !NOT_CASES.iter().any(|n| d.ends_with(n)))
        .collect()
}

fn case_name(dir: &Path) -> String {
    dir.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned()
}

/// The request as the server sees it: the body decoded, the model filled in from the
/// URL (`models/m-<case>:generateContent`).
fn decoded_request(dir: &Path) -> Option<ChatRequest> {
    let body = read_opt(&dir.join("request.json"))?;
    let mut req = request::decode(&body).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    req.model = format!("m-{}", case_name(dir));
    Some(req)
}

fn context(dir: &Path) -> ResponseContext {
    let req = decoded_request(dir).unwrap_or_else(|| ChatRequest {
        model: format!("m-{}", case_name(dir)),
        ..Default::default()
    });
    let mut ctx = ResponseContext::for_request(&req, ApiShape::Gemini);
    ctx.id_seed = "seed".into();
    ctx.created = 1_760_000_000;
    ctx
}

fn decode_frames(ctx: &ResponseContext, frames: &[gateway_translate::Frame]) -> Vec<StreamEvent> {
    let mut dec = stream::Decoder::new(ctx);
    let mut out = Vec::new();
    for f in frames {
        dec.decode(f, &mut out)
            .unwrap_or_else(|e| panic!("frame {f:?}: {e}"));
    }
    dec.finish(&mut out);
    out
}

fn encode_events(ctx: &ResponseContext, events: &[StreamEvent]) -> Vec<u8> {
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

/// Re-encoding reports the caller-facing model, and an error frame carries only what
/// the Gemini envelope has (kind, status, message): normalise those.
fn normalise_events(events: &[StreamEvent], model: &str) -> Vec<StreamEvent> {
    events
        .iter()
        .map(|e| match e {
            StreamEvent::MessageStart { id, .. } => StreamEvent::MessageStart {
                id: id.clone(),
                model: model.to_owned(),
            },
            StreamEvent::Error(err) => {
                let mut plain = GatewayError::new(err.kind, err.message.clone());
                plain.status = err.status;
                StreamEvent::Error(plain)
            }
            other => other.clone(),
        })
        .collect()
}

/// Text and tool arguments accumulated from a stream / a response.
fn stream_content(events: &[StreamEvent]) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut args = Vec::new();
    for e in events {
        match e {
            StreamEvent::Delta {
                delta: Delta::Text(t),
                ..
            } => text.push_str(t),
            StreamEvent::Delta {
                delta: Delta::ToolArguments(a),
                ..
            } => args.push(a.clone()),
            _ => {}
        }
    }
    (text, args)
}

fn response_content(resp: &ChatResponse) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut args = Vec::new();
    for p in &resp.parts {
        match p {
            Part::Text { text: t, .. } => text.push_str(t),
            Part::ToolCall(c) => args.push(c.arguments.clone()),
            _ => {}
        }
    }
    (text, args)
}

#[test]
fn fixture_cases() {
    let dirs = case_dirs();
    assert!(dirs.len() >= 11, "expected the 11 shared cases and more");
    for dir in dirs {
        run_case(&dir);
    }
}

fn run_case(dir: &Path) {
    let name = case_name(dir);
    let ctx = context(dir);

    // 1. request
    if let Some(req) = decoded_request(dir) {
        check_snapshot(&dir.join("request.canonical.txt"), &format!("{req:#?}\n"));
        let encoded = request::encode(&req, &EncodeOptions::default())
            .unwrap_or_else(|e| panic!("{name}: encode: {e}"));
        check_snapshot(&dir.join("request.encoded.json"), &pretty_json(&encoded));
        let mut again = request::decode(&encoded).unwrap_or_else(|e| panic!("{name}: {e}"));
        again.model = req.model.clone();
        assert_eq!(again, req, "{name}: decode(encode(decode(x))) differs");
    }

    // 2. response
    let resp = read_opt(&dir.join("response.json")).map(|body| {
        let resp = response::decode(&body, &ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_snapshot(&dir.join("response.canonical.txt"), &format!("{resp:#?}\n"));
        let encoded = response::encode(&resp, &ctx);
        check_snapshot(&dir.join("response.encoded.json"), &pretty_json(&encoded));
        let again = response::decode(&encoded, &ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The encoder reports `ctx.model` as `modelVersion`.
        let want = ChatResponse {
            model: ctx.model.clone(),
            ..resp.clone()
        };
        assert_eq!(again, want, "{name}: response round trip differs");
        resp
    });

    // 3. stream
    let Some(sse) = read_opt(&dir.join("stream.sse")) else {
        return;
    };
    let events = decode_frames(&ctx, &frames(Framing::Sse, &sse));
    check_snapshot(&dir.join("stream.events.txt"), &events_text(&events));
    for split in 1..sse.len() {
        let got = decode_frames(
            &ctx,
            &frames_chunked(Framing::Sse, &sse, &[split, usize::MAX]),
        );
        assert_eq!(got, events, "{name}: split at {split}");
    }
    assert_eq!(
        decode_frames(&ctx, &frames_chunked(Framing::Sse, &sse, &[1])),
        events,
        "{name}: 1-byte chunks"
    );
    if let Some(array) = read_opt(&dir.join("stream.json")) {
        assert_eq!(
            decode_frames(&ctx, &frames(Framing::JsonArray, &array)),
            events,
            "{name}: JSON-array stream differs from SSE"
        );
        assert_eq!(
            decode_frames(&ctx, &frames_chunked(Framing::JsonArray, &array, &[1])),
            events,
            "{name}: JSON-array stream in 1-byte chunks"
        );
    }
    if let Some(resp) = &resp {
        assert_eq!(
            stream_content(&events),
            response_content(resp),
            "{name}: stream and response content differ"
        );
    }
    let encoded = encode_events(&ctx, &events);
    check_snapshot(
        &dir.join("stream.encoded.sse"),
        &String::from_utf8_lossy(&encoded),
    );
    let want = normalise_events(&events, &ctx.model);
    let again = decode_frames(&ctx, &frames(Framing::Sse, &encoded));
    assert_eq!(
        normalise_events(&again, &ctx.model),
        want,
        "{name}: re-encoded SSE"
    );
    let array_ctx = ResponseContext {
        json_array: true,
        ..ctx.clone()
    };
    let encoded = encode_events(&array_ctx, &events);
    assert!(
        encoded.starts_with(b"[") && encoded.ends_with(b"]"),
        "{name}: array framing"
    );
    let again = decode_frames(&ctx, &frames(Framing::JsonArray, &encoded));
    assert_eq!(
        normalise_events(&again, &ctx.model),
        want,
        "{name}: re-encoded array"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_chunking_yields_the_same_events(sizes in proptest::collection::vec(1usize..40, 1..12)) {
        for dir in case_dirs() {
            let ctx = context(&dir);
            for (file, framing) in [("stream.sse", Framing::Sse), ("stream.json", Framing::JsonArray)] {
                let Some(bytes) = read_opt(&dir.join(file)) else { continue };
                let whole = decode_frames(&ctx, &frames(framing, &bytes));
                let chunked = decode_frames(&ctx, &frames_chunked(framing, &bytes, &sizes));
                prop_assert_eq!(chunked, whole);
            }
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
    let cases: &[(&str, &str)] = &[
        ("malformed.json", "contents[0].parts"),
        ("wrong_type_text.json", "contents[0].parts[0].text"),
        ("missing_contents.json", "."),
        (
            "missing_call_name.json",
            "contents[1].parts[0].functionCall",
        ),
        ("unknown_role.json", "contents[1].role"),
        ("unknown_part.json", "contents[0].parts[1]"),
        ("huge_integer.json", "generationConfig.maxOutputTokens"),
        ("bad_mode.json", "toolConfig.functionCallingConfig.mode"),
        ("system_image.json", "systemInstruction.parts[0]"),
    ];
    let mut wrong = Vec::new();
    for (file, path) in cases {
        let body = std::fs::read(support::fixture("gemini/bad").join(file)).expect(file);
        let got = invalid_path(request::decode(&body).expect_err(file));
        if got != *path {
            wrong.push(format!("{file}: got `{got}`, want `{path}`"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let deep = format!(
        "{{\"contents\":[{{\"parts\":[{{\"text\":\"x\"}}]}}],\"x\":{}{}}}",
        "[".repeat(500),
        "]".repeat(500)
    );
    assert_eq!(
        invalid_path(request::decode(deep.as_bytes()).unwrap_err()),
        "."
    );
}
