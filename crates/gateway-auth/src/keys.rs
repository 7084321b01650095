//! Virtual keys and projects: create, list, show, update, disable/enable, revoke and
//! rotate, each refreshing the in-memory [`KeyCache`] before it returns. The rules
//! live here once; the database is a [`KeyDb`] (SQLite here, PostgreSQL in the
//! `gateway-postgres` crate).
//!
//! A key reads `<style prefix><public id>_<secret>` (`pbk_`, or `sk-` / `sk-ant-` for
//! tools that check the format). The public id names the key in logs and the UI; the
//! database keeps only the SHA-256 of the whole key and a short display prefix. The
//! plaintext is returned once, by [`KeyStore::create`] and [`KeyStore::rotate`].
//!
//! Every mutation bumps `meta.keys_version` in its own transaction. That counter is
//! how [`KeyStore::refresh_if_changed`] tells a key change made by another process
//! from the usage writer's constant commits. Those checks read through a connection
//! of their own ([`KeyDb::watch`], run by [`CatchUp`]s), so they never wait behind a
//! mutation waiting on another process's write lock.

pub mod db;
pub(crate) mod format;
mod resolve;
pub mod sqlite;
mod types;
mod validate;
mod watch;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::{Entry, KeyCache, Refusal, now_ms};
use crate::error::AuthError;
use crate::policy::KeyPolicy;

use db::{KeyChange, KeyDb, KeyInsert, KeyTx, ProjectChange};
pub use format::{KeyStyle, digest};
use resolve::{
    key_record, live_key, name_free, project_name_free, project_record, resolve_key,
    resolve_project,
};
pub use sqlite::SqliteKeys;
pub use types::{KeyRecord, KeyState, KeyUpdate, NewKey, NewProject, ProjectRecord, ProjectUpdate};
use validate::invalid;
pub use validate::parse_json;
pub use watch::{CATCH_UP_GAP, CatchUp};
use watch::{Runner, Watch, Watched};

/// The key and project store: a database ([`KeyDb`]: SQLite or PostgreSQL), the
/// [`KeyCache`] the hot path reads, and a watch that catches the cache up with other
/// processes' changes. Synchronous: the server calls it from blocking tasks.
#[derive(Debug)]
pub struct KeyStore {
    db: Arc<dyn KeyDb>,
    watched: Arc<Watched>,
    runner: Runner,
    /// Whether another process could change the database.
    shared: bool,
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
    /// Opens (creating and migrating if needed) the SQLite database at `path`. New
    /// keys without a policy get `defaults`.
    pub fn open(path: &Path, defaults: KeyPolicy) -> Result<KeyStore, AuthError> {
        KeyStore::over(Arc::new(SqliteKeys::open(path)?), defaults)
    }

    /// A store in memory (tests, benchmarks).
    pub fn open_in_memory(defaults: KeyPolicy) -> Result<KeyStore, AuthError> {
        KeyStore::over(Arc::new(SqliteKeys::open_in_memory()?), defaults)
    }

    /// A store over `db`, loading every key into the cache.
    pub fn over(db: Arc<dyn KeyDb>, defaults: KeyPolicy) -> Result<KeyStore, AuthError> {
        validate::policy("defaults", &defaults)?;
        let cache = Arc::new(KeyCache::new());
        let mut seen_version = 0;
        let mut rows = Vec::new();
        db.read(&mut |tx| {
            seen_version = tx.keys_version()?;
            rows = tx.cache_rows(None)?;
            Ok(())
        })?;
        cache.reload(rows);
        let watch = Watch::new(db.watch()?, seen_version);
        let shared = watch.watches();
        let watched = Arc::new(Watched {
            watch: std::sync::Mutex::new(watch),
            cache,
        });
        let runner = Runner::new(Arc::clone(&watched));
        if shared {
            db.on_change(runner.nudger())?;
        }
        Ok(KeyStore {
            db,
            runner,
            watched,
            shared,
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
            // Looked up again even when this refresh found nothing new: a catch-up
            // running meanwhile (another thread's, or a change notice's) may have
            // loaded the key while the refresh waited for it.
            Err(Refusal::Unknown) if self.refresh_if_changed().is_ok() => {
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
        self.shared.then(|| self.runner.request())
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
        let policy = new.policy.clone().unwrap_or_else(|| self.defaults.clone());
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
                if tx.key(&id)?.is_none() {
                    break id;
                }
            };
            let key = format::generate(new.style, &id)?;
            tx.insert_key(&KeyInsert {
                id: &id,
                name: &new.name,
                prefix: &key.display,
                digest: &key.digest,
                project_id: project.as_deref(),
                policy: &policy_json,
                expires_ms: new.expires_ms,
                now_ms: now,
            })?;
            let record = key_record(tx, &id)?;
            Ok(((record, key.plaintext), Changed::Key(id)))
        })
    }

