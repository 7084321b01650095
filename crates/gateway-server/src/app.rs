//! The server's shared state, built once from a [`Config`]: providers, routes,
//! catalogue, keys and cool-downs.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use gateway_providers::{HttpClient, ProviderConfig};

use crate::config::{Config, ConfigError};
use crate::routing::Cooldown;
use crate::table::Table;

/// Everything a request handler reads. Shared behind an `Arc`; immutable but for
/// the cool-down table, the request counter and the draining flag.
pub struct App {
    /// Providers, routes and catalogue: replaced whole by a reload.
    table: arc_swap::ArcSwap<Table>,
    /// The upstream connection pool every table's providers share.
    client: HttpClient,
    /// The config file's last good configuration, and what reloads did.
    pub(crate) reload: crate::reload::ReloadState,
    /// Providers added at runtime (in the database), when there is a database.
    pub(crate) upstreams: Option<gateway_auth::UpstreamStore>,
    /// The shared database (`[storage] url`), when one is named.
    pub(crate) postgres: Option<gateway_postgres::Postgres>,
    /// Responses API state kept by the gateway (`[responses]`), when there is a
    /// database and it is enabled.
    pub(crate) responses: Option<Arc<crate::responses::State>>,
    /// Where usage is read back (admin API, console), when there is a database.
    pub(crate) usage_reader: Option<Arc<dyn gateway_auth::usage::UsageReader>>,
    /// Notified when the shared database announces a runtime provider change.
    pub(crate) providers_changed: Arc<tokio::sync::Notify>,
    /// The providers' own model lists (`GET /v1/models`).
    pub(crate) discovery: crate::discovery::Discovery,
    /// Every key the gateway accepts: the config file's and the database's.
    pub(crate) keys: Arc<gateway_auth::Keys>,
    /// Rates, quotas and budgets of keys and projects.
    pub(crate) limiter: Arc<dyn gateway_auth::Limiter>,
    /// The Redis limiter (`[limits] redis`), for its failure counters.
    pub(crate) shared_limiter: Option<gateway_redis::RedisLimiter>,
    /// The usage record writer (off the hot path, batched).
    pub(crate) usage: Option<gateway_auth::UsageWriter>,
    usage_thread: std::sync::Mutex<Option<gateway_auth::usage::WriterThread>>,
    /// The database file (keys, usage).
    db_path: Option<PathBuf>,
    /// A temporary database (`[storage] path = ":memory:"`), deleted with the app.
    _scratch: Option<Scratch>,
    pub(crate) cooldown: Cooldown,
    pub(crate) max_body_bytes: u64,
    /// Which browser origins may read answers (`[server.cors]`).
    pub(crate) cors: crate::layers::cors::Cors,
    /// How long a request body may take to arrive.
    pub(crate) body_timeout: Duration,
    /// What the main listener lets one connection hold.
    pub(crate) conn_limits: crate::listen::ConnLimits,
    /// Requests answered at once past which new ones are shed.
    pub(crate) in_flight: crate::layers::shed::InFlight,
    /// Fetches media URLs for upstreams that take media inline only.
    pub(crate) fetcher: gateway_providers::MediaFetcher,
    /// Metrics, the access log, traces.
    pub(crate) observer: crate::observe::Observer,
    /// The response cache (`[cache]`; read at start only).
    pub(crate) cache: Arc<crate::cache::ResponseCache>,
    next_request: AtomicU64,
    /// Distinguishes request ids of different runs.
    run_id: u32,
    draining: AtomicBool,
    /// The open Responses WebSocket connections (`[responses] websocket`).
    pub(crate) sockets: crate::responses::socket::Sockets,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("table", &self.table.load().generation)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Builds the state from a validated configuration: the config file's keys and
    /// the database at `[storage] path`.
    pub fn from_config(config: &Config) -> Result<App, ConfigError> {
        let (path, scratch) = database_path(config);
        let db_error = |e: gateway_auth::AuthError| {
            ConfigError::invalid("storage.path", format!("{}: {e}", path.display()))
        };
        let stores = open_stores(config, &path).map_err(|e| match config.storage.url {
            Some(_) => ConfigError::invalid("storage.url", e.to_string()),
            None => db_error(e),
        })?;
        // `[limits] redis`: shared by every instance on that server; else in process.
        let redis = match config.limits.redis_config() {
            Some(redis) => Some(
                gateway_redis::RedisLimiter::new(redis)
                    .map_err(|e| ConfigError::invalid("limits.redis", e.to_string()))?,
            ),
            None => None,
        };
        let memory = gateway_auth::MemoryLimiter::new();
        // Quotas and budgets continue from the usage already recorded (for Redis, in
        // the local limiter it falls back on: Redis keeps its own counters).
        let local = redis.as_ref().map_or(&memory, |r| r.local());
        let now = gateway_auth::cache::now_ms();
        let (day, month) = gateway_auth::limits::window_starts(now);
        let spent = stores.usage_reader.spent(day, month).map_err(db_error)?;
        local.seed(&spent, now);
        // A handle on the Redis limiter's counters, for the metrics.
        let shared_limiter = redis.clone();
        let limiter: Arc<dyn gateway_auth::Limiter> = match redis {
            Some(redis) => Arc::new(redis),
            None => Arc::new(memory),
        };
        let defaults = gateway_auth::usage::WriterConfig::default();
        let writer_config = gateway_auth::usage::WriterConfig {
            retention: config
                .storage
                .retention_days
                .map(|d| Duration::from_secs(u64::from(d) * 86_400)),
            max_queued_bytes: config
                .storage
                .usage_queue_mib
                .map_or(defaults.max_queued_bytes, |mib| {
                    usize::try_from(mib.get()).map_or(usize::MAX, |m| m.saturating_mul(1 << 20))
                }),
            on_quiet: Some(crate::listen::release_thoroughly),
            ..defaults
        };
        let (writer, thread) =
            gateway_auth::UsageWriter::start_on(stores.usage_sink, writer_config)
                .map_err(db_error)?;
        let mut app = App::with_keys(config, Some(Arc::new(stores.keys)))?;
        let upstreams = open_upstreams(config, &path, scratch.is_some(), stores.postgres.as_ref())
            .map_err(db_error)?;
        let changed = Arc::clone(&app.providers_changed);
        upstreams
            .on_change(Arc::new(move || changed.notify_one()))
            .map_err(db_error)?;
        app.upstreams = Some(upstreams);
        if config.responses.enabled {
            let db: Arc<dyn gateway_auth::ResponseDb> = match &stores.postgres {
                Some(pg) => Arc::new(gateway_postgres::PgResponses::new(pg.clone())),
                None => Arc::new(gateway_auth::responses::SqliteResponses::new(
                    gateway_auth::migrate::open(&path).map_err(db_error)?,
                )),
            };
            app.responses = Some(Arc::new(crate::responses::State::new(
                &config.responses,
                db,
            )));
        }
        app.limiter = limiter;
        app.shared_limiter = shared_limiter;
        app.usage_reader = Some(stores.usage_reader);
        app.postgres = stores.postgres;
        app.usage = Some(writer);
        app.usage_thread = std::sync::Mutex::new(Some(thread));
        app._scratch = scratch;
        app.db_path = Some(path);
        // The providers added at runtime before: a set the file no longer admits
        // (a name taken since) leaves them out, with the error kept for the console.
        let start = app.reload_with(Ok(config.clone()), crate::reload::Trigger::Start);
        if !start.ok {
            tracing::error!(
                "the providers added at runtime are not in force: {}",
                start.error.unwrap_or_default()
            );
        }
        Ok(app)
    }

