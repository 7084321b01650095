//! Fixture-driven tests of the Ollama codecs (`tests/fixtures/ollama/`), the bad-input
//! and error cases, and the PROTOCOLS §9 edge cases that concern Ollama.

mod support;

use std::path::Path;

use gateway_protocol::{
    ApiShape, ChatRequest, ChatResponse, Delta, ErrorKind, GatewayError, PartStart, StopReason,
    StreamEvent, Usage,
};
use gateway_translate::framing::Framing;
use gateway_translate::ollama::{request, response, stream};
use gateway_translate::{EncodeOptions, ResponseContext, TranslateError};
use proptest::prelude::*;

const SHAPE: &str = "ollama";
const CREATED: u64 = 1_760_000_000;

/// Case directories (the `bad` and `errors` directories hold other material).
fn chat_cases() -> Vec<std::path::PathBuf> {
    support::cases(SHAPE)
        .into_iter()
        .filter(|d| !d.ends_with("bad") && !d.ends_with("errors"))
        .collect()
}

fn ctx_for(req: &ChatRequest) -> ResponseContext {
    let mut ctx = ResponseContext::for_request(req, ApiShape::Ollama);
    ctx.id_seed = "seed".to_owned();
    ctx.created = CREATED;
    ctx
}

fn case_request(dir: &Path) -> ChatRequest {
    let body = std::fs::read(dir.join("request.json")).expect("every case has a request.json");
    request::decode(&body).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn decode_stream(ctx: &ResponseContext, bytes: &[u8], sizes: &[usize]) -> Vec<StreamEvent> {
    let frames = support::frames_chunked(Framing::Ndjson, bytes, sizes);
    let mut dec = stream::Decoder::new(ctx);
    let mut events = Vec::new();
    for frame in &frames {
        dec.decode(frame, &mut events)
            .unwrap_or_else(|e| panic!("frame {frame:?}: {e}"));
    }
    dec.finish(&mut events);
    events
}

fn encode_stream(ctx: &ResponseContext, events: &[StreamEvent]) -> Vec<u8> {
    let mut enc = stream::Encoder::new(ctx);
    let mut out = Vec::new();
    for ev in events {
        enc.encode(ev, &mut out);
    }
    out
}

/// Errors re-read from our own `{"error":…}` line carry only the message (Ollama's
/// envelope has no kind or status), so stream comparisons keep kind and message.
fn normalise_errors(events: &[StreamEvent]) -> Vec<StreamEvent> {
    events
        .iter()
        .map(|e| match e {
            StreamEvent::Error(err) => {
                StreamEvent::Error(GatewayError::new(err.kind, err.message.clone()))
            }
            other => other.clone(),
        })
        .collect()
}

/// What a stream adds up to: text, reasoning, calls (id, name, args), stop, usage.
#[derive(Debug, Default, PartialEq)]
struct Totals {
    text: String,
    reasoning: String,
    calls: Vec<(String, String, String)>,
    stop: Option<StopReason>,
    usage: Usage,
}

fn stream_totals(events: &[StreamEvent]) -> Totals {
    let mut t = Totals::default();
    for ev in events {
        match ev {
            StreamEvent::PartStart {
                part: PartStart::ToolCall { id, name, .. },
                ..
            } => t.calls.push((id.clone(), name.clone(), String::new())),
            StreamEvent::Delta { delta, .. } => match delta {
                Delta::Text(s) => t.text.push_str(s),
                Delta::Reasoning(s) => t.reasoning.push_str(s),
                Delta::ToolArguments(s) => {
                    if let Some(c) = t.calls.last_mut() {
                        c.2.push_str(s);
                    }
                }
                Delta::Signature(_) => {}
            },
            StreamEvent::Usage(u) => t.usage = *u,
            StreamEvent::MessageStop { stop_reason, .. } => t.stop = Some(*stop_reason),
            _ => {}
        }
    }
    t
}

fn response_totals(resp: &ChatResponse) -> Totals {
    let mut t = Totals {
        stop: Some(resp.stop_reason),
        usage: resp.usage,
        ..Totals::default()
    };
    for part in &resp.parts {
        match part {
            gateway_protocol::Part::Text { text, .. } => t.text.push_str(text),
            gateway_protocol::Part::Reasoning(r) => t.reasoning.push_str(&r.text),
            gateway_protocol::Part::ToolCall(c) => {
                t.calls
                    .push((c.id.clone(), c.name.clone(), c.arguments.clone()))
            }
            _ => {}
        }
    }
    t
}

fn check_request(dir: &Path) -> ChatRequest {
    let decoded = case_request(dir);
    support::check_snapshot(
        &dir.join("request.canonical.txt"),
        &format!("{decoded:#?}\n"),
    );
    let encoded = request::encode(&decoded, &EncodeOptions::default())
        .unwrap_or_else(|e| panic!("{}: encode: {e}", dir.display()));
    support::check_snapshot(
        &dir.join("request.encoded.json"),
        &support::pretty_json(&encoded),
    );
    // The encoder's output parses back into an equivalent request. No normalisation
    // is needed: history calls gain explicit ids, which decode back to the same ids.
    let again = request::decode(&encoded).expect("encoded request decodes");
    assert_eq!(again, decoded, "{}: request round trip", dir.display());
    decoded
}

fn check_response(dir: &Path, ctx: &ResponseContext) -> Option<ChatResponse> {
    let body = support::read_opt(&dir.join("response.json"))?;
    let decoded = response::decode(&body, ctx).expect("response decodes");
    support::check_snapshot(
        &dir.join("response.canonical.txt"),
        &format!("{decoded:#?}\n"),
    );
    let encoded = response::encode(&decoded, ctx);
    support::check_snapshot(
        &dir.join("response.encoded.json"),
        &support::pretty_json(&encoded),
    );
    let again = response::decode(&encoded, ctx).expect("encoded response decodes");
    assert_eq!(again, decoded, "{}: response round trip", dir.display());
    Some(decoded)
}

fn check_stream(dir: &Path, ctx: &ResponseContext, resp: Option<&ChatResponse>) {
    let Some(bytes) = support::read_opt(&dir.join("stream.ndjson")) else {
        return;
    };
    let events = decode_stream(ctx, &bytes, &[usize::MAX]);
    let lines: String = events.iter().map(|e| format!("{e:?}\n")).collect();
    support::check_snapshot(&dir.join("stream.events.txt"), &lines);
    for cut in 0..=bytes.len() {
        let two = decode_stream(ctx, &bytes, &[cut.max(1), usize::MAX]);
        assert_eq!(two, events, "{}: split at {cut}", dir.display());
    }
    assert_eq!(
        decode_stream(ctx, &bytes, &[1]),
        events,
        "{}: 1-byte chunks",
        dir.display()
    );
    if let Some(resp) = resp {
        assert_eq!(
            stream_totals(&events),
            response_totals(resp),
            "{}: stream adds up to the response",
            dir.display()
        );
    }
    let encoded = encode_stream(ctx, &events);
    support::check_snapshot(
        &dir.join("stream.encoded.ndjson"),
        &String::from_utf8(encoded.clone()).expect("utf-8"),
    );
    let again = decode_stream(ctx, &encoded, &[usize::MAX]);
    assert_eq!(
        normalise_errors(&again),
        normalise_errors(&events),
        "{}: stream round trip",
        dir.display()
    );
}

#[test]
fn fixture_cases() {
    let cases = chat_cases();
    assert!(cases.len() >= 11, "the 11 shared cases are present");
    for dir in cases {
        let req = check_request(&dir);
        let ctx = ctx_for(&req);
        let resp = check_response(&dir, &ctx);
        check_stream(&dir, &ctx, resp.as_ref());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_chunking_gives_the_same_events(sizes in proptest::collection::vec(1usize..40, 1..12)) {
        for dir in chat_cases() {
            let Some(bytes) = support::read_opt(&dir.join("stream.ndjson")) else { continue };
            let ctx = ctx_for(&case_request(&dir));
            let whole = decode_stream(&ctx, &bytes, &[usize::MAX]);
            prop_assert_eq!(decode_stream(&ctx, &bytes, &sizes), whole);
        }
    }
}

#[test]
fn bad_requests_name_the_field() {
    let expected = [
        ("malformed.json", "messages"),
        ("wrong_type.json", "messages[0].content"),
        ("missing_model.json", "."),
        ("missing_role.json", "messages[1]"),
        ("unknown_role.json", "messages[1].role"),
        ("unknown_tool_type.json", "tools[1].type"),
        ("huge_integer.json", "options.num_predict"),
        ("deep_nesting.json", "."),
        ("bad_think.json", "think"),
        ("bad_format.json", "format"),
        ("bad_images.json", "messages[0].images"),
        (
            "bad_tool_arguments.json",
            "messages[0].tool_calls[0].function",
        ),
        ("not_an_object.json", "."),
    ];
    let dir = support::fixture("ollama/bad");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("bad dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let want = expected
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no expected path for bad/{name}"))
            .1;
        let body = std::fs::read(&path).expect("read");
        match request::decode(&body) {
            Err(TranslateError::InvalidRequest { path, message }) => {
                assert_eq!(path, want, "bad/{name}: {message}");
            }
            other => panic!("bad/{name}: expected InvalidRequest, got {other:?}"),
        }
        seen += 1;
    }
    assert_eq!(seen, expected.len());
}

// ---------------------------------------------------------------------------------
// Errors

#[test]
fn every_error_kind_encodes_as_ollama_envelope_with_its_status() {
    use gateway_translate::ollama::error;
    let kinds = [
        ErrorKind::InvalidRequest,
        ErrorKind::Authentication,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
        ErrorKind::PayloadTooLarge,
        ErrorKind::RateLimited,
        ErrorKind::QuotaExceeded,
        ErrorKind::ContextLengthExceeded,
        ErrorKind::Upstream,
        ErrorKind::UpstreamTimeout,
        ErrorKind::Overloaded,
        ErrorKind::Internal,
    ];
    for kind in kinds {
        let err = GatewayError::new(kind, format!("{kind:?} happened")).with_param("messages[0]");
        let (status, body) = error::encode(&err);
        assert_eq!(status, kind.status(), "{kind:?}");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            v,
            serde_json::json!({ "error": format!("{kind:?} happened") })
        );
        // Decoding our own envelope keeps the message and the status's kind.
        let back = error::decode(status, &body);
        assert_eq!(back.message, err.message);
    }
    // An upstream-specific status survives encoding.
    let err = GatewayError::from_upstream(529, "busy");
    assert_eq!(error::encode(&err).0, 503);
}

#[test]
fn upstream_error_bodies_decode_to_kinds() {
    use gateway_translate::ollama::error;
    let expected = [
        (
            "404_model_not_found.json",
            ErrorKind::NotFound,
            404,
            false,
            Some("model_not_found"),
        ),
        (
            "400_context.json",
            ErrorKind::ContextLengthExceeded,
            400,
            false,
            Some("context_length_exceeded"),
        ),
        ("500_runner.json", ErrorKind::Upstream, 500, true, None),
        ("503_busy.json", ErrorKind::Overloaded, 503, true, None),
        ("502_html.txt", ErrorKind::Upstream, 502, true, None),
    ];
    for (name, kind, status, retryable, code) in expected {
        let body = std::fs::read(support::fixture(format!("ollama/errors/{name}"))).expect("read");
        let http: u16 = name[..3].parse().expect("status prefix");
        let err = error::decode(http, &body);
        assert_eq!(err.kind, kind, "{name}");
        assert_eq!(err.status, status, "{name}");
        assert_eq!(err.retryable, retryable, "{name}");
        assert_eq!(err.code.as_deref(), code, "{name}");
        assert!(!err.message.is_empty(), "{name}");
    }
    let err = error::decode(
        404,
        br#"{"error":"model 'llama9' not found, try pulling it first"}"#,
    );
    assert_eq!(
        err.message,
        "model 'llama9' not found, try pulling it first"
    );
    // Unreadable body: the message comes from the status, nothing panics.
    let err = error::decode(500, b"\xff\xfe not json");
    assert!(err.message.contains("500"));
    // OpenAI-compatible `{"error":{"message":…}}` bodies are read too.
    let err = error::decode(429, br#"{"error":{"message":"slow down"}}"#);
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ErrorKind::RateLimited, "slow down")
    );
}

