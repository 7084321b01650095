//! https upstreams: TLS with ALPN (HTTP/2 when offered, HTTP/1.1 otherwise), and an
//! untrusted certificate refused as a retryable connection failure.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_protocol::ErrorKind;
use gateway_providers::{HttpClient, Provider, ProviderConfig, ProviderKind};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

const OPENAI_OK: &str = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// A TLS upstream offering `alpn`, answering every request with `OPENAI_OK` and
/// recording the HTTP version each request came in.
async fn tls_upstream(alpn: &[&[u8]]) -> (SocketAddr, Arc<Mutex<Vec<http::Version>>>) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("cert.pem"))
        .expect("cert.pem")
        .collect::<Result<_, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(fixture("key.pem")).expect("key.pem");
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let versions = Arc::new(Mutex::new(Vec::new()));
    let seen = versions.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    seen.lock().expect("lock").push(req.version());
                    async move {
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                            OPENAI_OK.as_bytes(),
                        ))))
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, versions)
}

fn provider(addr: SocketAddr, client: &HttpClient) -> Provider {
    let mut cfg = ProviderConfig::new(ProviderKind::OpenAi);
    cfg.base_url = Some(format!("https://127.0.0.1:{}/v1", addr.port()));
    cfg.api_key = Some("sk-secret-key".to_owned());
    Provider::new("tls", &cfg, client).expect("provider")
}

#[tokio::test]
async fn https_upstream_speaks_h2_or_http1_by_alpn() {
    let pem = std::fs::read(fixture("cert.pem")).expect("cert.pem");
    let client = HttpClient::with_extra_roots_pem(&pem).expect("client");
    for (alpn, want) in [
        (&[b"h2".as_slice(), b"http/1.1"][..], http::Version::HTTP_2),
        (&[b"http/1.1".as_slice()][..], http::Version::HTTP_11),
    ] {
        let (addr, versions) = tls_upstream(alpn).await;
        let reply = provider(addr, &client)
            .send(crate::support::chat_call("m", false))
            .await
            .expect("an answer over TLS");
        assert_eq!(reply.status, 200);
        let body: Vec<u8> = reply
            .body
            .map(|chunk| chunk.expect("chunk"))
            .collect::<Vec<_>>()
            .await
            .concat();
        assert_eq!(body, OPENAI_OK.as_bytes());
        assert_eq!(*versions.lock().expect("lock"), [want]);
    }
}

#[tokio::test]
async fn untrusted_certificate_is_a_retryable_connect_failure() {
    let (addr, versions) = tls_upstream(&[b"h2", b"http/1.1"]).await;
    let client = HttpClient::new().expect("client");
    let err = provider(addr, &client)
        .send(crate::support::chat_call("m", false))
        .await
        .expect_err("the self-signed certificate is not trusted");
    assert_eq!(err.kind, ErrorKind::Upstream);
    assert!(err.retryable);
    assert_eq!(
        err.message,
        "provider `tls` is unreachable: its TLS certificate was rejected"
    );
    assert!(!err.message.contains("sk-secret-key"));
    assert!(versions.lock().expect("lock").is_empty());
}
