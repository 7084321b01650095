//! Fixture-driven tests of the OpenAI Embeddings codec (PROTOCOLS §4.1, §9.23).
#![allow(clippy::unwrap_used)]

use crate::support;

use std::path::Path;

use gateway_protocol::{
    EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse, EncodingFormat, ErrorKind, GatewayError,
};
use gateway_translate::TranslateError;
use gateway_translate::openai_embeddings::{error, request, response};
use serde_json::{Value, json};

const SHAPE: &str = "openai_embeddings";

fn run_case(dir: &Path) {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?")
        .to_owned();
    let req_bytes = support::read_opt(&dir.join("request.json")).expect("request.json");
    let req = request::decode(&req_bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    support::check_snapshot(&dir.join("request.canonical.txt"), &format!("{req:#?}\n"));
    let enc = request::encode(&req).unwrap();
    support::check_snapshot(
        &dir.join("request.encoded.json"),
        &support::pretty_json(&enc),
    );
    assert_eq!(
        request::decode(&enc).unwrap(),
        req,
        "{name}: request round trip"
    );

    let Some(resp_bytes) = support::read_opt(&dir.join("response.json")) else {
        return;
    };
    let resp = response::decode(&resp_bytes).unwrap();
    assert_eq!(
        resp.vectors.len(),
        req.inputs.len(),
        "{name}: one vector per input"
    );
    support::check_snapshot(&dir.join("response.canonical.txt"), &format!("{resp:#?}\n"));
    let enc = response::encode(&resp, req.encoding_format);
    support::check_snapshot(
        &dir.join("response.encoded.json"),
        &support::pretty_json(&enc),
    );
    assert_eq!(
        response::decode(&enc).unwrap(),
        resp,
        "{name}: response round trip"
    );
    // Whatever the caller asked, the other encoding carries the same vectors.
    let other = match req.encoding_format {
        EncodingFormat::Float => EncodingFormat::Base64,
        EncodingFormat::Base64 => EncodingFormat::Float,
    };
    assert_eq!(
        response::decode(&response::encode(&resp, other)).unwrap(),
        resp
    );
}

#[test]
fn fixture_cases() {
    let cases = support::cases(SHAPE);
    let mut ran = 0;
    for dir in cases.iter().filter(|d| d.join("request.json").exists()) {
        run_case(dir);
        ran += 1;
    }
    assert!(ran >= 4);
}

#[test]
fn base64_decodes_to_the_exact_vector_in_index_order() {
    let body = std::fs::read(support::fixture(format!(
        "{SHAPE}/batch_base64/response.json"
    )))
    .unwrap();
    let resp = response::decode(&body).unwrap();
    assert_eq!(
        resp.vectors,
        vec![vec![0.0123f32, -0.044, 0.5], vec![0.25, -1.5, 3.0]]
    );
    assert_eq!(resp.input_tokens, Some(4));
    // Encoding packs little-endian float32, standard alphabet, padded.
    let v: Value =
        serde_json::from_slice(&response::encode(&resp, EncodingFormat::Base64)).unwrap();
    assert_eq!(v["data"][0]["embedding"], "8IVJPFg5NL0AAAA/");
    assert_eq!(v["data"][0]["index"], 0);
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(response::pack(&[1.0]), "AACAPw==");
    assert_eq!(response::unpack("AACAPw==").unwrap(), vec![1.0]);
}

#[test]
fn float_encoding_writes_numbers() {
    let resp = EmbeddingsResponse {
        model: "m".into(),
        vectors: vec![vec![0.0123, -0.044]],
        input_tokens: None,
    };
    let v: Value = serde_json::from_slice(&response::encode(&resp, EncodingFormat::Float)).unwrap();
    assert_eq!(
        v,
        json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.0123, -0.044]}],
               "model": "m", "usage": {"prompt_tokens": 0, "total_tokens": 0}})
    );
}

