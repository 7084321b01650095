//! Keys and projects in SQLite: the [`KeyDb`] of the embedded default.
//!
//! Writers take the database's write lock when they begin (`BEGIN IMMEDIATE`), so
//! two processes on one file cannot both read, then both fail to write. The watch
//! reads through a connection of its own: in WAL mode readers never wait for writers.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};

use super::db::{
    CacheColumns, KeyChange, KeyColumns, KeyDb, KeyInsert, KeyTx, KeyWatch, ProjectChange,
    ProjectColumns, keys_version_of,
};
use crate::error::AuthError;
use crate::migrate;

/// The longest a watch read waits on a lock (a checkpoint, a database not in WAL
/// mode): a request for an unknown key waits for one catch-up at most.
const READ_BUSY_TIMEOUT: Duration = Duration::from_millis(250);

/// Keys and projects in one SQLite database, behind one writing connection.
#[derive(Debug)]
pub struct SqliteKeys {
    conn: Mutex<Connection>,
}

impl SqliteKeys {
    /// Opens (creating and migrating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteKeys, AuthError> {
        Ok(SqliteKeys::with_connection(migrate::open(path)?))
    }

    /// A private database in memory (tests, benchmarks).
    pub fn open_in_memory() -> Result<SqliteKeys, AuthError> {
        Ok(SqliteKeys::with_connection(migrate::open_in_memory()?))
    }

    /// Over `conn`, already migrated.
    pub fn with_connection(conn: Connection) -> SqliteKeys {
        SqliteKeys {
            conn: Mutex::new(conn),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // The connection holds no half-done state across a panic: an open transaction
        // is rolled back when it is dropped while unwinding.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KeyDb for SqliteKeys {
    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn KeyTx) -> Result<(), AuthError>,
    ) -> Result<(), AuthError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        f(&mut SqliteTx(&tx))?;
        tx.commit()?;
        Ok(())
    }

    fn read(
        &self,
        f: &mut dyn FnMut(&mut dyn KeyTx) -> Result<(), AuthError>,
    ) -> Result<(), AuthError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        f(&mut SqliteTx(&tx))
    }

    fn watch(&self) -> Result<Option<Box<dyn KeyWatch>>, AuthError> {
        // An in-memory database (path "") has no file to open and no other process
        // to watch.
        let path: Option<std::path::PathBuf> =
            self.lock().path().filter(|p| !p.is_empty()).map(Into::into);
        let Some(path) = path else {
            return Ok(None);
        };
        Ok(Some(Box::new(SqliteWatch::open(&path)?)))
    }
}

/// A transaction's statements.
struct SqliteTx<'c>(&'c Connection);

const KEY_COLUMNS: &str = "id, name, prefix, project_id, policy, disabled, revoked_ms, \
     expires_ms, CASE WHEN old_sha256 IS NULL THEN NULL ELSE old_until_ms END, created_ms, updated_ms";

fn key_columns(r: &Row<'_>) -> rusqlite::Result<KeyColumns> {
    Ok(KeyColumns {
        id: r.get(0)?,
        name: r.get(1)?,
        prefix: r.get(2)?,
        project_id: r.get(3)?,
        policy: r.get(4)?,
        disabled: r.get(5)?,
        revoked_ms: r.get(6)?,
        expires_ms: r.get(7)?,
        previous_secret_until_ms: r.get(8)?,
        created_ms: r.get(9)?,
        updated_ms: r.get(10)?,
    })
}

const PROJECT_COLUMNS: &str = "id, name, policy, created_ms, updated_ms";

fn project_columns(r: &Row<'_>) -> rusqlite::Result<ProjectColumns> {
    Ok(ProjectColumns {
        id: r.get(0)?,
        name: r.get(1)?,
        limits: r.get(2)?,
        created_ms: r.get(3)?,
        updated_ms: r.get(4)?,
    })
}

const CACHE_COLUMNS: &str = "SELECT k.id, k.name, k.secret_sha256, k.old_sha256, k.old_until_ms, \
     k.policy, k.disabled, k.revoked_ms, k.expires_ms, k.project_id, p.name, p.policy \
     FROM keys k LEFT JOIN projects p ON p.id = k.project_id";

