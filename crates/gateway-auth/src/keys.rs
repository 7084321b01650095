//! Virtual keys and projects in SQLite: create, list, show, update, disable/enable,
//! revoke and rotate, each refreshing the in-memory [`KeyCache`] before it returns.
//!
//! A key reads `<style prefix><public id>_<secret>` (`pbk_`, or `sk-` / `sk-ant-` for
//! tools that check the format). The public id names the key in logs and the UI; the
//! database keeps only the SHA-256 of the whole key and a short display prefix. The
//! plaintext is returned once, by [`KeyStore::create`] and [`KeyStore::rotate`].
//!
//! Every mutation bumps `meta.keys_version` in its own transaction. That counter is
//! how [`KeyStore::refresh_if_changed`] tells a key change made by another process
//! from the usage writer's constant commits (both move `PRAGMA data_version`). Those
//! checks read through a connection of their own ([`CatchUp`]), so they never wait
//! behind a mutation waiting on another process's write lock.

pub(crate) mod format;
mod sql;
mod types;
mod validate;
mod watch;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};

use crate::cache::{Entry, KeyCache, Refusal, now_ms};
use crate::error::AuthError;
use crate::migrate;
use crate::policy::KeyPolicy;

pub use format::{KeyStyle, digest};
use sql::{
    KEY_COLUMNS, OptionalRecord, key_record, keys_version, live_key, name_free, project_from_row,
    project_name_free, project_record, record_from_row, resolve_exact_key, resolve_key,
    resolve_project, touch,
};
pub use types::{KeyRecord, KeyState, KeyUpdate, NewKey, NewProject, ProjectRecord, ProjectUpdate};
use validate::invalid;
pub use validate::parse_json;
pub use watch::{CATCH_UP_GAP, CatchUp};
use watch::{Runner, Watch, Watched};

/// The key and project store: a writing connection behind a mutex (the crate is
/// synchronous; the server calls it from blocking tasks), the [`KeyCache`] the hot
/// path reads, and a read connection that catches the cache up with other
/// processes' changes.
#[derive(Debug)]
pub struct KeyStore {
    conn: Mutex<Connection>,
    watched: Arc<Watched>,
    runner: Runner,
    /// Whether there is a file another process could change (not in memory).
    shared_file: bool,
    defaults: KeyPolicy,
}

/// What a mutation changed, so the cache reloads no more than that.
enum Changed {
    /// Nothing the cache holds (a new project has no keys yet).
    Nothing,
    /// One key.
    Key(String),
    /// Possibly many keys (a project's limits).
    All,
}

impl KeyStore {
    /// Opens (creating and migrating if needed) the database at `path`. New keys
    /// without a policy get `defaults`.
    pub fn open(path: &Path, defaults: KeyPolicy) -> Result<KeyStore, AuthError> {
        KeyStore::with_connection(migrate::open(path)?, defaults)
    }

    /// A store in memory (tests, benchmarks).
    pub fn open_in_memory(defaults: KeyPolicy) -> Result<KeyStore, AuthError> {
        KeyStore::with_connection(migrate::open_in_memory()?, defaults)
    }

    /// A store over `conn`, already migrated, loading every key into the cache.
    pub fn with_connection(conn: Connection, defaults: KeyPolicy) -> Result<KeyStore, AuthError> {
        validate::policy("defaults", &defaults)?;
        let cache = Arc::new(KeyCache::new());
        let seen_version = keys_version(&conn)?;
        // The watch's read connection opens the same file; an in-memory database
        // (path "") has none to open and no other process to watch.
        let path = conn.path().filter(|p| !p.is_empty()).map(Path::new);
        let watch = Watch::open(path, seen_version)?;
        let shared_file = watch.watches();
        cache.reload(&conn)?;
        let watched = Arc::new(Watched {
            watch: Mutex::new(watch),
            cache,
        });
        Ok(KeyStore {
            conn: Mutex::new(conn),
            runner: Runner::new(Arc::clone(&watched)),
            watched,
            shared_file,
            defaults,
        })
    }

