//! Fixture-driven tests of the Gemini codec (`tests/fixtures/gemini/<case>/`) and the
//! PROTOCOLS §9 edge cases that concern Gemini.

use crate::support;

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
    let err = request::decode(deep.as_bytes()).expect_err("deep nesting");
    // Too deep for serde_json (128 levels): the path is where the limit was hit.
    assert!(invalid_path(err).starts_with("x[0][0][0]"));
}

// ---------------------------------------------------------------------------------
// Errors (§6.5, §8.14, §9.13–9.15)

#[test]
fn upstream_error_bodies_map_to_kinds() {
    use gateway_translate::gemini::error;
    // (file, HTTP status, kind, status, retryable, retry_after, code, param)
    type Row = (
        &'static str,
        u16,
        ErrorKind,
        u16,
        bool,
        Option<u64>,
        Option<&'static str>,
        Option<&'static str>,
    );
    let rows: &[Row] = &[
        (
            "rate_limited.json",
            429,
            ErrorKind::RateLimited,
            429,
            true,
            Some(12),
            Some("RESOURCE_EXHAUSTED"),
            None,
        ),
        (
            "api_key_invalid.json",
            400,
            ErrorKind::Authentication,
            401,
            false,
            None,
            Some("API_KEY_INVALID"),
            None,
        ),
        (
            "unavailable.json",
            503,
            ErrorKind::Overloaded,
            503,
            true,
            None,
            Some("UNAVAILABLE"),
            None,
        ),
        (
            "not_found.json",
            404,
            ErrorKind::NotFound,
            404,
            false,
            None,
            Some("NOT_FOUND"),
            None,
        ),
        (
            "context_too_long.json",
            400,
            ErrorKind::ContextLengthExceeded,
            400,
            false,
            None,
            Some("INVALID_ARGUMENT"),
            None,
        ),
        (
            "array_wrapped.json",
            500,
            ErrorKind::Upstream,
            500,
            true,
            None,
            Some("INTERNAL"),
            None,
        ),
        (
            "bad_field.json",
            400,
            ErrorKind::InvalidRequest,
            400,
            false,
            None,
            Some("INVALID_ARGUMENT"),
            Some("generation_config"),
        ),
        (
            "not_json.html",
            502,
            ErrorKind::Upstream,
            502,
            true,
            None,
            None,
            None,
        ),
    ];
    for (file, http, kind, status, retryable, retry_after, code, param) in rows {
        let body = std::fs::read(support::fixture("gemini/errors").join(file)).expect(file);
        let e = error::decode(*http, &body);
        assert_eq!(e.kind, *kind, "{file}");
        assert_eq!(e.status, *status, "{file}");
        assert_eq!(e.retryable, *retryable, "{file}");
        assert_eq!(e.retry_after, *retry_after, "{file}");
        assert_eq!(e.code.as_deref(), *code, "{file}");
        assert_eq!(e.param.as_deref(), *param, "{file}");
        assert!(!e.message.is_empty(), "{file}");
    }
}

#[test]
fn every_error_kind_encodes_in_the_gemini_envelope() {
    use gateway_translate::gemini::error;
    let kinds = [
        (ErrorKind::InvalidRequest, 400, "INVALID_ARGUMENT"),
        (ErrorKind::Authentication, 401, "UNAUTHENTICATED"),
        (ErrorKind::PermissionDenied, 403, "PERMISSION_DENIED"),
        (ErrorKind::NotFound, 404, "NOT_FOUND"),
        (ErrorKind::PayloadTooLarge, 413, "INVALID_ARGUMENT"),
        (ErrorKind::RateLimited, 429, "RESOURCE_EXHAUSTED"),
        (ErrorKind::QuotaExceeded, 429, "RESOURCE_EXHAUSTED"),
        (ErrorKind::ContextLengthExceeded, 400, "INVALID_ARGUMENT"),
        (ErrorKind::Upstream, 502, "INTERNAL"),
        (ErrorKind::UpstreamTimeout, 504, "DEADLINE_EXCEEDED"),
        (ErrorKind::Overloaded, 503, "UNAVAILABLE"),
        (ErrorKind::Internal, 500, "INTERNAL"),
    ];
    for (kind, status, name) in kinds {
        let (got, body) = error::encode(&GatewayError::new(kind, "it broke"));
        assert_eq!(got, status, "{kind:?}");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["error"]["code"], status, "{kind:?}");
        assert_eq!(v["error"]["status"], name, "{kind:?}");
        assert_eq!(v["error"]["message"], "it broke");
    }
    // §9.13: an Anthropic 529 reaches a Gemini caller as 503 UNAVAILABLE.
    let (status, body) = error::encode(&GatewayError::from_upstream(529, "busy").with_status(529));
    assert_eq!(status, 503);
    assert!(String::from_utf8_lossy(&body).contains("\"UNAVAILABLE\""));
    // retry delay, code and param survive a round trip through the envelope.
    let e = GatewayError::new(ErrorKind::RateLimited, "slow down")
        .with_retry_after(7)
        .with_code("rate_limit_exceeded")
        .with_param("contents");
    let (status, body) = error::encode(&e);
    let back = error::decode(status, &body);
    assert_eq!(back.kind, ErrorKind::RateLimited);
    assert_eq!(back.retry_after, Some(7));
    assert_eq!(back.code.as_deref(), Some("rate_limit_exceeded"));
    assert_eq!(back.param.as_deref(), Some("contents"));
}

