//! The listener: TCP (optionally TLS with rustls), HTTP/1.1 and HTTP/2 on the same
//! port, a cap on open connections, per-connection deadlines, and graceful
//! shutdown — stop accepting, let in-flight requests and streams finish within the
//! grace period, then return.

mod balance;
mod conn;
mod files;
mod memory;
mod spread;
mod threads;

pub use files::raise_open_files_limit;
pub use memory::{Release, release_thoroughly, set_release_hook};
pub use threads::serve_per_thread;
pub use tokio_rustls::TlsAcceptor;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body as HttpBody;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use self::balance::Seat;
use self::spread::StreamExecutor;
use crate::app::App;
use crate::config::TlsConfig;

/// Loads the certificate chain and key named in `[server.tls]` and offers HTTP/2 and
/// HTTP/1.1 by ALPN.
pub fn tls_acceptor(tls: &TlsConfig) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(Iterator::collect)
        .map_err(|e| format!("server.tls.cert ({}): {e}", tls.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "server.tls.cert ({}): no certificate in the file",
            tls.cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| format!("server.tls.key ({}): {e}", tls.key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("server.tls: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// What one listener lets a connection hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections open at once; past it a new one is refused (503) and closed.
    pub max_connections: usize,
    /// A request's head must arrive within this (from the connection's start or the
    /// previous answer).
    pub header_timeout: Duration,
    /// An HTTP/2 connection with nothing in flight is closed after this.
    pub idle_timeout: Duration,
    /// A caller that takes none of an answer's waiting bytes for this long loses the
    /// connection.
    pub send_timeout: Duration,
    /// A TLS handshake must end within this.
    pub tls_handshake_timeout: Duration,
}

impl ConnLimits {
    fn deadlines(&self) -> conn::Deadlines {
        conn::Deadlines {
            header: self.header_timeout,
            idle: self.idle_timeout,
            send: self.send_timeout,
        }
    }
}

/// How often an HTTP/2 connection is pinged, and how long an answer may take: a
/// peer that vanished without a FIN is found within a minute.
const H2_KEEP_ALIVE: Duration = Duration::from_secs(30);
const H2_KEEP_ALIVE_ACK: Duration = Duration::from_secs(20);

/// After a polite close (GOAWAY, keep-alive off), how long a connection with
/// nothing in flight may take to go before it is dropped.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// Refusals written at once at most; past it a connection over the cap is closed
/// without a word.
const MAX_REFUSING: usize = 64;

/// The peer of the connection a request came on (in its extensions, on listeners
/// that ask for it: the admin API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// Serves `app`'s gateway stack ([`crate::gateway_stack`]) on `listener` until
/// `shutdown` resolves, with `[server]`'s connection limits; then stops accepting,
/// marks the app as draining, and waits up to `grace` for open connections to
/// finish.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    let slots = Slots::new(app.conn_limits.max_connections);
    let alone = Sharing::default();
    serve_gateway(app, listener, tls, slots, alone, shutdown, grace).await
}

/// [`serve`] with connection slots shared with other listeners of the same gateway
/// (its other threads), sharing the work with them as `sharing` says.
pub(crate) async fn serve_gateway(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    slots: Slots,
    sharing: Sharing,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    if let Some(m) = app.observer.metrics() {
        m.watch_connections(slots.clone());
    }
    let draining = app.clone();
    let limits = app.conn_limits;
    // One per runtime: per worker under `per_thread` (each thread's allocator keeps its
    // own freed pages), one in all under work stealing.
    let nudge = tokio::spawn(memory::return_freed_memory());
    let sockets = app.clone();
    let stack = crate::gateway_stack::<Incoming>(app);
    let make = move |_peer| stack.clone();
    let served = serve_with(
        listener,
        tls,
        make,
        limits,
        slots,
        sharing,
        shutdown,
        grace,
        move || {
            draining.start_draining();
        },
    )
    .await;
    // The WebSocket connections left (their HTTP connections are over): each closes
    // once its response in flight is done.
    if tokio::time::timeout(grace, sockets.sockets.all_closed())
        .await
        .is_err()
    {
        tracing::warn!(
            open = sockets.open_sockets(),
            "WebSocket connections still open after the grace period"
        );
    }
    nudge.abort();
    served
}

/// The connections a gateway may hold open, shared by every thread that accepts
/// for it.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    open: Arc<Semaphore>,
    max: usize,
    refusing: Arc<Semaphore>,
}

impl Slots {
    /// Connections holding a slot now.
    pub(crate) fn open(&self) -> usize {
        self.max.saturating_sub(self.open.available_permits())
    }

    /// `max_connections`, lowered to what the open-files limit holds.
    pub(crate) fn new(max_connections: usize) -> Self {
        let max = files::affordable_connections(max_connections);
        Slots {
            open: Arc::new(Semaphore::new(max)),
            max,
            refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
        }
    }
}

/// How a listener's thread shares the work with the gateway's other threads (none
/// by default: one runtime serves everything).
#[derive(Default)]
pub(crate) struct Sharing {
    /// Where HTTP/2 streams run.
    pub(crate) streams: StreamExecutor,
    /// This thread's share of the connections, under the per-thread layout.
    pub(crate) seat: Option<Seat>,
}

/// The accept loop every listener shares (the gateway's and the admin API's):
/// TCP_NODELAY, optional TLS, HTTP/1.1 and HTTP/2, the service `make` gives for
/// each connection's peer, `limits` per connection, at most `slots` open, work
/// shared with other threads as `sharing` says; when
/// `shutdown` resolves, stop accepting, call `on_stop`, and wait up to `grace` for
/// open connections (every connection holding a slot, on any listener sharing them).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve_with<S, RB>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    make: impl Fn(SocketAddr) -> S,
    limits: ConnLimits,
    slots: Slots,
    sharing: Sharing,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    on_stop: impl FnOnce(),
) -> io::Result<()>
where
    S: tower::Service<Request<Incoming>, Response = Response<RB>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    RB: HttpBody<Data = Bytes> + Send + 'static,
    RB::Error: Into<tower::BoxError>,
{
    let Slots {
        open: slots,
        max,
        refusing,
    } = slots;
    let Sharing { streams, seat } = sharing;
    let mut builder = auto::Builder::new(streams);
    // No timer for HTTP/1.1: hyper would arm and drop a header timer for every
    // request; the connection's watchdog keeps that deadline (`conn`).
    builder.http1().header_read_timeout(None);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEP_ALIVE)
        .keep_alive_timeout(H2_KEEP_ALIVE_ACK);
    let builder = Arc::new(builder);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        if let Some(seat) = &seat {
            seat.turn().await;
        }
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse(stream, peer, tls.is_some(), max, &refusing);
            continue;
        };
        let connection = Connection {
            builder: builder.clone(),
            service: make(peer),
            limits,
            peer,
            stop: stop_rx.clone(),
        };
        let tls = tls.clone();
        let held = seat.as_ref().map(Seat::hold);
        tokio::spawn(async move {
            match tls {
                None => connection.run(stream).await,
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    match tokio::time::timeout(limits.tls_handshake_timeout, handshake).await {
                        Ok(Ok(stream)) => connection.run(stream).await,
                        Ok(Err(err)) => tracing::debug!(%peer, %err, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop((slot, held));
        });
    }
    drop(listener);
    on_stop();
    let _ = stop_tx.send(true);
    // Every connection holds a slot until it ends: all slots back means all closed.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace_secs = grace.as_secs(), "grace period over; closing open connections");
        }
    }
    Ok(())
}

