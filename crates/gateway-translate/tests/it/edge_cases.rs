//! PROTOCOLS.md §9, the items that cross shapes, checked end to end through the
//! dispatching API (`codec`) with exact values. Items that concern one shape only are
//! tested beside that shape's codec (`tests/<shape>.rs`); the matrix in
//! `cross_shape.rs` covers every caller × upstream pair on the common cases.

use crate::support;

use gateway_protocol::{
    ApiShape, ChatRequest, EmbeddingsResponse, EncodingFormat, ErrorKind, GatewayError, Part,
    StopReason,
};
use gateway_translate::codec::{self, Transcoder};
use gateway_translate::{EncodeOptions, ResponseContext, gemini, openai_embeddings};
use serde_json::{Value, json};

fn ctx() -> ResponseContext {
    ResponseContext {
        model: "m".into(),
        created: 1_760_000_000,
        id_seed: "seed".into(),
        ..ResponseContext::default()
    }
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

/// §9.12: usage arithmetic with cache and reasoning tokens, across shapes.
#[test]
fn usage_arithmetic_with_cache_and_reasoning() {
    let anthropic = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 100, "cache_read_input_tokens": 900,
                  "cache_creation_input_tokens": 50, "output_tokens": 20}
    });
    let resp = codec::decode_response(
        ApiShape::Anthropic,
        anthropic.to_string().as_bytes(),
        &ctx(),
    )
    .expect("decodes");
    let chat = json_of(&codec::encode_response(ApiShape::OpenAiChat, &resp, &ctx()));
    assert_eq!(chat["usage"]["prompt_tokens"], 1050);
    assert_eq!(chat["usage"]["prompt_tokens_details"]["cached_tokens"], 900);
    assert_eq!(chat["usage"]["completion_tokens"], 20);
    assert_eq!(chat["usage"]["total_tokens"], 1070);

    let gemini = json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 1000, "cachedContentTokenCount": 900,
                          "candidatesTokenCount": 20, "thoughtsTokenCount": 30,
                          "totalTokenCount": 1050},
        "modelVersion": "m", "responseId": "r1"
    });
    let resp = codec::decode_response(ApiShape::Gemini, gemini.to_string().as_bytes(), &ctx())
        .expect("decodes");
    let anth = json_of(&codec::encode_response(ApiShape::Anthropic, &resp, &ctx()));
    assert_eq!(anth["usage"]["input_tokens"], 100);
    assert_eq!(anth["usage"]["cache_read_input_tokens"], 900);
    assert_eq!(anth["usage"]["output_tokens"], 50);
    let chat = json_of(&codec::encode_response(ApiShape::OpenAiChat, &resp, &ctx()));
    assert_eq!(chat["usage"]["completion_tokens"], 50);
    assert_eq!(
        chat["usage"]["completion_tokens_details"]["reasoning_tokens"],
        30
    );
}

/// §9.13: an upstream error before the first byte is a real HTTP error in the
/// caller's envelope, with the status each SDK maps to the right exception.
#[test]
fn errors_before_the_first_byte_keep_their_status() {
    let overloaded = codec::decode_error(
        ApiShape::Anthropic,
        529,
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    );
    assert_eq!(overloaded.kind, ErrorKind::Overloaded);
    let (status, body) = codec::encode_error(ApiShape::Anthropic, &overloaded);
    assert_eq!(status, 529);
    assert_eq!(json_of(&body)["error"]["type"], "overloaded_error");
    let (status, body) = codec::encode_error(ApiShape::OpenAiChat, &overloaded);
    assert_eq!(status, 503);
    assert!(json_of(&body)["error"]["message"].is_string());
    let (status, body) = codec::encode_error(ApiShape::Gemini, &overloaded);
    assert_eq!(status, 503);
    assert_eq!(json_of(&body)["error"]["status"], "UNAVAILABLE");
}

