//! Media given by URL to upstreams that take it inline only (Gemini): fetched by the
//! gateway under the `[media]` policy — redirects followed, private addresses refused
//! unless allowed, size limited — and sent as inline data; per request, each URL
//! once, a few at a time, within counts, a byte total and the route's timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A media host that counts its hits and how many are open at once: `/png/<n>` is the
/// PNG after `delay`, `/stall/<n>` never answers, anything else is a 404. Its
/// `/v1beta/...` is a Gemini upstream that records what it is sent.
#[derive(Clone, Default)]
struct Host {
    hits: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    seen: Seen,
}

impl Host {
    async fn start(delay: Duration) -> (Host, SocketAddr) {
        let host = Host::default();
        let h = host.clone();
        let addr = serve_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let h = h.clone();
            async move {
                let path = req.uri().path().to_owned();
                let resp = hyper::Response::builder();
                if path.starts_with("/v1beta/") {
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    h.seen
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    let answer = json!({"candidates":[{"content":{"role":"model","parts":[{"text":"cats"}]},"finishReason":"STOP","index":0}]});
                    return resp
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(answer.to_string())))
                        .unwrap();
                }
                h.hits.fetch_add(1, Ordering::SeqCst);
                let now = h.open.fetch_add(1, Ordering::SeqCst) + 1;
                h.peak.fetch_max(now, Ordering::SeqCst);
                let _open = Decrement(h.open.clone());
                if path.starts_with("/stall/") {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(delay).await;
                if path.starts_with("/png/") {
                    resp.header("content-type", "image/png")
                        .body(Full::new(Bytes::from_static(PNG)))
                        .unwrap()
                } else {
                    resp.status(404).body(Full::new(Bytes::new())).unwrap()
                }
            }
        })
        .await;
        (host, addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Counts a request as closed when its handler ends or is dropped.
struct Decrement(Arc<AtomicUsize>);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A gateway routing every model to Gemini-shaped `targets` (provider names) on
/// `addr`, with these `[media]` and route settings.
async fn gateway(addr: SocketAddr, media: &str, route: &str, targets: &[&str]) -> Gateway {
    let mut config = format!("[media]\nallow_private = true\n{media}\n");
    for name in targets {
        config += &format!(
            "[providers.{name}]\nkind = \"gemini\"\nbase_url = \"http://{addr}\"\napi_key = \"g\"\n"
        );
    }
    let list: Vec<String> = targets
        .iter()
        .map(|t| format!("{{ provider = \"{t}\", model = \"gemini-2.5-flash\" }}"))
        .collect();
    config += &format!(
        "[[routes]]\nmodel = \"*\"\ntargets = [{}]\nretries = 0\n{route}\n[[keys]]\nname = \"t\"\nsecret = \"{KEY}\"\n",
        list.join(", ")
    );
    Gateway::start(&config).await
}

/// An OpenAI chat request with one image part per URL.
fn openai_images(urls: &[String]) -> Value {
    let mut content = vec![json!({"type": "text", "text": "What are these?"})];
    for url in urls {
        content.push(json!({"type": "image_url", "image_url": {"url": url}}));
    }
    json!({"model": "vision", "messages": [{"role": "user", "content": content}]})
}

/// The same as an Anthropic messages request.
fn anthropic_images(urls: &[String]) -> Value {
    let mut content = vec![json!({"type": "text", "text": "What are these?"})];
    for url in urls {
        content.push(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    json!({"model": "vision", "max_tokens": 64, "messages": [{"role": "user", "content": content}]})
}

async fn openai(gw: &Gateway, urls: &[String]) -> reqwest::Response {
    send(
        gw,
        ApiShape::OpenAiChat,
        "/v1/chat/completions",
        &openai_images(urls),
    )
    .await
}

fn urls(addr: SocketAddr, kind: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("http://{addr}/{kind}/{i}"))
        .collect()
}

#[tokio::test]
async fn the_same_url_in_three_parts_is_fetched_once() {
    let (host, addr) = Host::start(Duration::ZERO).await;
    let gw = gateway(addr, "", "", &["gem"]).await;
    let url = format!("http://{addr}/png/cat");
    let resp = openai(&gw, &[url.clone(), url.clone(), url]).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(host.hits(), 1);
    let sent = host.seen.lock().unwrap().last().cloned().unwrap();
    let parts = sent["contents"][0]["parts"].as_array().unwrap();
    let inline: Vec<&Value> = parts.iter().filter_map(|p| p.get("inlineData")).collect();
    assert_eq!(inline.len(), 3, "{sent}");
    assert!(inline.iter().all(|d| d["mimeType"] == "image/png"));
}

#[tokio::test]
async fn more_urls_than_max_urls_is_a_400_in_the_callers_envelope_and_nothing_is_fetched() {
    let (host, addr) = Host::start(Duration::ZERO).await;
    let gw = gateway(addr, "max_urls = 2", "", &["gem"]).await;
    let three = urls(addr, "png", 3);

    let resp = openai(&gw, &three).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("max_urls") && message.contains("at most 2"),
        "{message}"
    );

    let resp = send(
        &gw,
        ApiShape::Anthropic,
        "/v1/messages",
        &anthropic_images(&three),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_urls")
    );

    assert_eq!(host.hits(), 0, "no fetch is made past the cap");
    assert!(host.seen.lock().unwrap().is_empty());

    // Duplicates count once: three parts naming two URLs are within the cap.
    let two = urls(addr, "png", 2);
    let resp = openai(&gw, &[two[0].clone(), two[1].clone(), two[0].clone()]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(host.hits(), 2);
}

#[tokio::test]
async fn more_bytes_than_max_total_bytes_is_a_400() {
    // Each PNG fits; three of them do not.
    let total = PNG.len() * 2 + PNG.len() / 2;
    let (host, addr) = Host::start(Duration::ZERO).await;
    let gw = gateway(addr, &format!("max_total_bytes = {total}"), "", &["gem"]).await;

    let resp = openai(&gw, &urls(addr, "png", 3)).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("max_total_bytes") && message.contains(&total.to_string()),
        "{message}"
    );
    assert!(host.seen.lock().unwrap().is_empty());

    let resp = openai(&gw, &urls(addr, "png", 2)).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn fetches_run_a_few_at_a_time_not_one_after_another() {
    let delay = Duration::from_millis(400);
    let (host, addr) = Host::start(delay).await;
    let gw = gateway(addr, "", "", &["gem"]).await;
    let started = Instant::now();
    let resp = openai(&gw, &urls(addr, "png", 8)).await;
    let took = started.elapsed();
    assert_eq!(resp.status(), 200);
    assert_eq!(host.hits(), 8);
    let peak = host.peak.load(Ordering::SeqCst);
    assert!((2..=4).contains(&peak), "{peak} fetches at once");
    assert!(took < delay * 8, "{took:?}: one after another");
}

#[tokio::test]
async fn a_stalling_media_host_ends_the_request_at_the_routes_timeout() {
    let (host, addr) = Host::start(Duration::ZERO).await;
    // Each fetch may take 30 s; the route allows 600 ms for everything.
    let gw = gateway(addr, "timeout_ms = 30000", "timeout_ms = 600", &["gem"]).await;
    let started = Instant::now();
    let resp = openai(&gw, &urls(addr, "stall", 6)).await;
    let took = started.elapsed();
    assert_eq!(resp.status(), 504);
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("route's timeout (600 ms)"), "{message}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(host.hits() <= 4, "{} fetches started", host.hits());
    assert!(host.seen.lock().unwrap().is_empty());
    // The abandoned fetches were cancelled: their connections are gone.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(host.open.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_second_inline_only_target_does_not_fetch_a_failed_url_again() {
    let (host, addr) = Host::start(Duration::ZERO).await;
    let gw = gateway(addr, "", "", &["gem", "gem2"]).await;
    let resp = openai(&gw, &[format!("http://{addr}/missing")]).await;
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(text.contains("404"), "{text}");
    assert_eq!(host.hits(), 1);
}

#[tokio::test]
async fn an_unreachable_media_url_is_named_but_not_the_address_it_resolved_to() {
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let (_, addr) = Host::start(Duration::ZERO).await;
    let gw = gateway(addr, "", "", &["gem"]).await;
    let url = format!("http://localhost:{closed}/cat.png");
    let resp = openai(&gw, std::slice::from_ref(&url)).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&url), "{message}");
    assert!(message.contains("refused"), "{message}");
    assert!(
        !message.contains("127.0.0.1") && !message.contains("::1"),
        "{message}"
    );
}

#[tokio::test]
async fn one_url_named_many_times_is_fetched_once_but_each_inline_copy_counts() {
    let total = PNG.len() * 2 + PNG.len() / 2;
    let (host, addr) = Host::start(Duration::ZERO).await;
    let gw = gateway(addr, &format!("max_total_bytes = {total}"), "", &["gem"]).await;
    let url = format!("http://{addr}/png/cat");
    let resp = openai(&gw, &[url.clone(), url.clone(), url]).await;
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(text.contains("max_total_bytes"), "{text}");
    assert_eq!(host.hits(), 1);
    assert!(host.seen.lock().unwrap().is_empty());
}
