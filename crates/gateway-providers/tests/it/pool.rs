//! The plain-HTTP pool: connections reused once an answer is read whole, never
//! reused after an answer cut short, replaced when the upstream closed them, closed
//! after a few seconds idle.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_providers::{HttpClient, Provider, ProviderConfig, ProviderKind};
use support::{End, Plan, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const ANSWER: &str = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#;

fn provider(base: &str) -> Provider {
    let mut cfg = ProviderConfig::new(ProviderKind::OpenAiCompatible);
    cfg.base_url = Some(base.to_owned());
    Provider::new("up", &cfg, &HttpClient::new().expect("client")).expect("provider")
}

/// Sends one call and reads its answer whole.
async fn whole(p: &Provider) -> String {
    let reply = p
        .send(support::chat_call("m", false))
        .await
        .expect("answered");
    let chunks: Vec<Bytes> = reply
        .body
        .map(|chunk| chunk.expect("a chunk"))
        .collect()
        .await;
    String::from_utf8(chunks.concat()).expect("utf-8")
}

#[tokio::test]
async fn answers_read_whole_leave_their_connection_for_the_next_call() {
    // Chunked answers end with the stream; sized ones with their last byte.
    let chunked = serve(|_| Plan::ok(ANSWER)).await;
    let sized = serve(|_| {
        let mut plan = Plan::ok(ANSWER);
        plan.headers
            .push(("content-length", ANSWER.len().to_string()));
        plan
    })
    .await;
    for up in [&chunked, &sized] {
        let p = provider(&up.base());
        for _ in 0..3 {
            assert_eq!(whole(&p).await, ANSWER);
        }
        assert_eq!(up.connections(), 1, "one connection for three calls");
        assert_eq!(up.requests.lock().expect("lock").len(), 3);
        // The request line is in origin form, the host header the upstream's.
        let last = up.last();
        assert_eq!(last.uri, "/chat/completions");
        assert_eq!(
            last.headers.get("host").and_then(|v| v.to_str().ok()),
            Some(up.addr.to_string().as_str())
        );
    }
}

#[tokio::test]
async fn an_error_answer_read_whole_also_frees_its_connection() {
    let up = serve(|rec| {
        if rec.body.windows(4).any(|w| w == b"fail") {
            Plan::status(
                400,
                r#"{"error":{"message":"no","type":"invalid_request_error"}}"#,
            )
        } else {
            Plan::ok(ANSWER)
        }
    })
    .await;
    let p = provider(&up.base());
    let mut failing = support::chat_call("m", false);
    failing.body = Bytes::from_static(br#"{"model":"m","messages":[],"x":"fail"}"#);
    let err = p.send(failing).await.expect_err("a 400");
    assert_eq!(err.upstream_status, Some(400));
    assert_eq!(whole(&p).await, ANSWER);
    assert_eq!(up.connections(), 1);
}

#[tokio::test]
async fn an_answer_dropped_midway_closes_its_connection() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let up = serve(move |_| {
        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            let mut plan = Plan::ok("data: {}\n\n");
            plan.end = End::Forever;
            plan
        } else {
            Plan::ok(ANSWER)
        }
    })
    .await;
    let p = provider(&up.base());
    let mut endless = p
        .send(support::chat_call("m", false))
        .await
        .expect("answered")
        .body;
    endless.next().await.expect("a chunk").expect("data");
    drop(endless);
    // The upstream sees its client go away: the connection was closed, not pooled.
    tokio::time::timeout(Duration::from_secs(5), up.closed.notified())
        .await
        .expect("the cut answer's connection closed");
    assert_eq!(whole(&p).await, ANSWER);
    assert_eq!(up.connections(), 2);
}

#[tokio::test]
async fn concurrent_calls_get_their_own_connections_and_all_come_back() {
    let up = serve(|_| {
        let mut plan = Plan::ok(ANSWER);
        plan.head_delay = Duration::from_millis(100);
        plan
    })
    .await;
    let p = provider(&up.base());
    let together = futures_util::future::join_all((0..4).map(|_| whole(&p))).await;
    assert!(together.iter().all(|answer| answer == ANSWER));
    assert_eq!(up.connections(), 4);
    let again = futures_util::future::join_all((0..4).map(|_| whole(&p))).await;
    assert!(again.iter().all(|answer| answer == ANSWER));
    assert_eq!(up.connections(), 4, "the second round reused all four");
}

/// An upstream that answers one request per connection with a sized keep-alive
/// answer, then closes the socket without saying so, as an idle timer would.
async fn closing_upstream() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                // Headers and the small body arrive together on loopback; wait for
                // the body's closing brace.
                while !seen.ends_with(b"}") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    ANSWER.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(ANSWER.as_bytes()).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            });
        }
    });
    (format!("http://{addr}"), accepted)
}

#[tokio::test]
async fn a_pooled_connection_the_upstream_closed_is_replaced() {
    let (base, accepted) = closing_upstream().await;
    let p = provider(&base);
    for _ in 0..3 {
        assert_eq!(whole(&p).await, ANSWER);
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

/// An upstream that keeps its connections open (sized keep-alive answers, one per
/// request) and reports how long after its last answer the client closed each one.
async fn keep_alive_upstream() -> (String, tokio::sync::mpsc::UnboundedReceiver<Duration>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (closed_tx, closed_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                let mut answered = tokio::time::Instant::now();
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                    if seen.ends_with(b"}") {
                        seen.clear();
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            ANSWER.len()
                        );
                        let _ = socket.write_all(head.as_bytes()).await;
                        let _ = socket.write_all(ANSWER.as_bytes()).await;
                        answered = tokio::time::Instant::now();
                    }
                }
                let _ = closed_tx.send(answered.elapsed());
            });
        }
    });
    (format!("http://{addr}"), closed_rx)
}

#[tokio::test]
async fn an_idle_plain_connection_is_closed_after_a_few_seconds() {
    let (base, mut closed) = keep_alive_upstream().await;
    let p = provider(&base);
    assert_eq!(whole(&p).await, ANSWER);
    // Closed by the pool's sweeper, with no further call to notice it: after the
    // 4 s idle time, within one more sweep (a third of it), with room for a busy machine.
    let idle = tokio::time::timeout(Duration::from_secs(10), closed.recv())
        .await
        .expect("the idle connection was not closed in 10 s")
        .expect("a close");
    assert!(
        idle >= Duration::from_millis(3_900) && idle < Duration::from_secs(9),
        "closed after {idle:?} idle"
    );
}
