//! The pool for plain `http://` upstreams (a local model server, a sidecar, a mock):
//! hyper's HTTP/1.1 connections held per thread, without hyper-util's pool.
//!
//! hyper-util's pool costs about 15,000 instructions per request on top of hyper's own
//! connection (`docs/BENCHMARKS.md`, "Seventh look"): a shared map hashed with SipHash,
//! a checkout raced against a connect, and a task spawned per request to hand the
//! connection back once its answer is read. Here a connection goes back when the
//! answer's body ends ([`Lease::release`], called by the body stream), into a short
//! list per host. TLS upstreams keep hyper-util's client: ALPN may pick HTTP/2 there,
//! and the handshake dwarfs what the pool costs.
//!
//! What hyper-util gave that is kept: a request that a reused connection could not
//! start (the peer had closed it) is sent again on a new connection; at most
//! [`POOL_PER_HOST`] idle connections are kept per host and thread. They are closed
//! after [`PLAIN_IDLE`], sooner than TLS ones: see there.

use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use thread_local::ThreadLocal;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{KEEPALIVE, KEEPALIVE_RETRIES, POOL_PER_HOST};

/// How long an idle connection to a plain-HTTP upstream is kept. Local model
/// servers and sidecars are mostly uvicorn or Node.js, which close a connection idle
/// for 5 s; a pool that keeps it longer offers connections the server is closing. A
/// new connection on loopback or a LAN costs well under a millisecond, and what a
/// burst left pooled (two buffers and a task each) goes back soon after it.
pub(crate) const PLAIN_IDLE: Duration = Duration::from_secs(4);

type Sender = SendRequest<Full<Bytes>>;

/// Every thread's idle connections to plain-HTTP upstreams.
#[derive(Default)]
pub(crate) struct PlainPools {
    threads: ThreadLocal<Mutex<Hosts>>,
    /// The task closing expired idle connections; restarted if its runtime ended.
    sweeper: Mutex<Option<JoinHandle<()>>>,
}

/// One thread's idle connections, by host. A thread talks to a handful of hosts, so
/// a list searched in order beats a hash map. Hosts are compared as written (byte for
/// byte, not `Authority`'s case-blind comparison): one provider always writes its host
/// the same way.
#[derive(Default)]
struct Hosts {
    hosts: Vec<Host>,
}

struct Host {
    authority: Authority,
    /// Oldest first; checkouts take the newest (its socket is the warmest and the
    /// least likely to have been closed by the peer's idle timer).
    idle: VecDeque<Idle>,
}

struct Idle {
    sender: Sender,
    since: Instant,
}

impl Idle {
    fn usable(&self, now: Instant) -> bool {
        !self.sender.is_closed() && now.duration_since(self.since) < PLAIN_IDLE
    }
}

/// A connection lent to one request, handed back by [`Lease::release`] once the
/// answer's body has ended. Dropped unreleased (a body cut short), the connection
/// closes: hyper cannot reuse it mid-answer.
pub(crate) struct Lease {
    pools: Arc<PlainPools>,
    authority: Authority,
    sender: Sender,
}

impl Lease {
    /// Puts the connection back in this thread's pool.
    pub(crate) fn release(self) {
        if self.sender.is_closed() {
            return;
        }
        let mut hosts = self.pools.this_thread();
        let now = Instant::now();
        let host = match hosts
            .hosts
            .iter()
            .position(|h| h.authority.as_str() == self.authority.as_str())
        {
            Some(i) => &mut hosts.hosts[i],
            None => {
                hosts.hosts.push(Host {
                    authority: self.authority,
                    idle: VecDeque::new(),
                });
                hosts.hosts.last_mut().expect("just pushed")
            }
        };
        while host.idle.front().is_some_and(|oldest| !oldest.usable(now)) {
            host.idle.pop_front();
        }
        if host.idle.len() >= POOL_PER_HOST {
            host.idle.pop_front();
        }
        host.idle.push_back(Idle {
            sender: self.sender,
            since: now,
        });
    }
}

/// Why a plain-HTTP request got no answer head.
#[derive(Debug)]
pub(crate) enum PlainError {
    /// The host name did not resolve.
    Dns(io::Error),
    /// No address of the host took the connection.
    Connect(io::Error),
    /// The connection was not made within the connect timeout.
    ConnectTimeout,
    /// The HTTP exchange failed.
    Http(hyper::Error),
}

impl PlainError {
    /// Whether the failure came before a connection was made.
    pub(crate) fn is_connect(&self) -> bool {
        !matches!(self, PlainError::Http(_))
    }
}

impl fmt::Display for PlainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlainError::Dns(_) => "the host name did not resolve",
            PlainError::Connect(_) => "connecting failed",
            PlainError::ConnectTimeout => "connecting timed out",
            PlainError::Http(_) => "the HTTP exchange failed",
        })
    }
}

impl Error for PlainError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            PlainError::Dns(e) | PlainError::Connect(e) => Some(e),
            PlainError::ConnectTimeout => None,
            PlainError::Http(e) => Some(e),
        }
    }
}

