//! The key store's databases under test: SQLite always, and PostgreSQL when a server
//! is given (`PATCHBAY_TEST_POSTGRES`, from `scripts/services start`; required when
//! `PATCHBAY_REQUIRE_SERVICES` is set, as in CI). Each store gets a database of its
//! own: SQLite in memory or in a temporary file, PostgreSQL in a schema of its own.
//! Usage stores the same way ([`Backend::usage`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gateway_auth::cache::now_ms;
use gateway_auth::usage::{
    SqliteReader, SqliteSink, UsageReader, UsageSink, UsageWriter, WriterConfig, WriterThread,
};
use gateway_auth::{AuthError, KeyPolicy, KeyStore, ResponseStore, Share, UpstreamStore, Vault};
use gateway_postgres::{PgKeys, PgProviders, PgResponses, PgUsage, Postgres, PostgresOptions};

/// A database kind the store runs on.
pub enum Backend {
    Sqlite,
    Postgres { url: String },
}

impl Backend {
    /// Every backend this run can test.
    pub fn all() -> Vec<Backend> {
        let mut all = vec![Backend::Sqlite];
        match std::env::var("PATCHBAY_TEST_POSTGRES") {
            Ok(url) => all.push(Backend::Postgres { url }),
            Err(_) => {
                assert!(
                    std::env::var_os("PATCHBAY_REQUIRE_SERVICES").is_none(),
                    "PATCHBAY_REQUIRE_SERVICES is set but PATCHBAY_TEST_POSTGRES is not"
                );
                eprintln!("PostgreSQL: skipped, PATCHBAY_TEST_POSTGRES is not set");
            }
        }
        all
    }

    /// A fresh, empty store.
    pub fn store(&self) -> KeyStore {
        self.store_with(KeyPolicy::default()).unwrap()
    }

    /// A fresh, empty store whose new keys get `defaults`.
    pub fn store_with(&self, defaults: KeyPolicy) -> Result<KeyStore, AuthError> {
        match self {
            Backend::Sqlite => KeyStore::open_in_memory(defaults),
            Backend::Postgres { url } => {
                let pg = connect(url, &fresh_schema())?;
                KeyStore::over(Arc::new(PgKeys::new(pg)), defaults)
            }
        }
    }

    /// A database several stores can open, as several processes would.
    pub fn shared(&self) -> Shared {
        match self {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!(
                    "pb-keys-{}-{}",
                    std::process::id(),
                    unique()
                ));
                std::fs::create_dir_all(&dir).unwrap();
                Shared::Sqlite(dir)
            }
            Backend::Postgres { url } => Shared::Postgres {
                url: url.clone(),
                schema: fresh_schema(),
            },
        }
    }
}

/// One database, opened by several stores.
pub enum Shared {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

impl Shared {
    /// A store of its own (its own connections) on this database.
    pub fn open(&self) -> KeyStore {
        match self {
            Shared::Sqlite(dir) => KeyStore::open(&dir.join("patchbay.db"), KeyPolicy::default()),
            Shared::Postgres { url, schema } => connect(url, schema)
                .and_then(|pg| KeyStore::over(Arc::new(PgKeys::new(pg)), KeyPolicy::default())),
        }
        .unwrap()
    }

    /// Runs `sqlite` or `postgres` on the database by hand, as an operator might.
    pub fn execute(&self, sqlite: &str, postgres: &str) {
        match self {
            Shared::Sqlite(dir) => rusqlite::Connection::open(dir.join("patchbay.db"))
                .unwrap()
                .execute_batch(sqlite)
                .unwrap(),
            Shared::Postgres { url, schema } => connect(url, schema)
                .unwrap()
                .batch_execute(postgres)
                .unwrap(),
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Shared::Sqlite(dir) = self {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn connect(url: &str, schema: &str) -> Result<Postgres, AuthError> {
    let options = PostgresOptions {
        schema: Some(schema.to_owned()),
        max_connections: 4,
        ..PostgresOptions::default()
    };
    Ok(Postgres::connect(url, &options)?)
}

fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn fresh_schema() -> String {
    format!("t{}_{}_{}", std::process::id(), now_ms(), unique())
}

/// A fresh usage store: the writer's sink, the readers' source, and what keeps a
/// SQLite file alive until the test ends.
pub struct UsageDb {
    pub reader: Arc<dyn UsageReader>,
    sink: Option<Box<dyn UsageSink>>,
    _shared: Option<Shared>,
}

impl UsageDb {
    /// Starts a writer on this store (once).
    pub fn writer(&mut self, config: WriterConfig) -> (UsageWriter, WriterThread) {
        let sink = self.sink.take().expect("one writer per store");
        UsageWriter::start_on(sink, config).unwrap()
    }
}

impl Backend {
    /// A fresh, empty usage store.
    pub fn usage(&self) -> UsageDb {
        match self {
            Backend::Sqlite => {
                let shared = self.shared();
                let Shared::Sqlite(dir) = &shared else {
                    unreachable!("a SQLite backend shares a file")
                };
                let path = dir.join("patchbay.db");
                let sink = SqliteSink::new(gateway_auth::migrate::open(&path).unwrap());
                UsageDb {
                    reader: Arc::new(SqliteReader::new(&path)),
                    sink: Some(Box::new(sink)),
                    _shared: Some(shared),
                }
            }
            Backend::Postgres { url } => {
                let usage = PgUsage::new(connect(url, &fresh_schema()).unwrap());
                UsageDb {
                    reader: Arc::new(usage.clone()),
                    sink: Some(Box::new(usage)),
                    _shared: None,
                }
            }
        }
    }
}

impl Shared {
    /// Runtime providers on this database, sealed with `vault`.
    pub fn providers(&self, vault: Vault) -> UpstreamStore {
        match self {
            Shared::Sqlite(dir) => UpstreamStore::open(&dir.join("patchbay.db"), vault).unwrap(),
            Shared::Postgres { url, schema } => {
                let pg = connect(url, schema).unwrap();
                UpstreamStore::over(Arc::new(PgProviders::new(pg)), vault)
            }
        }
    }
}

impl Backend {
    /// A fresh, empty response store sharing responses as `share` says, and what
    /// keeps a SQLite file alive until the test ends.
    pub fn responses(&self, share: Share) -> (ResponseStore, Option<Shared>) {
        match self {
            Backend::Sqlite => {
                let shared = self.shared();
                let Shared::Sqlite(dir) = &shared else {
                    unreachable!("a SQLite backend shares a file")
                };
                let store = ResponseStore::open(&dir.join("patchbay.db"), share).unwrap();
                (store, Some(shared))
            }
            Backend::Postgres { url } => {
                let pg = connect(url, &fresh_schema()).unwrap();
                (
                    ResponseStore::over(Arc::new(PgResponses::new(pg)), share),
                    None,
                )
            }
        }
    }
}
