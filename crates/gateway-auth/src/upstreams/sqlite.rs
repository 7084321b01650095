//! Runtime providers in SQLite (`runtime_providers`, migration 003).

use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::db::{ProviderDb, ProviderRow};
use crate::error::AuthError;

/// Runtime providers in one SQLite database, behind one connection.
pub struct SqliteProviders {
    conn: Mutex<Connection>,
}

impl SqliteProviders {
    /// Over `conn`, already migrated.
    pub fn new(conn: Connection) -> SqliteProviders {
        SqliteProviders {
            conn: Mutex::new(conn),
        }
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

const COLUMNS: &str = "name, settings, api_key, created_ms, updated_ms";

fn row(r: &Row<'_>) -> rusqlite::Result<ProviderRow> {
    Ok(ProviderRow {
        name: r.get(0)?,
        settings: r.get(1)?,
        api_key: r.get(2)?,
        created_ms: r.get(3)?,
        updated_ms: r.get(4)?,
    })
}

impl ProviderDb for SqliteProviders {
    fn rows(&self) -> Result<Vec<ProviderRow>, AuthError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM runtime_providers ORDER BY name"
        ))?;
        let rows = stmt.query_map([], row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn row(&self, name: &str) -> Result<Option<ProviderRow>, AuthError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM runtime_providers WHERE name = ?1"),
                [name],
                row,
            )
            .optional()?)
    }

    fn upsert(&self, r: &ProviderRow) -> Result<(), AuthError> {
        self.conn().execute(
            "INSERT INTO runtime_providers (name, settings, api_key, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(name) DO UPDATE SET settings = ?2, api_key = ?3, updated_ms = ?5",
            params![r.name, r.settings, r.api_key, r.created_ms, r.updated_ms],
        )?;
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<bool, AuthError> {
        let n = self
            .conn()
            .execute("DELETE FROM runtime_providers WHERE name = ?1", [name])?;
        Ok(n > 0)
    }

    fn set_key(&self, name: &str, sealed: &[u8]) -> Result<(), AuthError> {
        self.conn().execute(
            "UPDATE runtime_providers SET api_key = ?1 WHERE name = ?2",
            params![sealed, name],
        )?;
        Ok(())
    }
}