// ---------------------------------------------------------------------------------
// Request encoding for a Gemini upstream (§9.2, 9.5, 9.19, §8.4–8.11)

use gateway_protocol::{
    Family, Image, MediaSource, Message, Reasoning, Role, Tool, ToolCall, ToolChoice, ToolResult,
};
use gateway_translate::ids;

fn call(id: &str, name: &str, args: &str) -> Part {
    Part::ToolCall(ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: args.into(),
        signature: None,
    })
}

fn result(id: &str, text: &str) -> Part {
    Part::ToolResult(ToolResult {
        call_id: id.into(),
        name: None,
        content: vec![Part::text(text)],
        is_error: false,
    })
}

fn tool(name: &str) -> Tool {
    Tool {
        name: name.into(),
        description: None,
        parameters: Some(gateway_protocol::RawJson::from_value(
            &serde_json::json!({"type": "object"}),
        )),
        strict: None,
        cache_control: None,
    }
}

fn encode_json(req: &ChatRequest) -> Result<serde_json::Value, TranslateError> {
    let bytes = request::encode(req, &EncodeOptions::default())?;
    Ok(serde_json::from_slice(&bytes).expect("encoder writes JSON"))
}

fn untranslatable_path(err: TranslateError) -> String {
    match err {
        TranslateError::Untranslatable { path, .. } => path,
        other => panic!("expected Untranslatable, got {other:?}"),
    }
}

fn chat_history() -> ChatRequest {
    ChatRequest {
        model: "gemini-2.5-flash".into(),
        system: vec![Part::text("Be brief."), Part::text("Use metric units.")],
        messages: vec![
            Message::text(Role::User, "Weather"),
            Message::text(Role::User, "and time in Oslo?"),
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::text(""),
                    call(
                        "functions.get_weather:0",
                        "get_weather",
                        r#"{"city":"Oslo"}"#,
                    ),
                    call(
                        &ids::synthesize_call_id("x", 1),
                        "get_time",
                        r#"{"tz":"Europe/Oslo"}"#,
                    ),
                ],
            },
            Message {
                role: Role::User,
                parts: vec![result("functions.get_weather:0", r#"{"temp_c":4}"#)],
            },
            Message {
                role: Role::User,
                parts: vec![result(&ids::synthesize_call_id("x", 1), "10:00")],
            },
            Message::text(Role::User, "Thanks, and tomorrow?"),
        ],
        tools: vec![tool("get_weather"), tool("get_time")],
        ..Default::default()
    }
}

