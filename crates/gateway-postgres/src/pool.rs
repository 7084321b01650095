//! The connection pool and the runtime that drives it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::error::PgError;
use crate::migrate;

/// How to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Connections the pool keeps at most.
    pub max_connections: usize,
    /// How long a connection attempt, or a wait for a free connection, may take.
    pub timeout: Duration,
    /// A schema to work in (`search_path`), made if missing; `None` takes the URL's.
    /// Tests give each store a schema of its own.
    pub schema: Option<String>,
}

impl Default for PostgresOptions {
    fn default() -> PostgresOptions {
        PostgresOptions {
            max_connections: 8,
            timeout: Duration::from_secs(5),
            schema: None,
        }
    }
}

/// A migrated PostgreSQL database: a pool of connections and the one-thread runtime
/// that drives them. Cheap to clone; the stores of every concern share one.
#[derive(Clone)]
pub struct Postgres {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// How to connect, for connections of their own outside the pool (`LISTEN`).
    config: tokio_postgres::Config,
    /// Taken only by `Drop`.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A runtime dropped inside another runtime's worker would panic; this one's
        // tasks are the pool's connections, which may simply stop.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.inner.pool.status();
        f.debug_struct("Postgres")
            .field("connections", &status.size)
            .field("max_connections", &status.max_size)
            .finish()
    }
}

impl Postgres {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and brings
    /// its schema up to date. Blocking: call it from a thread that is not an async
    /// worker.
    pub fn connect(url: &str, options: &PostgresOptions) -> Result<Postgres, PgError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(PgError::Url)?;
        config.connect_timeout(options.timeout);
        if config.get_application_name().is_none() {
            config.application_name("patchbay");
        }
        if let Some(schema) = &options.schema {
            if !is_plain_name(schema) {
                return Err(PgError::Setup(format!(
                    "schema `{schema}`: use letters, digits and underscores"
                )));
            }
            config.options(format!("-c search_path={schema}"));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("postgres")
            .enable_all()
            .build()
            .map_err(|e| PgError::Setup(format!("runtime: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(options.timeout))
            .create_timeout(Some(options.timeout))
            .build()
            .map_err(|e| PgError::Setup(format!("pool: {e}")))?;
        let pg = Postgres {
            inner: Arc::new(Inner {
                pool,
                config,
                runtime: Some(runtime),
            }),
        };
        pg.block_on(async {
            let mut client = pg.inner.pool.get().await?;
            if let Some(schema) = &options.schema {
                client
                    .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                    .await?;
            }
            migrate::run(&mut client).await
        })?;
        Ok(pg)
    }

    /// Runs `f` to its end on this store's runtime and returns its output. Not from
    /// inside an async task (that would block its worker; tokio refuses it).
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        match &self.inner.runtime {
            Some(rt) => rt.block_on(f),
            None => unreachable!("the runtime is taken only when the store is dropped"),
        }
    }

    /// Runs `sql` (one or more statements, no parameters): for tools and tests that
    /// act on the database by hand. Blocking, like [`Postgres::connect`].
    pub fn batch_execute(&self, sql: &str) -> Result<(), PgError> {
        self.block_on(async { Ok(self.client().await?.batch_execute(sql).await?) })
    }

    /// Runs `f` on this store's runtime; the answer can be awaited from any runtime,
    /// so async callers wait without blocking a worker.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T, PgError>> + Send + 'static,
    ) -> Result<T, PgError> {
        let Some(rt) = &self.inner.runtime else {
            unreachable!("the runtime is taken only when the store is dropped")
        };
        match rt.spawn(f).await {
            Ok(answer) => answer,
            Err(err) => Err(PgError::Setup(format!("postgres task: {err}"))),
        }
    }

    /// Runs one statement and returns its rows, waiting here (blocking, like
    /// [`Postgres::block_on`]).
    pub(crate) fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, PgError> {
        self.block_on(async { Ok(self.client().await?.query(sql, params).await?) })
    }

    /// Runs one statement and returns the rows it changed, waiting here.
    pub(crate) fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, PgError> {
        self.block_on(async { Ok(self.client().await?.execute(sql, params).await?) })
    }

    /// Runs `task` on this store's runtime until it ends or the store is dropped.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        if let Some(rt) = &self.inner.runtime {
            rt.spawn(task);
        }
    }

    /// How to connect outside the pool.
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.inner.config
    }

    /// A connection from the pool.
    pub(crate) async fn client(&self) -> Result<Object, PgError> {
        Ok(self.inner.pool.get().await?)
    }
}

/// Checks that `url` is a connection URL this store takes, without connecting.
pub fn check_url(url: &str) -> Result<(), PgError> {
    url.parse::<tokio_postgres::Config>()
        .map(drop)
        .map_err(PgError::Url)
}

/// Whether `name` can stand in SQL unquoted.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