fn cache_columns(r: &Row<'_>) -> rusqlite::Result<CacheColumns> {
    let old: Option<Vec<u8>> = r.get(3)?;
    let old_until: Option<i64> = r.get(4)?;
    let project_id: Option<String> = r.get(9)?;
    let project = match project_id {
        // A key whose project row is gone keeps its id and gets empty limits text,
        // which the cache refuses to read: that key alone is skipped.
        Some(id) => Some((
            id,
            r.get::<_, Option<String>>(10)?.unwrap_or_default(),
            r.get::<_, Option<String>>(11)?.unwrap_or_default(),
        )),
        None => None,
    };
    Ok(CacheColumns {
        id: r.get(0)?,
        name: r.get(1)?,
        digest: r.get(2)?,
        old_digest: old.zip(old_until),
        policy: r.get(5)?,
        disabled: r.get(6)?,
        revoked_ms: r.get(7)?,
        expires_ms: r.get(8)?,
        project,
    })
}

fn cache_rows(conn: &Connection, id: Option<&str>) -> Result<Vec<CacheColumns>, AuthError> {
    let rows = match id {
        Some(id) => {
            let mut stmt = conn.prepare_cached(&format!("{CACHE_COLUMNS} WHERE k.id = ?1"))?;
            stmt.query_map([id], cache_columns)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        }
        None => {
            let mut stmt = conn.prepare_cached(&format!("{CACHE_COLUMNS} ORDER BY k.rowid"))?;
            stmt.query_map([], cache_columns)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        }
    };
    Ok(rows)
}

fn keys_version(conn: &Connection) -> Result<i64, AuthError> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE name = 'keys_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    keys_version_of(v)
}

