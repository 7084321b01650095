//! Media given by URL to upstreams that take it inline only (Gemini): fetched by the
//! gateway under the `[media]` policy — redirects followed, private addresses refused
//! unless allowed, size limited — and sent as inline data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use gateway_protocol::ApiShape;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use support::*;

/// A 1×1 PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\xdac\xf8\xcf\xc0\xf0\x1f\0\x05\x05\x02\x00\x5f\xc8\xf1\xd2\0\0\0\0IEND\xaeB`\x82";

type Seen = Arc<Mutex<Vec<Value>>>;

/// Serves what the tests fetch, and (on `/v1beta/...`) plays a Gemini upstream that
/// records each request body.
async fn server(seen: Seen) -> SocketAddr {
    serve_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let seen = seen.clone();
        async move {
            let resp = hyper::Response::builder();
            let resp = match req.uri().path() {
                "/cat.png" => resp
                    .header("content-type", "image/png")
                    .body(Full::new(Bytes::from_static(PNG))),
                "/moved" => resp
                    .status(302)
                    .header("location", "/cat.png")
                    .body(Full::new(Bytes::new())),
                "/page" => resp
                    .header("content-type", "text/html")
                    .body(Full::new(Bytes::from_static(b"<html></html>"))),
                _ => {
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    seen.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    let answer = json!({"candidates":[{"content":{"role":"model","parts":[{"text":"a cat"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5}});
                    resp.header("content-type", "application/json")
                        .body(Full::new(Bytes::from(answer.to_string())))
                }
            };
            resp.unwrap()
        }
    })
    .await
}

async fn setup(media: &str) -> (Gateway, Seen, SocketAddr) {
    let seen: Seen = Arc::default();
    let addr = server(seen.clone()).await;
    let config = format!(
        r#"
[media]
{media}
[providers.gem]
kind = "gemini"
base_url = "http://{addr}"
api_key = "g"
[[routes]]
model = "*"
targets = [{{ provider = "gem", model = "gemini-2.5-flash" }}]
[[keys]]
name = "t"
secret = "{KEY}"
"#
    );
    (Gateway::start(&config).await, seen, addr)
}

fn with_image(url: &str) -> Value {
    json!({
        "model": "vision",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": url}}
        ]}]
    })
}

async fn ask(gw: &Gateway, url: &str) -> reqwest::Response {
    send(
        gw,
        ApiShape::OpenAiChat,
        "/v1/chat/completions",
        &with_image(url),
    )
    .await
}

#[tokio::test]
async fn a_url_image_is_fetched_through_redirects_and_sent_inline() {
    let (gw, seen, addr) = setup("allow_private = true").await;
    let resp = ask(&gw, &format!("http://{addr}/moved")).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "a cat");
    let sent = seen.lock().unwrap().last().cloned().unwrap();
    let inline = &sent["contents"][0]["parts"][1]["inlineData"];
    assert_eq!(inline["mimeType"], "image/png", "{sent}");
    let data = base64::engine::general_purpose::STANDARD
        .decode(inline["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, PNG);
}

#[tokio::test]
async fn private_addresses_are_refused_by_default_and_nothing_reaches_the_upstream() {
    let (gw, seen, addr) = setup("").await;
    for url in [
        format!("http://{addr}/cat.png"),
        format!("http://localhost:{}/cat.png", addr.port()),
    ] {
        let resp = ask(&gw, &url).await;
        assert_eq!(resp.status(), 400, "{url}");
        let body: Value = resp.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("public"), "{message}");
    }
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn what_is_not_media_or_too_big_or_switched_off_is_a_clear_400() {
    let (gw, _, addr) = setup("allow_private = true\nmax_bytes = 16").await;
    let resp = ask(&gw, &format!("http://{addr}/cat.png")).await;
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(text.contains("larger than 16 bytes"), "{text}");

    let (gw, _, addr) = setup("allow_private = true").await;
    let resp = ask(&gw, &format!("http://{addr}/page")).await;
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(text.contains("not an image or a PDF"), "{text}");

    let (gw, _, addr) = setup("fetch_urls = false").await;
    let resp = ask(&gw, &format!("http://{addr}/cat.png")).await;
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(text.contains("switched off"), "{text}");
}
