//! Debug logging through the gateway, in a test binary of its own. The subscriber the
//! test sets is its thread's, but whether a callsite is on is cached per process:
//! beside the other tests of the shared binary, hitting the same callsites from
//! threads with no subscriber, the gateway's `tracing::enabled!` check answered "off"
//! in about one run in three.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "it/support/mod.rs"]
mod support;

use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use support::*;

/// What a test's subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread: the subscriber set for the test sees the gateway's tasks.
#[tokio::test(flavor = "current_thread")]
async fn debug_logging_gives_each_request_a_span_and_an_answer_line_without_the_query() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = Gateway::start(&format!(
        "{}\n[[routes]]\nmodel = \"mock-echo\"\ntargets = [{{ provider = \"openai\" }}]\n",
        up.toml()
    ))
    .await;
    let (path, body) = chat_request(ApiShape::OpenAiChat, "mock-echo", "hello", false, false);
    let resp = client()
        .post(gw.url(&format!("{path}?key=query-secret-123")))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    gw.shutdown().await;
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let answered = text
        .lines()
        .find(|l| l.contains("answered"))
        .unwrap_or_else(|| panic!("no answer line in:\n{text}"));
    assert!(
        answered.contains("request{method=POST path=/v1/chat/completions}"),
        "{answered}"
    );
    assert!(answered.contains("status=200"), "{answered}");
    assert!(answered.contains("latency_ms="), "{answered}");
    assert!(
        !text.contains("query-secret-123"),
        "the query is never logged"
    );
}
