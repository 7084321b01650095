//! The response cache shared: keys of one project (`scope = "project"`), and two
//! gateways on one Redis; Redis down is a miss.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use gateway_auth::Limits;
use gateway_protocol::ApiShape;

use super::{Cached, ask, plain};
use crate::support::*;

/// Two keys of one project (`team`) and one key without a project; their secrets.
fn team_keys(gw: &Gateway) -> [String; 3] {
    let store = gw.app.key_store().unwrap();
    store
        .create_project(gateway_auth::keys::NewProject {
            name: "team".into(),
            limits: Limits::default(),
        })
        .unwrap();
    let key = |name: &str, project: Option<&str>| {
        store
            .create(gateway_auth::keys::NewKey {
                name: name.into(),
                project: project.map(Into::into),
                ..gateway_auth::keys::NewKey::default()
            })
            .unwrap()
            .1
    };
    [
        key("a", Some("team")),
        key("b", Some("team")),
        key("loner", None),
    ]
}

#[tokio::test]
async fn keys_share_answers_within_a_project_only_when_the_scope_says_so() {
    let shape = ApiShape::OpenAiChat;
    for (scope, shared) in [("key", false), ("project", true)] {
        let c = Cached::on(&format!("scope = \"{scope}\"\n")).await;
        let [a, b, loner] = team_keys(&c.gw);
        let first = ask(&c.gw, shape, "mock-echo", "team question", false, &a, None).await;
        assert_eq!(first.cache.as_deref(), Some("miss"), "{scope}");
        let mate = ask(&c.gw, shape, "mock-echo", "team question", false, &b, None).await;
        let expected = if shared { "hit" } else { "miss" };
        assert_eq!(mate.cache.as_deref(), Some(expected), "{scope}");
        let outsider = ask(
            &c.gw,
            shape,
            "mock-echo",
            "team question",
            false,
            &loner,
            None,
        )
        .await;
        assert_eq!(outsider.cache.as_deref(), Some("miss"), "{scope}");
    }
}

#[tokio::test]
async fn two_gateways_share_answers_through_redis() {
    let Ok(url) = std::env::var("PATCHBAY_TEST_REDIS") else {
        assert!(
            std::env::var_os("PATCHBAY_REQUIRE_SERVICES").is_none(),
            "PATCHBAY_REQUIRE_SERVICES is set but PATCHBAY_TEST_REDIS is not"
        );
        eprintln!(
            "two_gateways_share_answers_through_redis: skipped, PATCHBAY_TEST_REDIS is not set"
        );
        return;
    };
    // A prefix of this run's own: answers of earlier runs are not found.
    let prefix = format!("patchbay:test:cache:{}:", fastrand::u64(..));
    let cache = format!(
        "backend = \"redis\"\nredis = \"{url}\"\nprefix = \"{prefix}\"\ntimeout_ms = 500\n"
    );
    let one = Cached::on(&cache).await;
    let two = Cached::on(&cache).await;
    for shape in [ApiShape::OpenAiChat, ApiShape::Gemini] {
        let prompt = format!("shared through redis, {shape:?}");
        let first = plain(&one.gw, shape, &prompt, false).await;
        assert_eq!(first.cache.as_deref(), Some("miss"));
        // The write is not on the answer's path: wait until it is there.
        let mut hit = None;
        for _ in 0..50 {
            let got = plain(&two.gw, shape, &prompt, true).await;
            if got.cache.as_deref() == Some("hit") {
                hit = Some(got);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let hit = hit.expect("the second gateway never found the first one's answer");
        assert_eq!(hit.text, first.text);
    }
    assert_eq!(one.asked(), 2);
    assert_eq!(two.asked(), 0);
}

#[tokio::test]
async fn redis_down_is_a_miss_not_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let c = Cached::on(&format!(
        "backend = \"redis\"\nredis = \"redis://127.0.0.1:{port}\"\ntimeout_ms = 100\n"
    ))
    .await;
    for _ in 0..2 {
        let got = plain(&c.gw, ApiShape::Anthropic, "no redis", false).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.cache.as_deref(), Some("miss"));
    }
    assert_eq!(c.asked(), 2);
    let stats = c.gw.app.response_cache().stats();
    assert!(stats.failures >= 2, "{stats:?}");
    assert_eq!((stats.misses, stats.stored), (2, 0));
}
