//! Fixture-driven tests of the Cohere v2 Chat codecs (`tests/fixtures/cohere/`): each
//! case's request, whole answer and SSE stream (`stream.sse`, as Cohere sends it)
//! decode to the canonical snapshots, encode back to the snapshots beside them, and
//! read back the same; the stream gives the same events at any chunking and adds up to
//! the whole answer.

use crate::support;

use std::path::Path;

use gateway_protocol::{
    ApiShape, ChatRequest, ChatResponse, Delta, ErrorKind, GatewayError, Part, PartStart,
    StopReason, StreamEvent, Usage,
};
use gateway_translate::cohere::{request, response, stream};
use gateway_translate::framing::Framing;
use gateway_translate::{EncodeOptions, ResponseContext};
use proptest::prelude::*;
use serde_json::Value;

const SHAPE: &str = "cohere";

fn ctx_for(req: &ChatRequest) -> ResponseContext {
    let mut ctx = ResponseContext::for_request(req, ApiShape::Cohere);
    ctx.model = "command-a-03-2025".to_owned();
    ctx.id_seed = "seed".to_owned();
    ctx
}

fn case_request(dir: &Path) -> ChatRequest {
    let body = std::fs::read(dir.join("request.json")).expect("every case has a request.json");
    request::decode(&body).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn case_stream(dir: &Path) -> Option<Vec<u8>> {
    support::read_opt(&dir.join("stream.sse"))
}

fn decode_stream(ctx: &ResponseContext, bytes: &[u8], sizes: &[usize]) -> Vec<StreamEvent> {
    let frames = support::frames_chunked(Framing::Sse, bytes, sizes);
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
                Delta::Signature(_) => {}
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
            Part::Reasoning(r) => t.reasoning.push_str(&r.text),
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
    // Our encoder's bytes read back as the same events, and are what Cohere sends.
    let encoded = encode_stream(ctx, &events);
    support::check_snapshot(
        &dir.join("stream.encoded.sse"),
        &String::from_utf8_lossy(&encoded),
    );
    let again = decode_stream(ctx, &encoded, &[usize::MAX]);
    assert_eq!(
        without_codes(again),
        without_codes(events),
        "{}: stream round trip",
        dir.display()
    );
}

/// An error re-read from our own `message-end` carries Cohere's `ERROR` as its code;
/// the original may have had none (a cut stream).
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
    assert!(cases.len() >= 15, "{} cases", cases.len());
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
fn billed_units_are_the_usage_and_cached_tokens_are_cache_reads() {
    let dir = support::fixture("cohere/documents");
    let ctx = ctx_for(&case_request(&dir));
    let body = std::fs::read(dir.join("response.json")).unwrap();
    let resp = response::decode(&body, &ctx).unwrap();
    // tokens says 420 in (the prompt template included); billed_units 300.
    assert_eq!(
        (
            resp.usage.input_tokens,
            resp.usage.output_tokens,
            resp.usage.cache_read_tokens
        ),
        (300, 8, 256)
    );
    let only_tokens = br#"{"id":"x","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"hi"}]},"usage":{"tokens":{"input_tokens":9.0,"output_tokens":2}}}"#;
    let resp = response::decode(only_tokens, &ctx).unwrap();
    assert_eq!((resp.usage.input_tokens, resp.usage.output_tokens), (9, 2));
}

#[test]
fn finish_reasons_map_to_stop_reasons() {
    for (wire, stop) in [
        ("COMPLETE", StopReason::EndTurn),
        ("STOP_SEQUENCE", StopReason::StopSequence),
        ("MAX_TOKENS", StopReason::MaxTokens),
        ("TOOL_CALL", StopReason::ToolUse),
        ("ERROR", StopReason::Other),
        ("TIMEOUT", StopReason::Other),
        ("SOMETHING_NEW", StopReason::Other),
    ] {
        assert_eq!(response::stop_reason(wire), stop, "{wire}");
    }
}

#[test]
fn a_failed_generation_ends_the_stream_with_its_error() {
    let dir = support::fixture("cohere/stream_error");
    let bytes = case_stream(&dir).expect("stream");
    let events = decode_stream(&ctx_for(&case_request(&dir)), &bytes, &[7]);
    let Some(StreamEvent::Error(err)) = events.last() else {
        panic!("no error at the end: {events:?}");
    };
    assert_eq!((err.status, err.retryable), (502, true));
    assert!(
        err.message.contains("failed to generate"),
        "{}",
        err.message
    );
}

#[test]
fn a_cut_stream_ends_with_an_upstream_error() {
    let dir = support::fixture("cohere/cut_stream");
    let bytes = case_stream(&dir).expect("stream");
    let events = decode_stream(&ctx_for(&case_request(&dir)), &bytes, &[usize::MAX]);
    assert!(
        matches!(events.last(), Some(StreamEvent::Error(e)) if e.status == 502),
        "{events:?}"
    );
}

#[test]
fn frames_without_event_names_are_read_by_their_type() {
    let dir = support::fixture("cohere/tools");
    let bytes = case_stream(&dir).expect("stream");
    let ctx = ctx_for(&case_request(&dir));
    let plain: String = String::from_utf8(bytes.clone())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("event:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        decode_stream(&ctx, plain.as_bytes(), &[13]),
        decode_stream(&ctx, &bytes, &[usize::MAX])
    );
}

#[test]
fn tool_choice_by_name_keeps_that_tool_and_requires_a_call() {
    use gateway_protocol::{Message, Role, Tool, ToolChoice};
    let tool = |name: &str| Tool {
        name: name.to_owned(),
        description: None,
        parameters: None,
        strict: None,
        cache_control: None,
    };
    let mut req = ChatRequest {
        tools: vec![tool("a"), tool("b.c")],
        tool_choice: Some(ToolChoice::Tool("b.c".to_owned())),
        messages: vec![Message::text(Role::User, "go")],
        ..ChatRequest::default()
    };
    let body: Value =
        serde_json::from_slice(&request::encode(&req, &EncodeOptions::default()).unwrap()).unwrap();
    assert_eq!(body["tool_choice"], "REQUIRED");
    assert_eq!(body["tools"].as_array().unwrap().len(), 1);
    let name = body["tools"][0]["function"]["name"].as_str().unwrap();
    assert!(name.starts_with('b') && !name.contains('.'), "{name}");
    // The answer's calls get the caller's name back.
    let ctx = ResponseContext::for_request(&req, ApiShape::Cohere);
    let answer = format!(
        r#"{{"id":"x","finish_reason":"TOOL_CALL","message":{{"role":"assistant","tool_calls":[{{"id":"t1","type":"function","function":{{"name":"{name}","arguments":"{{}}"}}}}]}}}}"#
    );
    let resp = response::decode(answer.as_bytes(), &ctx).unwrap();
    assert!(matches!(&resp.parts[0], Part::ToolCall(c) if c.name == "b.c"));
    // `none` is Cohere's NONE; `auto` sends no choice.
    req.tool_choice = Some(ToolChoice::None);
    let body: Value =
        serde_json::from_slice(&request::encode(&req, &EncodeOptions::default()).unwrap()).unwrap();
    assert_eq!(
        (
            body["tool_choice"].as_str(),
            body["tools"].as_array().map(Vec::len)
        ),
        (Some("NONE"), Some(2))
    );
    req.tool_choice = Some(ToolChoice::Auto);
    let body: Value =
        serde_json::from_slice(&request::encode(&req, &EncodeOptions::default()).unwrap()).unwrap();
    assert!(body.get("tool_choice").is_none(), "{body}");
}

#[test]
fn media_and_documents_cohere_cannot_read_are_refused_with_the_path() {
    use base64::Engine as _;
    use gateway_protocol::{Document, Image, MediaSource, Message, Role};
    let with = |part: Part| ChatRequest {
        messages: vec![Message {
            role: Role::User,
            parts: vec![Part::text("look"), part],
        }],
        ..ChatRequest::default()
    };
    let doc = |media_type: &str, data: &str| {
        Part::Document(Document {
            source: MediaSource::Base64 {
                media_type: media_type.into(),
                data: data.into(),
            },
            filename: Some("notes.txt".into()),
            title: None,
            cache_control: None,
        })
    };
    for (part, words) in [
        (
            Part::Image(Image {
                source: MediaSource::FileId("file-1".into()),
                detail: None,
                cache_control: None,
            }),
            "file ids",
        ),
        (doc("application/pdf", "JVBERi0="), "application/pdf"),
    ] {
        let err = request::encode(&with(part), &EncodeOptions::default()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("messages[0].content[1]") && text.contains(words),
            "{text}"
        );
    }
    // A text document goes to the top-level documents; a web image as its URL.
    let text = base64::engine::general_purpose::STANDARD.encode("Sales rose 4%.");
    let body: Value = serde_json::from_slice(
        &request::encode(&with(doc("text/plain", &text)), &EncodeOptions::default()).unwrap(),
    )
    .unwrap();
    assert_eq!(body["documents"][0]["data"]["text"], "Sales rose 4%.");
    assert_eq!(body["documents"][0]["data"]["title"], "notes.txt");
    let image = Part::Image(Image {
        source: MediaSource::Url("https://example.com/cat.png".into()),
        detail: Some("low".into()),
        cache_control: None,
    });
    let body: Value =
        serde_json::from_slice(&request::encode(&with(image), &EncodeOptions::default()).unwrap())
            .unwrap();
    assert_eq!(
        body["messages"][0]["content"][1],
        serde_json::json!({"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}})
    );
}

#[test]
fn reasoning_of_another_family_is_not_replayed_and_effort_becomes_a_budget() {
    use gateway_protocol::{Effort, Family, Message, Reasoning, ReasoningConfig, Role};
    let mut req = ChatRequest::default();
    req.messages.push(Message::text(Role::User, "q"));
    req.messages.push(Message {
        role: Role::Assistant,
        parts: vec![
            Part::Reasoning(Reasoning {
                text: "anthropic thoughts".into(),
                signature: Some("anthropic-sig".into()),
                source: Some(Family::Anthropic),
                ..Reasoning::default()
            }),
            Part::Reasoning(Reasoning {
                text: "cohere thoughts".into(),
                source: Some(Family::Cohere),
                ..Reasoning::default()
            }),
            Part::text("a"),
        ],
    });
    req.reasoning = Some(ReasoningConfig {
        effort: Some(Effort::Low),
        ..ReasoningConfig::default()
    });
    let body: Value =
        serde_json::from_slice(&request::encode(&req, &EncodeOptions::default()).unwrap()).unwrap();
    let text = body.to_string();
    assert!(!text.contains("anthropic"), "{text}");
    assert_eq!(
        body["messages"][1]["content"][0],
        serde_json::json!({"type": "thinking", "thinking": "cohere thoughts"})
    );
    assert_eq!(body["thinking"]["type"], "enabled");
    assert_eq!(
        body["thinking"]["token_budget"],
        Effort::Low.budget_tokens()
    );
}

#[test]
fn every_error_kind_encodes_and_decodes_back() {
    use gateway_translate::cohere::error;
    for kind in [
        ErrorKind::InvalidRequest,
        ErrorKind::Authentication,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
        ErrorKind::RateLimited,
        ErrorKind::UpstreamTimeout,
        ErrorKind::Overloaded,
    ] {
        let err = GatewayError::new(kind, format!("{kind:?} happened"));
        let (status, body) = error::encode(&err);
        assert_eq!(status, kind.status());
        let back = error::decode(status, &body);
        assert_eq!(
            (back.kind, back.message.as_str()),
            (kind, err.message.as_str())
        );
    }
}

#[test]
fn a_mid_stream_error_reaches_each_caller_in_its_own_grammar() {
    use gateway_translate::codec::Transcoder;
    let dir = support::fixture("cohere/stream_error");
    let bytes = case_stream(&dir).expect("stream");
    let ctx = ctx_for(&case_request(&dir));
    for (caller, words) in [
        (ApiShape::OpenAiChat, "\"error\""),
        (ApiShape::Anthropic, "event: error"),
        (ApiShape::Gemini, "\"error\""),
    ] {
        let mut t = Transcoder::new(ApiShape::Cohere, caller, &ctx);
        let mut out = Vec::new();
        for chunk in bytes.chunks(11) {
            t.push(chunk, &mut out);
        }
        t.finish(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Hel"), "{caller}: {text}");
        assert!(text.contains(words), "{caller}: {text}");
        assert!(text.contains("failed to generate"), "{caller}: {text}");
        assert_eq!(t.error().map(|e| e.status), Some(502), "{caller}");
    }
}

#[test]
fn carried_cohere_fields_are_added_once_and_never_replace_typed_ones() {
    use gateway_protocol::{Message, Role};
    let mut req = ChatRequest {
        messages: vec![Message::text(Role::User, "hi")],
        ..ChatRequest::default()
    };
    req.sampling.max_output_tokens = Some(100);
    req.extensions
        .insert("cohere", "safety_mode", serde_json::json!("STRICT"));
    req.extensions
        .insert("cohere", "max_tokens", serde_json::json!(5));
    req.extensions.insert(
        "cohere",
        "documents",
        serde_json::json!([{"id": "d", "data": {"text": "t"}}]),
    );
    // Another provider's parameters are not Cohere's.
    req.extensions
        .insert("bedrock", "guardrailConfig", serde_json::json!({}));
    let body = request::encode(&req, &EncodeOptions::default()).unwrap();
    let text = String::from_utf8(body.clone()).unwrap();
    assert_eq!(text.matches("\"max_tokens\"").count(), 1, "{text}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["max_tokens"], 100);
    assert_eq!(v["safety_mode"], "STRICT");
    assert_eq!(v["documents"][0]["id"], "d");
    assert!(v.get("guardrailConfig").is_none(), "{v}");
}
