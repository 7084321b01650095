//! The database under a [`KeyStore`](super::KeyStore), as a trait with two
//! implementations: SQLite ([`super::sqlite::SqliteKeys`], this crate) and PostgreSQL
//! (the `gateway-postgres` crate).
//!
//! A backend supplies transactions and the few statements inside them; everything
//! that decides (validation, name and id resolution, rotation, what a change means for
//! the cache) is written once, in [`KeyStore`](super::KeyStore), so both backends
//! behave the same by construction and the same tests hold both to it.
//!
//! The trait is synchronous: its callers are already off the async workers (admin
//! handlers run it in blocking tasks, the CLI has no runtime, catch-ups have a thread
//! of their own). A backend with an async driver drives it from there.

use std::fmt::Debug;
use std::sync::Arc;

use crate::error::AuthError;

/// A key's columns, as stored (the policy still JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyColumns {
    /// The public id.
    pub id: String,
    /// The name.
    pub name: String,
    /// The display prefix.
    pub prefix: String,
    /// The project's id.
    pub project_id: Option<String>,
    /// The policy, JSON.
    pub policy: String,
    /// Disabled by an operator.
    pub disabled: bool,
    /// When it was revoked (Unix ms).
    pub revoked_ms: Option<i64>,
    /// When it expires (Unix ms).
    pub expires_ms: Option<i64>,
    /// The end of the previous secret's grace, when there is a previous secret.
    pub previous_secret_until_ms: Option<i64>,
    /// Created (Unix ms).
    pub created_ms: i64,
    /// Last changed (Unix ms).
    pub updated_ms: i64,
}

/// A project's columns, as stored (the limits still JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectColumns {
    /// The public id.
    pub id: String,
    /// The name.
    pub name: String,
    /// The limits, JSON.
    pub limits: String,
    /// Created (Unix ms).
    pub created_ms: i64,
    /// Last changed (Unix ms).
    pub updated_ms: i64,
}

/// What the key cache needs of a key: its secrets' digests, its state and policy, and
/// its project's name and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheColumns {
    /// The public id.
    pub id: String,
    /// The name.
    pub name: String,
    /// SHA-256 of the current secret.
    pub digest: Vec<u8>,
    /// SHA-256 of the previous secret during a rotation's grace, and its end.
    pub old_digest: Option<(Vec<u8>, i64)>,
    /// The policy, JSON.
    pub policy: String,
    /// Disabled by an operator.
    pub disabled: bool,
    /// When it was revoked (Unix ms).
    pub revoked_ms: Option<i64>,
    /// When it expires (Unix ms).
    pub expires_ms: Option<i64>,
    /// The project: id, name and limits (JSON).
    pub project: Option<(String, String, String)>,
}

/// A key to insert: its id and secret are already made.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInsert<'a> {
    /// The public id.
    pub id: &'a str,
    /// The name.
    pub name: &'a str,
    /// The display prefix.
    pub prefix: &'a str,
    /// SHA-256 of the whole secret.
    pub digest: &'a [u8; 32],
    /// The project's id (already resolved).
    pub project_id: Option<&'a str>,
    /// The policy, JSON.
    pub policy: &'a str,
    /// When it expires (Unix ms).
    pub expires_ms: Option<i64>,
    /// Now (Unix ms): created and last changed.
    pub now_ms: i64,
}

