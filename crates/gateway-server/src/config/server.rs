//! `[server]`: the main listener, its TLS, and what one connection or caller may hold.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::listen::ConnLimits;

/// The default listen address: loopback, a port no well-known service uses.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4000";
/// The default request body limit (10 MiB); larger bodies get 413.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// The default cap on open connections (lowered at start to what the open-files
/// limit holds).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The default grace period for in-flight requests on shutdown.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on (`"127.0.0.1:4000"`; `"0.0.0.0:4000"` for all
    /// interfaces).
    pub listen: SocketAddr,
    /// TLS certificate and key; plain HTTP when absent.
    pub tls: Option<TlsConfig>,
    /// Largest accepted request body in bytes; larger bodies get 413.
    pub max_body_bytes: u64,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// Worker threads; unset: one per CPU core.
    pub workers: Option<usize>,
    /// How the worker threads share the work: `"per_thread"` (default) runs one
    /// single-threaded runtime per thread, each taking its share of the connections
    /// from the shared socket and keeping a request and its upstream calls on that
    /// thread, with an HTTP/2 connection's requests spread over every thread; `"work_stealing"` runs one runtime whose threads steal each
    /// other's tasks, so no HTTP/1.1 connection's work waits on a busy thread while
    /// another idles, at the cost of cross-thread wakeups (same-shape chat at 32
    /// connections: 47.0 µs of CPU per request against 37.3 per thread;
    /// docs/BENCHMARKS.md, "The runtime layout").
    pub runtime: RuntimeLayout,
    /// Connections open at once; past it a new connection gets a 503 and is closed
    /// (lowered at start if the open-files limit cannot hold two sockets each).
    pub max_connections: usize,
    /// Requests being answered at once, streams included; past it a request gets a
    /// 503 with `retry-after` in its own API's envelope at once, instead of queueing.
    /// Health checks and the admin API are not counted.
    pub max_in_flight: usize,
    /// A request's head must arrive whole within this, counted from the connection's
    /// start (TLS and the HTTP/2 preface included) or from the previous answer (so it
    /// also ends idle HTTP/1.1 keep-alive connections).
    pub header_timeout_ms: u64,
    /// An HTTP/2 connection with no open stream for this long is closed (GOAWAY).
    pub idle_timeout_ms: u64,
    /// The whole request body must arrive within this; else 408.
    pub body_timeout_ms: u64,
    /// A caller that takes none of an answer's waiting bytes for this long has its
    /// connection closed (the stream is charged for what was sent).
    pub send_timeout_ms: u64,
    /// A TLS handshake must end within this.
    pub tls_handshake_timeout_ms: u64,
    /// Which browser origins may call the gateway from their pages (`[server.cors]`).
    pub cors: CorsConfig,
}

/// `[server.cors]`: cross-origin access for web apps that call the gateway from the
/// browser. Off (no origin) by default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins whose pages may read the answers: `"https://chat.example.com"`,
    /// `"http://localhost:3000"`, or `"*"` for any.
    pub allow_origins: Vec<String>,
    /// How long a browser may keep a preflight's answer, in seconds.
    pub max_age_secs: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allow_origins: Vec::new(),
            max_age_secs: 600,
        }
    }
}

impl CorsConfig {
    /// The policy the main listener applies.
    pub fn policy(&self) -> Result<crate::layers::cors::Cors, String> {
        crate::layers::cors::Cors::new(
            &self.allow_origins,
            std::time::Duration::from_secs(self.max_age_secs),
        )
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            tls: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            shutdown_grace_secs: DEFAULT_SHUTDOWN_GRACE_SECS,
            workers: None,
            runtime: RuntimeLayout::PerThread,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_in_flight: 10_000,
            header_timeout_ms: 30_000,
            idle_timeout_ms: 120_000,
            body_timeout_ms: 60_000,
            send_timeout_ms: 60_000,
            tls_handshake_timeout_ms: 10_000,
            cors: CorsConfig::default(),
        }
    }
}

impl ServerConfig {
    /// The per-connection limits of the main listener.
    pub fn conn_limits(&self) -> ConnLimits {
        ConnLimits {
            max_connections: self.max_connections,
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            send_timeout: Duration::from_millis(self.send_timeout_ms),
            tls_handshake_timeout: Duration::from_millis(self.tls_handshake_timeout_ms),
        }
    }

    /// How long the whole request body may take.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }
}

/// `[server] runtime`: how the worker threads share the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeLayout {
    /// One single-threaded runtime per worker thread.
    PerThread,
    /// One work-stealing runtime with that many threads.
    WorkStealing,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4000))
}

/// `[server.tls]`: PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}
