//! Responses API state kept by the gateway, so `previous_response_id`,
//! `GET /v1/responses/{id}`, `DELETE` and `input_items` work over any upstream: each
//! response with the whole conversation it ends.
//!
//! Who may see a response is decided here, once, for both databases: the key that
//! made it, or with [`Share::Project`] any key of the same project. A response
//! another caller cannot see is answered as if it did not exist.

mod db;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;

use crate::error::AuthError;

pub use db::{ResponseDb, ResponseRow};
pub use sqlite::SqliteResponses;

/// Who may read a stored response besides the key that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Share {
    /// Only that key.
    #[default]
    Key,
    /// Every key of its project (a key without a project: only itself).
    Project,
}

/// The caller asking for a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner<'a> {
    /// The caller's key id.
    pub key_id: &'a str,
    /// The caller's project id.
    pub project_id: Option<&'a str>,
}

/// The stored responses and the rule of who sees them.
#[derive(Clone)]
pub struct ResponseStore {
    db: Arc<dyn ResponseDb>,
    share: Share,
}

impl std::fmt::Debug for ResponseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStore")
            .field("share", &self.share)
            .finish_non_exhaustive()
    }
}

impl ResponseStore {
    /// The store in the SQLite database at `path` (migrated).
    pub fn open(path: &Path, share: Share) -> Result<ResponseStore, AuthError> {
        Ok(ResponseStore::with_connection(
            crate::migrate::open(path)?,
            share,
        ))
    }

    /// The store on an open, migrated SQLite connection.
    pub fn with_connection(conn: Connection, share: Share) -> ResponseStore {
        ResponseStore::over(Arc::new(SqliteResponses::new(conn)), share)
    }

    /// The store over `db` (SQLite, PostgreSQL).
    pub fn over(db: Arc<dyn ResponseDb>, share: Share) -> ResponseStore {
        ResponseStore { db, share }
    }

    /// Keeps `row`.
    pub fn put(&self, row: &ResponseRow) -> Result<(), AuthError> {
        self.db.put(row)
    }

    /// The response `id` if `owner` may see it; `None` when there is none or it is
    /// someone else's.
    pub fn get(&self, id: &str, owner: Owner<'_>) -> Result<Option<ResponseRow>, AuthError> {
        Ok(self.db.get(id)?.filter(|row| self.visible(row, owner)))
    }

    /// Deletes the response `id` if `owner` may see it; the row deleted.
    pub fn delete(&self, id: &str, owner: Owner<'_>) -> Result<Option<ResponseRow>, AuthError> {
        let Some(row) = self.get(id, owner)? else {
            return Ok(None);
        };
        Ok(self.db.delete(id)?.then_some(row))
    }

    /// Removes every response made before `before_ms`; how many.
    pub fn purge(&self, before_ms: i64) -> Result<u64, AuthError> {
        self.db.purge(before_ms)
    }

    fn visible(&self, row: &ResponseRow, owner: Owner<'_>) -> bool {
        if row.key_id == owner.key_id {
            return true;
        }
        match (self.share, row.project_id.as_deref(), owner.project_id) {
            (Share::Project, Some(made), Some(asks)) => made == asks,
            _ => false,
        }
    }
}
