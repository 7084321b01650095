//! The quiet-gateway nudge calls the release hook the binary sets (`patchbay` sets
//! mimalloc's collect there), once a second while a gateway serves, and asks for the
//! burst release once a burst of connections has closed; the usage writer's thread
//! asks for a thorough release when it goes quiet after a burst.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use gateway_server::listen;
use gateway_server::listen::Release;

use crate::support::*;

static ROUTINE: AtomicUsize = AtomicUsize::new(0);
/// The other releases asked for, with the name of the thread that asked: the tests
/// of this binary run at once, each on a thread named after it, and share the hook.
static ASKED: Mutex<Vec<(Release, String)>> = Mutex::new(Vec::new());

fn count_release(how: Release) {
    if how == Release::Routine {
        ROUTINE.fetch_add(1, Ordering::Relaxed);
    } else {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        ASKED.lock().unwrap().push((how, name));
    }
}

fn asked(how: Release, thread: &str) -> bool {
    ASKED
        .lock()
        .unwrap()
        .iter()
        .any(|(h, t)| *h == how && t.ends_with(thread))
}

/// Waits up to 10 s for a release `how` asked for by a thread whose name ends with
/// `thread`.
async fn release_from(how: Release, thread: &str) {
    let start = Instant::now();
    while !asked(how, thread) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no {how:?} release from {thread} in 10 s: {:?}",
            ASKED.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    let before = ROUTINE.load(Ordering::Relaxed);
    let start = Instant::now();
    // Two ticks past the first: the interval's first tick is at once.
    while ROUTINE.load(Ordering::Relaxed) < before + 2 {
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
    release_from(Release::Thorough, "usage-writer").await;
    gw.shutdown().await;
}

#[tokio::test]
async fn the_runtime_asks_for_the_burst_release_once_a_burst_of_connections_closes() {
    let (_up, gw) = counted_gateway().await;
    // The gateway serves on this test's runtime, so its nudge runs on this thread.
    let me = std::thread::current().name().unwrap().to_owned();
    let addr = gw.base.trim_start_matches("http://").to_owned();
    let mut burst = Vec::new();
    for _ in 0..150 {
        burst.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    // Held past two ticks of the nudge, so it sees the peak.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert!(
        !asked(Release::Burst, &me),
        "a burst release while the connections were open"
    );
    drop(burst);
    release_from(Release::Burst, &me).await;
    // Requests may still run on a runtime's thread: never the C library's trim there.
    assert!(!asked(Release::Thorough, &me));
    gw.shutdown().await;
}
