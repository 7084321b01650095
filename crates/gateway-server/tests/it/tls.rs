//! The TLS listener: a certificate from `[server.tls]`, HTTP/2 and HTTP/1.1 by ALPN.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use gateway_server::app::App;
use gateway_server::config::{Config, TlsConfig};
use gateway_server::listen;
use support::*;
use tokio::net::TcpListener;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

#[tokio::test]
async fn tls_serves_http2_and_http1() {
    let up = Upstreams::start(MockConfig::default()).await;
    let text = format!(
        "[storage]\npath = \":memory:\"\n{}\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"anthropic\" }}]\n",
        up.toml()
    );
    let config = Config::from_toml_str(&text, &|_| None).unwrap();
    let app = Arc::new(App::from_config(&config).unwrap());
    let tls = TlsConfig {
        cert: fixture("cert.pem"),
        key: fixture("key.pem"),
    };
    let acceptor = listen::tls_acceptor(&tls).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(listen::serve(
        app,
        listener,
        Some(acceptor),
        std::future::pending(),
        Duration::from_secs(1),
    ));

    let cert =
        reqwest::Certificate::from_pem(&std::fs::read(fixture("cert.pem")).unwrap()).unwrap();
    let (path, body) = chat_request(ApiShape::OpenAiChat, "mock-echo", "over tls", true, false);
    let url = format!("https://localhost:{port}{path}");
    for (http1, version) in [
        (false, reqwest::Version::HTTP_2),
        (true, reqwest::Version::HTTP_11),
    ] {
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(cert.clone())
            .resolve("localhost", ([127, 0, 0, 1], port).into());
        if http1 {
            builder = builder.http1_only();
        }
        let client = builder.build().unwrap();
        let resp = client
            .post(&url)
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), version);
        let bytes = resp.bytes().await.unwrap();
        let answer = parse_stream(ApiShape::OpenAiChat, &bytes, false).unwrap();
        assert_eq!(text_of(&answer), "over tls");
    }
    // Plain HTTP on the TLS port is not served.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

#[test]
fn missing_or_bad_tls_files_are_named() {
    let err = listen::tls_acceptor(&TlsConfig {
        cert: fixture("nope.pem"),
        key: fixture("key.pem"),
    })
    .err()
    .unwrap();
    assert!(err.contains("server.tls.cert"), "{err}");
    let err = listen::tls_acceptor(&TlsConfig {
        cert: fixture("cert.pem"),
        key: fixture("cert.pem"),
    })
    .err()
    .unwrap();
    assert!(err.contains("server.tls.key"), "{err}");
}

#[tokio::test]
async fn a_tls_connection_that_never_finishes_its_handshake_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let text = "[storage]\npath = \":memory:\"\n[server]\ntls_handshake_timeout_ms = 300\n";
    let config = Config::from_toml_str(text, &|_| None).unwrap();
    let app = Arc::new(App::from_config(&config).unwrap());
    let acceptor = listen::tls_acceptor(&TlsConfig {
        cert: fixture("cert.pem"),
        key: fixture("key.pem"),
    })
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(listen::serve(
        app,
        listener,
        Some(acceptor),
        std::future::pending(),
        Duration::from_secs(1),
    ));
    // Silence, then half a ClientHello's record header: neither ends a handshake.
    for opener in [&b""[..], &b"\x16\x03\x01\x02"[..]] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(opener).await.unwrap();
        let mut buf = [0u8; 64];
        let closed = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
        assert!(
            matches!(closed, Ok(Ok(0) | Err(_))),
            "the half-open TLS connection was kept: {closed:?}"
        );
    }
}
