//! Fixture-driven tests of the Ollama codecs (`tests/fixtures/ollama/`), the bad-input
//! and error cases, and the PROTOCOLS §9 edge cases that concern Ollama.

use crate::support;

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
        ("deep_nesting.json", "format"),
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

// ---------------------------------------------------------------------------------
// Request encoding rules and PROTOCOLS §9 edge cases

use gateway_protocol::{
    BindingField, Document, Effort, Family, Image, MediaSource, Message, Part, Reasoning,
    ReasoningConfig, ResponseFormat, Role, Tool, ToolCall, ToolChoice, ToolResult,
};
use serde_json::{Value, json};

fn encode_json(req: &ChatRequest) -> Value {
    let body = request::encode(req, &EncodeOptions::default()).expect("encodes");
    serde_json::from_slice(&body).expect("json")
}

fn tool(name: &str) -> Tool {
    Tool {
        name: name.to_owned(),
        description: None,
        parameters: Some(gateway_protocol::RawJson::from_value(
            &json!({"type": "object", "properties": {}}),
        )),
        strict: Some(true),
        cache_control: None,
    }
}

fn call(id: &str, name: &str, args: &str) -> Part {
    Part::ToolCall(ToolCall {
        id: id.to_owned(),
        name: name.to_owned(),
        arguments: args.to_owned(),
        signature: None,
    })
}

fn result(id: &str, name: Option<&str>, text: &str) -> Part {
    Part::ToolResult(ToolResult {
        call_id: id.to_owned(),
        name: name.map(str::to_owned),
        content: vec![Part::text(text)],
        is_error: false,
    })
}

fn user(parts: Vec<Part>) -> Message {
    Message {
        role: Role::User,
        parts,
    }
}

fn assistant(parts: Vec<Part>) -> Message {
    Message {
        role: Role::Assistant,
        parts,
    }
}

fn base() -> ChatRequest {
    ChatRequest {
        model: "llama3.2".to_owned(),
        messages: vec![Message::text(Role::User, "hi")],
        ..ChatRequest::default()
    }
}

fn untranslatable_path(req: &ChatRequest) -> (String, String) {
    match request::encode(req, &EncodeOptions::default()) {
        Err(TranslateError::Untranslatable { path, message, .. }) => (path, message),
        other => panic!("expected Untranslatable, got {other:?}"),
    }
}

