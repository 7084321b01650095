//! A streamed answer ends for its caller with its last event (`[DONE]` here), in the
//! same write, not when the upstream gets round to ending its body; the rest of that
//! body is still read, so the upstream connection is kept for the next call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

async fn gateway_over(upstream: std::net::SocketAddr) -> Gateway {
    Gateway::start(&format!(
        "[providers.slow]\nkind = \"openai_compatible\"\nbase_url = \"http://{upstream}/v1\"\n\
         [[routes]]\nmodel = \"m\"\ntargets = [{{ provider = \"slow\" }}]\n\
         [[keys]]\nname = \"test\"\nsecret = \"{KEY}\"\n"
    ))
    .await
}

/// The whole streamed body of one call, and how long it took.
async fn stream_once(gw: &Gateway) -> (String, Duration) {
    let started = Instant::now();
    let answer = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&json!({
            "model": "m",
            "stream": true,
            "messages": [{"role": "user", "content": "hi"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    (text, started.elapsed())
}

#[tokio::test]
async fn the_callers_stream_ends_at_done_while_the_upstreams_body_is_still_open() {
    let linger = Duration::from_secs(3);
    let (upstream, _) = lingering_upstream(linger).await;
    let gw = gateway_over(upstream).await;
    let (text, took) = stream_once(&gw).await;
    assert!(
        took < linger / 2,
        "the caller's stream waited {took:?} for the upstream's body to end"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(text.contains("\"content\":\"Hi\""), "{text}");
    // The usage chunk the gateway asked for was read and taken out, as ever.
    assert!(!text.contains("\"usage\""), "{text}");
    gw.shutdown().await;
}

#[tokio::test]
async fn the_upstream_body_is_still_read_to_its_end_and_its_connection_kept() {
    let linger = Duration::from_millis(50);
    let (upstream, accepted) = lingering_upstream(linger).await;
    let gw = gateway_over(upstream).await;
    for _ in 0..3 {
        let (text, _) = stream_once(&gw).await;
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
        // The rest of the upstream's body is read on the side; once it has ended the
        // connection is back in the pool.
        // A second for that, with room for a loaded machine.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one upstream connection for three calls"
    );
    gw.shutdown().await;
}