/// Call args are written from their canonical text when it covers them, else from a
/// parsed `Value`; both must give the `Value`'s text, byte for byte.
#[test]
fn call_args_are_written_as_their_value_prints() {
    for args in [
        r#"{"city":"Oslo"}"#,
        r#" { "b" : [1, true, null], "a" : { "d" : "x", "c" : {} } } "#,
        r#"{"f": 1.50, "e": "caf\u00e9", "big": 123456789012345678901}"#,
        r#"{"z":{"y":-7,"x":"\n"},"a":[{"k":2,"j":1}]}"#,
        "",
        "  ",
    ] {
        let mut req = chat_history();
        req.messages[2].parts[1] = call("functions.get_weather:0", "get_weather", args);
        let body = request::encode(&req, &EncodeOptions::default()).expect("encodes");
        let body = String::from_utf8(body).expect("UTF-8");
        let expected = if args.trim().is_empty() {
            "{}".to_owned()
        } else {
            serde_json::from_str::<serde_json::Value>(args)
                .expect("valid")
                .to_string()
        };
        assert!(
            body.contains(&format!(r#""args":{expected}"#)),
            "{args}: {body}"
        );
    }
    for not_an_object in ["[1]", "\"s\"", "1.5", "{"] {
        let mut req = chat_history();
        req.messages[2].parts[1] = call("functions.get_weather:0", "get_weather", not_an_object);
        let err = request::encode(&req, &EncodeOptions::default()).expect_err(not_an_object);
        let path = untranslatable_path(err);
        assert!(path.ends_with(".arguments"), "{not_an_object}: {path}");
    }
}

#[test]
fn role_merging_and_tool_results_follow_gemini_turn_rules() {
    let v = encode_json(&chat_history()).expect("encodes");
    assert!(v.get("model").is_none(), "the model goes in the URL");
    assert_eq!(
        v["systemInstruction"]["parts"],
        serde_json::json!([{"text": "Be brief."}, {"text": "Use metric units."}])
    );
    let contents = v["contents"].as_array().expect("contents");
    let roles: Vec<_> = contents.iter().map(|c| c["role"].as_str()).collect();
    assert_eq!(roles, [Some("user"), Some("model"), Some("user")]);
    assert_eq!(contents[0]["parts"].as_array().map(Vec::len), Some(2));
    let model = &contents[1]["parts"];
    assert_eq!(
        model.as_array().map(Vec::len),
        Some(2),
        "empty text dropped"
    );
    // A foreign id is echoed; an id a gateway decoder synthesised is not.
    assert_eq!(model[0]["functionCall"]["id"], "functions.get_weather:0");
    assert!(model[1]["functionCall"].get("id").is_none());
    assert_eq!(
        model[0]["functionCall"]["args"],
        serde_json::json!({"city": "Oslo"})
    );
    // §9.19: history without signatures gets the documented bypass on the first call.
    assert_eq!(
        model[0]["thoughtSignature"],
        "skip_thought_signature_validator"
    );
    assert!(model[1].get("thoughtSignature").is_none());
    let user = &contents[2]["parts"];
    assert_eq!(user[0]["functionResponse"]["name"], "get_weather");
    assert_eq!(
        user[0]["functionResponse"]["response"],
        serde_json::json!({"temp_c": 4})
    );
    assert_eq!(user[1]["functionResponse"]["name"], "get_time");
    assert_eq!(
        user[1]["functionResponse"]["response"],
        serde_json::json!({"content": "10:00"})
    );
    assert!(user[1]["functionResponse"].get("id").is_none());
    assert_eq!(user[2]["text"], "Thanks, and tomorrow?");
}

#[test]
fn a_missing_tool_result_is_refused() {
    let mut req = chat_history();
    req.messages.remove(4);
    let err = encode_json(&req).expect_err("one result for two calls");
    assert_eq!(untranslatable_path(err), "messages");
}

#[test]
fn result_names_fall_back_to_the_result_then_fail() {
    let mut req = ChatRequest {
        messages: vec![Message {
            role: Role::User,
            parts: vec![result("toolu_1", "ok")],
        }],
        ..Default::default()
    };
    let err = encode_json(&req).expect_err("no name known");
    assert_eq!(untranslatable_path(err), "messages[0].parts[0]");
    if let Part::ToolResult(r) = &mut req.messages[0].parts[0] {
        r.name = Some("lookup".into());
        r.is_error = true;
    }
    let v = encode_json(&req).expect("name from the result");
    let fr = &v["contents"][0]["parts"][0]["functionResponse"];
    assert_eq!(fr["name"], "lookup");
    assert_eq!(fr["id"], "toolu_1");
    assert_eq!(fr["response"], serde_json::json!({"error": "ok"}));
}

#[test]
fn thought_signatures_are_reattached_and_foreign_reasoning_dropped() {
    let carried = ids::attach_signature("call_abc", "CiIBsig==");
    let req = ChatRequest {
        messages: vec![
            Message::text(Role::User, "go"),
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Reasoning(Reasoning {
                        text: "anthropic thinking".into(),
                        signature: Some("sig-abc".into()),
                        source: Some(Family::Anthropic),
                        ..Default::default()
                    }),
                    Part::Reasoning(Reasoning {
                        text: "gemini thought".into(),
                        signature: None,
                        source: Some(Family::Gemini),
                        ..Default::default()
                    }),
                    call(&carried, "get_weather", "{}"),
                ],
            },
            Message {
                role: Role::User,
                parts: vec![result(&carried, "4C")],
            },
        ],
        ..Default::default()
    };
    let v = encode_json(&req).expect("encodes");
    let parts = &v["contents"][1]["parts"];
    assert_eq!(parts.as_array().map(Vec::len), Some(2));
    assert_eq!(
        parts[0],
        serde_json::json!({"text": "gemini thought", "thought": true})
    );
    assert_eq!(parts[1]["thoughtSignature"], "CiIBsig==");
    assert_eq!(parts[1]["functionCall"]["id"], "call_abc");
    let fr = &v["contents"][2]["parts"][0]["functionResponse"];
    assert_eq!(fr["name"], "get_weather");
    assert_eq!(fr["id"], "call_abc");
}

