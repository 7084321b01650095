//! What the gateway changes on the way: the catalogue clamp, `patchbay.ext`
//! parameters (stripped, applied to their provider only), the hosted-tool rule, and
//! the model swap of the same-shape fast path — checked on the bytes the upstream
//! receives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use gateway_protocol::ApiShape;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use support::*;

type Seen = Arc<Mutex<Vec<Value>>>;

/// An upstream that records each request body and answers with a fixed answer in
/// its shape (OpenAI Chat or Anthropic, by path).
async fn capture_upstream(seen: Seen) -> SocketAddr {
    serve_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let seen = seen.clone();
        async move {
            let anthropic = req.uri().path().ends_with("/messages");
            let body = req.into_body().collect().await.unwrap().to_bytes();
            seen.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap());
            let answer = if anthropic {
                json!({"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}})
            } else {
                json!({"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})
            };
            hyper::Response::builder()
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(answer.to_string())))
                .unwrap()
        }
    })
    .await
}

async fn setup() -> (Gateway, Seen) {
    let seen: Seen = Arc::default();
    let addr = capture_upstream(seen.clone()).await;
    let config = format!(
        r#"
[providers.oai]
kind = "openai_compatible"
base_url = "http://{addr}/v1"
[providers.ant]
kind = "anthropic"
base_url = "http://{addr}"
api_key = "k"
[[routes]]
model = "big-claude"
targets = [{{ provider = "ant", model = "claude-opus-4-5" }}]
[[routes]]
model = "gpt"
targets = [{{ provider = "oai", model = "upstream-gpt" }}]
[[keys]]
name = "t"
secret = "{KEY}"
"#
    );
    (Gateway::start(&config).await, seen)
}

fn last(seen: &Seen) -> Value {
    seen.lock().unwrap().last().cloned().unwrap()
}

#[tokio::test]
async fn max_tokens_are_clamped_to_the_target_model() {
    let (gw, seen) = setup().await;
    let (path, mut body) = chat_request(ApiShape::OpenAiChat, "big-claude", "hi", false, false);
    body["max_tokens"] = json!(1_000_000);
    let resp = send(&gw, ApiShape::OpenAiChat, &path, &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["x-patchbay-clamped-max-tokens"],
        "1000000->64000"
    );
    assert_eq!(last(&seen)["max_tokens"], 64000);
    assert_eq!(last(&seen)["model"], "claude-opus-4-5");
    // Same shape too: the fast path steps aside when the body must change.
    let (path, mut body) = chat_request(ApiShape::Anthropic, "big-claude", "hi", false, false);
    body["max_tokens"] = json!(200_000);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 150_000});
    let resp = send(&gw, ApiShape::Anthropic, &path, &body).await;
    assert_eq!(resp.status(), 200);
    let sent = last(&seen);
    assert_eq!(sent["max_tokens"], 64000);
    assert!(
        sent["thinking"]["budget_tokens"].as_u64().unwrap() < 64000,
        "{sent}"
    );
}

#[tokio::test]
async fn patchbay_ext_is_stripped_and_applied_only_to_its_provider() {
    let (gw, seen) = setup().await;
    let ext = json!({"ext": {
        "openai": {"service_tier": "flex"},
        "anthropic": {"service_tier": "standard_only"},
        "oai": {"prompt_cache_key": "k1"}
    }});
    // Anthropic caller → OpenAI upstream.
    let (path, mut body) = chat_request(ApiShape::Anthropic, "gpt", "hi", false, false);
    body["patchbay"] = ext.clone();
    assert_eq!(
        send(&gw, ApiShape::Anthropic, &path, &body).await.status(),
        200
    );
    let sent = last(&seen);
    assert!(sent.get("patchbay").is_none(), "{sent}");
    assert_eq!(sent["service_tier"], "flex");
    assert_eq!(
        sent["prompt_cache_key"], "k1",
        "provider-named parameters apply: {sent}"
    );
    // OpenAI caller → Anthropic upstream.
    let (path, mut body) = chat_request(ApiShape::OpenAiChat, "big-claude", "hi", false, false);
    body["patchbay"] = ext.clone();
    assert_eq!(
        send(&gw, ApiShape::OpenAiChat, &path, &body).await.status(),
        200
    );
    let sent = last(&seen);
    assert!(sent.get("patchbay").is_none(), "{sent}");
    assert_eq!(sent["service_tier"], "standard_only");
    assert!(sent.get("prompt_cache_key").is_none(), "{sent}");
    // Same shape: still stripped.
    let (path, mut body) = chat_request(ApiShape::OpenAiChat, "gpt", "hi", false, false);
    body["patchbay"] = ext;
    assert_eq!(
        send(&gw, ApiShape::OpenAiChat, &path, &body).await.status(),
        200
    );
    let sent = last(&seen);
    assert!(sent.get("patchbay").is_none(), "{sent}");
    assert_eq!(sent["service_tier"], "flex");
}

#[tokio::test]
async fn the_fast_path_sends_the_callers_bytes_with_the_routed_model() {
    let (gw, seen) = setup().await;
    let (path, mut body) = chat_request(ApiShape::OpenAiChat, "gpt", "hi", false, false);
    body["logit_bias"] = json!({"50256": -100});
    body["x_vendor_field"] = json!([1, 2, 3]);
    assert_eq!(
        send(&gw, ApiShape::OpenAiChat, &path, &body).await.status(),
        200
    );
    let mut expected = body.clone();
    expected["model"] = json!("upstream-gpt");
    assert_eq!(last(&seen), expected);
}

#[tokio::test]
async fn hosted_tools_are_dropped_for_other_families_and_binding_fields_refused() {
    let (gw, seen) = setup().await;
    let body = json!({"model": "big-claude", "input": "hi", "tools": [
        {"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
        {"type": "web_search"}
    ]});
    let resp = send(&gw, ApiShape::OpenAiResponses, "/v1/responses", &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-patchbay-dropped-tools"], "tools[1]");
    let sent = last(&seen);
    assert_eq!(sent["tools"].as_array().unwrap().len(), 1, "{sent}");
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    // A field that changes the answer and only OpenAI understands: refused, named.
    // (`previous_response_id` is not one: the gateway keeps Responses state itself.)
    let body = json!({"model": "big-claude", "input": "hi", "conversation": "conv_1"});
    let resp = send(&gw, ApiShape::OpenAiResponses, "/v1/responses", &body).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("conversation"),
        "{v}"
    );
}
