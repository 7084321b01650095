use super::*;

use std::path::PathBuf;

/// The committed corpus of a fuzz target (`fuzz/corpus/<target>/`).
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn chat_request(key_header: &str) -> Vec<u8> {
    format!(
        "POST /v1/messages?beta=true HTTP/1.1\r\ncontent-type: application/json\r\n\
         anthropic-version: 2023-06-01\r\n{key_header}\r\n\r\n\
         {{\"model\":\"mock-echo\",\"max_tokens\":16,\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}]}}"
    )
    .into_bytes()
}

#[test]
fn a_request_head_parses_into_method_target_headers_and_body() {
    let req = parse_request(&chat_request(&format!("x-api-key: {INGRESS_KEY}"))).unwrap();
    assert_eq!(req.method(), Method::POST);
    assert_eq!(req.uri().path(), "/v1/messages");
    assert_eq!(req.uri().query(), Some("beta=true"));
    assert_eq!(req.headers()["x-api-key"], INGRESS_KEY);
    assert_eq!(req.headers().len(), 3);
    assert!(req.body().starts_with(b"{\"model\""));
    let bare = parse_request(b"GET /healthz\nbad header line\n:empty name\n\nrest").unwrap();
    assert!(bare.headers().is_empty());
    assert_eq!(bare.body().as_ref(), b"rest");
    assert!(parse_request(b"GET").is_none(), "no target");
    assert!(
        parse_request(b"G(T / HTTP/1.1").is_none(),
        "not a method token"
    );
}

#[test]
fn the_ingress_gateway_answers_its_key_and_refuses_others() {
    let send = |data: &[u8]| exchange(parse_request(data).unwrap()).expect("an answer in time");
    let (status, body) = send(&chat_request(&format!("x-api-key: {INGRESS_KEY}")));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(body.windows(2).any(|w| w == b"hi"), "the mock echoes");
    let (status, _) = send(&chat_request("x-api-key: someone-else"));
    assert_eq!(status, 401);
    let (status, _) = send(b"GET /healthz HTTP/1.1\r\n\r\n");
    assert_eq!(status, 200);
}

#[test]
fn no_request_in_the_ingress_corpus_panics() {
    let files = corpus("http_ingress");
    assert!(files.len() >= 10, "corpus too small: {}", files.len());
    for (path, bytes) in files {
        eprintln!("{}", path.display());
        http_ingress(&bytes);
    }
}

#[test]
fn the_fixture_configurations_load_through_the_config_target() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config");
    let full = std::fs::read_to_string(dir.join("full.toml")).unwrap();
    let mut config = Config::from_toml_str(&full, &fuzz_env).unwrap();
    config.access_log.format = crate::config::AccessLogFormat::Off;
    config.tracing.otlp_endpoint = None;
    assert!(
        App::with_keys(&config, None).is_ok(),
        "the target reaches the app"
    );
    config_toml(full.as_bytes());
}

#[test]
fn no_configuration_in_the_config_corpus_panics() {
    let files = corpus("config_toml");
    assert!(files.len() >= 4, "corpus too small: {}", files.len());
    for (path, bytes) in files {
        eprintln!("{}", path.display());
        config_toml(&bytes);
    }
}