/// §9.14: an upstream failure after content ends each caller's stream with its own
/// error frame and no success terminator.
#[test]
fn errors_mid_stream_use_each_callers_grammar() {
    let upstream = support::fixture("openai_chat/text/stream.sse");
    let bytes = std::fs::read(upstream).expect("fixture");
    // Cut the stream after the first content chunk.
    let cut = bytes
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w == b"\n\n")
        .nth(1)
        .map(|(i, _)| i + 2)
        .expect("two events");
    let err = GatewayError::new(ErrorKind::Upstream, "upstream connection reset");
    let want: [(ApiShape, &str, &str); 4] = [
        (ApiShape::OpenAiChat, "data: {\"error\":", "[DONE]"),
        (
            ApiShape::OpenAiResponses,
            "event: error",
            "response.completed",
        ),
        (ApiShape::Anthropic, "event: error", "message_stop"),
        (ApiShape::Gemini, "data: {\"error\":", "finishReason"),
    ];
    for (caller, error_frame, terminator) in want {
        let mut t = Transcoder::new(ApiShape::OpenAiChat, caller, &ctx());
        let mut out = Vec::new();
        t.push(&bytes[..cut], &mut out);
        t.fail(err.clone(), &mut out);
        t.finish(&mut out);
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("Hello"), "{caller}: content before the error");
        assert!(text.contains(error_frame), "{caller}: {text}");
        assert!(
            !text.contains(terminator),
            "{caller}: success terminator after error"
        );
        assert!(t.is_ended());
    }
}

/// §9.15: a Gemini rate limit becomes each caller's rate-limit error; a bad Gemini
/// key (400 API_KEY_INVALID) becomes 401.
#[test]
fn error_envelopes_translate() {
    let limited = codec::decode_error(
        ApiShape::Gemini,
        429,
        br#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12s"}]}}"#,
    );
    assert_eq!(limited.kind, ErrorKind::RateLimited);
    assert_eq!(limited.retry_after, Some(12));
    let (status, body) = codec::encode_error(ApiShape::Anthropic, &limited);
    assert_eq!(
        (status, json_of(&body)["error"]["type"].clone()),
        (429, json!("rate_limit_error"))
    );
    let (status, body) = codec::encode_error(ApiShape::OpenAiChat, &limited);
    assert_eq!(status, 429);
    let body = json_of(&body);
    assert!(
        body["error"]["type"] == "rate_limit_exceeded"
            || body["error"]["code"] == "rate_limit_exceeded",
        "{body}"
    );

    let bad_key = codec::decode_error(
        ApiShape::Gemini,
        400,
        br#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#,
    );
    assert_eq!(bad_key.kind, ErrorKind::Authentication);
    assert_eq!(codec::encode_error(ApiShape::OpenAiChat, &bad_key).0, 401);
    assert_eq!(codec::encode_error(ApiShape::Anthropic, &bad_key).0, 401);
}

/// §9.16: a data-URL PNG becomes an Anthropic base64 source and Gemini inlineData; an
/// image type Anthropic does not take is a 400 naming the part.
#[test]
fn images_across_shapes() {
    let chat = |url: &str| {
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": url}}
        ]}]})
        .to_string()
    };
    let req = codec::decode_request(
        ApiShape::OpenAiChat,
        chat("data:image/png;base64,iVBORw0KGgo=").as_bytes(),
    )
    .expect("decodes");
    let anth = json_of(
        &codec::encode_request(ApiShape::Anthropic, &req, &EncodeOptions::default())
            .expect("encodes"),
    );
    assert_eq!(
        anth["messages"][0]["content"][1]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="})
    );
    let gem = json_of(
        &codec::encode_request(ApiShape::Gemini, &req, &EncodeOptions::default()).expect("encodes"),
    );
    assert_eq!(
        gem["contents"][0]["parts"][1]["inlineData"],
        json!({"mimeType": "image/png", "data": "iVBORw0KGgo="})
    );
    let url = codec::decode_request(
        ApiShape::OpenAiChat,
        chat("https://example.com/cat.png").as_bytes(),
    )
    .expect("decodes");
    let anth = json_of(
        &codec::encode_request(ApiShape::Anthropic, &url, &EncodeOptions::default())
            .expect("encodes"),
    );
    assert_eq!(
        anth["messages"][0]["content"][1]["source"],
        json!({"type": "url", "url": "https://example.com/cat.png"})
    );
    let bmp = codec::decode_request(
        ApiShape::OpenAiChat,
        chat("data:image/bmp;base64,Qk0=").as_bytes(),
    )
    .expect("decodes");
    let err: GatewayError =
        codec::encode_request(ApiShape::Anthropic, &bmp, &EncodeOptions::default())
            .expect_err("bmp is refused")
            .into();
    assert_eq!(err.status, 400);
    assert!(err.param.is_some(), "the error names the part: {err:?}");
}