    /// Writes every queued usage record and stops the writer, and exports the last
    /// spans (graceful shutdown).
    /// Blocking: call it off the async runtime's workers.
    pub fn shutdown_usage(&self) {
        if let Some(writer) = &self.usage {
            writer.shutdown();
        }
        if let Some(log) = &self.observer.access {
            log.stop();
        }
        if let Some(tracing) = &self.observer.tracing {
            tracing.shutdown();
        }
        let thread = self
            .usage_thread
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(thread) = thread {
            let stats = thread.join();
            tracing::info!(
                written = stats.written,
                dropped = stats.dropped,
                retried = stats.retried,
                failed = stats.failed,
                "usage writer stopped"
            );
        }
    }

    /// Waits until every usage record queued so far is in the database.
    pub fn flush_usage(&self) {
        if let Some(writer) = &self.usage {
            writer.flush();
        }
    }

    /// Builds the state with the config file's keys and, when given, the database's.
    pub fn with_keys(
        config: &Config,
        db: Option<Arc<gateway_auth::KeyStore>>,
    ) -> Result<App, ConfigError> {
        let keys = Arc::new(gateway_auth::Keys::new(&config.declared_keys()?, db));
        let client = HttpClient::new()
            .map_err(|e| ConfigError::invalid("providers", format!("HTTP client: {e}")))?;
        let table = Table::build(config, &client, Default::default(), 1)?;
        let catalog = &table.catalog;
        let fetcher = gateway_providers::MediaFetcher::new(config.media.policy())
            .map_err(|e| ConfigError::invalid("media", e.to_string()))?;
        let mut observer = crate::observe::Observer::new(config, catalog)
            .map_err(|e| ConfigError::invalid("access_log.path", e.to_string()))?;
        observer.tracing = crate::observe::trace::Tracing::from_config(&config.tracing)
            .map_err(|e| ConfigError::invalid("tracing.otlp_endpoint", e))?;
        let in_flight = crate::layers::shed::InFlight::new(config.server.max_in_flight);
        let cache = Arc::new(crate::cache::ResponseCache::from_config(config)?);
        observer.live = Arc::new(crate::observe::live::Live::new(in_flight.clone()));
        Ok(App {
            table: arc_swap::ArcSwap::from_pointee(table),
            client,
            reload: crate::reload::ReloadState::new(config.clone()),
            upstreams: None,
            postgres: None,
            responses: None,
            usage_reader: None,
            providers_changed: Arc::new(tokio::sync::Notify::new()),
            discovery: crate::discovery::Discovery::new(config.discovery.clone()),
            keys,
            limiter: Arc::new(gateway_auth::MemoryLimiter::new()),
            shared_limiter: None,
            usage: None,
            usage_thread: std::sync::Mutex::new(None),
            db_path: None,
            _scratch: None,
            cooldown: Cooldown::new(Duration::from_secs(5), Duration::from_secs(60)),
            max_body_bytes: config.server.max_body_bytes,
            // Checked with the rest of the config; a policy that fails here is off.
            cors: config.server.cors.policy().unwrap_or_default(),
            body_timeout: config.server.body_timeout(),
            conn_limits: config.server.conn_limits(),
            in_flight,
            fetcher,
            observer,
            cache,
            next_request: AtomicU64::new(1),
            run_id: fastrand::u32(..),
            draining: AtomicBool::new(false),
            sockets: crate::responses::socket::Sockets::new(config.responses.websocket),
        })
    }