impl PlainPools {
    fn this_thread(&self) -> MutexGuard<'_, Hosts> {
        self.threads
            .get_or_default()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The newest usable idle connection to `authority` on this thread.
    fn checkout(&self, authority: &Authority) -> Option<Sender> {
        let mut hosts = self.this_thread();
        let host = hosts
            .hosts
            .iter_mut()
            .find(|h| h.authority.as_str() == authority.as_str())?;
        let now = Instant::now();
        while let Some(idle) = host.idle.pop_back() {
            if idle.usable(now) {
                return Some(idle.sender);
            }
        }
        None
    }

    /// Sends `request` (an absolute `http://` URI) and returns the answer's head with
    /// the connection it came on.
    ///
    /// Not an `async fn`: the URI is rewritten before the future is made, and the
    /// future holds `request` once (an `async fn` keeps its arguments twice, and this
    /// future is nested in every upstream call's).
    #[allow(clippy::manual_async_fn)]
    pub(crate) fn send(
        self: &Arc<Self>,
        mut request: http::Request<Full<Bytes>>,
        connect_timeout: Duration,
    ) -> impl Future<Output = Result<(http::Response<Incoming>, Lease), PlainError>> + '_ {
        let authority = to_origin_form(&mut request);
        async move {
            let authority = authority?;
            loop {
                let (mut sender, reused) = match self.checkout(&authority) {
                    Some(sender) => (sender, true),
                    None => (self.connect(&authority, connect_timeout).await?, false),
                };
                // A new connection takes its first request before its task has run; a
                // reused one may still be finishing the last answer's bookkeeping.
                if reused && !sender.is_ready() && sender.ready().await.is_err() {
                    continue;
                }
                match sender.try_send_request(request).await {
                    Ok(response) => {
                        let lease = Lease {
                            pools: Arc::clone(self),
                            authority,
                            sender,
                        };
                        return Ok((response, lease));
                    }
                    Err(mut failed) => match failed.take_message() {
                        // Never started on a connection the peer had closed: try a new one.
                        Some(unsent) if reused => request = unsent,
                        _ => return Err(PlainError::Http(failed.into_error())),
                    },
                }
            }
        }
    }

    /// A new connection to `authority`, its task spawned on this runtime.
    async fn connect(
        self: &Arc<Self>,
        authority: &Authority,
        timeout: Duration,
    ) -> Result<Sender, PlainError> {
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = authority.port_u16().unwrap_or(80);
        let stream = tokio::time::timeout(timeout, dial(host, port))
            .await
            .map_err(|_| PlainError::ConnectTimeout)??;
        let _ = stream.set_nodelay(true);
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(KEEPALIVE)
            .with_interval(KEEPALIVE)
            .with_retries(KEEPALIVE_RETRIES);
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(PlainError::Http)?;
        tokio::spawn(async move {
            // Its end (the peer closed, or every sender dropped) is the end of the
            // connection; the request that was on it sees the error itself.
            let _ = connection.await;
        });
        self.keep_sweeping();
        Ok(sender)
    }

    /// Starts the sweeper on this runtime unless one is running.
    fn keep_sweeping(self: &Arc<Self>) {
        let mut sweeper = self
            .sweeper
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if sweeper.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        let pools = Arc::downgrade(self);
        *sweeper = Some(tokio::spawn(sweep(pools)));
    }
}

/// Rewrites `request`'s absolute URI to the origin form HTTP/1.1 wants on the request
/// line (the Host header is the provider's to set), returning its authority.
fn to_origin_form(request: &mut http::Request<Full<Bytes>>) -> Result<Authority, PlainError> {
    let uri = std::mem::take(request.uri_mut());
    let authority = uri.authority().cloned().ok_or_else(|| {
        PlainError::Connect(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the URL has no host",
        ))
    })?;
    let mut parts = uri.into_parts();
    parts.scheme = None;
    parts.authority = None;
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(PathAndQuery::from_static("/"));
    }
    *request.uri_mut() = http::Uri::from_parts(parts).expect("a path alone is a valid URI");
    Ok(authority)
}

/// Connects to the first address of `host` that answers.
async fn dial(host: &str, port: u16) -> Result<TcpStream, PlainError> {
    let addresses: Vec<SocketAddr> = match host.parse() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(PlainError::Dns)?
            .collect(),
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(PlainError::Connect(last))
}

/// Closes expired and dead idle connections on every thread, every third of
/// [`PLAIN_IDLE`], while the pools live.
async fn sweep(pools: Weak<PlainPools>) {
    loop {
        tokio::time::sleep(PLAIN_IDLE / 3).await;
        let Some(pools) = pools.upgrade() else {
            return;
        };
        let now = Instant::now();
        for hosts in pools.threads.iter() {
            let mut hosts = hosts
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for host in &mut hosts.hosts {
                host.idle.retain(|idle| idle.usable(now));
            }
            hosts.hosts.retain(|host| !host.idle.is_empty());
        }
    }
}
