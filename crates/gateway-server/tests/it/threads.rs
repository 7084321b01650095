//! The per-thread layout (`listen::serve_per_thread`): several single-threaded
//! runtimes accepting from one socket answer every request, share one connection
//! cap, and all stop on shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use gateway_server::app::App;
use gateway_server::config::Config;
use gateway_server::listen;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::support::*;

const THREADS: usize = 3;

/// The tests count this process's worker threads: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A gateway served by `THREADS` worker threads, started from a thread of its own
/// (the layout wants a single-threaded runtime under it).
struct Threaded {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: std::thread::JoinHandle<std::io::Result<()>>,
}

fn start(server: &str, upstreams: &Upstreams) -> Threaded {
    let text = format!(
        "[storage]\npath = \":memory:\"\n[server]\n{server}\n{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"openai\" }}]\n",
        upstreams.toml()
    );
    let config = Config::from_toml_str(&text, &|_| None).unwrap();
    let app = Arc::new(App::from_config(&config).unwrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let shutdown = async {
                let _ = stopped.await;
            };
            listen::serve_per_thread(
                app,
                listener,
                None,
                THREADS,
                shutdown,
                Duration::from_secs(5),
            )
            .await
        })
    });
    Threaded { addr, stop, done }
}

fn worker_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("patchbay-worker"))
        .count()
}

impl Threaded {
    /// Stops the gateway and waits for every worker thread to end.
    fn shutdown(self) {
        let _ = self.stop.send(());
        self.done.join().unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_answered_and_shutdown_ends_every_worker_thread() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = start("", &up);
    let base = format!("http://{}", gw.addr);
    // Fresh connections each, so the threads share them out.
    let calls = (0..48).map(|i| {
        let base = base.clone();
        async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let (path, body) =
                chat_request(ApiShape::OpenAiChat, "gpt-x", "hello", i % 2 == 0, false);
            client
                .post(format!("{base}{path}"))
                .bearer_auth(KEY)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures_util::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| s.is_success()), "{statuses:?}");
    assert_eq!(worker_threads(), THREADS - 1, "the extra workers run");
    gw.shutdown();
    assert_eq!(worker_threads(), 0, "every worker thread ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_across_worker_threads() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let up = Upstreams::start(MockConfig::default()).await;
    let gw = start("max_connections = 2\nheader_timeout_ms = 20000", &up);
    // Held open, each answered once so it surely holds its slot (threads accept in
    // no set order): whichever threads took them, the cap is the gateway's.
    let _first = served_connection(gw.addr).await;
    let _second = served_connection(gw.addr).await;
    for _ in 0..THREADS {
        let mut more = TcpStream::connect(gw.addr).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), more.read_to_end(&mut answer));
        read.await.unwrap().unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 503"), "refused: {answer}");
    }
    gw.shutdown();
}

/// A keep-alive connection that has had one answer (so the gateway accepted it).
async fn served_connection(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1, "the connection closed before its answer");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// A gateway whose OpenAI upstream is reached through a TCP relay that counts the
/// connections made through it: each thread's pool opens its own, so with requests
/// one after another the count is the number of threads that served one.
async fn start_relayed() -> (Threaded, Arc<AtomicUsize>) {
    let up = Upstreams::start(MockConfig::default()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let upstream = up.openai;
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut outbound = TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let gw = start(
        "",
        &Upstreams {
            openai: relay,
            ..up
        },
    );
    (gw, accepted)
}

fn http2_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_http2_connections_requests_run_on_every_thread() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let (gw, upstream_connections) = start_relayed().await;
    let client = http2_client();
    // One after another on one connection (see `start_relayed`).
    for _ in 0..(THREADS * 2) {
        let (path, body) = chat_request(ApiShape::OpenAiChat, "gpt-x", "hello", false, false);
        let answer = client
            .post(format!("http://{}{path}", gw.addr))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.version(), reqwest::Version::HTTP_2);
        assert!(answer.status().is_success(), "{}", answer.status());
    }
    assert_eq!(
        upstream_connections.load(Ordering::SeqCst),
        THREADS,
        "the connection's requests went to each thread in turn"
    );
    gw.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_served_on_other_threads_finish_across_a_shutdown() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let slow = MockConfig {
        chunks: 4,
        chunk_delay_ms: 150,
        ..MockConfig::default()
    };
    let up = Upstreams::start(slow).await;
    let gw = start("", &up);
    let client = http2_client();
    let mut streams = Vec::new();
    for _ in 0..(THREADS * 2) {
        let (path, body) = chat_request(ApiShape::OpenAiChat, "gpt-x", "hello", true, false);
        let mut answer = client
            .post(format!("http://{}{path}", gw.addr))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
        let first = answer.chunk().await.unwrap().expect("a first chunk");
        streams.push((answer, first.to_vec()));
    }
    // Every stream is under way; the gateway is told to stop.
    let Threaded {
        addr: _,
        stop,
        done,
    } = gw;
    let _ = stop.send(());
    for (mut answer, mut text) in streams {
        while let Some(chunk) = answer.chunk().await.expect("the stream goes on") {
            text.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(text).unwrap();
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    }
    tokio::task::spawn_blocking(move || done.join().unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(worker_threads(), 0, "every worker thread ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_connections_is_shared_out_among_the_threads() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let (gw, upstream_connections) = start_relayed().await;
    // A pool opened at once, as a load tool or a balancer opens it: the connections
    // are made (by the kernel) before any thread has accepted one.
    let burst: Vec<std::net::TcpStream> = (0..THREADS * 8)
        .map(|_| std::net::TcpStream::connect(gw.addr).unwrap())
        .collect();
    // Then one request on each connection, one after another (see `start_relayed`).
    let (path, body) = chat_request(ApiShape::OpenAiChat, "gpt-x", "hello", false, false);
    let body = body.to_string();
    for stream in burst {
        let mut stream = TcpStream::from_std({
            stream.set_nonblocking(true).unwrap();
            stream
        })
        .unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer));
        read.await.unwrap().unwrap();
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    assert_eq!(
        upstream_connections.load(Ordering::SeqCst),
        THREADS,
        "every thread took some of the burst"
    );
    gw.shutdown();
}