#[test]
fn stream_is_always_explicit_9_25() {
    let mut req = base();
    assert_eq!(encode_json(&req)["stream"], json!(false));
    req.stream = true;
    assert_eq!(encode_json(&req)["stream"], json!(true));
    // And an Ollama body without `stream` means streaming.
    let decoded = request::decode(br#"{"model":"m","messages":[]}"#).expect("decodes");
    assert!(decoded.stream);
}

#[test]
fn omitted_counts_are_zero_9_25() {
    let ctx = ctx_for(&base());
    let resp = response::decode(
        br#"{"model":"m","created_at":"2025-10-09T08:53:20Z","message":{"role":"assistant","content":"hi"},"done":true,"done_reason":"stop"}"#,
        &ctx,
    )
    .expect("decodes");
    assert_eq!(resp.usage, Usage::default());
    let mut dec = stream::Decoder::new(&ctx);
    let mut events = Vec::new();
    dec.decode(
        &gateway_translate::Frame::data(r#"{"model":"m","done":true}"#),
        &mut events,
    )
    .expect("decodes");
    assert!(events.contains(&StreamEvent::Usage(Usage::default())));
    assert_eq!(
        events.last(),
        Some(&StreamEvent::MessageStop {
            stop_reason: StopReason::EndTurn,
            stop_sequence: None
        })
    );
}

#[test]
fn stop_with_tool_calls_is_tool_use_9_6() {
    let ctx = ctx_for(&base());
    let body = br#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Oslo"}}}]},"done":true,"done_reason":"stop","prompt_eval_count":5,"eval_count":2}"#;
    let resp = response::decode(body, &ctx).expect("decodes");
    assert_eq!(resp.stop_reason, StopReason::ToolUse);
    let Part::ToolCall(c) = &resp.parts[0] else {
        panic!("{resp:?}")
    };
    assert_eq!(c.id, gateway_translate::ids::synthesize_call_id("seed", 0));
    assert_eq!(c.arguments, r#"{"city":"Oslo"}"#);
    // `length` stays MaxTokens even with calls; unknown reasons are Other.
    let long = br#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":{}}}]},"done":true,"done_reason":"length"}"#;
    assert_eq!(
        response::decode(long, &ctx).expect("ok").stop_reason,
        StopReason::MaxTokens
    );
    let odd = br#"{"model":"m","message":{"role":"assistant","content":"x"},"done":true,"done_reason":"unload"}"#;
    assert_eq!(
        response::decode(odd, &ctx).expect("ok").stop_reason,
        StopReason::Other
    );
    // Canonical → done_reason: only stop/length exist; a content filter is an empty stop.
    assert_eq!(response::done_reason(StopReason::ContentFilter), "stop");
    assert_eq!(response::done_reason(StopReason::StopSequence), "stop");
    assert_eq!(response::done_reason(StopReason::ContextExceeded), "length");
}

#[test]
fn caller_tool_names_are_restored_in_answers() {
    let mut req = base();
    req.tools = vec![tool("get_weather")];
    let ctx = ctx_for(&req);
    assert!(ctx.tool_names.is_identity(), "Ollama accepts any tool name");
}

#[test]
fn system_text_becomes_leading_system_messages_8_3() {
    let mut req = base();
    req.system = vec![Part::text("Be brief."), Part::text("Be kind.")];
    let v = encode_json(&req);
    assert_eq!(
        v["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(
        v["messages"][1],
        json!({"role": "system", "content": "Be kind."})
    );
    assert_eq!(v["messages"][2]["role"], json!("user"));
    // Mid-conversation system messages are hoisted on decode (§9.3).
    let back = request::decode(
        br#"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"system","content":"s"},{"role":"user","content":"b"}]}"#,
    )
    .expect("decodes");
    assert_eq!(back.system, vec![Part::text("s")]);
    assert_eq!(back.messages.len(), 2);
}

#[test]
fn text_parts_join_and_images_are_raw_base64() {
    let mut req = base();
    req.messages = vec![user(vec![
        Part::text("one"),
        Part::Image(Image {
            source: MediaSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0K".into(),
            },
            detail: Some("high".into()),
            cache_control: None,
        }),
        Part::text(""),
        Part::text("two"),
    ])];
    let v = encode_json(&req);
    assert_eq!(
        v["messages"][0],
        json!({"role": "user", "content": "one\n\ntwo", "images": ["iVBORw0K"]})
    );
}

#[test]
fn image_urls_and_documents_are_untranslatable_9_16() {
    let mut req = base();
    req.messages = vec![user(vec![
        Part::text("look"),
        Part::Image(Image {
            source: MediaSource::Url("https://example.com/a.png".into()),
            detail: None,
            cache_control: None,
        }),
    ])];
    let (path, message) = untranslatable_path(&req);
    assert_eq!(path, "messages[0].content[1]");
    assert!(message.contains("downloaded and inlined"), "{message}");

    req.messages = vec![user(vec![Part::Document(Document {
        source: MediaSource::Base64 {
            media_type: "application/pdf".into(),
            data: "JVBER".into(),
        },
        filename: None,
        title: None,
        cache_control: None,
    })])];
    assert_eq!(untranslatable_path(&req).0, "messages[0].content[0]");
}

#[test]
fn tool_history_maps_to_calls_with_objects_and_tool_messages() {
    let mut req = base();
    req.tools = vec![tool("get_weather"), tool("get_time")];
    req.messages = vec![
        Message::text(Role::User, "Weather and time?"),
        assistant(vec![
            Part::text(""),
            call("call_w1", "get_weather", r#"{"city":"Oslo"}"#),
            // A Gemini signature rides in the id; Ollama sees the plain id.
            call(
                &gateway_translate::ids::attach_signature("call_t1", "sig"),
                "get_time",
                "",
            ),
        ]),
        user(vec![
            Part::text("thanks"),
            result("call_w1", None, "4°C"),
            result("call_t1", None, "10:00"),
            // Not in the history: the result's own name is the fallback.
            result("call_zz", Some("lookup"), "x"),
        ]),
    ];
    let v = encode_json(&req);
    let msgs = v["messages"].as_array().expect("messages");
    assert_eq!(
        msgs[1],
        json!({"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_w1", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
            {"id": "call_t1", "function": {"name": "get_time", "arguments": {}}}
        ]})
    );
    assert_eq!(
        msgs[2],
        json!({"role": "tool", "content": "4°C", "tool_name": "get_weather", "tool_call_id": "call_w1"})
    );
    assert_eq!(msgs[3]["tool_name"], json!("get_time"));
    assert_eq!(msgs[3]["tool_call_id"], json!("call_t1"));
    assert_eq!(msgs[4]["tool_name"], json!("lookup"));
    // Tool messages first, then the user's text (§8.2 order).
    assert_eq!(msgs[5], json!({"role": "user", "content": "thanks"}));
}

#[test]
fn invalid_history_arguments_are_untranslatable_with_the_path() {
    let mut req = base();
    req.messages = vec![
        Message::text(Role::User, "go"),
        assistant(vec![call("c1", "f", "{\"a\":")]),
    ];
    let (path, _) = untranslatable_path(&req);
    assert_eq!(path, "messages[1].content[0].arguments");
    req.messages[1] = assistant(vec![call("c1", "f", "[1,2]")]);
    assert_eq!(
        untranslatable_path(&req).0,
        "messages[1].content[0].arguments"
    );
}

#[test]
fn tool_results_without_ids_pair_by_name_and_order() {
    let body = br#"{"model":"m","messages":[
        {"role":"user","content":"q"},
        {"role":"assistant","content":"","tool_calls":[
            {"function":{"name":"a","arguments":{}}},
            {"function":{"name":"b","arguments":{}}},
            {"function":{"name":"a","arguments":{"n":2}}}]},
        {"role":"tool","content":"rb","tool_name":"b"},
        {"role":"tool","content":"ra1","tool_name":"a"},
        {"role":"tool","content":"ra2"},
        {"role":"user","content":"more"}]}"#;
    let req = request::decode(body).expect("decodes");
    let call_ids: Vec<&str> = req.messages[1]
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall(c) => Some(c.id.as_str()),
            _ => None,
        })
        .collect();
    let result_ids: Vec<&str> = req.messages[2]
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolResult(r) => Some(r.call_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(result_ids, vec![call_ids[1], call_ids[0], call_ids[2]]);
    assert_eq!(req.messages[2].role, Role::User);
    assert_eq!(req.messages[3], Message::text(Role::User, "more"));
}