#[test]
fn media_by_url_only_for_files_api_and_youtube() {
    let image = |url: &str| ChatRequest {
        messages: vec![Message {
            role: Role::User,
            parts: vec![Part::Image(Image {
                source: MediaSource::Url(url.into()),
                detail: None,
                cache_control: None,
            })],
        }],
        ..Default::default()
    };
    let err = encode_json(&image("https://example.com/cat.png")).expect_err("web URL");
    assert!(err.to_string().contains("downloaded"), "{err}");
    assert_eq!(untranslatable_path(err), "messages[0].parts[0]");
    for url in [
        "https://generativelanguage.googleapis.com/v1beta/files/abc123",
        "https://www.youtube.com/watch?v=9hE5-98ZeCg",
    ] {
        let v = encode_json(&image(url)).expect(url);
        assert_eq!(v["contents"][0]["parts"][0]["fileData"]["fileUri"], url);
    }
}

#[test]
fn limits_choices_and_formats_map_to_generation_config() {
    let mut req = ChatRequest {
        messages: vec![Message::text(Role::User, "hi")],
        tools: vec![tool("get_weather"), tool("3d-render")],
        tool_choice: Some(ToolChoice::Tool("3d-render".into())),
        reasoning: Some(gateway_protocol::ReasoningConfig {
            effort: Some(gateway_protocol::Effort::High),
            budget_tokens: None,
            include_thoughts: true,
        }),
        parallel_tool_calls: Some(false),
        ..Default::default()
    };
    req.sampling.stop = vec!["a".into(); 5];
    let v = encode_json(&req).expect("encodes");
    let sent = v["tools"][0]["functionDeclarations"][1]["name"]
        .as_str()
        .expect("name");
    assert!(
        sent.starts_with('_'),
        "Gemini names start with a letter or _: {sent}"
    );
    assert_eq!(v["toolConfig"]["functionCallingConfig"]["mode"], "ANY");
    assert_eq!(
        v["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"][0],
        sent
    );
    assert_eq!(
        v["generationConfig"]["thinkingConfig"],
        serde_json::json!({"includeThoughts": true, "thinkingBudget": 4096})
    );
    req.sampling.stop.push("f".into());
    assert_eq!(
        untranslatable_path(encode_json(&req).expect_err("6 stops")),
        "stop"
    );
}

#[test]
fn hosted_tools_and_candidate_count_bind_the_request_to_gemini() {
    let body = br#"{"contents":[{"parts":[{"text":"news?"}]}],
        "tools":[{"google_search":{}},{"functionDeclarations":[{"name":"f"}]}],
        "generationConfig":{"candidateCount":2,"responseLogprobs":true},
        "patchbay":{"ext":{"gemini":{"labels":{"team":"a"}},"anthropic":{"service_tier":"auto"}}}}"#;
    let req = request::decode(body).expect("decodes");
    let paths: Vec<_> = req
        .extensions
        .binding
        .iter()
        .map(|b| b.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "tools[0].google_search",
            "generationConfig.candidateCount",
            "generationConfig.responseLogprobs"
        ]
    );
    assert!(
        req.extensions
            .binding
            .iter()
            .all(|b| b.family == Family::Gemini)
    );
    assert_eq!(req.extensions.params["anthropic"]["service_tier"], "auto");
    let v = encode_json(&req).expect("a Gemini upstream honours them");
    assert_eq!(v["tools"][1], serde_json::json!({"googleSearch": {}}));
    assert_eq!(v["generationConfig"]["candidateCount"], 2);
    assert_eq!(v["generationConfig"]["responseLogprobs"], true);
    assert_eq!(v["labels"], serde_json::json!({"team": "a"}));
    assert!(v.get("patchbay").is_none());
}

// ---------------------------------------------------------------------------------
// Request decoding details (§9.17, pairing, unwrapping)

