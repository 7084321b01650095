//! Opening the database: WAL, a busy timeout, foreign keys, and the versioned schema
//! migrations (`PRAGMA user_version` counts the applied ones).

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::AuthError;

/// The migrations, in order; each runs once, in its own transaction.
const MIGRATIONS: &[(&str, &str)] = &[
    ("001_init", include_str!("schema/001_init.sql")),
    (
        "002_request_rows",
        include_str!("schema/002_request_rows.sql"),
    ),
    (
        "003_runtime_providers",
        include_str!("schema/003_runtime_providers.sql"),
    ),
    (
        "004_response_cache_hits",
        include_str!("schema/004_response_cache_hits.sql"),
    ),
    ("005_responses", include_str!("schema/005_responses.sql")),
    (
        "006_request_key_spans",
        include_str!("schema/006_request_key_spans.sql"),
    ),
];

/// Opens (creating if needed) the database at `path` and brings its schema up to date.
pub fn open(path: &Path) -> Result<Connection, AuthError> {
    create_private(path)?;
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Creates the database file readable and writable by its owner only (0600) when it
/// does not exist yet: it holds key digests and, for keys that log them, request and
/// response bodies. SQLite creates the `-wal` and `-shm` files with the same mode.
/// An existing file keeps the mode its owner gave it.
fn create_private(path: &Path) -> Result<(), AuthError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(AuthError::File {
            path: path.to_owned(),
            source,
        }),
    }
}

/// An in-memory database with the schema (tests, benchmarks).
pub fn open_in_memory() -> Result<Connection, AuthError> {
    let mut conn = Connection::open_in_memory()?;
    configure(&conn)?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<(), AuthError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    // `journal_mode` answers with a row; in-memory databases stay in "memory" mode.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), AuthError> {
    let applied: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if applied > MIGRATIONS.len() {
        return Err(AuthError::SchemaTooNew {
            found: applied,
            known: MIGRATIONS.len(),
        });
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .map_err(|e| AuthError::Migration(format!("{name}: {e}")))?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn new_database_files_are_private_to_their_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("pb-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.db");
        let conn = open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        for name in ["keys.db", "keys.db-wal", "keys.db-shm"] {
            let mode = std::fs::metadata(dir.join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{name}: {mode:o}");
        }
        drop(conn);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn migrations_apply_once_and_record_their_version() {
        let dir = std::env::temp_dir().join(format!("pb-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let conn = open(&path).unwrap();
        let v: usize = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len());
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(conn);
        // Reopening applies nothing again (CREATE TABLE would fail if it did).
        open(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let conn = open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let mut conn = conn;
        assert!(matches!(
            migrate(&mut conn),
            Err(AuthError::SchemaTooNew { found: 99, .. })
        ));
    }
}

#[cfg(test)]
mod upgrade_tests;