    /// A new request id, `req_` and 20 lowercase hex digits (the run's 8, then a
    /// counter's 12): unique within the run, and across runs with high probability.
    /// Written by hand: `format!` with hex padding cost more than the rest of the
    /// request's bookkeeping.
    pub(crate) fn request_id(&self) -> [u8; 24] {
        let n = self.next_request.fetch_add(1, Ordering::Relaxed);
        let mut id = *b"req_00000000000000000000";
        write_hex(&mut id[4..12], u64::from(self.run_id));
        write_hex(&mut id[12..], n);
        id
    }

    /// Metrics, the access log, traces.
    pub fn observer(&self) -> &crate::observe::Observer {
        &self.observer
    }

    /// The response cache.
    pub fn response_cache(&self) -> &crate::cache::ResponseCache {
        &self.cache
    }

    /// Requests being answered now, streams included (health checks aside).
    pub fn in_flight(&self) -> usize {
        self.in_flight.current()
    }

    /// Marks the server as draining: `/readyz` answers 503 from now on, and open
    /// WebSocket connections close once their response in flight is over.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
        self.sockets.close_all();
    }

    /// Responses WebSocket connections open now.
    pub fn open_sockets(&self) -> usize {
        self.sockets.open()
    }

    /// True once draining started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The database file, when there is one (usage queries open their own
    /// connection to it).
    pub fn database_path(&self) -> Option<&std::path::Path> {
        self.db_path.as_deref()
    }

    /// Where usage is read back from, when there is a database.
    pub fn usage_reader(&self) -> Option<&Arc<dyn gateway_auth::usage::UsageReader>> {
        self.usage_reader.as_ref()
    }

    /// The database key store, when there is one.
    pub fn key_store(&self) -> Option<&Arc<gateway_auth::KeyStore>> {
        self.keys.store()
    }

    /// Every key the gateway accepts.
    pub fn keys(&self) -> &Arc<gateway_auth::Keys> {
        &self.keys
    }

    /// The current providers, routes and catalogue; a request takes it once and
    /// keeps it to its end.
    pub fn table(&self) -> Arc<Table> {
        self.table.load_full()
    }

    /// Puts `table` in force for the requests that start from now on.
    pub(crate) fn install(&self, table: Table) {
        self.table.store(Arc::new(table));
    }

    /// The shared upstream connection pool.
    pub(crate) fn client(&self) -> &HttpClient {
        &self.client
    }
}

