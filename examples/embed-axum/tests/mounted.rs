//! The example app, driven as a tower service: the app's own routes, the key check in
//! front of one of them, and the gateway under `/llm` answering in every API shape.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use gateway_server::config::Config;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const KEY: &str = "pbk_embed_axum_example_key_01";

fn app() -> axum::Router {
    let mut config = Config::default_mock_with_key(KEY);
    config.storage.path = ":memory:".into();
    embed_axum::app(&config).unwrap()
}

async fn call(req: Request<Body>) -> (StatusCode, String) {
    let resp = app().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

fn post(path: &str, header: (&str, &str), body: &str) -> Request<Body> {
    Request::post(path)
        .header(header.0, header.1)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn the_apps_own_routes_work_and_the_private_one_takes_a_patchbay_key() {
    let (status, text) = call(Request::get("/hello").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "hello from the app")
    );

    let (status, text) = call(Request::get("/private").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    let err: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(err["error"]["type"], "authentication_error");

    let req = Request::get("/private")
        .header("x-api-key", KEY)
        .body(Body::empty())
        .unwrap();
    let (status, text) = call(req).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "hello, local"));
}

#[tokio::test]
async fn the_gateway_under_llm_answers_in_every_api_shape() {
    let bearer = ("authorization", &*format!("Bearer {KEY}"));
    let cases: [(Request<Body>, &str); 4] = [
        (
            post(
                "/llm/v1/chat/completions",
                bearer,
                r#"{"model":"gpt-5-mock","messages":[{"role":"user","content":"Hello"}]}"#,
            ),
            "/choices/0/message/content",
        ),
        (
            post(
                "/llm/v1/responses",
                bearer,
                r#"{"model":"gpt-5-mock","input":"Hello"}"#,
            ),
            "/output/0/content/0/text",
        ),
        (
            post(
                "/llm/v1/messages",
                ("x-api-key", KEY),
                r#"{"model":"claude-opus-4-8","max_tokens":64,"messages":[{"role":"user","content":"Hello"}]}"#,
            ),
            "/content/0/text",
        ),
        (
            post(
                "/llm/v1beta/models/gemini-3.5-flash:generateContent",
                ("x-goog-api-key", KEY),
                r#"{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}"#,
            ),
            "/candidates/0/content/parts/0/text",
        ),
    ];
    for (req, pointer) in cases {
        let path = req.uri().path().to_owned();
        let (status, text) = call(req).await;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        let said = body
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert!(!said.is_empty(), "{path}: no text at {pointer} in {text}");
    }
}

#[tokio::test]
async fn the_mounted_gateway_refuses_strangers_in_the_callers_envelope() {
    let req = post(
        "/llm/v1/messages",
        ("x-api-key", "pbk_not_a_key"),
        r#"{"model":"claude-opus-4-8","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}"#,
    );
    let (status, text) = call(req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let err: Value = serde_json::from_str(&text).unwrap();
    // Anthropic's envelope: {"type":"error","error":{"type":"authentication_error",...}}.
    assert_eq!(err["type"], "error", "{text}");
    assert_eq!(err["error"]["type"], "authentication_error", "{text}");
}
