//! The shared HTTP client: one connection pool for every provider.
//!
//! A hyper client over rustls (ring, bundled webpki roots): HTTP/1.1 or HTTP/2 by ALPN
//! for https upstreams, HTTP/1.1 for http ones. It is hyper's client with nothing on
//! top: no redirects (hyper never follows them), no retry layer, no URL re-parsing per
//! response — each of those cost tens of microseconds per request in reqwest.
//!
//! The connect timeout belongs to the connector, so it is fixed per pool, not per
//! request. Providers that keep the default connect timeout (the usual case) all share
//! the one pool; a provider that configures another `connect_ms` gets a pool for that
//! value, shared with every other provider using it.
//!
//! Plain `http://` upstreams (a local model server, a sidecar) skip hyper-util's pool:
//! their HTTP/1.1 connections are pooled per thread in `plain`, which costs a
//! fraction of it per request.
//!
//! Pools are per thread. A pooled connection is a task on the runtime that opened it;
//! a request from another thread would be handed to that task through a channel and
//! wake that thread for every write and read. With a pool per thread, a request and
//! its upstream connection stay on one thread — the server runs one single-threaded
//! runtime per worker thread (`[server] runtime = "per_thread"`), so nothing crosses.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gateway_protocol::{ErrorKind, GatewayError};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use thread_local::ThreadLocal;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::error::ProviderError;
use crate::plain::{Lease, PlainError, PlainPools};
use crate::spec::Timeouts;

/// How long an idle pooled TLS connection is kept (plain-HTTP ones:
/// [`crate::plain::PLAIN_IDLE`]): a new one costs a handshake.
pub(crate) const POOL_IDLE: Duration = Duration::from_secs(90);
/// Idle connections kept per host.
pub(crate) const POOL_PER_HOST: usize = 64;
/// TCP keepalive, as reqwest set it: a silent dead peer is noticed on long streams.
pub(crate) const KEEPALIVE: Duration = Duration::from_secs(15);
/// Unanswered keepalive probes before the connection is dropped.
pub(crate) const KEEPALIVE_RETRIES: u32 = 3;

/// One pool: hyper's client over an https-or-http connector, sending whole bodies.
pub(crate) type Pool = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The pooled HTTP client. Cheap to clone: clones share the pools.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// Shared by every pool; holds the roots and the ALPN list.
    tls: ClientConfig,
    default_connect: Duration,
    /// Each thread's pools, by connect timeout.
    pools: ThreadLocal<RefCell<ThreadPools>>,
    /// Every thread's connections to plain-HTTP upstreams.
    plain: Arc<PlainPools>,
}

/// Why an upstream request got no answer head.
#[derive(Debug)]
pub(crate) enum SendError {
    /// From hyper-util's client (https upstreams).
    Pooled(hyper_util::client::legacy::Error),
    /// From the plain-HTTP pool.
    Plain(PlainError),
}

impl SendError {
    /// Whether the failure came before a connection was made.
    pub(crate) fn is_connect(&self) -> bool {
        match self {
            SendError::Pooled(e) => e.is_connect(),
            SendError::Plain(e) => e.is_connect(),
        }
    }

    /// The failure, to walk its chain.
    pub(crate) fn as_error(&self) -> &(dyn std::error::Error + 'static) {
        match self {
            SendError::Pooled(e) => e,
            SendError::Plain(e) => e,
        }
    }
}

/// One thread's pools: the default connect timeout's, and any other's.
struct ThreadPools {
    default: Pool,
    others: HashMap<Duration, Pool>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("connect_timeout", &self.inner.default_connect)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with the default connect timeout ([`Timeouts::default`]) trusting the
    /// bundled Mozilla roots.
    pub fn new() -> Result<HttpClient, ProviderError> {
        HttpClient::with_roots(tls_config(&[])?)
    }

