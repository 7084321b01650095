//! The server's shared state, built once from a [`Config`]: providers, routes,
//! catalogue, keys and cool-downs.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use gateway_providers::{HttpClient, Provider, ProviderConfig};

use crate::auth::{ConfigKeys, KeyStore};
use crate::catalog::Catalog;
use crate::config::{Config, ConfigError};
use crate::routing::{Cooldown, Router};

/// Everything a request handler reads. Shared behind an `Arc`; immutable but for
/// the cool-down table, the request counter and the draining flag.
pub struct App {
    pub(crate) providers: HashMap<String, Provider>,
    pub(crate) router: Router,
    pub(crate) catalog: Catalog,
    pub(crate) keys: Arc<dyn KeyStore>,
    /// The database's keys (and, through it, projects and usage).
    pub(crate) db: Option<Arc<gateway_auth::KeyStore>>,
    pub(crate) cooldown: Cooldown,
    pub(crate) max_body_bytes: u64,
    next_request: AtomicU64,
    /// Distinguishes request ids of different runs.
    run_id: u32,
    draining: AtomicBool,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Builds the state from a validated configuration: the config file's keys and
    /// the database at `[storage] path`.
    pub fn from_config(config: &Config) -> Result<App, ConfigError> {
        let keys = ConfigKeys::new(&config.keys)?;
        let db = open_key_store(config)?;
        App::with_keys(config, Arc::new(keys), Some(Arc::new(db)))
    }

    /// Builds the state with the given key stores.
    pub fn with_keys(
        config: &Config,
        keys: Arc<dyn KeyStore>,
        db: Option<Arc<gateway_auth::KeyStore>>,
    ) -> Result<App, ConfigError> {
        let client = HttpClient::new()
            .map_err(|e| ConfigError::invalid("providers", format!("HTTP client: {e}")))?;
        let mut providers = HashMap::new();
        for (name, table) in &config.providers {
            let cfg = provider_config(name, table)?;
            let provider = Provider::new(name, &cfg, &client)
                .map_err(|e| ConfigError::invalid(format!("providers.{name}"), e.to_string()))?;
            providers.insert(name.clone(), provider);
        }
        let catalog = Catalog::from_config(config);
        let router = Router::new(config, &catalog)?;
        Ok(App {
            providers,
            router,
            catalog,
            keys,
            db,
            cooldown: Cooldown::new(Duration::from_secs(5), Duration::from_secs(60)),
            max_body_bytes: config.server.max_body_bytes,
            next_request: AtomicU64::new(1),
            run_id: fastrand::u32(..),
            draining: AtomicBool::new(false),
        })
    }

    /// A new request id: unique within the run, and across runs with high probability.
    pub(crate) fn request_id(&self) -> String {
        let n = self.next_request.fetch_add(1, Ordering::Relaxed);
        format!("req_{:08x}{n:012x}", self.run_id)
    }

    /// Marks the server as draining: `/readyz` answers 503 from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// True once draining started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The database key store, when there is one.
    pub fn key_store(&self) -> Option<&Arc<gateway_auth::KeyStore>> {
        self.db.as_ref()
    }

    /// The providers by name.
    pub fn providers(&self) -> impl Iterator<Item = (&str, &Provider)> {
        self.providers.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// Opens the database named by `[storage] path` (`:memory:` for a private one).
pub fn open_key_store(config: &Config) -> Result<gateway_auth::KeyStore, ConfigError> {
    let path = &config.storage.path;
    let defaults = config.key_defaults.clone();
    let opened = if path.as_os_str() == ":memory:" {
        gateway_auth::KeyStore::open_in_memory(defaults)
    } else {
        gateway_auth::KeyStore::open(path, defaults)
    };
    opened.map_err(|e| ConfigError::invalid("storage.path", format!("{}: {e}", path.display())))
}

/// Reads one `[providers.<name>]` table, naming the bad key's full path.
pub fn provider_config(name: &str, table: &toml::Table) -> Result<ProviderConfig, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." || path.is_empty() {
            format!("providers.{name}")
        } else {
            format!("providers.{name}.{path}")
        };
        ConfigError::invalid(at, e.into_inner().message().trim_end().to_owned())
    })
}