/// A connection over the cap: a plain-HTTP caller is told why (a 503 it can read
/// before it sends anything); a TLS one is closed (a handshake costs more than the
/// refusal is worth).
fn refuse(stream: TcpStream, peer: SocketAddr, tls: bool, max: usize, refusing: &Arc<Semaphore>) {
    tracing::warn!(%peer, max_connections = max, "connection refused: too many open connections");
    if tls {
        return;
    }
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let body = format!(
            "{{\"error\":{{\"message\":\"this gateway has {max} connections open, its limit; retry shortly\",\"type\":\"overloaded_error\",\"code\":\"too_many_connections\"}}}}"
        );
        let head = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let mut stream = stream;
        let write = async {
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body.as_bytes()).await?;
            stream.shutdown().await
        };
        let _ = tokio::time::timeout(CLOSE_LINGER, write).await;
        drop(permit);
    });
}

/// One accepted connection and what it is served with.
struct Connection<S> {
    builder: Arc<auto::Builder<StreamExecutor>>,
    service: S,
    limits: ConnLimits,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
}

impl<S, RB> Connection<S>
where
    S: tower::Service<Request<Incoming>, Response = Response<RB>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    RB: HttpBody<Data = Bytes> + Send + 'static,
    RB::Error: Into<tower::BoxError>,
{
    /// Serves the connection until it ends, a deadline ends it, or shutdown closes
    /// it politely.
    async fn run<IO>(self, io: IO)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            builder,
            service,
            limits,
            peer,
            mut stop,
        } = self;
        let activity = conn::Activity::new();
        let service = conn::Tracked::new(service, activity.clone());
        // With upgrades: the Responses WebSocket transport takes the connection over
        // after its `101` (the connection's own deadlines end there; the socket keeps
        // its own, see `crate::responses::socket`).
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
        tokio::pin!(conn);
        let mut watch = conn::Watch::new(limits.deadlines());
        // The first look comes at the earliest deadline any state could have; each
        // look then says when the next is due.
        let first = limits
            .header_timeout
            .min(limits.idle_timeout)
            .min(limits.send_timeout / 4);
        let mut next = tokio::time::Instant::now() + first;
        let mut closing = false;
        // The shutdown signal's sender is gone (the server stopped serving): nothing
        // more will come from it.
        let mut stop_gone = false;
        // Looks at the shutdown signal without polling `changed()` on every wake.
        let stop_peek = stop.clone();
        loop {
            let event = {
                let sleep = tokio::time::sleep_until(next);
                let changed = stop.changed();
                tokio::pin!(sleep, changed);
                // The connection wakes this task several times per request; the timer
                // and the shutdown signal need a poll only to register the first time,
                // and after that only once they have fired (a cheap check each).
                let mut registered = false;
                std::future::poll_fn(|cx| {
                    if let Poll::Ready(ended) = conn.as_mut().poll(cx) {
                        return Poll::Ready(Event::Ended(ended));
                    }
                    if (!registered || sleep.is_elapsed()) && sleep.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Event::Look);
                    }
                    if !closing
                        && !stop_gone
                        && (!registered || stop_peek.has_changed().unwrap_or(true))
                    {
                        match changed.as_mut().poll(cx) {
                            Poll::Ready(Ok(())) => return Poll::Ready(Event::Stop),
                            Poll::Ready(Err(_)) => stop_gone = true,
                            Poll::Pending => {}
                        }
                    }
                    registered = true;
                    Poll::Pending
                })
                .await
            };
            match event {
                Event::Ended(ended) => {
                    if let Err(err) = ended {
                        tracing::debug!(%peer, %err, "connection ended with an error");
                    }
                    return;
                }
                Event::Look => match watch.look(&activity, tokio::time::Instant::now()) {
                    conn::Verdict::Wait(at) => next = at,
                    conn::Verdict::Quiet if !closing => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                        next = tokio::time::Instant::now() + CLOSE_LINGER;
                    }
                    conn::Verdict::Quiet => return,
                    conn::Verdict::Drop(why) => {
                        tracing::debug!(%peer, why, "connection closed");
                        return;
                    }
                },
                Event::Stop => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// What woke a connection's loop to act.
enum Event<E> {
    /// The connection ended, well or not.
    Ended(Result<(), E>),
    /// The watchdog's look is due.
    Look,
    /// Shutdown began.
    Stop,
}

/// Puts the connection's [`Peer`] into each request's extensions (for a listener
/// whose stack asks who is calling: the admin API's throttle).
#[derive(Clone)]
pub(crate) struct PeerService<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S> PeerService<S> {
    pub(crate) fn new(inner: S, peer: SocketAddr) -> Self {
        PeerService { inner, peer }
    }
}

impl<S, B> tower::Service<Request<B>> for PeerService<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        req.extensions_mut().insert(Peer(self.peer));
        self.inner.call(req)
    }
}
