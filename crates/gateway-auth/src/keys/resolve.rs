//! The reads every mutation starts from, written once over [`KeyTx`]: records from
//! their stored columns, ids from ids or names, and the checks that need the
//! database (a name already taken, a key already revoked).

use super::db::{KeyColumns, KeyTx, ProjectColumns};
use super::format::KeyStyle;
use super::types::{KeyRecord, ProjectRecord};
use super::validate::invalid;
use crate::error::AuthError;

pub(super) fn key_from(c: KeyColumns) -> Result<KeyRecord, AuthError> {
    Ok(KeyRecord {
        style: KeyStyle::of_prefix(&c.prefix),
        policy: serde_json::from_str(&c.policy)?,
        id: c.id,
        name: c.name,
        prefix: c.prefix,
        project_id: c.project_id,
        disabled: c.disabled,
        revoked_ms: c.revoked_ms,
        expires_ms: c.expires_ms,
        previous_secret_until_ms: c.previous_secret_until_ms,
        created_ms: c.created_ms,
        updated_ms: c.updated_ms,
    })
}

pub(super) fn project_from(c: ProjectColumns) -> Result<ProjectRecord, AuthError> {
    Ok(ProjectRecord {
        limits: serde_json::from_str(&c.limits)?,
        id: c.id,
        name: c.name,
        created_ms: c.created_ms,
        updated_ms: c.updated_ms,
    })
}

fn not_found(what: &'static str, id: &str) -> AuthError {
    AuthError::NotFound {
        what,
        id: id.to_owned(),
    }
}

/// The key with this id, which the caller knows exists.
pub(super) fn key_record(tx: &mut dyn KeyTx, id: &str) -> Result<KeyRecord, AuthError> {
    key_from(tx.key(id)?.ok_or_else(|| not_found("key", id))?)
}

/// The project with this id, which the caller knows exists.
pub(super) fn project_record(tx: &mut dyn KeyTx, id: &str) -> Result<ProjectRecord, AuthError> {
    project_from(tx.project(id)?.ok_or_else(|| not_found("project", id))?)
}

/// The id of the key named by `id_or_name`: an id first, then the live key of that
/// name, then the newest revoked one.
pub(super) fn resolve_key(tx: &mut dyn KeyTx, id_or_name: &str) -> Result<String, AuthError> {
    if let Some(key) = tx.key(id_or_name)? {
        return Ok(key.id);
    }
    tx.key_named(id_or_name)?
        .ok_or_else(|| not_found("key", id_or_name))
}

/// As [`resolve_key`], refusing revoked keys (they cannot change any more).
pub(super) fn live_key(tx: &mut dyn KeyTx, id_or_name: &str) -> Result<String, AuthError> {
    let id = resolve_key(tx, id_or_name)?;
    let revoked = tx.key(&id)?.and_then(|k| k.revoked_ms);
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
    tx: &mut dyn KeyTx,
    id_or_name: &str,
    field: &str,
) -> Result<String, AuthError> {
    tx.project_id_or_named(id_or_name)?.ok_or_else(|| {
        if field.is_empty() {
            not_found("project", id_or_name)
        } else {
            invalid(field, format!("no project `{id_or_name}`"))
        }
    })
}

/// Refuses `name` when a live key other than `except` has it.
pub(super) fn name_free(
    tx: &mut dyn KeyTx,
    name: &str,
    except: Option<&str>,
) -> Result<(), AuthError> {
    match tx.live_key_named(name, except)? {
        Some(id) => Err(invalid(
            "name",
            format!("key {id} is already called `{name}`"),
        )),
        None => Ok(()),
    }
}

/// Refuses `name` when a project other than `except` has it.
pub(super) fn project_name_free(
    tx: &mut dyn KeyTx,
    name: &str,
    except: Option<&str>,
) -> Result<(), AuthError> {
    match tx.project_named(name, except)? {
        Some(id) => Err(invalid(
            "name",
            format!("project {id} is already called `{name}`"),
        )),
        None => Ok(()),
    }
}
