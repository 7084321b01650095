//! Fixture-driven tests of the Bedrock Converse codecs (`tests/fixtures/bedrock/`).
//!
//! A case's stream is kept twice: `stream.jsonl`, one event per line as Bedrock sends
//! it (`{"event": <:event-type>, "payload": {...}}`, or `{"exception": <type>,
//! "payload": {...}}`), and `stream.eventstream`, those events as the binary event
//! stream bytes. The runner holds the two equal (`BLESS=1` rewrites the binary) and
//! decodes the binary.

use crate::support;

use std::path::Path;

use gateway_protocol::{
    ApiShape, ChatRequest, ChatResponse, Delta, ErrorKind, GatewayError, Part, PartStart,
    StopReason, StreamEvent, Usage,
};
use gateway_translate::bedrock::{request, response, stream};
use gateway_translate::framing::Framing;
use gateway_translate::framing::eventstream::{self, Header};
use gateway_translate::{EncodeOptions, ResponseContext};
use proptest::prelude::*;
use serde_json::Value;

const SHAPE: &str = "bedrock";

fn ctx_for(req: &ChatRequest) -> ResponseContext {
    let mut ctx = ResponseContext::for_request(req, ApiShape::Bedrock);
    ctx.model = "anthropic.claude-sonnet-4-20250514-v1:0".to_owned();
    ctx.id_seed = "seed".to_owned();
    ctx
}

fn case_request(dir: &Path) -> ChatRequest {
    let body = std::fs::read(dir.join("request.json")).expect("every case has a request.json");
    request::decode(&body).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// The binary form of a `stream.jsonl` transcript.
fn transcript_bytes(jsonl: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).expect("transcript line is JSON");
        let payload = serde_json::to_vec(&v["payload"]).expect("payload");
        let headers = match (v["event"].as_str(), v["exception"].as_str()) {
            (Some(event), _) => vec![
                Header::string(":event-type", event),
                Header::string(":content-type", "application/json"),
                Header::string(":message-type", "event"),
            ],
            (None, Some(kind)) => vec![
                Header::string(":exception-type", kind),
                Header::string(":content-type", "application/json"),
                Header::string(":message-type", "exception"),
            ],
            _ => panic!("transcript line names neither event nor exception: {line}"),
        };
        eventstream::encode(&headers, &payload, &mut out);
    }
    out
}

/// The case's binary stream, held equal to its transcript.
fn case_stream(dir: &Path) -> Option<Vec<u8>> {
    let jsonl = std::fs::read_to_string(dir.join("stream.jsonl")).ok()?;
    let bytes = transcript_bytes(&jsonl);
    let path = dir.join("stream.eventstream");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &bytes).expect("write stream.eventstream");
    }
    let stored = std::fs::read(&path)
        .unwrap_or_else(|_| panic!("missing {} (BLESS=1 writes it)", path.display()));
    assert_eq!(
        stored,
        bytes,
        "{}: binary differs from the transcript",
        dir.display()
    );
    Some(stored)
}

