//! The shared HTTP client: one connection pool for every provider.
//!
//! reqwest fixes the connect timeout per client, not per request. Providers that keep
//! the default connect timeout (the usual case) all share the one pool; a provider
//! that configures another `connect_ms` gets a pool for that value, shared with every
//! other provider using it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::ProviderError;
use crate::spec::Timeouts;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);
/// Idle connections kept per host.
const POOL_PER_HOST: usize = 64;

/// The pooled HTTP client. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    default_connect: Duration,
    default: reqwest::Client,
    others: Mutex<HashMap<Duration, reqwest::Client>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("connect_timeout", &self.inner.default_connect)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with the default connect timeout ([`Timeouts::default`]).
    pub fn new() -> Result<HttpClient, ProviderError> {
        let default_connect = Timeouts::default().connect();
        Ok(HttpClient {
            inner: Arc::new(Inner {
                default_connect,
                default: build(default_connect)?,
                others: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The client to use for a provider whose connect timeout is `connect`.
    pub(crate) fn for_connect_timeout(
        &self,
        connect: Duration,
    ) -> Result<reqwest::Client, ProviderError> {
        if connect == self.inner.default_connect {
            return Ok(self.inner.default.clone());
        }
        let mut others = self
            .inner
            .others
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = others.get(&connect) {
            return Ok(client.clone());
        }
        let client = build(connect)?;
        others.insert(connect, client.clone());
        Ok(client)
    }
}

fn build(connect: Duration) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .connect_timeout(connect)
        .pool_idle_timeout(POOL_IDLE)
        .pool_max_idle_per_host(POOL_PER_HOST)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("patchbay/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ProviderError::Client(e.to_string()))
}
