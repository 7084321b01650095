//! Unit tests of the per-shape dispatch of embeddings, token counts and model lists:
//! each entry point reaches the codec of the right shape (or form) and refuses what a
//! shape does not have.

use gateway_protocol::{
    ApiShape, CountTokensResponse, EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse,
    EncodingFormat, ModelInfo, ModelList,
};
use serde_json::{Value, json};

use super::*;
use crate::error::TranslateError;
use crate::framing::DEFAULT_MAX_FRAME_BYTES;

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("the codec writes JSON")
}

fn texts(req: &EmbeddingsRequest) -> Vec<&str> {
    req.inputs
        .iter()
        .map(|i| match i {
            EmbeddingInput::Text(t) => t.as_str(),
            EmbeddingInput::Tokens(_) => "<tokens>",
        })
        .collect()
}

#[test]
fn embed_forms_answer_in_their_callers_shape() {
    assert_eq!(EmbedForm::OpenAi.shape(), ApiShape::OpenAiChat);
    assert_eq!(EmbedForm::GeminiOne.shape(), ApiShape::Gemini);
    assert_eq!(EmbedForm::GeminiBatch.shape(), ApiShape::Gemini);
}

#[test]
fn embeddings_requests_decode_in_each_form() {
    let openai = decode_embeddings_request(
        EmbedForm::OpenAi,
        br#"{"model":"text-embedding-3-small","input":["a","b"]}"#,
    )
    .expect("OpenAI form");
    assert_eq!(openai.model, "text-embedding-3-small");
    assert_eq!(texts(&openai), ["a", "b"]);

    let one = decode_embeddings_request(
        EmbedForm::GeminiOne,
        br#"{"content":{"parts":[{"text":"hello"}]}}"#,
    )
    .expect("embedContent form");
    assert_eq!(texts(&one), ["hello"]);

    let batch = decode_embeddings_request(
        EmbedForm::GeminiBatch,
        br#"{"requests":[{"model":"models/m","content":{"parts":[{"text":"a"}]}},
                        {"model":"models/m","content":{"parts":[{"text":"b"}]}}]}"#,
    )
    .expect("batchEmbedContents form");
    assert_eq!(texts(&batch), ["a", "b"]);

    // A body of one form is not another form's body.
    assert!(decode_embeddings_request(EmbedForm::GeminiBatch, br#"{"input":"a"}"#).is_err());
}

#[test]
fn embeddings_requests_encode_per_upstream_shape() {
    let req = decode_embeddings_request(EmbedForm::OpenAi, br#"{"model":"m","input":["a","b"]}"#)
        .expect("decodes");
    let gemini = json_of(&encode_embeddings_request(ApiShape::Gemini, &req).expect("gemini"));
    assert_eq!(gemini["requests"].as_array().map(Vec::len), Some(2));
    let ollama = json_of(&encode_embeddings_request(ApiShape::Ollama, &req).expect("ollama"));
    assert_eq!(ollama["input"], json!(["a", "b"]));
    assert_eq!(ollama["model"], "m");
    for shape in [
        ApiShape::OpenAiChat,
        ApiShape::OpenAiResponses,
        ApiShape::Anthropic,
    ] {
        let body = encode_embeddings_request(shape, &req).expect("OpenAI body");
        assert_eq!(
            body,
            openai_embeddings::request::encode(&req).expect("same")
        );
    }
}

#[test]
fn embeddings_responses_decode_per_upstream_shape() {
    let gemini = decode_embeddings_response(
        ApiShape::Gemini,
        br#"{"embeddings":[{"values":[0.5,1.0]}]}"#,
        "gemini-embedding-001",
    )
    .expect("gemini");
    assert_eq!(gemini.vectors, [vec![0.5, 1.0]]);
    assert_eq!(gemini.model, "gemini-embedding-001");
    let ollama = decode_embeddings_response(
        ApiShape::Ollama,
        br#"{"model":"nomic","embeddings":[[0.25]],"prompt_eval_count":3}"#,
        "ignored",
    )
    .expect("ollama");
    assert_eq!(ollama.vectors, [vec![0.25]]);
    let openai = decode_embeddings_response(
        ApiShape::OpenAiChat,
        br#"{"object":"list","model":"m","data":[{"object":"embedding","index":0,"embedding":[2.0]}],"usage":{"prompt_tokens":4,"total_tokens":4}}"#,
        "ignored",
    )
    .expect("openai");
    assert_eq!(openai.vectors, [vec![2.0]]);
    assert_eq!(openai.input_tokens, Some(4));
    assert!(decode_embeddings_response(ApiShape::Gemini, b"[]", "m").is_err());
}

#[test]
fn embeddings_responses_encode_per_caller_form() {
    let resp = EmbeddingsResponse {
        model: "m".into(),
        vectors: vec![vec![1.0, 2.0], vec![3.0]],
        input_tokens: Some(5),
    };
    let openai = json_of(&encode_embeddings_response(
        EmbedForm::OpenAi,
        &resp,
        EncodingFormat::Float,
    ));
    assert_eq!(openai["data"][1]["embedding"], json!([3.0]));
    let base64 = json_of(&encode_embeddings_response(
        EmbedForm::OpenAi,
        &resp,
        EncodingFormat::Base64,
    ));
    assert!(base64["data"][0]["embedding"].is_string());
    let one = json_of(&encode_embeddings_response(
        EmbedForm::GeminiOne,
        &resp,
        EncodingFormat::Float,
    ));
    assert_eq!(one["embedding"]["values"], json!([1.0, 2.0]));
    let batch = json_of(&encode_embeddings_response(
        EmbedForm::GeminiBatch,
        &resp,
        EncodingFormat::Float,
    ));
    assert_eq!(batch["embeddings"][1]["values"], json!([3.0]));
}

#[test]
fn token_count_requests_decode_for_shapes_with_the_endpoint() {
    let anthropic = decode_count_tokens_request(
        ApiShape::Anthropic,
        br#"{"model":"claude","messages":[{"role":"user","content":"hi"}]}"#,
    )
    .expect("no max_tokens needed");
    assert_eq!(anthropic.model, "claude");
    assert_eq!(anthropic.messages.len(), 1);
    let gemini = decode_count_tokens_request(
        ApiShape::Gemini,
        br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#,
    )
    .expect("contents form");
    assert_eq!(gemini.messages.len(), 1);
    let responses = decode_count_tokens_request(
        ApiShape::OpenAiResponses,
        br#"{"model":"gpt-5","input":"hi"}"#,
    )
    .expect("a Responses body");
    assert_eq!(responses.messages.len(), 1);
    for shape in [ApiShape::OpenAiChat, ApiShape::Ollama] {
        let err = decode_count_tokens_request(shape, br#"{"model":"m","messages":[]}"#)
            .expect_err("no such endpoint");
        assert!(
            matches!(&err, TranslateError::InvalidRequest { message, .. }
                if message.contains("no token-count endpoint")),
            "{err}"
        );
    }
}

#[test]
fn token_count_requests_encode_only_for_upstreams_that_count() {
    let mut req = decode_count_tokens_request(
        ApiShape::Anthropic,
        br#"{"model":"caller-model","messages":[{"role":"user","content":"hi"}]}"#,
    )
    .expect("decodes");
    req.model = "upstream-model".into();
    let opts = EncodeOptions::default();
    let anthropic = json_of(
        &encode_count_tokens_request(ApiShape::Anthropic, &req, &opts)
            .expect("Anthropic counts")
            .expect("encodes"),
    );
    assert_eq!(anthropic["model"], "upstream-model");
    assert!(anthropic.get("max_tokens").is_none());
    let gemini = json_of(
        &encode_count_tokens_request(ApiShape::Gemini, &req, &opts)
            .expect("Gemini counts")
            .expect("encodes"),
    );
    assert_eq!(
        gemini["generateContentRequest"]["model"],
        "models/upstream-model"
    );
    for shape in [
        ApiShape::OpenAiChat,
        ApiShape::OpenAiResponses,
        ApiShape::Ollama,
    ] {
        assert!(encode_count_tokens_request(shape, &req, &opts).is_none());
    }
}

#[test]
fn token_count_answers_decode_and_encode_per_shape() {
    let count = |shape, body: &[u8]| {
        decode_count_tokens_response(shape, body)
            .expect("decodes")
            .input_tokens
    };
    assert_eq!(count(ApiShape::Anthropic, br#"{"input_tokens":12}"#), 12);
    assert_eq!(count(ApiShape::Gemini, br#"{"totalTokens":13}"#), 13);
    assert_eq!(
        count(
            ApiShape::OpenAiResponses,
            br#"{"object":"response.input_tokens","input_tokens":14}"#
        ),
        14
    );
    assert!(decode_count_tokens_response(ApiShape::Ollama, br#"{"input_tokens":1}"#).is_err());

    let resp = CountTokensResponse { input_tokens: 7 };
    let body = |shape| json_of(&encode_count_tokens_response(shape, &resp));
    assert_eq!(body(ApiShape::Anthropic), json!({"input_tokens": 7}));
    assert_eq!(body(ApiShape::Gemini), json!({"totalTokens": 7}));
    assert_eq!(
        body(ApiShape::OpenAiResponses),
        json!({"object": "response.input_tokens", "input_tokens": 7})
    );
    assert_eq!(body(ApiShape::OpenAiChat), json!({"input_tokens": 7}));
    assert_eq!(body(ApiShape::Ollama), json!({"input_tokens": 7}));
}

#[test]
fn model_lists_round_trip_in_every_shape() {
    let list = ModelList {
        models: vec![ModelInfo {
            id: "model-a".into(),
            created: Some(1_760_000_000),
            owned_by: Some("patchbay".into()),
            ..ModelInfo::default()
        }],
    };
    for shape in ApiShape::ALL {
        let body = encode_model_list(shape, &list);
        let back = decode_model_list(shape, &body).expect("decodes its own list");
        assert_eq!(back.models.len(), 1, "{shape}");
        assert_eq!(back.models[0].id, "model-a", "{shape}");
    }
    let body = |shape| json_of(&encode_model_list(shape, &list));
    assert_eq!(body(ApiShape::OpenAiChat)["object"], "list");
    assert_eq!(body(ApiShape::OpenAiResponses), body(ApiShape::OpenAiChat));
    assert_eq!(
        body(ApiShape::Gemini)["models"][0]["name"],
        "models/model-a"
    );
    assert_eq!(body(ApiShape::Ollama)["models"][0]["name"], "model-a");
    assert_eq!(body(ApiShape::Anthropic)["data"][0]["type"], "model");
    assert!(decode_model_list(ApiShape::Ollama, b"{").is_err());
}

#[test]
fn a_transcoded_stream_ends_with_an_error_at_an_event_too_large() {
    let ctx = ResponseContext::default();
    let mut t = Transcoder::new(ApiShape::Ollama, ApiShape::Anthropic, &ctx);
    let mut out = Vec::new();
    let first = br#"{"model":"m","created_at":"2025-10-09T08:53:20Z","message":{"role":"assistant","content":"hello there, caller"},"done":false}"#;
    t.push(first, &mut out);
    t.push(b"\n", &mut out);
    assert!(t.error().is_none());
    assert_eq!(t.output_tokens(), 19_u64.div_ceil(4));
    // Then a line that never ends.
    let piece = vec![b'x'; 1 << 20];
    let mut pushed = 0;
    while t.error().is_none() {
        t.push(&piece, &mut out);
        pushed += piece.len();
        assert!(
            pushed <= DEFAULT_MAX_FRAME_BYTES + piece.len(),
            "no error yet"
        );
    }
    let err = t.error().cloned().expect("ended with an error");
    assert_eq!(err.kind, gateway_protocol::ErrorKind::Upstream);
    assert!(err.message.contains("larger than"), "{}", err.message);
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(text.contains("hello there, caller"), "{text}");
    assert!(
        text.ends_with("\n\n") && text.contains("event: error"),
        "{text}"
    );
    // Nothing more is written, whatever comes.
    let len = out.len();
    t.push(b"\n{}\n", &mut out);
    t.finish(&mut out);
    assert_eq!(out.len(), len);
}