/// One change to a key row.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyChange<'a> {
    /// A new name.
    Name(&'a str),
    /// Into a project (its id) or out of one.
    Project(Option<&'a str>),
    /// A new policy, JSON.
    Policy(&'a str),
    /// A new expiry (Unix ms) or none.
    Expires(Option<i64>),
    /// Disabled or enabled.
    Disabled(bool),
    /// Revoked at this time, unless revoked already; also sets `updated_ms`.
    Revoked(i64),
    /// A new secret; the old one's digest and grace end when it keeps working.
    Secret {
        /// The new display prefix.
        prefix: &'a str,
        /// SHA-256 of the new secret.
        digest: &'a [u8; 32],
        /// SHA-256 of the replaced secret and the end of its grace.
        previous: Option<(&'a [u8; 32], i64)>,
    },
    /// Last changed at this time.
    Touched(i64),
}

/// One change to a project row.
#[derive(Debug, Clone, PartialEq)]
pub enum ProjectChange<'a> {
    /// A new name.
    Name(&'a str),
    /// New limits, JSON.
    Limits(&'a str),
    /// Last changed at this time.
    Touched(i64),
}

/// The statements of one transaction. Reads see the transaction's own writes.
pub trait KeyTx {
    /// The key with this exact id.
    fn key(&mut self, id: &str) -> Result<Option<KeyColumns>, AuthError>;
    /// Every key, oldest first (by creation, then insertion).
    fn keys(&mut self) -> Result<Vec<KeyColumns>, AuthError>;
    /// The key called `name`: the one not revoked, else the newest revoked one.
    fn key_named(&mut self, name: &str) -> Result<Option<String>, AuthError>;
    /// A key not revoked, other than `except`, already called `name`.
    fn live_key_named(
        &mut self,
        name: &str,
        except: Option<&str>,
    ) -> Result<Option<String>, AuthError>;
    /// The display prefix and digest of a key's current secret.
    fn secret(&mut self, id: &str) -> Result<Option<(String, [u8; 32])>, AuthError>;
    /// Inserts a key.
    fn insert_key(&mut self, key: &KeyInsert<'_>) -> Result<(), AuthError>;
    /// Changes a key.
    fn change_key(&mut self, id: &str, change: &KeyChange<'_>) -> Result<(), AuthError>;

    /// The project with this exact id.
    fn project(&mut self, id: &str) -> Result<Option<ProjectColumns>, AuthError>;
    /// Every project, by name.
    fn projects(&mut self) -> Result<Vec<ProjectColumns>, AuthError>;
    /// The id of the project with this id or, failing that, this name.
    fn project_id_or_named(&mut self, id_or_name: &str) -> Result<Option<String>, AuthError>;
    /// A project other than `except` already called `name`.
    fn project_named(
        &mut self,
        name: &str,
        except: Option<&str>,
    ) -> Result<Option<String>, AuthError>;
    /// Inserts a project.
    fn insert_project(
        &mut self,
        id: &str,
        name: &str,
        limits: &str,
        now_ms: i64,
    ) -> Result<(), AuthError>;
    /// Changes a project.
    fn change_project(&mut self, id: &str, change: &ProjectChange<'_>) -> Result<(), AuthError>;

    /// What the cache needs of every key (`None`) or of one.
    fn cache_rows(&mut self, id: Option<&str>) -> Result<Vec<CacheColumns>, AuthError>;
    /// How many key and project changes the database has seen.
    fn keys_version(&mut self) -> Result<i64, AuthError>;
    /// Records that count.
    fn set_keys_version(&mut self, version: i64) -> Result<(), AuthError>;
}

/// `meta.keys_version` as stored (text; none yet: 0).
pub fn keys_version_of(stored: Option<String>) -> Result<i64, AuthError> {
    stored.map_or(Ok(0), |v| {
        v.parse()
            .map_err(|_| AuthError::Migration(format!("meta.keys_version is `{v}`, not a number")))
    })
}

/// A database of keys and projects.
pub trait KeyDb: Send + Sync + Debug {
    /// Runs `f` in a transaction that excludes every other writer of keys and
    /// projects, in this process and in others, until it ends (so two writers cannot
    /// both check a name is free, then both take it). Commits when `f` returns `Ok`,
    /// rolls back otherwise.
    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn KeyTx) -> Result<(), AuthError>,
    ) -> Result<(), AuthError>;

    /// Runs `f` over one consistent snapshot, writing nothing.
    fn read(
        &self,
        f: &mut dyn FnMut(&mut dyn KeyTx) -> Result<(), AuthError>,
    ) -> Result<(), AuthError>;

    /// A watch for changes made by other processes, reading through a connection of
    /// its own; `None` when nothing else can change this database (SQLite in memory).
    fn watch(&self) -> Result<Option<Box<dyn KeyWatch>>, AuthError>;

    /// Calls `wake` whenever another process may have changed keys, when the
    /// database can tell (PostgreSQL's `NOTIFY`), so the store catches up at once
    /// rather than at its next look. The default tells nothing: the looks alone.
    fn on_change(&self, wake: Arc<dyn Fn() + Send + Sync>) -> Result<(), AuthError> {
        drop(wake);
        Ok(())
    }
}

/// Looks for key changes made elsewhere, without waiting behind writers.
pub trait KeyWatch: Send + Debug {
    /// `meta.keys_version` now, or `None` when a cheap check shows nothing was
    /// committed since the last call (a backend without one returns the version).
    fn version_if_changed(&mut self) -> Result<Option<i64>, AuthError>;
    /// Forgets what the cheap check saw, so the next call reads the version.
    fn forget(&mut self);
    /// What the cache needs of every key.
    fn cache_rows(&mut self) -> Result<Vec<CacheColumns>, AuthError>;
}