/// The store of runtime providers in the database at `path`, sealing with the master
/// key of `PATCHBAY_MASTER_KEY` or the key file (`[storage] master_key_file`, else the
/// database's path with `.key`; created at the first start). A previous key (from
/// `PATCHBAY_PREVIOUS_MASTER_KEY`, or the key file's name with `.previous` added)
/// opens what it sealed, which is sealed again under the current key now: that is
/// the rotation (docs/CONSOLE.md). A temporary database gets a key of its own.
fn open_upstreams(
    config: &Config,
    path: &std::path::Path,
    scratch: bool,
    postgres: Option<&gateway_postgres::Postgres>,
) -> Result<gateway_auth::UpstreamStore, gateway_auth::AuthError> {
    use gateway_auth::vault::{MASTER_KEY_ENV, PREVIOUS_MASTER_KEY_ENV};
    use gateway_auth::{MasterKey, Vault};
    let env = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let key_file = config
        .storage
        .master_key_file
        .clone()
        .unwrap_or_else(|| path.with_extension("key"));
    let current = if scratch && env(MASTER_KEY_ENV).is_none() {
        MasterKey::generate()?
    } else {
        MasterKey::load_or_create(env(MASTER_KEY_ENV).as_deref(), &key_file)?
    };
    let mut previous_file = key_file.into_os_string();
    previous_file.push(".previous");
    let previous = match env(PREVIOUS_MASTER_KEY_ENV) {
        Some(hex) => Some(MasterKey::from_hex(&hex, PREVIOUS_MASTER_KEY_ENV)?),
        None => match std::fs::read_to_string(&previous_file) {
            Ok(text) => Some(MasterKey::from_hex(
                &text,
                &previous_file.to_string_lossy(),
            )?),
            Err(_) => None,
        },
    };
    let rotating = previous.is_some();
    let vault = Vault::new(current, previous);
    let store = match postgres {
        Some(pg) => gateway_auth::UpstreamStore::over(
            Arc::new(gateway_postgres::PgProviders::new(pg.clone())),
            vault,
        ),
        None => gateway_auth::UpstreamStore::open(path, vault)?,
    };
    if rotating {
        let n = store.reseal()?;
        tracing::info!(
            resealed = n,
            key = %store.key_id(),
            "upstream keys sealed again under the current master key; the previous key can go"
        );
    }
    Ok(store)
}

/// The database file of `[storage] path`; `":memory:"` becomes a fresh file in the
/// temporary directory (the key store and the usage writer each need a connection to
/// the same database), deleted when the app is.
/// What `[storage]` names: keys and projects, and usage (written and read back), on
/// PostgreSQL at `url` (shared by every instance naming it), else SQLite at `path`.
struct Stores {
    /// The shared database, when `[storage] url` names one.
    postgres: Option<gateway_postgres::Postgres>,
    keys: gateway_auth::KeyStore,
    usage_sink: Box<dyn gateway_auth::usage::UsageSink>,
    usage_reader: Arc<dyn gateway_auth::usage::UsageReader>,
}

