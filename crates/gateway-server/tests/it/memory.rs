//! The quiet-gateway nudge calls the release hook the binary sets (`patchbay` sets
//! mimalloc's collect there), once a second while a gateway serves; the usage
//! writer's thread asks for a thorough release when it goes quiet after a burst.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use gateway_server::listen;

use crate::support::*;

static RELEASED: AtomicUsize = AtomicUsize::new(0);
static THOROUGH: AtomicUsize = AtomicUsize::new(0);

fn count_release(how: listen::Release) {
    match how {
        listen::Release::Routine => RELEASED.fetch_add(1, Ordering::Relaxed),
        listen::Release::Thorough => THOROUGH.fetch_add(1, Ordering::Relaxed),
    };
}

/// A gateway over the mock, with the counting release hook set.
async fn counted_gateway() -> (Upstreams, Gateway) {
    listen::set_release_hook(count_release);
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = Gateway::start(&format!(
        "{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    ))
    .await;
    (up, gw)
}

#[tokio::test]
async fn a_serving_gateway_calls_the_release_hook_about_once_a_second() {
    let (_up, gw) = counted_gateway().await;
    let before = RELEASED.load(Ordering::Relaxed);
    let start = Instant::now();
    // Two ticks past the first: the interval's first tick is at once.
    while RELEASED.load(Ordering::Relaxed) < before + 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the release hook was not called twice in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn the_usage_writer_asks_for_a_thorough_release_once_a_burst_is_over() {
    let (_up, gw) = counted_gateway().await;
    // More records inside one batch window than a quiet writer keeps room for.
    let calls = (0..200).map(|_| {
        let (path, body) = chat_request(ApiShape::OpenAiChat, "gpt-x", "hello", false, false);
        let gw = &gw;
        async move { send(gw, ApiShape::OpenAiChat, &path, &body).await.status() }
    });
    let statuses = futures_util::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| s.is_success()), "{statuses:?}");
    let start = Instant::now();
    while THOROUGH.load(Ordering::Relaxed) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no thorough release after the burst"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.shutdown().await;
}