#[test]
fn token_array_inputs() {
    let r = request::decode(br#"{"model":"m","input":[[1,2],[3]]}"#).unwrap();
    assert_eq!(
        r.inputs,
        vec![
            EmbeddingInput::Tokens(vec![1, 2]),
            EmbeddingInput::Tokens(vec![3])
        ]
    );
    let r = request::decode(br#"{"model":"m","input":[1,2]}"#).unwrap();
    assert_eq!(r.inputs, vec![EmbeddingInput::Tokens(vec![1, 2])]);
    let r = request::decode(br#"{"model":"m","input":["a",[5]]}"#).unwrap();
    assert_eq!(
        r.inputs,
        vec![
            EmbeddingInput::Text("a".into()),
            EmbeddingInput::Tokens(vec![5])
        ]
    );
    // Mixed inputs have no OpenAI form.
    assert!(
        matches!(request::encode(&r), Err(TranslateError::Untranslatable { ref path, .. }) if path == "input")
    );
}

#[test]
fn default_format_is_float_and_extras_are_kept() {
    let r = request::decode(br#"{"model":"m","input":"a","service_tier":"flex","patchbay":{"ext":{"gemini":{"taskType":"X"}}}}"#).unwrap();
    assert_eq!(r.encoding_format, EncodingFormat::Float);
    assert_eq!(
        r.extensions.for_key("openai").unwrap()["service_tier"],
        "flex"
    );
    assert_eq!(r.extensions.for_key("gemini").unwrap()["taskType"], "X");
    let v: Value = serde_json::from_slice(&request::encode(&r).unwrap()).unwrap();
    assert_eq!(v["service_tier"], "flex");
    assert!(v.get("taskType").is_none());
}

#[test]
fn bad_requests_name_the_field() {
    let cases = [
        ("empty_input.json", "input"),
        ("mixed_input.json", "input[1]"),
        ("bad_token.json", "input[0][1]"),
        ("bad_format.json", "encoding_format"),
        ("input_object.json", "input"),
        ("missing_input.json", "."),
        ("dimensions_string.json", "dimensions"),
    ];
    for (file, path) in cases {
        let body = std::fs::read(support::fixture(format!("{SHAPE}/bad/{file}"))).unwrap();
        match request::decode(&body) {
            Err(TranslateError::InvalidRequest { path: p, .. }) => assert_eq!(p, path, "{file}"),
            other => panic!("{file}: {other:?}"),
        }
    }
    assert!(matches!(
        request::decode(b"{\"model\":"),
        Err(TranslateError::InvalidRequest { .. })
    ));
}

#[test]
fn bad_responses_are_upstream_protocol_errors() {
    let bad: [&[u8]; 4] = [
        br#"{"data":[{"index":3,"embedding":[1]}]}"#,
        br#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}"#,
        br#"{"data":[{"index":0,"embedding":"AAA="}]}"#,
        br#"{"data":[{"index":0,"embedding":"!!"}]}"#,
    ];
    for b in bad {
        assert!(
            matches!(
                response::decode(b),
                Err(TranslateError::UpstreamProtocol { .. })
            ),
            "{}",
            String::from_utf8_lossy(b)
        );
    }
}

#[test]
fn errors_use_the_openai_envelope() {
    let (status, body) = error::encode(&GatewayError::new(ErrorKind::RateLimited, "slow down"));
    assert_eq!(status, 429);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_exceeded");
    let e = error::decode(400, br#"{"error":{"message":"bad","type":"invalid_request_error","param":"input","code":null}}"#);
    assert_eq!(
        (e.kind, e.param.as_deref()),
        (ErrorKind::InvalidRequest, Some("input"))
    );
}

#[test]
fn encode_writes_request_fields() {
    let req = EmbeddingsRequest {
        model: "m".into(),
        inputs: vec![
            EmbeddingInput::Text("a".into()),
            EmbeddingInput::Text("b".into()),
        ],
        dimensions: Some(256),
        encoding_format: EncodingFormat::Base64,
        user: Some("u".into()),
        ..EmbeddingsRequest::default()
    };
    let v: Value = serde_json::from_slice(&request::encode(&req).unwrap()).unwrap();
    assert_eq!(
        v,
        json!({"model": "m", "input": ["a", "b"], "dimensions": 256, "encoding_format": "base64", "user": "u"})
    );
}
