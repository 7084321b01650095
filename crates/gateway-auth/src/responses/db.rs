//! The database under a [`ResponseStore`](super::ResponseStore): a trait with two
//! implementations, SQLite ([`super::SqliteResponses`]) and PostgreSQL
//! (`gateway-postgres`). A backend keeps rows; who may see a row is decided once, in
//! the store.

use crate::error::AuthError;

/// One stored response as the database keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseRow {
    /// `resp_...`, as the caller was told.
    pub id: String,
    /// The public id of the key that made it.
    pub key_id: String,
    /// That key's project, when it has one.
    pub project_id: Option<String>,
    /// When it was made (Unix ms); retention purges by it.
    pub created_ms: i64,
    /// The model as the caller named it.
    pub model: String,
    /// The response's status (`completed`, `incomplete`, ...).
    pub status: String,
    /// The request's `input` as the caller gave it (JSON), for `input_items`.
    pub input_items: Option<String>,
    /// The whole conversation up to and including this response's output, as
    /// canonical turns (JSON written by `gateway-translate`'s `stored` codec).
    pub turns: Option<String>,
    /// The response object as the caller received it (JSON), for `GET`.
    pub response: Option<String>,
    /// Input tokens the upstream reported.
    pub input_tokens: i64,
    /// Output tokens the upstream reported.
    pub output_tokens: i64,
}

/// A database of stored responses. Synchronous, like the other stores: its callers
/// are blocking tasks.
pub trait ResponseDb: Send + Sync {
    /// Adds the row (an id already stored is replaced).
    fn put(&self, row: &ResponseRow) -> Result<(), AuthError>;
    /// The row with this id, whoever made it.
    fn get(&self, id: &str) -> Result<Option<ResponseRow>, AuthError>;
    /// Removes the row; false when there was none.
    fn delete(&self, id: &str) -> Result<bool, AuthError>;
    /// Removes every row made before `before_ms`; how many.
    fn purge(&self, before_ms: i64) -> Result<u64, AuthError>;
}