/// Opens the stores `[storage]` names. Blocking (it connects and migrates): not from
/// an async worker.
fn open_stores(config: &Config, path: &std::path::Path) -> Result<Stores, gateway_auth::AuthError> {
    let defaults = config.key_defaults.clone();
    match &config.storage.url {
        Some(url) => {
            let pg = gateway_postgres::Postgres::connect(url, &Default::default())?;
            let usage = gateway_postgres::PgUsage::new(pg.clone());
            Ok(Stores {
                keys: gateway_auth::KeyStore::over(
                    Arc::new(gateway_postgres::PgKeys::new(pg.clone())),
                    defaults,
                )?,
                postgres: Some(pg),
                usage_sink: Box::new(usage.clone()),
                usage_reader: Arc::new(usage),
            })
        }
        None => Ok(Stores {
            postgres: None,
            keys: gateway_auth::KeyStore::open(path, defaults)?,
            usage_sink: Box::new(gateway_auth::usage::SqliteSink::new(
                gateway_auth::migrate::open(path)?,
            )),
            usage_reader: Arc::new(gateway_auth::usage::SqliteReader::new(path)),
        }),
    }
}

/// The key store `[storage]` names: PostgreSQL at `url`, else SQLite at `path`.
/// Blocking (it connects and migrates): not from an async worker.
pub fn open_key_store(
    config: &Config,
    path: &std::path::Path,
) -> Result<gateway_auth::KeyStore, gateway_auth::AuthError> {
    let defaults = config.key_defaults.clone();
    match &config.storage.url {
        Some(url) => {
            let pg = gateway_postgres::Postgres::connect(url, &Default::default())?;
            let db = Arc::new(gateway_postgres::PgKeys::new(pg));
            gateway_auth::KeyStore::over(db, defaults)
        }
        None => gateway_auth::KeyStore::open(path, defaults),
    }
}

fn database_path(config: &Config) -> (PathBuf, Option<Scratch>) {
    let path = &config.storage.path;
    if path.as_os_str() != ":memory:" {
        return (path.clone(), None);
    }
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "patchbay-{}-{}-{:08x}.db",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    );
    let path = std::env::temp_dir().join(name);
    (path.clone(), Some(Scratch(path)))
}

/// A temporary database file, removed (with its WAL files) on drop.
#[derive(Debug)]
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
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

/// Writes the low `4 * out.len()` bits of `value` into `out` as lowercase hex.
fn write_hex(out: &mut [u8], mut value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for digit in out.iter_mut().rev() {
        *digit = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::{App, write_hex};
    use crate::config::Config;

    #[test]
    fn request_ids_are_req_and_twenty_hex_digits_and_never_repeat() {
        let config = Config::from_toml_str("[storage]\npath = \":memory:\"", &|_| None).unwrap();
        let app = App::from_config(&config).unwrap();
        let first = app.request_id();
        let second = app.request_id();
        for id in [&first, &second] {
            assert!(id.starts_with(b"req_"), "{id:?}");
            assert!(
                id[4..]
                    .iter()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            );
        }
        assert_eq!(first[..12], second[..12], "one run, one prefix");
        assert_ne!(first, second);
        assert_eq!(&second[12..], b"000000000002");
    }

    #[test]
    fn hex_is_zero_padded_lowercase_and_keeps_the_low_digits() {
        let mut out = [0u8; 8];
        write_hex(&mut out, 0xab);
        assert_eq!(&out, b"000000ab");
        write_hex(&mut out, 0x1_dead_beef);
        assert_eq!(
            &out, b"deadbeef",
            "a value wider than the field keeps its low digits"
        );
        let mut wide = [0u8; 12];
        write_hex(&mut wide, u64::from(u32::MAX) + 1);
        assert_eq!(&wide, b"000100000000");
        assert_eq!(
            format!("{:012x}", u64::from(u32::MAX) + 1).as_bytes(),
            &wide
        );
    }
}