    /// Every key, oldest first (revoked ones included).
    pub fn list(&self) -> Result<Vec<KeyRecord>, AuthError> {
        self.read(|tx| tx.keys()?.into_iter().map(resolve::key_from).collect())
    }

    /// The key with this public id or, failing that, this name (the live key of
    /// that name, else the newest revoked one).
    pub fn get(&self, id_or_name: &str) -> Result<KeyRecord, AuthError> {
        self.read(|tx| {
            let id = resolve_key(tx, id_or_name)?;
            key_record(tx, &id)
        })
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
                tx.change_key(&id, &KeyChange::Name(name))?;
            }
            if let Some(project) = &update.project {
                let project = project
                    .as_deref()
                    .map(|p| resolve_project(tx, p, "project"))
                    .transpose()?;
                tx.change_key(&id, &KeyChange::Project(project.as_deref()))?;
            }
            if let Some(json) = &policy_json {
                tx.change_key(&id, &KeyChange::Policy(json))?;
            }
            if let Some(expires) = update.expires_ms {
                validate::expiry("expires_ms", expires, now)?;
                tx.change_key(&id, &KeyChange::Expires(expires))?;
            }
            tx.change_key(&id, &KeyChange::Touched(now))?;
            Ok((key_record(tx, &id)?, Changed::Key(id)))
        })
    }

    /// Disables (`true`) or enables (`false`) a key. Revoked keys stay revoked.
    pub fn set_disabled(&self, id_or_name: &str, disabled: bool) -> Result<KeyRecord, AuthError> {
        self.mutate(|tx, now| {
            let id = live_key(tx, id_or_name)?;
            tx.change_key(&id, &KeyChange::Disabled(disabled))?;
            tx.change_key(&id, &KeyChange::Touched(now))?;
            Ok((key_record(tx, &id)?, Changed::Key(id)))
        })
    }

    /// Revokes a key for good, its grace-period secret too. The next request with
    /// it is refused, in this process at once, in others at their next refresh.
    /// Revoking a revoked key changes nothing.
    pub fn revoke(&self, id_or_name: &str) -> Result<KeyRecord, AuthError> {
        self.mutate(|tx, now| {
            let id = resolve_key(tx, id_or_name)?;
            tx.change_key(&id, &KeyChange::Revoked(now))?;
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
            let (display, old) = tx.secret(&id)?.ok_or_else(|| AuthError::NotFound {
                what: "key",
                id: id.clone(),
            })?;
            let key = format::generate(KeyStyle::of_prefix(&display), &id)?;
            let previous = if grace_ms > 0 {
                let until = now
                    .checked_add(grace_ms)
                    .ok_or_else(|| invalid("grace", "too long"))?;
                Some((&old, until))
            } else {
                None
            };
            tx.change_key(
                &id,
                &KeyChange::Secret {
                    prefix: &key.display,
                    digest: &key.digest,
                    previous,
                },
            )?;
            tx.change_key(&id, &KeyChange::Touched(now))?;
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
                if tx.project(&id)?.is_none() {
                    break id;
                }
            };
            tx.insert_project(&id, &new.name, &limits, now)?;
            // No key belongs to a new project: the cache has nothing to learn.
            Ok((project_record(tx, &id)?, Changed::Nothing))
        })
    }

    /// Every project, by name.
    pub fn list_projects(&self) -> Result<Vec<ProjectRecord>, AuthError> {
        self.read(|tx| {
            tx.projects()?
                .into_iter()
                .map(resolve::project_from)
                .collect()
        })
    }

    /// The project with this id or name.
    pub fn get_project(&self, id_or_name: &str) -> Result<ProjectRecord, AuthError> {
        self.read(|tx| {
            let id = resolve_project(tx, id_or_name, "")?;
            project_record(tx, &id)
        })
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
                tx.change_project(&id, &ProjectChange::Name(name))?;
            }
            if let Some(json) = &limits {
                tx.change_project(&id, &ProjectChange::Limits(json))?;
            }
            tx.change_project(&id, &ProjectChange::Touched(now))?;
            Ok((project_record(tx, &id)?, Changed::All))
        })
    }

    /// Reloads the cache when another process (the CLI, another server) changed
    /// keys or projects since the last look; returns whether it did. Cheap when
    /// nothing changed, so the server calls it about once a second: that second
    /// bounds how long a key revoked by another process keeps working here.
    pub fn refresh_if_changed(&self) -> Result<bool, AuthError> {
        self.watched.refresh()
    }

    /// Runs `f` over one snapshot of the database.
    fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn KeyTx) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        let mut f = Some(f);
        let mut out = None;
        self.db.read(&mut |tx| {
            let f = f.take().ok_or_else(|| run_twice("read"))?;
            out = Some(f(tx)?);
            Ok(())
        })?;
        out.ok_or_else(|| run_twice("read"))
    }

    /// Runs `f` in a write transaction (it excludes every other writer at once, so
    /// two processes cannot both read, then both fail to write), bumps
    /// `keys_version`, commits, then brings the cache up to date before returning.
    fn mutate<T>(
        &self,
        f: impl FnOnce(&mut dyn KeyTx, i64) -> Result<(T, Changed), AuthError>,
    ) -> Result<T, AuthError> {
        let mut f = Some(f);
        let mut out = None;
        self.db.write(&mut |tx| {
            let f = f.take().ok_or_else(|| run_twice("write"))?;
            let before = tx.keys_version()?;
            let (value, changed) = f(tx, now_ms())?;
            tx.set_keys_version(before + 1)?;
            out = Some((value, changed, before));
            Ok(())
        })?;
        let (value, changed, before) = out.ok_or_else(|| run_twice("write"))?;
        // The cache is written under the watch's lock only, so a catch-up reading an
        // older snapshot cannot undo this patch: it ends before, or starts after.
        let mut watch = self.watched.lock();
        let cache = &self.watched.cache;
        // The key changed here is patched first: `reload_key` removes the key's
        // entries if it fails, so a revoke can never be left working.
        let patched = match &changed {
            Changed::Nothing | Changed::All => Ok(()),
            Changed::Key(id) => {
                let rows = self.read(|tx| tx.cache_rows(Some(id)));
                cache.reload_key(id, rows)
            }
        };
        // Someone else changed keys the cache has not seen (or a patch failed):
        // patching ours alone would leave theirs out, so reload everything.
        if watch.seen_version < before || matches!(changed, Changed::All) || patched.is_err() {
            match self.read(|tx| tx.cache_rows(None)) {
                Ok(rows) => cache.reload(rows),
                Err(e) => {
                    // Leave `seen_version` behind and make the watch look again, so
                    // the next `refresh_if_changed` tries the reload again.
                    watch.forget();
                    return Err(e);
                }
            }
        }
        // A catch-up may already have seen this commit, or a later one.
        watch.seen_version = watch.seen_version.max(before + 1);
        Ok(value)
    }
}

/// A backend called a transaction's body twice (a retry it should not make).
fn run_twice(what: &str) -> AuthError {
    AuthError::Migration(format!(
        "the key database ran a {what} transaction's body other than once"
    ))
}