#[test]
fn tool_choice_has_no_ollama_field_8_6() {
    let mut req = base();
    req.tools = vec![tool("a"), tool("b"), tool("c")];
    let names = |v: &Value| -> Vec<String> {
        v["tools"]
            .as_array()
            .map(|t| {
                t.iter()
                    .map(|t| t["function"]["name"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    req.tool_choice = Some(ToolChoice::Auto);
    assert_eq!(names(&encode_json(&req)), ["a", "b", "c"]);
    req.tool_choice = Some(ToolChoice::Required);
    assert_eq!(names(&encode_json(&req)), ["a", "b", "c"]);
    req.tool_choice = Some(ToolChoice::None);
    assert!(encode_json(&req).get("tools").is_none());
    req.tool_choice = Some(ToolChoice::Tool("b".into()));
    assert_eq!(names(&encode_json(&req)), ["b"]);
    req.tool_choice = Some(ToolChoice::Allowed {
        names: vec!["a".into(), "c".into()],
        required: true,
    });
    assert_eq!(names(&encode_json(&req)), ["a", "c"]);
    req.tool_choice = Some(ToolChoice::Tool("nope".into()));
    assert_eq!(untranslatable_path(&req).0, "tool_choice");
    assert!(
        encode_json(&{
            let mut r = base();
            r.tools = vec![tool("a")];
            r
        })["tools"][0]["function"]
            .get("strict")
            .is_none()
    );
}

#[test]
fn reasoning_maps_to_think_8_9() {
    let think = |effort: Option<Effort>, budget: Option<u64>| {
        let mut req = base();
        req.reasoning = Some(ReasoningConfig {
            effort,
            budget_tokens: budget,
            include_thoughts: false,
        });
        encode_json(&req).get("think").cloned()
    };
    assert_eq!(think(Some(Effort::None), None), Some(json!(false)));
    assert_eq!(think(Some(Effort::Minimal), None), Some(json!("low")));
    assert_eq!(think(Some(Effort::Low), None), Some(json!("low")));
    assert_eq!(think(Some(Effort::Medium), None), Some(json!("medium")));
    assert_eq!(think(Some(Effort::High), None), Some(json!("high")));
    assert_eq!(think(Some(Effort::XHigh), None), Some(json!("max")));
    assert_eq!(think(Some(Effort::Max), None), Some(json!("max")));
    assert_eq!(think(None, Some(4096)), Some(json!("high")));
    assert_eq!(think(None, Some(0)), Some(json!(false)));
    assert_eq!(think(None, None), None);
    assert!(encode_json(&base()).get("think").is_none());
    // Decode: bool or level.
    let effort = |body: &[u8]| {
        request::decode(body)
            .expect("ok")
            .reasoning
            .and_then(|r| r.effort)
    };
    assert_eq!(
        effort(br#"{"model":"m","think":false}"#),
        Some(Effort::None)
    );
    assert_eq!(
        effort(br#"{"model":"m","think":true}"#),
        Some(Effort::Medium)
    );
    assert_eq!(effort(br#"{"model":"m","think":"max"}"#), Some(Effort::Max));
}

#[test]
fn only_ollama_reasoning_is_replayed() {
    let mut req = base();
    let reasoning = |source| {
        Part::Reasoning(Reasoning {
            text: "hmm".into(),
            signature: Some("s".into()),
            source,
            ..Reasoning::default()
        })
    };
    req.messages = vec![
        Message::text(Role::User, "a"),
        assistant(vec![reasoning(Some(Family::Anthropic)), Part::text("b")]),
        Message::text(Role::User, "c"),
        assistant(vec![reasoning(Some(Family::Ollama)), Part::text("d")]),
        // A reasoning-only turn from another family disappears entirely.
        assistant(vec![reasoning(None)]),
    ];
    let v = encode_json(&req);
    assert_eq!(
        v["messages"][1],
        json!({"role": "assistant", "content": "b"})
    );
    assert_eq!(
        v["messages"][3],
        json!({"role": "assistant", "content": "d", "thinking": "hmm"})
    );
    assert_eq!(v["messages"].as_array().map(Vec::len), Some(4));
}

#[test]
fn structured_output_and_sampling_map_to_format_and_options() {
    let mut req = base();
    req.response_format = Some(ResponseFormat::JsonObject);
    assert_eq!(encode_json(&req)["format"], json!("json"));
    req.response_format = Some(ResponseFormat::JsonSchema {
        name: "person".into(),
        description: None,
        schema: json!({"type": "object"}),
        strict: Some(true),
    });
    assert_eq!(encode_json(&req)["format"], json!({"type": "object"}));
    req.response_format = Some(ResponseFormat::Text);
    assert!(encode_json(&req).get("format").is_none());
    req.sampling.max_output_tokens = Some(u64::MAX);
    req.sampling.stop = vec!["END".into()];
    req.sampling.top_k = Some(3);
    req.parallel_tool_calls = Some(false);
    req.user = Some("u1".into());
    let v = encode_json(&req);
    assert_eq!(
        v["options"],
        json!({"num_predict": i64::MAX, "stop": ["END"], "top_k": 3})
    );
    assert!(v.get("user").is_none());
    assert!(encode_json(&base()).get("options").is_none());
}

#[test]
fn extensions_apply_and_foreign_bindings_refuse() {
    let mut req = base();
    req.sampling.temperature = Some(0.5);
    req.extensions.insert("ollama", "keep_alive", json!("10m"));
    req.extensions.insert(
        "ollama",
        "options",
        json!({"num_ctx": 4096, "temperature": 1.5}),
    );
    req.extensions.insert("ollama", "stream", json!(true));
    req.extensions
        .insert("openai", "service_tier", json!("flex"));
    let v = encode_json(&req);
    assert_eq!(v["keep_alive"], json!("10m"));
    assert_eq!(v["options"], json!({"num_ctx": 4096, "temperature": 0.5}));
    assert_eq!(v["stream"], json!(false), "the body's own fields win");
    assert!(v.get("service_tier").is_none());

    req.extensions.binding.push(BindingField {
        only_shape: None,
        family: Family::OpenAi,
        path: "n".into(),
        reason: "several choices".into(),
    });
    assert_eq!(untranslatable_path(&req).0, "n");
    // An Ollama binding (logprobs) is fine for an Ollama upstream.
    let decoded = request::decode(
        br#"{"model":"m","messages":[],"logprobs":true,"patchbay":{"ext":{"deepseek":{"x":1}}}}"#,
    )
    .expect("decodes");
    assert_eq!(decoded.extensions.binding.len(), 1);
    assert_eq!(decoded.extensions.params["deepseek"]["x"], json!(1));
    assert_eq!(encode_json(&decoded)["logprobs"], json!(true));
}

#[test]
fn stream_encoder_survives_odd_event_orders() {
    let ctx = ctx_for(&base());
    let mut enc = stream::Encoder::new(&ctx);
    let mut out = Vec::new();
    let events = [
        StreamEvent::Delta {
            index: 7,
            delta: Delta::Text("orphan".into()),
        },
        StreamEvent::Delta {
            index: 8,
            delta: Delta::ToolArguments("{}".into()),
        },
        StreamEvent::PartStop { index: 99 },
        StreamEvent::PartStart {
            index: 1,
            part: PartStart::ToolCall {
                id: "c1".into(),
                name: "f".into(),
                signature: None,
            },
        },
        StreamEvent::Delta {
            index: 1,
            delta: Delta::ToolArguments("{\"a\"".into()),
        },
        StreamEvent::Delta {
            index: 1,
            delta: Delta::ToolArguments(":1}".into()),
        },
        // No PartStop: MessageStop flushes the call.
        StreamEvent::Usage(Usage {
            input_tokens: 4,
            output_tokens: 2,
            ..Usage::default()
        }),
        StreamEvent::MessageStop {
            stop_reason: StopReason::ToolUse,
            stop_sequence: None,
        },
        StreamEvent::Delta {
            index: 7,
            delta: Delta::Text("after".into()),
        },
    ];
    for ev in &events {
        enc.encode(ev, &mut out);
    }
    let text = String::from_utf8(out).expect("utf-8");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0]["message"]["content"], json!("orphan"));
    assert_eq!(
        lines[1]["message"]["tool_calls"][0]["function"]["arguments"],
        json!({"a": 1})
    );
    assert_eq!(lines[2]["done"], json!(true));
    assert_eq!(lines[2]["done_reason"], json!("stop"));
    assert_eq!(lines[2]["prompt_eval_count"], json!(4));

    // Broken arguments end the stream with an error line instead of a broken call.
    let mut enc = stream::Encoder::new(&ctx);
    let mut out = Vec::new();
    enc.encode(
        &StreamEvent::PartStart {
            index: 0,
            part: PartStart::ToolCall {
                id: "c".into(),
                name: "f".into(),
                signature: None,
            },
        },
        &mut out,
    );
    enc.encode(
        &StreamEvent::Delta {
            index: 0,
            delta: Delta::ToolArguments("{oops".into()),
        },
        &mut out,
    );
    enc.encode(&StreamEvent::PartStop { index: 0 }, &mut out);
    enc.encode(
        &StreamEvent::MessageStop {
            stop_reason: StopReason::ToolUse,
            stop_sequence: None,
        },
        &mut out,
    );
    let text = String::from_utf8(out).expect("utf-8");
    assert_eq!(text.lines().count(), 1);
    assert!(text.starts_with("{\"error\":"), "{text}");
}

#[test]
fn response_encode_uses_context_model_and_time() {
    let mut ctx = ctx_for(&base());
    ctx.model = "caller-model".into();
    let resp = ChatResponse {
        id: "x".into(),
        model: "upstream".into(),
        parts: vec![
            Part::text("a"),
            call("call_1", "f", "not json"),
            Part::text("b"),
        ],
        stop_reason: StopReason::MaxTokens,
        ..ChatResponse::default()
    };
    let v: Value = serde_json::from_slice(&response::encode(&resp, &ctx)).expect("json");
    assert_eq!(v["model"], json!("caller-model"));
    assert_eq!(v["created_at"], json!("2025-10-09T08:53:20Z"));
    assert_eq!(v["message"]["content"], json!("ab"));
    assert_eq!(
        v["message"]["tool_calls"][0]["function"]["arguments"],
        json!({})
    );
    assert_eq!(v["done_reason"], json!("length"));
}

// ---------------------------------------------------------------------------------
// /api/embed and /api/tags

#[test]
fn embeddings_round_trip() {
    use gateway_protocol::{EmbeddingInput, EmbeddingsResponse};
    use gateway_translate::ollama::embeddings;
    let req = embeddings::decode_request(
        br#"{"model":"nomic-embed-text","input":["a","b"],"dimensions":256,"truncate":true,"keep_alive":"1m"}"#,
    )
    .expect("decodes");
    assert_eq!(
        req.inputs,
        vec![
            EmbeddingInput::Text("a".into()),
            EmbeddingInput::Text("b".into())
        ]
    );
    assert_eq!(req.dimensions, Some(256));
    assert_eq!(req.extensions.params["ollama"]["truncate"], json!(true));
    let v: Value =
        serde_json::from_slice(&embeddings::encode_request(&req).expect("encodes")).expect("json");
    assert_eq!(
        v,
        json!({"model": "nomic-embed-text", "input": ["a", "b"], "dimensions": 256, "truncate": true, "keep_alive": "1m"})
    );
    let one = embeddings::decode_request(br#"{"model":"m","input":"solo"}"#).expect("decodes");
    let v: Value =
        serde_json::from_slice(&embeddings::encode_request(&one).expect("encodes")).expect("json");
    assert_eq!(v["input"], json!("solo"));
    let mut tokens = one.clone();
    tokens.inputs = vec![EmbeddingInput::Tokens(vec![1, 2])];
    assert!(matches!(
        embeddings::encode_request(&tokens),
        Err(TranslateError::Untranslatable { ref path, .. }) if path == "input[0]"
    ));
    match embeddings::decode_request(br#"{"model":"m","input":[1]}"#) {
        Err(TranslateError::InvalidRequest { path, .. }) => assert_eq!(path, "input"),
        other => panic!("{other:?}"),
    }

    let resp = embeddings::decode_response(
        br#"{"model":"m","embeddings":[[0.5,-1.0],[0.25,2.0]],"total_duration":1,"prompt_eval_count":4}"#,
    )
    .expect("decodes");
    assert_eq!(
        resp,
        EmbeddingsResponse {
            model: "m".into(),
            vectors: vec![vec![0.5, -1.0], vec![0.25, 2.0]],
            input_tokens: Some(4)
        }
    );
    let back =
        embeddings::decode_response(&embeddings::encode_response(&resp, "m")).expect("decodes");
    assert_eq!(back, resp);
}

#[test]
fn tags_round_trip() {
    use gateway_translate::ollama::models;
    let list = models::decode(
        br#"{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","modified_at":"2025-10-09T10:53:20.123+02:00","size":2019393189,"digest":"a80c4f17acd5","details":{"format":"gguf","family":"llama","parameter_size":"3.2B","quantization_level":"Q4_K_M"}}]}"#,
    )
    .expect("decodes");
    assert_eq!(list.models[0].id, "llama3.2:latest");
    assert_eq!(list.models[0].created, Some(CREATED));
    let back = models::decode(&models::encode(&list)).expect("decodes");
    assert_eq!(back, list);
    let v: Value = serde_json::from_slice(&models::encode(&list)).expect("json");
    assert_eq!(v["models"][0]["modified_at"], json!("2025-10-09T08:53:20Z"));
    assert_eq!(v["models"][0]["digest"].as_str().map(str::len), Some(64));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// No input makes any decoder panic (errors are fine).
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), text in "\\PC{0,120}") {
        let ctx = ctx_for(&ChatRequest::default());
        for body in [bytes.as_slice(), text.as_bytes()] {
            let _ = request::decode(body);
            let _ = response::decode(body, &ctx);
            let _ = gateway_translate::ollama::error::decode(500, body);
            let _ = gateway_translate::ollama::embeddings::decode_request(body);
            let _ = gateway_translate::ollama::models::decode(body);
            let mut dec = stream::Decoder::new(&ctx);
            let mut events = Vec::new();
            for frame in support::frames(Framing::Ndjson, body) {
                let _ = dec.decode(&frame, &mut events);
            }
            dec.finish(&mut events);
        }
    }

    /// Ollama-shaped JSON with arbitrary values decodes or fails cleanly, and whatever
    /// decodes also encodes.
    #[test]
    fn json_shaped_requests_never_panic(
        role in "(user|assistant|tool|system|robot)",
        content in "\\PC{0,20}",
        think in prop_oneof![Just(json!(true)), Just(json!("low")), Just(json!("weird")), Just(json!(3))],
        args in prop_oneof![Just(json!({"a": 1})), Just(json!("{\"a\":1}")), Just(json!([1])), Just(json!(null))],
    ) {
        let body = json!({
            "model": "m",
            "think": think,
            "messages": [
                {"role": role, "content": content, "tool_name": "f"},
                {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": args}}]},
                {"role": "tool", "content": content}
            ]
        });
        if let Ok(req) = request::decode(body.to_string().as_bytes()) {
            let _ = request::encode(&req, &EncodeOptions::default());
        }
    }
}
