//! Fixture-driven tests of the Ollama caller-side codecs (`tests/fixtures/ollama_ingress/`):
//! `/api/generate` bodies read as one user turn, answers and NDJSON streams written in
//! generate's form, the older `/api/embeddings` body, `/api/show`, and the generate
//! bodies that are refused.

use crate::support;

use std::path::Path;

use gateway_protocol::{
    ApiShape, Capabilities, EmbeddingInput, EmbeddingsResponse, ModelInfo, StreamEvent,
};
use gateway_translate::framing::Framing;
use gateway_translate::ollama::{embeddings, generate, models, response, stream};
use gateway_translate::{ResponseContext, TranslateError};

const DIR: &str = "ollama_ingress";
const CREATED: u64 = 1_760_000_000;

fn generate_cases() -> Vec<std::path::PathBuf> {
    support::cases(DIR)
        .into_iter()
        .filter(|d| {
            d.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("generate_"))
        })
        .collect()
}

fn generate_ctx(model: &str) -> ResponseContext {
    ResponseContext {
        model: model.to_owned(),
        created: CREATED,
        id_seed: "seed".to_owned(),
        ollama_generate: true,
        ..ResponseContext::default()
    }
}

/// An upstream `/api/chat` NDJSON stream, fed in `sizes` chunks, re-encoded as
/// `/api/generate` lines.
fn generate_stream(ctx: &ResponseContext, upstream: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut dec = stream::Decoder::new(ctx);
    let mut events: Vec<StreamEvent> = Vec::new();
    for frame in &support::frames_chunked(Framing::Ndjson, upstream, sizes) {
        dec.decode(frame, &mut events)
            .expect("fixture frames decode");
    }
    dec.finish(&mut events);
    let mut enc = stream::Encoder::new(ctx);
    let mut out = Vec::new();
    for ev in &events {
        enc.encode(ev, &mut out);
    }
    out
}

#[test]
fn generate_requests_read_as_one_user_turn() {
    let cases = generate_cases();
    assert!(cases.len() >= 3, "{cases:?}");
    for dir in cases {
        let body = std::fs::read(dir.join("request.json")).expect("request.json");
        let req =
            generate::decode_request(&body).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        support::check_snapshot(&dir.join("request.canonical.txt"), &format!("{req:#?}\n"));
        // The same request as `/api/chat` would send it decodes the same.
        assert_eq!(req.messages.len(), 1, "{}", dir.display());
    }
}

#[test]
fn answers_and_streams_are_written_in_generates_form() {
    for dir in generate_cases() {
        let body = std::fs::read(dir.join("request.json")).expect("request.json");
        let req = generate::decode_request(&body).expect("decodes");
        let ctx = generate_ctx(&req.model);
        if let Some(upstream) = support::read_opt(&dir.join("upstream.json")) {
            let resp = response::decode(&upstream, &ctx).expect("upstream answer decodes");
            let out = response::encode(&resp, &ctx);
            let value: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
            assert!(value.get("message").is_none(), "{value}");
            assert_eq!(value["done"], true);
            support::check_snapshot(
                &dir.join("response.encoded.json"),
                &support::pretty_json(&out),
            );
        }
        if let Some(upstream) = support::read_opt(&dir.join("upstream.ndjson")) {
            let whole = generate_stream(&ctx, &upstream, &[usize::MAX]);
            for sizes in [&[1usize][..], &[3, 7], &[64]] {
                assert_eq!(generate_stream(&ctx, &upstream, sizes), whole, "{sizes:?}");
            }
            let text = String::from_utf8(whole).expect("UTF-8");
            let lines: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("each line is JSON"))
                .collect();
            let last = lines.last().expect("lines");
            assert_eq!(last["done"], true, "{last}");
            assert!(last["eval_count"].as_u64().is_some(), "{last}");
            assert!(lines.iter().all(|l| l["response"].is_string()), "{text}");
            support::check_snapshot(&dir.join("stream.encoded.ndjson"), &text);
        }
    }
}