/// §9.23: the OpenAI SDK's default base64 encoding of a Gemini vector is
/// little-endian float32, in input order.
#[test]
fn embeddings_base64_from_gemini() {
    let body = br#"{"embeddings":[{"values":[0.5,-1.25,3.0]},{"values":[1.0,0.0,-0.5]}]}"#;
    let resp: EmbeddingsResponse =
        gemini::embeddings::decode_response(body, "text-embedding-004").expect("decodes");
    let out = json_of(&openai_embeddings::response::encode(
        &resp,
        EncodingFormat::Base64,
    ));
    assert_eq!(out["data"][1]["index"], 1);
    let b64 = out["data"][0]["embedding"]
        .as_str()
        .expect("a base64 string");
    assert_eq!(
        openai_embeddings::response::unpack(b64).expect("unpacks"),
        vec![0.5, -1.25, 3.0]
    );
    let mut bytes = Vec::new();
    for v in [0.5f32, -1.25, 3.0] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    use base64::Engine;
    assert_eq!(b64, base64::engine::general_purpose::STANDARD.encode(bytes));
}

/// §9.24: an Anthropic count_tokens request is served by Gemini countTokens and the
/// answer comes back as `{input_tokens}`.
#[test]
fn count_tokens_over_gemini() {
    let req: ChatRequest = gateway_translate::anthropic::count_tokens::decode_request(
        br#"{"model":"m","system":"Be brief.","messages":[{"role":"user","content":"Hi"}]}"#,
    )
    .expect("decodes");
    let upstream = json_of(
        &gemini::count_tokens::encode_request(&req, "gemini-2.5-flash", &EncodeOptions::default())
            .expect("encodes"),
    );
    let text = upstream.to_string();
    assert!(text.contains("Hi") && text.contains("Be brief."), "{text}");
    let counted =
        gemini::count_tokens::decode_response(br#"{"totalTokens": 31}"#).expect("decodes");
    let answer = json_of(&gateway_translate::anthropic::count_tokens::encode_response(&counted));
    assert_eq!(answer, json!({"input_tokens": 31}));
}

/// §9.25: a Gemini prompt block (HTTP 200, no candidates) is a content filter, not a
/// server error: Chat `content_filter` with null content, Anthropic `refusal`.
#[test]
fn blocked_prompt_is_a_content_filter() {
    let body = br#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8},"modelVersion":"m","responseId":"b1"}"#;
    let resp = codec::decode_response(ApiShape::Gemini, body, &ctx()).expect("decodes");
    assert_eq!(resp.stop_reason, StopReason::ContentFilter);
    assert!(
        resp.parts
            .iter()
            .all(|p| !matches!(p, Part::Text { text, .. } if !text.is_empty()))
    );
    let chat = json_of(&codec::encode_response(ApiShape::OpenAiChat, &resp, &ctx()));
    assert_eq!(chat["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(chat["choices"][0]["message"]["content"], Value::Null);
    let anth = json_of(&codec::encode_response(ApiShape::Anthropic, &resp, &ctx()));
    assert_eq!(anth["stop_reason"], "refusal");
}

/// §9.1: a Chat request without max_tokens gets the configured default on an
/// Anthropic upstream, raised above the thinking budget, with temperature removed.
#[test]
fn missing_max_tokens_and_thinking_for_anthropic() {
    let body = json!({"model": "m", "reasoning_effort": "high", "temperature": 0.3,
                      "messages": [{"role": "user", "content": "Think."}]});
    let req =
        codec::decode_request(ApiShape::OpenAiChat, body.to_string().as_bytes()).expect("decodes");
    let opts = EncodeOptions {
        default_max_tokens: 2000,
    };
    let out = json_of(&codec::encode_request(ApiShape::Anthropic, &req, &opts).expect("encodes"));
    let budget = out["thinking"]["budget_tokens"]
        .as_u64()
        .expect("thinking on");
    assert!(
        out["max_tokens"].as_u64().expect("max_tokens") > budget,
        "{out}"
    );
    assert!(out.get("temperature").is_none(), "{out}");
    let plain = json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}]});
    let req =
        codec::decode_request(ApiShape::OpenAiChat, plain.to_string().as_bytes()).expect("decodes");
    let out = json_of(&codec::encode_request(ApiShape::Anthropic, &req, &opts).expect("encodes"));
    assert_eq!(out["max_tokens"], 2000);
}