#[test]
fn mid_stream_error_line_decodes_and_encodes() {
    let ctx = ctx_for(&ChatRequest::default());
    let mut dec = stream::Decoder::new(&ctx);
    let mut events = Vec::new();
    let frame = gateway_translate::Frame::data(r#"{"error":"model 'x' not found"}"#);
    dec.decode(&frame, &mut events).expect("decodes");
    // Nothing after the error counts, and finish adds nothing.
    let late = gateway_translate::Frame::data(
        r#"{"model":"m","message":{"role":"assistant","content":"late"},"done":false}"#,
    );
    dec.decode(&late, &mut events).expect("ignored");
    dec.finish(&mut events);
    assert_eq!(events.len(), 1);
    let StreamEvent::Error(err) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(err.kind, ErrorKind::NotFound);

    let mut enc = stream::Encoder::new(&ctx);
    let mut out = Vec::new();
    enc.encode(
        &StreamEvent::Error(GatewayError::new(ErrorKind::Overloaded, "busy")),
        &mut out,
    );
    enc.encode(
        &StreamEvent::MessageStop {
            stop_reason: StopReason::EndTurn,
            stop_sequence: None,
        },
        &mut out,
    );
    assert_eq!(out, b"{\"error\":\"busy\"}\n");
}

#[test]
fn malformed_stream_line_is_an_upstream_protocol_error() {
    let ctx = ctx_for(&ChatRequest::default());
    let mut dec = stream::Decoder::new(&ctx);
    let mut events = Vec::new();
    let err = dec
        .decode(&gateway_translate::Frame::data("{not json"), &mut events)
        .expect_err("malformed");
    assert!(matches!(err, TranslateError::UpstreamProtocol { .. }));
    assert!(matches!(
        response::decode(b"[]", &ctx),
        Err(TranslateError::UpstreamProtocol { .. })
    ));
    assert!(matches!(
        response::decode(br#"{"error":"boom"}"#, &ctx),
        Err(TranslateError::UpstreamProtocol { .. })
    ));
}
