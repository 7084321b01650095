//! Stored responses in SQLite (`responses`, migration 004).

use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::db::{ResponseDb, ResponseRow};
use crate::error::AuthError;

/// Stored responses in one SQLite database, behind one connection.
pub struct SqliteResponses {
    conn: Mutex<Connection>,
}

impl SqliteResponses {
    /// Over `conn`, already migrated.
    pub fn new(conn: Connection) -> SqliteResponses {
        SqliteResponses {
            conn: Mutex::new(conn),
        }
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

const COLUMNS: &str = "id, key_id, project_id, created_ms, model, status, \
                       input_items, turns, response, input_tokens, output_tokens";

fn row(r: &Row<'_>) -> rusqlite::Result<ResponseRow> {
    Ok(ResponseRow {
        id: r.get(0)?,
        key_id: r.get(1)?,
        project_id: r.get(2)?,
        created_ms: r.get(3)?,
        model: r.get(4)?,
        status: r.get(5)?,
        input_items: r.get(6)?,
        turns: r.get(7)?,
        response: r.get(8)?,
        input_tokens: r.get(9)?,
        output_tokens: r.get(10)?,
    })
}

impl ResponseDb for SqliteResponses {
    fn put(&self, r: &ResponseRow) -> Result<(), AuthError> {
        self.conn().execute(
            &format!(
                "INSERT OR REPLACE INTO responses ({COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            params![
                r.id,
                r.key_id,
                r.project_id,
                r.created_ms,
                r.model,
                r.status,
                r.input_items,
                r.turns,
                r.response,
                r.input_tokens,
                r.output_tokens
            ],
        )?;
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<ResponseRow>, AuthError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM responses WHERE id = ?1"),
                [id],
                row,
            )
            .optional()?)
    }

    fn delete(&self, id: &str) -> Result<bool, AuthError> {
        let n = self
            .conn()
            .execute("DELETE FROM responses WHERE id = ?1", [id])?;
        Ok(n > 0)
    }

    fn purge(&self, before_ms: i64) -> Result<u64, AuthError> {
        let n = self
            .conn()
            .execute("DELETE FROM responses WHERE created_ms < ?1", [before_ms])?;
        Ok(n as u64)
    }
}
