//! The crate's errors.

/// What can go wrong in the key, limit and usage store.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// SQLite failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A database other than SQLite failed (PostgreSQL, through `gateway-postgres`).
    #[error("database: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// A migration failed.
    #[error("database migration {0}")]
    Migration(String),
    /// The database was written by a newer Patchbay.
    #[error(
        "the database schema is version {found}, newer than this Patchbay knows ({known}); upgrade Patchbay"
    )]
    SchemaTooNew {
        /// The version in the file.
        found: usize,
        /// The newest version this build knows.
        known: usize,
    },
    /// Stored JSON (a policy) could not be read or written.
    #[error("stored policy: {0}")]
    Json(#[from] serde_json::Error),
    /// The OS random source failed.
    #[error("random source: {0}")]
    Random(#[from] std::io::Error),
    /// The database file could not be created.
    #[error("database file {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No key, project or record with that id or name.
    #[error("{what} `{id}` not found")]
    NotFound {
        /// What was looked up ("key", "project").
        what: &'static str,
        /// The id or name given.
        id: String,
    },
    /// The master key or a sealed value.
    #[error("sealed secrets: {0}")]
    Vault(#[from] crate::vault::VaultError),
    /// A value given by the operator is not acceptable; `field` names it.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field, e.g. `limits.rpm`.
        field: String,
        /// Why.
        message: String,
    },
}
