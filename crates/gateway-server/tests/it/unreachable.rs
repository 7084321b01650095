//! Upstreams that cannot be reached (nothing listening, a name that does not
//! resolve): the caller is told which provider and what kind of failure, in its own
//! envelope, and never the upstream's host, address or port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use gateway_protocol::ApiShape;
use serde_json::Value;
use support::*;

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// A gateway whose only provider, `far`, is at `base_url`.
async fn gateway(base_url: &str) -> Gateway {
    Gateway::start(&format!(
        r#"
[providers.far]
kind = "openai_compatible"
base_url = "{base_url}"
[[routes]]
model = "*"
targets = [{{ provider = "far", model = "m" }}]
retries = 0
[[keys]]
name = "t"
secret = "{KEY}"
"#
    ))
    .await
}

/// The caller's error body for a chat in `shape`, streamed or not, after checking
/// the status and that the envelope is `shape`'s.
async fn error_body(gw: &Gateway, shape: ApiShape, stream: bool) -> String {
    let (path, body) = chat_request(shape, "m", "hello", stream, false);
    let resp = send(gw, shape, &path, &body).await;
    assert_eq!(resp.status(), 502, "{shape:?}");
    let text = resp.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    match shape {
        ApiShape::Anthropic => assert_eq!(v["type"], "error", "{text}"),
        ApiShape::Gemini => assert_eq!(v["error"]["code"], 502, "{text}"),
        ApiShape::Ollama => assert!(v["error"].is_string(), "{text}"),
        _ => assert!(v["error"]["message"].is_string(), "{text}"),
    }
    text
}

#[tokio::test]
async fn a_closed_port_is_reported_by_provider_name_without_host_or_port() {
    let port = closed_port().await;
    let gw = gateway(&format!("http://127.0.0.1:{port}/v1")).await;
    for shape in CALLERS {
        for stream in [false, true] {
            let text = error_body(&gw, shape, stream).await;
            assert!(text.contains("provider `far` is unreachable"), "{text}");
            assert!(text.contains("refused"), "{text}");
            assert!(!text.contains("127.0.0.1"), "{text}");
            assert!(!text.contains(&port.to_string()), "{text}");
        }
    }
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_reported_without_the_name() {
    let gw = gateway("http://does-not-exist.invalid:8123/v1").await;
    for shape in [ApiShape::OpenAiChat, ApiShape::Anthropic] {
        let text = error_body(&gw, shape, false).await;
        assert!(text.contains("provider `far` is unreachable"), "{text}");
        assert!(text.contains("did not resolve"), "{text}");
        assert!(!text.contains("does-not-exist"), "{text}");
        assert!(!text.contains("invalid:"), "{text}");
        assert!(!text.contains("8123"), "{text}");
    }
}