    /// Like [`HttpClient::new`], also trusting the PEM certificates in `pem` (a
    /// private CA, or a test upstream's self-signed certificate).
    pub fn with_extra_roots_pem(pem: &[u8]) -> Result<HttpClient, ProviderError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ProviderError::Client(format!("extra root certificates: {e}")))?;
        if certs.is_empty() {
            return Err(ProviderError::Client(
                "extra root certificates: no PEM certificate found".into(),
            ));
        }
        HttpClient::with_roots(tls_config(&certs)?)
    }

    fn with_roots(tls: ClientConfig) -> Result<HttpClient, ProviderError> {
        let default_connect = Timeouts::default().connect();
        Ok(HttpClient {
            inner: Arc::new(Inner {
                tls,
                default_connect,
                pools: ThreadLocal::new(),
                plain: Arc::default(),
            }),
        })
    }

    /// Sends `request` whole and reads the whole answer (at most `limit` bytes)
    /// within `timeout`, on this thread's default pool: for the gateway's own calls
    /// (an OTLP collector's export, a Vertex AI token exchange), not upstream ones
    /// (those are `Provider::send`).
    pub async fn send_whole(
        &self,
        request: http::Request<Bytes>,
        limit: usize,
        timeout: Duration,
    ) -> Result<http::Response<Bytes>, GatewayError> {
        let pool = self.for_connect_timeout(self.inner.default_connect);
        let failed = |what: String| GatewayError::new(ErrorKind::Upstream, what);
        let exchange = async {
            let response = pool
                .request(request.map(Full::new))
                .await
                .map_err(|e| failed(crate::upstream::chain(&e)))?;
            let (head, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, limit)
                .collect()
                .await
                .map_err(|e| failed(format!("reading the answer: {e}")))?;
            Ok(http::Response::from_parts(head, body.to_bytes()))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(failed(format!(
                    "no answer within {} ms",
                    timeout.as_millis()
                )))
            })
    }

    /// Sends `request` (an absolute URI) and returns the answer once its head is in,
    /// with the plain-HTTP connection it came on: that one goes back to the pool when
    /// the body stream releases it at the body's end.
    ///
    /// Not an `async fn`, so that its future holds `request` once (see
    /// [`PlainPools::send`](crate::plain::PlainPools::send)).
    #[allow(clippy::manual_async_fn)]
    pub(crate) fn send(
        &self,
        request: http::Request<Full<Bytes>>,
        connect: Duration,
    ) -> impl Future<
        Output = Result<(http::Response<hyper::body::Incoming>, Option<Lease>), SendError>,
    > + '_ {
        async move {
            if request.uri().scheme() == Some(&http::uri::Scheme::HTTP) {
                let (response, lease) = self
                    .inner
                    .plain
                    .send(request, connect)
                    .await
                    .map_err(SendError::Plain)?;
                return Ok((response, Some(lease)));
            }
            let pool = self.for_connect_timeout(connect);
            match pool.request(request).await {
                Ok(response) => Ok((response, None)),
                Err(e) => Err(SendError::Pooled(e)),
            }
        }
    }

    /// This thread's pool for a provider whose connect timeout is `connect`.
    fn for_connect_timeout(&self, connect: Duration) -> Pool {
        let inner = &*self.inner;
        let pools = inner.pools.get_or(|| {
            RefCell::new(ThreadPools {
                default: build(&inner.tls, inner.default_connect),
                others: HashMap::new(),
            })
        });
        let mut pools = pools.borrow_mut();
        if connect == inner.default_connect {
            return pools.default.clone();
        }
        pools
            .others
            .entry(connect)
            .or_insert_with(|| build(&inner.tls, connect))
            .clone()
    }
}

/// rustls with the ring provider, TLS 1.2 and 1.3, the bundled roots plus `extra`.
pub(crate) fn tls_config(extra: &[CertificateDer<'static>]) -> Result<ClientConfig, ProviderError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra {
        roots
            .add(cert.clone())
            .map_err(|e| ProviderError::Client(format!("extra root certificate: {e}")))?;
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProviderError::Client(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn build(tls: &ClientConfig, connect: Duration) -> Pool {
    let mut http = HttpConnector::new();
    // The https connector wraps this one, so it must accept https:// URIs too.
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect));
    http.set_nodelay(true);
    http.set_keepalive(Some(KEEPALIVE));
    http.set_keepalive_interval(Some(KEEPALIVE));
    http.set_keepalive_retries(Some(KEEPALIVE_RETRIES));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_max_idle_per_host(POOL_PER_HOST)
        .build(https)
}