    /// The cache the hot path authenticates against; it stays current as long as
    /// the store lives and [`KeyStore::refresh_if_changed`] (or [`KeyStore::catch_up`])
    /// is called now and then.
    pub fn cache(&self) -> &Arc<KeyCache> {
        &self.watched.cache
    }

    /// The cache's answer for `presented`; a key it does not know is looked for once
    /// more after catching up with other processes' changes, so a key made by the
    /// CLI works at once. Blocking (it may read the database): for synchronous
    /// callers. Async ones ask the cache, then await [`KeyStore::catch_up`], as
    /// [`KeyLayer`](crate::KeyLayer) does.
    pub fn authenticate(&self, presented: &str) -> Result<Arc<Entry>, Refusal> {
        match self.cache().authenticate(presented) {
            Err(Refusal::Unknown) if matches!(self.refresh_if_changed(), Ok(true)) => {
                self.cache().authenticate(presented)
            }
            other => other,
        }
    }

    /// Asks for a catch-up with other processes' key changes on the store's own
    /// thread and returns its wait, which any runtime can await; `None` for an
    /// in-memory database, which nothing else can change. Requests made while a
    /// catch-up runs share the next one: many unknown keys cost one catch-up at a
    /// time. A catch-up reads through its own connection and never waits behind a
    /// writer (in WAL mode readers do not; its busy timeout is 250 ms).
    pub fn catch_up(&self) -> Option<CatchUp> {
        self.shared_file.then(|| self.runner.request())
    }

    /// How many catch-ups [`KeyStore::catch_up`] has run so far (tests, metrics).
    pub fn catch_ups(&self) -> u64 {
        self.runner.runs()
    }

    /// The policy new keys get when they name none.
    pub fn defaults(&self) -> &KeyPolicy {
        &self.defaults
    }