#[test]
fn refused_generate_bodies_name_the_field() {
    let expected: [(&str, &str); 9] = [
        ("raw.json", "raw"),
        ("template.json", "template"),
        ("suffix.json", "suffix"),
        ("context.json", "context"),
        ("empty_prompt.json", "prompt"),
        ("prompt_not_a_string.json", "prompt"),
        ("not_an_object.json", "."),
        ("missing_model.json", "."),
        ("bad_format.json", "format"),
    ];
    let dir = support::fixture(Path::new(DIR).join("bad"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("bad dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let want = expected
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no expected path for bad/{name}"))
            .1;
        let body = std::fs::read(&path).expect("read");
        match generate::decode_request(&body) {
            Err(TranslateError::InvalidRequest { path, message }) => {
                assert_eq!(path, want, "bad/{name}: {message}");
                assert!(!message.is_empty());
            }
            other => panic!("bad/{name}: expected InvalidRequest, got {other:?}"),
        }
        seen += 1;
    }
    assert_eq!(seen, expected.len());
}

#[test]
fn legacy_embeddings_take_one_prompt_and_answer_one_vector() {
    let dir = support::fixture(Path::new(DIR).join("embeddings_legacy"));
    let body = std::fs::read(dir.join("request.json")).expect("request.json");
    let req = embeddings::decode_legacy_request(&body).expect("decodes");
    assert_eq!(
        req.inputs,
        vec![EmbeddingInput::Text("The sky is blue.".into())]
    );
    support::check_snapshot(&dir.join("request.canonical.txt"), &format!("{req:#?}\n"));
    let resp = EmbeddingsResponse {
        model: "m-embed".into(),
        vectors: vec![vec![0.5, -0.25, 1.0]],
        input_tokens: Some(5),
    };
    let out = embeddings::encode_legacy_response(&resp);
    support::check_snapshot(
        &dir.join("response.encoded.json"),
        &support::pretty_json(&out),
    );
    // No field but `prompt` names the text.
    assert!(embeddings::decode_legacy_request(br#"{"model":"m","input":"x"}"#).is_err());
}

#[test]
fn show_tells_the_catalogue_limits_and_takes_model_or_name() {
    let model = ModelInfo {
        id: "claude-sonnet-4-6".into(),
        owned_by: Some("anthropic".into()),
        context_window: Some(200_000),
        max_output_tokens: Some(64_000),
        ..ModelInfo::default()
    };
    let out = gateway_translate::codec::encode_model(ApiShape::Ollama, &model);
    support::check_snapshot(
        &support::fixture(Path::new(DIR).join("show/response.encoded.json")),
        &support::pretty_json(&out),
    );
    assert_eq!(
        models::decode_show_request(br#"{"model":"a"}"#).expect("model"),
        "a"
    );
    assert_eq!(
        models::decode_show_request(br#"{"name":"b"}"#).expect("name"),
        "b"
    );
    assert!(models::decode_show_request(b"{}").is_err());
    assert_eq!(models::encode_running(), br#"{"models":[]}"#.to_vec());
}

#[test]
fn show_lists_the_capabilities_the_catalogue_knows_in_ollamas_words() {
    let words = |capabilities| {
        let model = ModelInfo {
            id: "m".into(),
            capabilities,
            ..ModelInfo::default()
        };
        let out = gateway_translate::codec::encode_model(ApiShape::Ollama, &model);
        let show: serde_json::Value = serde_json::from_slice(&out).unwrap();
        show["capabilities"].clone()
    };
    let all = Capabilities {
        vision: true,
        tools: true,
        reasoning: true,
        embeddings: false,
    };
    assert_eq!(
        words(Some(all)),
        serde_json::json!(["completion", "tools", "vision", "thinking"])
    );
    let plain = Capabilities::default();
    assert_eq!(words(Some(plain)), serde_json::json!(["completion"]));
    let embed = Capabilities {
        embeddings: true,
        ..Capabilities::default()
    };
    assert_eq!(words(Some(embed)), serde_json::json!(["embedding"]));
    // Unknown to the catalogue: what every chat route takes.
    assert_eq!(words(None), serde_json::json!(["completion", "tools"]));
}

#[test]
fn a_clocked_stream_ends_with_durations_in_nanoseconds() {
    let upstream = std::fs::read(support::fixture(
        Path::new(DIR).join("generate_text/upstream.ndjson"),
    ))
    .expect("fixture");
    for generate in [false, true] {
        let ctx = ResponseContext {
            ollama_generate: generate,
            ..generate_ctx("m")
        };
        let mut dec = stream::Decoder::new(&ctx);
        let mut enc = stream::Encoder::new(&ctx);
        let mut out = Vec::new();
        // One line per chunk, the clock advancing 1 ms before each.
        for (i, frame) in support::frames(Framing::Ndjson, &upstream)
            .iter()
            .enumerate()
        {
            let mut events = Vec::new();
            dec.decode(frame, &mut events).expect("decodes");
            enc.set_clock((i as u64 + 1) * 1_000_000);
            for ev in &events {
                enc.encode(ev, &mut out);
            }
        }
        let text = String::from_utf8(out).expect("UTF-8");
        let last: serde_json::Value =
            serde_json::from_str(text.lines().last().expect("lines")).expect("JSON");
        assert_eq!(last["done"], true, "{text}");
        // First content at 1 ms, the end at 3 ms.
        assert_eq!(last["total_duration"], 3_000_000, "{last}");
        assert_eq!(last["prompt_eval_duration"], 1_000_000, "{last}");
        assert_eq!(last["eval_duration"], 2_000_000, "{last}");
        let first: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("lines")).expect("JSON");
        assert!(first.get("total_duration").is_none(), "{first}");
    }
}
