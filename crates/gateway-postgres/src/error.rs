//! The crate's errors.

use gateway_auth::AuthError;

/// What can go wrong opening or using the PostgreSQL store.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The connection URL does not parse.
    #[error("postgres url: {0}")]
    Url(tokio_postgres::Error),
    /// The server refused or failed a statement.
    #[error("postgres: {}", describe(.0))]
    Db(#[from] tokio_postgres::Error),
    /// No connection could be had from the pool (the server is down or the pool is
    /// exhausted past its wait).
    #[error("postgres pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The pool or the runtime could not be built.
    #[error("postgres setup: {0}")]
    Setup(String),
    /// The database was migrated by a newer Patchbay.
    #[error(
        "the postgres schema is version {found}, newer than this Patchbay knows ({known}); upgrade Patchbay"
    )]
    SchemaTooNew {
        /// The version in the database.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
}

impl From<PgError> for AuthError {
    fn from(e: PgError) -> AuthError {
        match e {
            PgError::SchemaTooNew { found, known } => AuthError::SchemaTooNew {
                found: usize::try_from(found).unwrap_or(usize::MAX),
                known: usize::try_from(known).unwrap_or(usize::MAX),
            },
            other => AuthError::Backend(Box::new(other)),
        }
    }
}

/// A driver error as the store traits return it.
pub(crate) fn db(e: tokio_postgres::Error) -> AuthError {
    PgError::Db(e).into()
}

/// A driver error with the server's own message, which the driver's `Display` leaves
/// out ("db error").
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{e}: {} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}