    /// Creates a key; returns it and its plaintext, which is not kept and cannot be
    /// shown again.
    pub fn create(&self, new: NewKey) -> Result<(KeyRecord, String), AuthError> {
        validate::name("name", &new.name)?;
        let policy = new.policy.unwrap_or_else(|| self.defaults.clone());
        validate::policy("policy", &policy)?;
        let policy_json = serde_json::to_string(&policy)?;
        self.mutate(|tx, now| {
            validate::expiry("expires_ms", new.expires_ms, now)?;
            name_free(tx, &new.name, None)?;
            let project = new
                .project
                .as_deref()
                .map(|p| resolve_project(tx, p, "project"))
                .transpose()?;
            let id = loop {
                let id = format::new_key_id()?;
                if resolve_exact_key(tx, &id)?.is_none() {
                    break id;
                }
            };
            let key = format::generate(new.style, &id)?;
            tx.execute(
                "INSERT INTO keys (id, name, prefix, secret_sha256, project_id, policy, \
                 expires_ms, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                params![
                    id,
                    new.name,
                    key.display,
                    key.digest,
                    project,
                    policy_json,
                    new.expires_ms,
                    now
                ],
            )?;
            let record = key_record(tx, &id)?;
            Ok(((record, key.plaintext), Changed::Key(id)))
        })
    }

    /// Every key, oldest first (revoked ones included).
    pub fn list(&self) -> Result<Vec<KeyRecord>, AuthError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {KEY_COLUMNS} FROM keys ORDER BY created_ms, rowid"
        ))?;
        let rows = stmt.query_map([], |r| Ok(record_from_row(r)))?;
        rows.map(|r| r?).collect()
    }

    /// The key with this public id or, failing that, this name (the live key of
    /// that name, else the newest revoked one).
    pub fn get(&self, id_or_name: &str) -> Result<KeyRecord, AuthError> {
        let conn = self.lock();
        let id = resolve_key(&conn, id_or_name)?;
        key_record(&conn, &id)
    }

    /// Changes a key's name, project, policy or expiry. Revoked keys cannot change.
    pub fn update(&self, id_or_name: &str, update: KeyUpdate) -> Result<KeyRecord, AuthError> {
        if let Some(name) = &update.name {
            validate::name("name", name)?;
        }
        let policy_json = match &update.policy {
            Some(p) => {
                validate::policy("policy", p)?;
                Some(serde_json::to_string(p)?)
            }
            None => None,
        };
        self.mutate(|tx, now| {
            let id = live_key(tx, id_or_name)?;
            if let Some(name) = &update.name {
                name_free(tx, name, Some(&id))?;
                tx.execute("UPDATE keys SET name = ?2 WHERE id = ?1", params![id, name])?;
            }
            if let Some(project) = &update.project {
                let project = project
                    .as_deref()
                    .map(|p| resolve_project(tx, p, "project"))
                    .transpose()?;
                tx.execute(
                    "UPDATE keys SET project_id = ?2 WHERE id = ?1",
                    params![id, project],
                )?;
            }
            if let Some(json) = &policy_json {
                tx.execute(
                    "UPDATE keys SET policy = ?2 WHERE id = ?1",
                    params![id, json],
                )?;
            }
            if let Some(expires) = update.expires_ms {
                validate::expiry("expires_ms", expires, now)?;
                tx.execute(
                    "UPDATE keys SET expires_ms = ?2 WHERE id = ?1",
                    params![id, expires],
                )?;
            }
            touch(tx, &id, now)?;
            Ok((key_record(tx, &id)?, Changed::Key(id)))
        })
    }

    /// Disables (`true`) or enables (`false`) a key. Revoked keys stay revoked.
    pub fn set_disabled(&self, id_or_name: &str, disabled: bool) -> Result<KeyRecord, AuthError> {
        self.mutate(|tx, now| {
            let id = live_key(tx, id_or_name)?;
            tx.execute(
                "UPDATE keys SET disabled = ?2 WHERE id = ?1",
                params![id, disabled],
            )?;
            touch(tx, &id, now)?;
            Ok((key_record(tx, &id)?, Changed::Key(id)))
        })
    }

    /// Revokes a key for good, its grace-period secret too. The next request with
    /// it is refused, in this process at once, in others at their next refresh.
    /// Revoking a revoked key changes nothing.
    pub fn revoke(&self, id_or_name: &str) -> Result<KeyRecord, AuthError> {
        self.mutate(|tx, now| {
            let id = resolve_key(tx, id_or_name)?;
            tx.execute(
                "UPDATE keys SET revoked_ms = ?2, updated_ms = ?2 \
                 WHERE id = ?1 AND revoked_ms IS NULL",
                params![id, now],
            )?;
            Ok((key_record(tx, &id)?, Changed::Key(id)))
        })
    }

    /// Gives a key a new secret and returns it with its plaintext. The old secret
    /// keeps working for `grace` (zero: it stops at once); a second rotation ends
    /// the first one's grace.
    pub fn rotate(
        &self,
        id_or_name: &str,
        grace: Duration,
    ) -> Result<(KeyRecord, String), AuthError> {
        let grace_ms =
            i64::try_from(grace.as_millis()).map_err(|_| invalid("grace", "too long"))?;
        self.mutate(|tx, now| {
            let id = live_key(tx, id_or_name)?;
            let (display, old): (String, [u8; 32]) = tx.query_row(
                "SELECT prefix, secret_sha256 FROM keys WHERE id = ?1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let key = format::generate(KeyStyle::of_prefix(&display), &id)?;
            let (old, until) = if grace_ms > 0 {
                let until = now
                    .checked_add(grace_ms)
                    .ok_or_else(|| invalid("grace", "too long"))?;
                (Some(old), Some(until))
            } else {
                (None, None)
            };
            tx.execute(
                "UPDATE keys SET prefix = ?2, secret_sha256 = ?3, old_sha256 = ?4, \
                 old_until_ms = ?5 WHERE id = ?1",
                params![id, key.display, key.digest, old, until],
            )?;
            touch(tx, &id, now)?;
            Ok(((key_record(tx, &id)?, key.plaintext), Changed::Key(id)))
        })
    }

    /// Creates a project.
    pub fn create_project(&self, new: NewProject) -> Result<ProjectRecord, AuthError> {
        validate::name("name", &new.name)?;
        validate::limits("limits", &new.limits)?;
        let limits = serde_json::to_string(&new.limits)?;
        self.mutate(|tx, now| {
            project_name_free(tx, &new.name, None)?;
            let id = loop {
                let id = format::new_project_id()?;
                if project_record(tx, &id).optional()?.is_none() {
                    break id;
                }
            };
            tx.execute(
                "INSERT INTO projects (id, name, policy, created_ms, updated_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![id, new.name, limits, now],
            )?;
            // No key belongs to a new project: the cache has nothing to learn.
            Ok((project_record(tx, &id)?, Changed::Nothing))
        })
    }

    /// Every project, by name.
    pub fn list_projects(&self) -> Result<Vec<ProjectRecord>, AuthError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, name, policy, created_ms, updated_ms FROM projects ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| Ok(project_from_row(r)))?;
        rows.map(|r| r?).collect()
    }

    /// The project with this id or name.
    pub fn get_project(&self, id_or_name: &str) -> Result<ProjectRecord, AuthError> {
        let conn = self.lock();
        let id = resolve_project(&conn, id_or_name, "")?;
        project_record(&conn, &id)
    }

    /// Renames a project or replaces its limits; its keys see the new limits on
    /// their next request.
    pub fn update_project(
        &self,
        id_or_name: &str,
        update: ProjectUpdate,
    ) -> Result<ProjectRecord, AuthError> {
        if let Some(name) = &update.name {
            validate::name("name", name)?;
        }
        let limits = match &update.limits {
            Some(l) => {
                validate::limits("limits", l)?;
                Some(serde_json::to_string(l)?)
            }
            None => None,
        };
        self.mutate(|tx, now| {
            let id = resolve_project(tx, id_or_name, "")?;
            if let Some(name) = &update.name {
                project_name_free(tx, name, Some(&id))?;
                tx.execute(
                    "UPDATE projects SET name = ?2 WHERE id = ?1",
                    params![id, name],
                )?;
            }
            if let Some(json) = &limits {
                tx.execute(
                    "UPDATE projects SET policy = ?2 WHERE id = ?1",
                    params![id, json],
                )?;
            }
            tx.execute(
                "UPDATE projects SET updated_ms = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            Ok((project_record(tx, &id)?, Changed::All))
        })
    }

    /// Reloads the cache when another connection (the CLI, another server) changed
    /// keys or projects since the last look; returns whether it did. Cheap when
    /// nothing changed (`PRAGMA data_version`, then at most one `meta` read), so the
    /// server calls it about once a second: that second bounds how long a key
    /// revoked by another process keeps working here.
    pub fn refresh_if_changed(&self) -> Result<bool, AuthError> {
        self.watched.refresh()
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // The connection holds no half-done state across a panic: an open transaction
        // is rolled back when it is dropped while unwinding.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in an immediate transaction (it takes the write lock at once, so two
    /// processes cannot both read, then both fail to write), bumps `keys_version`,
    /// commits, then brings the cache up to date before returning.
    fn mutate<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, i64) -> Result<(T, Changed), AuthError>,
    ) -> Result<T, AuthError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let before = keys_version(&tx)?;
        let (out, changed) = f(&tx, now_ms())?;
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ('keys_version', ?1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [(before + 1).to_string()],
        )?;
        tx.commit()?;
        // The cache is written under the watch's lock only, so a catch-up reading an
        // older snapshot cannot undo this patch: it ends before, or starts after.
        let mut watch = self.watched.lock();
        let cache = &self.watched.cache;
        // The key changed here is patched first: `reload_key` removes the key's
        // entries if it fails, so a revoke can never be left working.
        let patched = match &changed {
            Changed::Nothing | Changed::All => Ok(()),
            Changed::Key(id) => cache.reload_key(&conn, id),
        };
        // Someone else changed keys the cache has not seen (or a patch failed):
        // patching ours alone would leave theirs out, so reload everything.
        if watch.seen_version < before || matches!(changed, Changed::All) || patched.is_err() {
            if let Err(e) = cache.reload(&conn) {
                // Leave `seen_version` behind and forget `data_version`, so the next
                // `refresh_if_changed` tries the reload again.
                watch.data_version = -1;
                return Err(e);
            }
        }
        // A catch-up may already have seen this commit, or a later one.
        watch.seen_version = watch.seen_version.max(before + 1);
        Ok(out)
    }
}