fn decode_stream(ctx: &ResponseContext, bytes: &[u8], sizes: &[usize]) -> Vec<StreamEvent> {
    let frames = support::frames_chunked(Framing::EventStream, bytes, sizes);
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

/// What a stream adds up to: text, reasoning, calls (id, name, args), stop, usage.
#[derive(Debug, Default, PartialEq)]
struct Totals {
    text: String,
    reasoning: String,
    signature: String,
    calls: Vec<(String, String, Value)>,
    stop: Option<StopReason>,
    usage: Usage,
}

fn stream_totals(events: &[StreamEvent]) -> Totals {
    let mut t = Totals::default();
    let mut args = Vec::<String>::new();
    for ev in events {
        match ev {
            StreamEvent::PartStart {
                part: PartStart::ToolCall { id, name, .. },
                ..
            } => {
                t.calls.push((id.clone(), name.clone(), Value::Null));
                args.push(String::new());
            }
            StreamEvent::Delta { delta, .. } => match delta {
                Delta::Text(s) => t.text.push_str(s),
                Delta::Reasoning(s) => t.reasoning.push_str(s),
                Delta::ToolArguments(s) => {
                    if let Some(a) = args.last_mut() {
                        a.push_str(s);
                    }
                }
                Delta::Signature(s) => t.signature.push_str(s),
            },
            StreamEvent::Usage(u) => t.usage = *u,
            StreamEvent::MessageStop { stop_reason, .. } => t.stop = Some(*stop_reason),
            _ => {}
        }
    }
    for (call, a) in t.calls.iter_mut().zip(args) {
        call.2 = serde_json::from_str(&a).unwrap_or(Value::Null);
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
            Part::Text { text, .. } => t.text.push_str(text),
            Part::Reasoning(r) => {
                t.reasoning.push_str(&r.text);
                t.signature.push_str(r.signature.as_deref().unwrap_or(""));
            }
            Part::ToolCall(c) => t.calls.push((
                c.id.clone(),
                c.name.clone(),
                serde_json::from_str(&c.arguments).unwrap_or(Value::Null),
            )),
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
    let Some(bytes) = case_stream(dir) else {
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
        "{}",
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
    // Our encoder's bytes read back as the same events.
    let encoded = encode_stream(ctx, &events);
    let again = decode_stream(ctx, &encoded, &[usize::MAX]);
    assert_eq!(
        without_codes(again),
        without_codes(events),
        "{}: stream round trip",
        dir.display()
    );
}

/// Errors re-read from our own exception carry the AWS type as their code; the
/// original may have had none (a cut stream).
fn without_codes(mut events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    for e in &mut events {
        if let StreamEvent::Error(err) = e {
            err.code = None;
        }
    }
    events
}

fn cases() -> Vec<std::path::PathBuf> {
    support::cases(SHAPE)
}

#[test]
fn fixture_cases() {
    let cases = cases();
    assert!(cases.len() >= 17, "{} cases", cases.len());
    for dir in cases {
        let req = check_request(&dir);
        let ctx = ctx_for(&req);
        let resp = check_response(&dir, &ctx);
        check_stream(&dir, &ctx, resp.as_ref());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn any_chunking_gives_the_same_events(sizes in proptest::collection::vec(1usize..40, 1..12)) {
        for dir in cases() {
            let Some(bytes) = case_stream(&dir) else { continue };
            let ctx = ctx_for(&case_request(&dir));
            let whole = decode_stream(&ctx, &bytes, &[usize::MAX]);
            prop_assert_eq!(decode_stream(&ctx, &bytes, &sizes), whole);
        }
    }
}

#[test]
fn a_mid_stream_throttling_exception_is_a_retryable_429() {
    let dir = support::fixture("bedrock/stream_exception");
    let bytes = case_stream(&dir).expect("stream");
    let events = decode_stream(&ctx_for(&case_request(&dir)), &bytes, &[5]);
    let Some(StreamEvent::Error(err)) = events.last() else {
        panic!("no error at the end: {events:?}");
    };
    assert_eq!(
        (err.kind, err.status, err.retryable),
        (ErrorKind::RateLimited, 429, true)
    );
    assert_eq!(
        err.message,
        "Too many tokens, please wait before trying again."
    );
}

#[test]
fn a_cut_stream_ends_with_an_upstream_error() {
    let dir = support::fixture("bedrock/cut_stream");
    let bytes = case_stream(&dir).expect("stream");
    let ctx = ctx_for(&case_request(&dir));
    let events = decode_stream(&ctx, &bytes, &[usize::MAX]);
    assert!(
        matches!(events.last(), Some(StreamEvent::Error(e)) if e.status == 502),
        "{events:?}"
    );
    // Cut inside a message, the framer reports the broken stream.
    let events = decode_stream(&ctx, &bytes[..bytes.len() - 3], &[usize::MAX]);
    let Some(StreamEvent::Error(e)) = events.last() else {
        panic!("{events:?}");
    };
    assert!(e.message.contains("short"), "{}", e.message);
}

#[test]
fn a_corrupt_message_ends_the_stream_with_an_error() {
    let dir = support::fixture("bedrock/text");
    let mut bytes = case_stream(&dir).expect("stream");
    let ctx = ctx_for(&case_request(&dir));
    bytes[140] ^= 0x20;
    let events = decode_stream(&ctx, &bytes, &[usize::MAX]);
    let Some(StreamEvent::Error(e)) = events.last() else {
        panic!("{events:?}");
    };
    assert!(e.message.contains("CRC"), "{}", e.message);
    assert_eq!(e.code.as_deref(), Some("InvalidEventStream"));
}

#[test]
fn tool_names_and_ids_are_made_legal_for_converse() {
    use gateway_protocol::{Message, Role, Tool, ToolCall, ToolChoice};
    let long = "a.tool.with.dots.and.a.name.longer.than.sixty.four.characters.in.all";
    let req = ChatRequest {
        tools: vec![Tool {
            name: long.to_owned(),
            description: None,
            parameters: None,
            strict: None,
            cache_control: None,
        }],
        tool_choice: Some(ToolChoice::Tool(long.to_owned())),
        messages: vec![
            Message::text(Role::User, "go"),
            Message {
                role: Role::Assistant,
                parts: vec![Part::ToolCall(ToolCall {
                    id: "call:1/x".to_owned(),
                    name: long.to_owned(),
                    arguments: "{\"a\":1}".to_owned(),
                    signature: None,
                })],
            },
        ],
        ..ChatRequest::default()
    };
    let body: Value =
        serde_json::from_slice(&request::encode(&req, &EncodeOptions::default()).unwrap()).unwrap();
    let name = body["toolConfig"]["tools"][0]["toolSpec"]["name"]
        .as_str()
        .unwrap();
    assert!(
        name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{name}"
    );
    assert_eq!(body["toolConfig"]["toolChoice"]["tool"]["name"], name);
    assert_eq!(body["messages"][1]["content"][0]["toolUse"]["name"], name);
    let id = body["messages"][1]["content"][0]["toolUse"]["toolUseId"]
        .as_str()
        .unwrap();
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{id}"
    );
    // The answer's calls get the caller's name back.
    let ctx = ResponseContext::for_request(&req, ApiShape::Bedrock);
    let answer = format!(
        r#"{{"output":{{"message":{{"role":"assistant","content":[{{"toolUse":{{"toolUseId":"t1","name":"{name}","input":{{}}}}}}]}}}},"stopReason":"tool_use"}}"#
    );
    let resp = response::decode(answer.as_bytes(), &ctx).unwrap();
    assert!(matches!(&resp.parts[0], Part::ToolCall(c) if c.name == long));
}

#[test]
fn media_converse_cannot_read_is_refused_with_the_path() {
    use gateway_protocol::{Image, MediaSource, Message, Role};
    let image = |source| ChatRequest {
        messages: vec![Message {
            role: Role::User,
            parts: vec![Part::Image(Image {
                source,
                detail: None,
                cache_control: None,
            })],
        }],
        ..ChatRequest::default()
    };
    for (source, words) in [
        (MediaSource::Url("https://example.com/a.png".into()), "S3"),
        (MediaSource::FileId("file-1".into()), "file ids"),
        (
            MediaSource::Base64 {
                media_type: "image/tiff".into(),
                data: "AAAA".into(),
            },
            "image/tiff",
        ),
    ] {
        let err = request::encode(&image(source), &EncodeOptions::default()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("messages[0].content[0]") && text.contains(words),
            "{text}"
        );
    }
    // S3 locations are Converse's own.
    let ok = request::encode(
        &image(MediaSource::Url("s3://bucket/cat.jpeg".into())),
        &EncodeOptions::default(),
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&ok).unwrap();
    assert_eq!(
        v["messages"][0]["content"][0]["image"]["source"]["s3Location"]["uri"],
        "s3://bucket/cat.jpeg"
    );
    assert_eq!(v["messages"][0]["content"][0]["image"]["format"], "jpeg");
}

#[test]
fn every_error_kind_encodes_and_decodes_back() {
    use gateway_translate::bedrock::error;
    for kind in [
        ErrorKind::InvalidRequest,
        ErrorKind::Authentication,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
        ErrorKind::RateLimited,
        ErrorKind::QuotaExceeded,
        ErrorKind::UpstreamTimeout,
        ErrorKind::Overloaded,
    ] {
        let err = GatewayError::new(kind, format!("{kind:?} happened"));
        let (status, body) = error::encode(&err);
        assert_eq!(status, kind.status());
        let back = error::decode_typed(status, Some(error::error_type(kind)), &body);
        assert_eq!(
            (back.kind, back.message.as_str()),
            (kind, err.message.as_str())
        );
    }
}

#[test]
fn reasoning_of_another_family_is_not_replayed() {
    use gateway_protocol::{Family, Message, Reasoning, Role};
    let mut req = ChatRequest::default();
    req.messages.push(Message::text(Role::User, "q"));
    req.messages.push(Message {
        role: Role::Assistant,
        parts: vec![
            Part::Reasoning(Reasoning {
                text: "hmm".into(),
                signature: Some("anthropic-sig".into()),
                source: Some(Family::Anthropic),
                ..Reasoning::default()
            }),
            Part::text("a"),
        ],
    });
    let body =
        String::from_utf8(request::encode(&req, &EncodeOptions::default()).unwrap()).unwrap();
    assert!(
        !body.contains("anthropic-sig") && !body.contains("reasoningContent"),
        "{body}"
    );
}

#[test]
fn a_mid_stream_exception_reaches_each_caller_in_its_own_grammar() {
    use gateway_translate::codec::Transcoder;
    let dir = support::fixture("bedrock/stream_exception");
    let bytes = case_stream(&dir).expect("stream");
    let ctx = ctx_for(&case_request(&dir));
    for (caller, words) in [
        (ApiShape::OpenAiChat, "rate_limit"),
        (ApiShape::Anthropic, "event: error"),
        (ApiShape::Gemini, "RESOURCE_EXHAUSTED"),
    ] {
        let mut t = Transcoder::new(ApiShape::Bedrock, caller, &ctx);
        let mut out = Vec::new();
        for chunk in bytes.chunks(11) {
            t.push(chunk, &mut out);
        }
        t.finish(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Hel"), "{caller}: {text}");
        assert!(text.contains(words), "{caller}: {text}");
        assert_eq!(t.error().map(|e| e.status), Some(429), "{caller}");
    }
}