#[test]
fn decode_leaves_model_and_stream_for_the_url() {
    let req = request::decode(br#"{"contents":[{"parts":[{"text":"hi"}]}]}"#).expect("decodes");
    assert_eq!(req.model, "");
    assert!(!req.stream);
    assert_eq!(req.messages[0].role, Role::User);
}

#[test]
fn tool_config_modes_by_name_or_number() {
    let choice = |cfg: &str| {
        let body = format!(
            r#"{{"contents":[{{"parts":[{{"text":"x"}}]}}],"toolConfig":{{"functionCallingConfig":{cfg}}}}}"#
        );
        request::decode(body.as_bytes()).expect(cfg).tool_choice
    };
    assert_eq!(choice(r#"{"mode":3}"#), Some(ToolChoice::None));
    assert_eq!(choice(r#"{"mode":"ANY"}"#), Some(ToolChoice::Required));
    assert_eq!(
        choice(r#"{"mode":2,"allowed_function_names":["a","b"]}"#),
        Some(ToolChoice::Allowed {
            names: vec!["a".into(), "b".into()],
            required: true
        })
    );
    assert_eq!(choice(r#"{"mode":"AUTO"}"#), Some(ToolChoice::Auto));
}

#[test]
fn function_responses_unwrap_content_and_output() {
    let body = br#"{"contents":[
        {"role":"model","parts":[{"functionCall":{"name":"a","args":{}}},{"functionCall":{"name":"b","args":{}}}]},
        {"role":"user","parts":[{"functionResponse":{"name":"b","response":{"output":"B"}}},
                                {"functionResponse":{"name":"a","response":{"content":"A"}}}]}]}"#;
    let req = request::decode(body).expect("decodes");
    let ids: Vec<String> = req.messages[0]
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall(c) => Some(c.id.clone()),
            _ => None,
        })
        .collect();
    let results: Vec<(String, String)> = req.messages[1]
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolResult(r) => Some((r.call_id.clone(), r.content[0].as_text()?.to_owned())),
            _ => None,
        })
        .collect();
    // Paired by name, not position.
    assert_eq!(
        results,
        [(ids[1].clone(), "B".into()), (ids[0].clone(), "A".into())]
    );
}

#[test]
fn thinking_level_maps_to_effort() {
    let body = br#"{"contents":[{"parts":[{"text":"x"}]}],
        "generationConfig":{"thinkingConfig":{"thinkingLevel":"HIGH"}}}"#;
    let req = request::decode(body).expect("decodes");
    let r = req.reasoning.clone().expect("reasoning");
    assert_eq!(r.effort, Some(gateway_protocol::Effort::High));
    // Encoded as a budget (every thinking model accepts thinkingBudget).
    let v = encode_json(&req).expect("encodes");
    assert_eq!(
        v["generationConfig"]["thinkingConfig"]["thinkingBudget"],
        4096
    );
}

// ---------------------------------------------------------------------------------
// Responses and streams (§9.5, 9.6, 9.12, 9.14, 9.18, 9.25)

fn ctx_plain() -> ResponseContext {
    ResponseContext {
        model: "m".into(),
        id_seed: "seed".into(),
        ..Default::default()
    }
}

#[test]
fn usage_arithmetic_with_cache_and_thoughts() {
    let body = br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"ok"}]},"finishReason":"STOP"}],
        "usageMetadata":{"promptTokenCount":1000,"cachedContentTokenCount":900,"candidatesTokenCount":20,
        "thoughtsTokenCount":30,"totalTokenCount":1050,"toolUsePromptTokenCount":0}}"#;
    let resp = response::decode(body, &ctx_plain()).expect("decodes");
    assert_eq!(
        resp.usage,
        gateway_protocol::Usage {
            input_tokens: 1000,
            cache_read_tokens: 900,
            cache_write_tokens: 0,
            output_tokens: 50,
            reasoning_tokens: 30,
        }
    );
    let v: serde_json::Value =
        serde_json::from_slice(&response::encode(&resp, &ctx_plain())).expect("json");
    assert_eq!(
        v["usageMetadata"],
        serde_json::json!({"promptTokenCount":1000,"cachedContentTokenCount":900,
            "candidatesTokenCount":20,"thoughtsTokenCount":30,"totalTokenCount":1050})
    );
}

