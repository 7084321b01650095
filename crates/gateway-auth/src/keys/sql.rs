//! The SQL behind the store: reading records, resolving ids and names, the checks
//! that need the database, and the version counters the cache refresh compares.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::format::KeyStyle;
use super::types::{KeyRecord, ProjectRecord};
use super::validate::invalid;
use crate::error::AuthError;

pub(super) const KEY_COLUMNS: &str = "id, name, prefix, project_id, policy, disabled, revoked_ms, \
     expires_ms, CASE WHEN old_sha256 IS NULL THEN NULL ELSE old_until_ms END, created_ms, updated_ms";

pub(super) fn record_from_row(r: &Row<'_>) -> Result<KeyRecord, AuthError> {
    let prefix: String = r.get(2)?;
    Ok(KeyRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        style: KeyStyle::of_prefix(&prefix),
        prefix,
        project_id: r.get(3)?,
        policy: serde_json::from_str(&r.get::<_, String>(4)?)?,
        disabled: r.get(5)?,
        revoked_ms: r.get(6)?,
        expires_ms: r.get(7)?,
        previous_secret_until_ms: r.get(8)?,
        created_ms: r.get(9)?,
        updated_ms: r.get(10)?,
    })
}

pub(super) fn key_record(conn: &Connection, id: &str) -> Result<KeyRecord, AuthError> {
    conn.query_row(
        &format!("SELECT {KEY_COLUMNS} FROM keys WHERE id = ?1"),
        [id],
        |r| Ok(record_from_row(r)),
    )?
}

pub(super) fn project_from_row(r: &Row<'_>) -> Result<ProjectRecord, AuthError> {
    Ok(ProjectRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        limits: serde_json::from_str(&r.get::<_, String>(2)?)?,
        created_ms: r.get(3)?,
        updated_ms: r.get(4)?,
    })
}

pub(super) fn project_record(conn: &Connection, id: &str) -> Result<ProjectRecord, AuthError> {
    conn.query_row(
        "SELECT id, name, policy, created_ms, updated_ms FROM projects WHERE id = ?1",
        [id],
        |r| Ok(project_from_row(r)),
    )?
}

/// Lets `project_record(..).optional()` tell "no such row" from a real failure.
pub(super) trait OptionalRecord<T> {
    fn optional(self) -> Result<Option<T>, AuthError>;
}

impl<T> OptionalRecord<T> for Result<T, AuthError> {
    fn optional(self) -> Result<Option<T>, AuthError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(AuthError::Db(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

pub(super) fn resolve_exact_key(conn: &Connection, id: &str) -> Result<Option<String>, AuthError> {
    Ok(conn
        .query_row("SELECT id FROM keys WHERE id = ?1", [id], |r| r.get(0))
        .optional()?)
}

/// The id of the key named by `id_or_name`: an id first, then the live key of that
/// name, then the newest revoked one.
pub(super) fn resolve_key(conn: &Connection, id_or_name: &str) -> Result<String, AuthError> {
    if let Some(id) = resolve_exact_key(conn, id_or_name)? {
        return Ok(id);
    }
    conn.query_row(
        "SELECT id FROM keys WHERE name = ?1 \
         ORDER BY revoked_ms IS NULL DESC, created_ms DESC LIMIT 1",
        [id_or_name],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| AuthError::NotFound {
        what: "key",
        id: id_or_name.to_owned(),
    })
}

/// As [`resolve_key`], refusing revoked keys (they cannot change any more).
pub(super) fn live_key(conn: &Connection, id_or_name: &str) -> Result<String, AuthError> {
    let id = resolve_key(conn, id_or_name)?;
    let revoked: Option<i64> =
        conn.query_row("SELECT revoked_ms FROM keys WHERE id = ?1", [&id], |r| {
            r.get(0)
        })?;
    if revoked.is_some() {
        return Err(invalid(
            "key",
            format!("key {id} is revoked and cannot change; create a new key"),
        ));
    }
    Ok(id)
}

/// The id of the project named by `id_or_name`. `field` set: the project was given
/// as a field of some input, so a miss is that field's error.
pub(super) fn resolve_project(
    conn: &Connection,
    id_or_name: &str,
    field: &str,
) -> Result<String, AuthError> {
    let found = conn
        .query_row(
            "SELECT id FROM projects WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1",
            [id_or_name],
            |r| r.get(0),
        )
        .optional()?;
    found.ok_or_else(|| {
        if field.is_empty() {
            AuthError::NotFound {
                what: "project",
                id: id_or_name.to_owned(),
            }
        } else {
            invalid(field, format!("no project `{id_or_name}`"))
        }
    })
}

pub(super) fn name_free(
    conn: &Connection,
    name: &str,
    except: Option<&str>,
) -> Result<(), AuthError> {
    let taken: Option<String> = conn
        .query_row(
            "SELECT id FROM keys WHERE name = ?1 AND revoked_ms IS NULL AND id IS NOT ?2",
            params![name, except],
            |r| r.get(0),
        )
        .optional()?;
    match taken {
        Some(id) => Err(invalid(
            "name",
            format!("key {id} is already called `{name}`"),
        )),
        None => Ok(()),
    }
}

pub(super) fn project_name_free(
    conn: &Connection,
    name: &str,
    except: Option<&str>,
) -> Result<(), AuthError> {
    let taken: Option<String> = conn
        .query_row(
            "SELECT id FROM projects WHERE name = ?1 AND id IS NOT ?2",
            params![name, except],
            |r| r.get(0),
        )
        .optional()?;
    match taken {
        Some(id) => Err(invalid(
            "name",
            format!("project {id} is already called `{name}`"),
        )),
        None => Ok(()),
    }
}

pub(super) fn touch(conn: &Connection, id: &str, now: i64) -> Result<(), AuthError> {
    conn.execute(
        "UPDATE keys SET updated_ms = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

pub(super) fn data_version(conn: &Connection) -> Result<i64, AuthError> {
    Ok(conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
}

/// `meta.keys_version`: how many key and project changes the database has seen.
pub(super) fn keys_version(conn: &Connection) -> Result<i64, AuthError> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE name = 'keys_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    v.map_or(Ok(0), |v| {
        v.parse()
            .map_err(|_| AuthError::Migration(format!("meta.keys_version is `{v}`, not a number")))
    })
}
