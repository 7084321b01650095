//! The quiet-gateway nudge calls the release hook the binary sets (`patchbay` sets
//! mimalloc's collect there), once a second while a gateway serves.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gateway_providers::MockConfig;
use gateway_server::listen;

use crate::support::*;

static RELEASED: AtomicUsize = AtomicUsize::new(0);

fn count_release() {
    RELEASED.fetch_add(1, Ordering::Relaxed);
}

#[tokio::test]
async fn a_serving_gateway_calls_the_release_hook_about_once_a_second() {
    listen::set_release_hook(count_release);
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = Gateway::start(&format!(
        "{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    ))
    .await;
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
