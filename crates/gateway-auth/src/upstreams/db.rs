//! The database under an [`UpstreamStore`](super::UpstreamStore): a trait with two
//! implementations, SQLite ([`super::SqliteProviders`]) and PostgreSQL
//! (`gateway-postgres`). Sealing and opening keys stays in the store: a backend only
//! keeps rows, the key already sealed.

use std::sync::Arc;

use crate::error::AuthError;

/// One stored provider as the database keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRow {
    /// Its name.
    pub name: String,
    /// Its table as JSON, without a key.
    pub settings: String,
    /// Its upstream key, sealed by the vault.
    pub api_key: Option<Vec<u8>>,
    /// Added (Unix ms).
    pub created_ms: i64,
    /// Last changed (Unix ms).
    pub updated_ms: i64,
}

/// A database of runtime providers. Synchronous, like the key store's: its callers
/// are blocking tasks.
pub trait ProviderDb: Send + Sync {
    /// Every row, by name.
    fn rows(&self) -> Result<Vec<ProviderRow>, AuthError>;
    /// The row called `name`.
    fn row(&self, name: &str) -> Result<Option<ProviderRow>, AuthError>;
    /// Adds the row, or replaces the settings, key and `updated_ms` of the row of
    /// that name.
    fn upsert(&self, row: &ProviderRow) -> Result<(), AuthError>;
    /// Removes `name`; false when there was none.
    fn remove(&self, name: &str) -> Result<bool, AuthError>;
    /// Replaces the sealed key of `name`.
    fn set_key(&self, name: &str, sealed: &[u8]) -> Result<(), AuthError>;
    /// Calls `wake` when another process changed the rows, when the database can
    /// tell. The default tells nothing.
    fn on_change(&self, wake: Arc<dyn Fn() + Send + Sync>) -> Result<(), AuthError> {
        drop(wake);
        Ok(())
    }
}