#[test]
fn parallel_calls_get_distinct_ids_and_tool_use() {
    let body = std::fs::read(support::fixture("gemini/tools/response.json")).expect("fixture");
    let resp = response::decode(&body, &ctx_plain()).expect("decodes");
    assert_eq!(resp.stop_reason, gateway_protocol::StopReason::ToolUse);
    let ids: Vec<_> = resp
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall(c) => Some(c.id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert!(ids.iter().all(|i| !i.is_empty()));
}

#[test]
fn blocked_prompt_is_a_content_filter_not_an_error() {
    let body =
        std::fs::read(support::fixture("gemini/content_filter/response.json")).expect("fixture");
    let resp = response::decode(&body, &ctx_plain()).expect("decodes");
    assert_eq!(
        resp.stop_reason,
        gateway_protocol::StopReason::ContentFilter
    );
    assert!(resp.parts.is_empty());
    assert_eq!(resp.usage.input_tokens, 8);
    // The streamed form of a blocked prompt: promptFeedback only.
    let frame = gateway_translate::Frame::data(
        r#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8}}"#,
    );
    let events = decode_frames(&ctx_plain(), &[frame]);
    assert!(matches!(
        events.last(),
        Some(StreamEvent::MessageStop {
            stop_reason: gateway_protocol::StopReason::ContentFilter,
            ..
        })
    ));
}

#[test]
fn unreadable_upstream_bodies_are_protocol_errors() {
    for body in [
        &b"{not json"[..],
        br#"{"error":{"code":500,"message":"x"}}"#,
        br#"{"candidates":7}"#,
    ] {
        assert!(matches!(
            response::decode(body, &ctx_plain()),
            Err(TranslateError::UpstreamProtocol { .. })
        ));
    }
    let mut dec = stream::Decoder::new(&ctx_plain());
    let mut out = Vec::new();
    assert!(matches!(
        dec.decode(&gateway_translate::Frame::data("{oops"), &mut out),
        Err(TranslateError::UpstreamProtocol { .. })
    ));
}

#[test]
fn decoder_ignores_everything_after_the_finish_reason() {
    let sse = std::fs::read(support::fixture("gemini/text/stream.sse")).expect("fixture");
    let mut f = frames(Framing::Sse, &sse);
    let extra = f[0].clone();
    f.push(extra);
    let events = decode_frames(&ctx_plain(), &f);
    assert!(matches!(
        events.last(),
        Some(StreamEvent::MessageStop { .. })
    ));
    assert_eq!(stream_content(&events).0, "Hello there!");
}

fn tool_call_events(fragments: &[&str]) -> Vec<StreamEvent> {
    let mut events = vec![
        StreamEvent::MessageStart {
            id: "chatcmpl-1".into(),
            model: "gpt".into(),
        },
        StreamEvent::PartStart {
            index: 0,
            part: gateway_protocol::PartStart::Text,
        },
        StreamEvent::Delta {
            index: 0,
            delta: Delta::Text("Checking.".into()),
        },
        StreamEvent::PartStop { index: 0 },
        StreamEvent::PartStart {
            index: 1,
            part: gateway_protocol::PartStart::ToolCall {
                id: "call_abc".into(),
                name: "get_weather".into(),
                signature: None,
            },
        },
    ];
    for f in fragments {
        events.push(StreamEvent::Delta {
            index: 1,
            delta: Delta::ToolArguments((*f).into()),
        });
    }
    events.push(StreamEvent::PartStop { index: 1 });
    events.push(StreamEvent::Usage(gateway_protocol::Usage {
        input_tokens: 10,
        output_tokens: 5,
        ..Default::default()
    }));
    events.push(StreamEvent::MessageStop {
        stop_reason: gateway_protocol::StopReason::ToolUse,
        stop_sequence: None,
    });
    events
}

#[test]
fn gemini_client_over_a_streamed_tool_call() {
    let ctx = ctx_plain();
    let bytes = encode_events(
        &ctx,
        &tool_call_events(&[r#"{"ci"#, r#"ty":"Os"#, r#"lo"}"#]),
    );
    let text = String::from_utf8(bytes.clone()).expect("utf-8");
    let chunks: Vec<serde_json::Value> = text
        .split("\r\n\r\n")
        .filter(|c| !c.is_empty())
        .map(|c| serde_json::from_str(c.strip_prefix("data: ").expect("data line")).expect("json"))
        .collect();
    assert_eq!(chunks.len(), 3, "{text}");
    let part = &chunks[1]["candidates"][0]["content"]["parts"][0];
    assert_eq!(
        part["functionCall"],
        serde_json::json!({"id": "call_abc", "name": "get_weather", "args": {"city": "Oslo"}})
    );
    let last = &chunks[2];
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 15);
    assert!(
        chunks
            .iter()
            .all(|c| c["responseId"] == "chatcmpl-1" && c["modelVersion"] == "m")
    );
    // CRLF and LF framings decode alike.
    let lf = text.replace("\r\n", "\n");
    assert_eq!(
        decode_frames(&ctx, &frames(Framing::Sse, lf.as_bytes())),
        decode_frames(&ctx, &frames(Framing::Sse, &bytes))
    );
}

#[test]
fn invalid_streamed_arguments_end_in_an_error_chunk() {
    let ctx = ResponseContext {
        json_array: true,
        ..ctx_plain()
    };
    let bytes = encode_events(&ctx, &tool_call_events(&[r#"{"city":"#]));
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("a closed JSON array");
    let items = v.as_array().expect("array");
    assert_eq!(items.len(), 2, "text chunk, then the error, then nothing");
    assert_eq!(items[1]["error"]["code"], 502);
}

#[test]
fn encoder_is_robust_to_odd_event_orders() {
    let ctx = ctx_plain();
    let events = vec![
        StreamEvent::Delta {
            index: 3,
            delta: Delta::Text("orphan".into()),
        },
        StreamEvent::Delta {
            index: 9,
            delta: Delta::ToolArguments("{".into()),
        },
        StreamEvent::PartStop { index: 7 },
        StreamEvent::Error(GatewayError::new(ErrorKind::Overloaded, "busy")),
        StreamEvent::MessageStop {
            stop_reason: gateway_protocol::StopReason::EndTurn,
            stop_sequence: None,
        },
    ];
    let out = String::from_utf8(encode_events(&ctx, &events)).expect("utf-8");
    assert!(out.contains("orphan"));
    assert!(
        out.ends_with("\"status\":\"UNAVAILABLE\"}}\r\n\r\n"),
        "{out}"
    );
    assert!(!out.contains("finishReason"), "nothing after the error");
    let array = encode_events(
        &ResponseContext {
            json_array: true,
            ..ctx.clone()
        },
        &events[3..],
    );
    let v: serde_json::Value = serde_json::from_slice(&array).expect("closed array");
    assert_eq!(v[0]["error"]["status"], "UNAVAILABLE");
}

#[test]
fn thoughts_are_streamed_only_when_asked_for() {
    let sse = std::fs::read(support::fixture("gemini/reasoning/stream.sse")).expect("fixture");
    let events = decode_frames(&ctx_plain(), &frames(Framing::Sse, &sse));
    let hidden = String::from_utf8(encode_events(&ctx_plain(), &events)).expect("utf-8");
    assert!(!hidden.contains("\"thought\":true") && !hidden.contains("17*23"));
    assert!(
        hidden.contains("c2lnLWdlbQ=="),
        "signatures are not thoughts: kept"
    );
    let shown = ResponseContext {
        include_thoughts: true,
        ..ctx_plain()
    };
    let visible = String::from_utf8(encode_events(&shown, &events)).expect("utf-8");
    assert!(visible.contains(r#"{"text":"17*23 = 391.","thought":true}"#));
}

// ---------------------------------------------------------------------------------
// countTokens, embeddings, models (§6.6, §9.23, §9.24)

use gateway_translate::gemini::{count_tokens, embeddings, models};

#[test]
fn count_tokens_both_request_forms() {
    let bare = count_tokens::decode_request(br#"{"contents":[{"parts":[{"text":"hi"}]}]}"#)
        .expect("contents form");
    assert_eq!(bare.messages, vec![Message::text(Role::User, "hi")]);
    let full = count_tokens::decode_request(
        br#"{"generateContentRequest":{"model":"models/x","contents":[{"parts":[{"text":"hi"}]}],
            "systemInstruction":{"parts":[{"text":"sys"}]}}}"#,
    )
    .expect("generateContentRequest form");
    assert_eq!(full.system, vec![Part::text("sys")]);
    let err = count_tokens::decode_request(b"{}").expect_err("empty");
    assert_eq!(invalid_path(err), "contents");
    let body = count_tokens::encode_request(&full, "gemini-2.5-flash", &EncodeOptions::default())
        .expect("encodes");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        v["generateContentRequest"]["model"],
        "models/gemini-2.5-flash"
    );
    assert_eq!(
        v["generateContentRequest"]["systemInstruction"]["parts"][0]["text"],
        "sys"
    );
    let resp = count_tokens::decode_response(br#"{"totalTokens":31,"cachedContentTokenCount":4}"#)
        .expect("decodes");
    assert_eq!(resp.input_tokens, 31);
    assert_eq!(
        count_tokens::encode_response(&resp),
        br#"{"totalTokens":31}"#
    );
}

#[test]
fn embed_content_and_batch_embed_contents() {
    use gateway_protocol::EmbeddingInput;
    let one = embeddings::decode_request(
        br#"{"content":{"parts":[{"text":"hello"}]},"task_type":1,"output_dimensionality":256}"#,
    )
    .expect("single");
    assert_eq!(one.inputs, vec![EmbeddingInput::Text("hello".into())]);
    assert_eq!(one.task_type.as_deref(), Some("RETRIEVAL_QUERY"));
    assert_eq!(one.dimensions, Some(256));
    let batch = embeddings::decode_batch_request(
        br#"{"requests":[{"model":"models/e","content":{"parts":[{"text":"a"}]}},
                         {"model":"models/e","content":{"parts":[{"text":"b"}]}}]}"#,
    )
    .expect("batch");
    assert_eq!(batch.inputs.len(), 2);
    let err = embeddings::decode_batch_request(
        br#"{"requests":[{"content":{"parts":[{"text":"a"}]},"taskType":"CLUSTERING"},
                         {"content":{"parts":[{"text":"b"}]}}]}"#,
    )
    .expect_err("mixed task types");
    assert_eq!(invalid_path(err), "requests[1]");
    let mut req = one.clone();
    req.model = "text-embedding-004".into();
    req.inputs.push(EmbeddingInput::Text("world".into()));
    let v: serde_json::Value =
        serde_json::from_slice(&embeddings::encode_batch_request(&req).expect("encodes"))
            .expect("json");
    assert_eq!(v["requests"][1]["model"], "models/text-embedding-004");
    assert_eq!(v["requests"][1]["outputDimensionality"], 256);
    assert_eq!(v["requests"][1]["taskType"], "RETRIEVAL_QUERY");
    req.inputs.push(EmbeddingInput::Tokens(vec![1, 2]));
    let err = embeddings::encode_batch_request(&req).expect_err("tokens");
    assert_eq!(untranslatable_path(err), "input[2]");

    let resp = embeddings::decode_response(
        br#"{"embeddings":[{"values":[0.5,1]},{"values":[2]}]}"#,
        "e",
    )
    .expect("batch response");
    assert_eq!(resp.vectors, vec![vec![0.5, 1.0], vec![2.0]]);
    assert_eq!(resp.input_tokens, None);
    assert_eq!(
        embeddings::encode_batch_response(&resp),
        br#"{"embeddings":[{"values":[0.5,1.0]},{"values":[2.0]}]}"#
    );
    let single =
        embeddings::decode_response(&embeddings::encode_response(&resp), "e").expect("single");
    assert_eq!(single.vectors, vec![vec![0.5, 1.0]]);
}

#[test]
fn models_list_keeps_the_models_prefix_on_the_wire() {
    let body = br#"{"models":[{"name":"models/gemini-2.5-flash","version":"001","displayName":"Gemini 2.5 Flash",
        "inputTokenLimit":1048576,"outputTokenLimit":65536,"supportedGenerationMethods":["generateContent"],
        "thinking":true}],"nextPageToken":"abc"}"#;
    let list = models::decode(body).expect("decodes");
    assert_eq!(list.models[0].id, "gemini-2.5-flash");
    assert_eq!(list.models[0].context_window, Some(1_048_576));
    let v: serde_json::Value = serde_json::from_slice(&models::encode(&list)).expect("json");
    assert_eq!(v["models"][0]["name"], "models/gemini-2.5-flash");
    assert_eq!(v["models"][0]["outputTokenLimit"], 65536);
    assert_eq!(
        models::decode(&models::encode(&list)).expect("round trip"),
        list
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// No decoder panics on arbitrary input (mutated fixture bytes included).
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..2000) {
        let _ = request::decode(&bytes);
        let _ = response::decode(&bytes, &ctx_plain());
        let _ = gateway_translate::gemini::error::decode(500, &bytes);
        let _ = gateway_translate::gemini::embeddings::decode_batch_request(&bytes);
        let fixture = std::fs::read(support::fixture("gemini/parallel_same_name/request.json")).expect("fixture");
        let truncated = &fixture[..cut.min(fixture.len())];
        let _ = request::decode(truncated);
        let mut dec = stream::Decoder::new(&ctx_plain());
        let mut out = Vec::new();
        for f in frames(Framing::Sse, &bytes) {
            let _ = dec.decode(&f, &mut out);
        }
        dec.finish(&mut out);
        let ended = matches!(out.last(), Some(StreamEvent::Error(_) | StreamEvent::MessageStop { .. }));
        prop_assert!(ended, "the stream must end in MessageStop or Error");
    }
}