impl KeyTx for SqliteTx<'_> {
    fn key(&mut self, id: &str) -> Result<Option<KeyColumns>, AuthError> {
        Ok(self
            .0
            .query_row(
                &format!("SELECT {KEY_COLUMNS} FROM keys WHERE id = ?1"),
                [id],
                key_columns,
            )
            .optional()?)
    }

    fn keys(&mut self) -> Result<Vec<KeyColumns>, AuthError> {
        let mut stmt = self.0.prepare(&format!(
            "SELECT {KEY_COLUMNS} FROM keys ORDER BY created_ms, rowid"
        ))?;
        let rows = stmt.query_map([], key_columns)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn key_named(&mut self, name: &str) -> Result<Option<String>, AuthError> {
        Ok(self
            .0
            .query_row(
                "SELECT id FROM keys WHERE name = ?1 \
                 ORDER BY revoked_ms IS NULL DESC, created_ms DESC LIMIT 1",
                [name],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn live_key_named(
        &mut self,
        name: &str,
        except: Option<&str>,
    ) -> Result<Option<String>, AuthError> {
        Ok(self
            .0
            .query_row(
                "SELECT id FROM keys WHERE name = ?1 AND revoked_ms IS NULL AND id IS NOT ?2",
                params![name, except],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn secret(&mut self, id: &str) -> Result<Option<(String, [u8; 32])>, AuthError> {
        Ok(self
            .0
            .query_row(
                "SELECT prefix, secret_sha256 FROM keys WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    fn insert_key(&mut self, k: &KeyInsert<'_>) -> Result<(), AuthError> {
        self.0.execute(
            "INSERT INTO keys (id, name, prefix, secret_sha256, project_id, policy, \
             expires_ms, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            params![
                k.id,
                k.name,
                k.prefix,
                k.digest,
                k.project_id,
                k.policy,
                k.expires_ms,
                k.now_ms
            ],
        )?;
        Ok(())
    }

    fn change_key(&mut self, id: &str, change: &KeyChange<'_>) -> Result<(), AuthError> {
        let c = self.0;
        match change {
            KeyChange::Name(name) => {
                c.execute("UPDATE keys SET name = ?2 WHERE id = ?1", params![id, name])
            }
            KeyChange::Project(p) => c.execute(
                "UPDATE keys SET project_id = ?2 WHERE id = ?1",
                params![id, p],
            ),
            KeyChange::Policy(json) => c.execute(
                "UPDATE keys SET policy = ?2 WHERE id = ?1",
                params![id, json],
            ),
            KeyChange::Expires(t) => c.execute(
                "UPDATE keys SET expires_ms = ?2 WHERE id = ?1",
                params![id, t],
            ),
            KeyChange::Disabled(d) => c.execute(
                "UPDATE keys SET disabled = ?2 WHERE id = ?1",
                params![id, d],
            ),
            KeyChange::Revoked(now) => c.execute(
                "UPDATE keys SET revoked_ms = ?2, updated_ms = ?2 \
                 WHERE id = ?1 AND revoked_ms IS NULL",
                params![id, now],
            ),
            KeyChange::Secret {
                prefix,
                digest,
                previous,
            } => c.execute(
                "UPDATE keys SET prefix = ?2, secret_sha256 = ?3, old_sha256 = ?4, \
                 old_until_ms = ?5 WHERE id = ?1",
                params![
                    id,
                    prefix,
                    digest,
                    previous.map(|p| p.0),
                    previous.map(|p| p.1)
                ],
            ),
            KeyChange::Touched(now) => c.execute(
                "UPDATE keys SET updated_ms = ?2 WHERE id = ?1",
                params![id, now],
            ),
        }?;
        Ok(())
    }

    fn project(&mut self, id: &str) -> Result<Option<ProjectColumns>, AuthError> {
        Ok(self
            .0
            .query_row(
                &format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?1"),
                [id],
                project_columns,
            )
            .optional()?)
    }

    fn projects(&mut self) -> Result<Vec<ProjectColumns>, AuthError> {
        let mut stmt = self.0.prepare(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects ORDER BY name"
        ))?;
        let rows = stmt.query_map([], project_columns)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn project_id_or_named(&mut self, id_or_name: &str) -> Result<Option<String>, AuthError> {
        Ok(self
            .0
            .query_row(
                "SELECT id FROM projects WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1",
                [id_or_name],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn project_named(
        &mut self,
        name: &str,
        except: Option<&str>,
    ) -> Result<Option<String>, AuthError> {
        Ok(self
            .0
            .query_row(
                "SELECT id FROM projects WHERE name = ?1 AND id IS NOT ?2",
                params![name, except],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn insert_project(
        &mut self,
        id: &str,
        name: &str,
        limits: &str,
        now_ms: i64,
    ) -> Result<(), AuthError> {
        self.0.execute(
            "INSERT INTO projects (id, name, policy, created_ms, updated_ms) \
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![id, name, limits, now_ms],
        )?;
        Ok(())
    }

    fn change_project(&mut self, id: &str, change: &ProjectChange<'_>) -> Result<(), AuthError> {
        let c = self.0;
        match change {
            ProjectChange::Name(name) => c.execute(
                "UPDATE projects SET name = ?2 WHERE id = ?1",
                params![id, name],
            ),
            ProjectChange::Limits(json) => c.execute(
                "UPDATE projects SET policy = ?2 WHERE id = ?1",
                params![id, json],
            ),
            ProjectChange::Touched(now) => c.execute(
                "UPDATE projects SET updated_ms = ?2 WHERE id = ?1",
                params![id, now],
            ),
        }?;
        Ok(())
    }

    fn cache_rows(&mut self, id: Option<&str>) -> Result<Vec<CacheColumns>, AuthError> {
        cache_rows(self.0, id)
    }

    fn keys_version(&mut self) -> Result<i64, AuthError> {
        keys_version(self.0)
    }

    fn set_keys_version(&mut self, version: i64) -> Result<(), AuthError> {
        self.0.execute(
            "INSERT INTO meta (name, value) VALUES ('keys_version', ?1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [version.to_string()],
        )?;
        Ok(())
    }
}

/// Looks for other connections' commits through `PRAGMA data_version`, which moves
/// with every commit made elsewhere (the usage writer's, mostly), then reads
/// `meta.keys_version` only when it moved.
#[derive(Debug)]
struct SqliteWatch {
    conn: Connection,
    /// `PRAGMA data_version` at the last look; -1 forces a read of the version.
    data_version: i64,
}

impl SqliteWatch {
    fn open(path: &Path) -> Result<SqliteWatch, AuthError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(READ_BUSY_TIMEOUT)?;
        conn.execute_batch("PRAGMA query_only = ON")?;
        let data_version = data_version(&conn)?;
        Ok(SqliteWatch { conn, data_version })
    }
}

fn data_version(conn: &Connection) -> Result<i64, AuthError> {
    Ok(conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
}

impl KeyWatch for SqliteWatch {
    fn version_if_changed(&mut self) -> Result<Option<i64>, AuthError> {
        let dv = data_version(&self.conn)?;
        if dv == self.data_version {
            return Ok(None);
        }
        let version = keys_version(&self.conn)?;
        self.data_version = dv;
        Ok(Some(version))
    }

    fn forget(&mut self) {
        self.data_version = -1;
    }

    fn cache_rows(&mut self) -> Result<Vec<CacheColumns>, AuthError> {
        cache_rows(&self.conn, None)
    }
}
