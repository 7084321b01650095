//! Providers added at runtime, kept in the database beside the keys: each one's
//! settings (what a `[providers.<name>]` table would say, as JSON) and its upstream
//! key sealed by the [`Vault`]. The server merges them with the config file's
//! providers; the key is opened only to build the provider and never leaves the
//! process whole (the admin API shows its last four characters).

mod db;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::vault::Vault;

pub use db::{ProviderDb, ProviderRow};
pub use sqlite::SqliteProviders;

/// One stored provider, without its key.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredUpstream {
    /// Its name (the `provider` of routes, the prefix of `provider/model`).
    pub name: String,
    /// Its table: `kind` or `preset`, `base_url`, ... (no `api_key`).
    pub settings: Map<String, Value>,
    /// The last four characters of its key, when it has one.
    pub key_hint: Option<String>,
    /// When it was added, ms since the epoch.
    pub created_ms: i64,
    /// When it last changed.
    pub updated_ms: i64,
}

/// What an update does to a provider's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    /// Keep the stored one.
    Keep,
    /// Store this one (sealed).
    Set(String),
    /// Store none.
    Clear,
}

/// The stored providers and the vault sealing their keys.
pub struct UpstreamStore {
    db: Arc<dyn ProviderDb>,
    vault: Vault,
}

impl std::fmt::Debug for UpstreamStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamStore")
            .field("vault", &self.vault)
            .finish_non_exhaustive()
    }
}

impl UpstreamStore {
    /// The store in the SQLite database at `path` (migrated), sealing with `vault`.
    pub fn open(path: &Path, vault: Vault) -> Result<UpstreamStore, AuthError> {
        Ok(UpstreamStore::with_connection(
            crate::migrate::open(path)?,
            vault,
        ))
    }

    /// The store on an open, migrated SQLite connection.
    pub fn with_connection(conn: Connection, vault: Vault) -> UpstreamStore {
        UpstreamStore::over(Arc::new(SqliteProviders::new(conn)), vault)
    }

    /// The store over `db` (SQLite, PostgreSQL), sealing with `vault`.
    pub fn over(db: Arc<dyn ProviderDb>, vault: Vault) -> UpstreamStore {
        UpstreamStore { db, vault }
    }

    /// Calls `wake` when another process changed the stored providers, when the
    /// database can tell (PostgreSQL's `NOTIFY`).
    pub fn on_change(&self, wake: Arc<dyn Fn() + Send + Sync>) -> Result<(), AuthError> {
        self.db.on_change(wake)
    }

    /// The current master key's id.
    pub fn key_id(&self) -> String {
        self.vault.key_id()
    }

    /// Every stored provider, by name.
    pub fn list(&self) -> Result<Vec<StoredUpstream>, AuthError> {
        Ok(self
            .list_opened()?
            .into_iter()
            .map(|(stored, _)| stored)
            .collect())
    }

    /// Every stored provider with its opened key, by name (to build the providers).
    pub fn list_opened(&self) -> Result<Vec<(StoredUpstream, Option<String>)>, AuthError> {
        let mut out = Vec::new();
        for row in self.db.rows()? {
            let ProviderRow {
                name,
                settings,
                api_key: sealed,
                created_ms,
                updated_ms,
            } = row;
            let key = sealed
                .map(|s| self.vault.open(&name, &s))
                .transpose()
                .map_err(|e| AuthError::Invalid {
                    field: format!("runtime provider `{name}` key"),
                    message: e.to_string(),
                })?;
            let settings = match serde_json::from_str(&settings)? {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            let stored = StoredUpstream {
                key_hint: key.as_deref().map(hint),
                name,
                settings,
                created_ms,
                updated_ms,
            };
            out.push((stored, key));
        }
        Ok(out)
    }

    /// Adds `name` or replaces its settings; `key` says what becomes of its key.
    /// `settings` must not hold `api_key` (it is stored sealed, apart).
    pub fn put(
        &self,
        name: &str,
        settings: &Map<String, Value>,
        key: &KeyChange,
    ) -> Result<StoredUpstream, AuthError> {
        if settings.contains_key("api_key") {
            return Err(AuthError::Invalid {
                field: "settings.api_key".into(),
                message: "the key is given apart (`api_key` of the request), not in the settings"
                    .into(),
            });
        }
        let now = crate::cache::now_ms();
        let json = serde_json::to_string(settings)?;
        let existing = self.db.row(name)?;
        let sealed = match key {
            KeyChange::Keep => existing.as_ref().and_then(|r| r.api_key.clone()),
            KeyChange::Set(plain) => Some(self.vault.seal(name, plain)?),
            KeyChange::Clear => None,
        };
        let created_ms = existing.map_or(now, |r| r.created_ms);
        self.db.upsert(&ProviderRow {
            name: name.to_owned(),
            settings: json,
            api_key: sealed.clone(),
            created_ms,
            updated_ms: now,
        })?;
        let key_hint = match key {
            KeyChange::Set(plain) => Some(hint(plain)),
            KeyChange::Clear => None,
            KeyChange::Keep => sealed
                .as_deref()
                .map(|s| self.vault.open(name, s))
                .transpose()?
                .as_deref()
                .map(hint),
        };
        Ok(StoredUpstream {
            name: name.to_owned(),
            settings: settings.clone(),
            key_hint,
            created_ms,
            updated_ms: now,
        })
    }

    /// Removes `name`; false when there was none.
    pub fn remove(&self, name: &str) -> Result<bool, AuthError> {
        self.db.remove(name)
    }

    /// Seals again under the current master key every key sealed under the previous
    /// one (after a rotation); returns how many.
    pub fn reseal(&self) -> Result<usize, AuthError> {
        let mut n = 0;
        for row in self.db.rows()? {
            let Some(sealed) = row.api_key.filter(|s| self.vault.needs_reseal(s)) else {
                continue;
            };
            let plain = self.vault.open(&row.name, &sealed)?;
            let fresh = self.vault.seal(&row.name, &plain)?;
            self.db.set_key(&row.name, &fresh)?;
            n += 1;
        }
        Ok(n)
    }
}

/// The last four characters of a key, after an ellipsis (all of a short one is not shown).
fn hint(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 12 {
        return "…".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{KeyChange, UpstreamStore};
    use crate::vault::{MasterKey, Vault};
    use serde_json::json;

    fn store(vault: Vault) -> UpstreamStore {
        UpstreamStore::with_connection(crate::migrate::open_in_memory().unwrap(), vault)
    }

    fn settings(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_provider_round_trips_with_its_key_sealed_in_the_row() {
        let s = store(Vault::new(MasterKey::from_bytes([3; 32]), None));
        let put = s
            .put(
                "eu",
                &settings(json!({"preset": "openai", "base_url": "http://127.0.0.1:1/v1"})),
                &KeyChange::Set("sk-0123456789abcdef".into()),
            )
            .unwrap();
        assert_eq!(put.key_hint.as_deref(), Some("…cdef"));
        let raw = s.db.rows().unwrap()[0].api_key.clone().unwrap();
        assert!(!raw.windows(8).any(|w| w == b"01234567"), "sealed at rest");
        let listed = s.list_opened().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].1.as_deref(), Some("sk-0123456789abcdef"));
        assert_eq!(listed[0].0.settings["preset"], "openai");

        let kept = s
            .put(
                "eu",
                &settings(json!({"preset": "openai"})),
                &KeyChange::Keep,
            )
            .unwrap();
        assert_eq!(kept.created_ms, put.created_ms);
        assert_eq!(kept.key_hint.as_deref(), Some("…cdef"));
        assert_eq!(
            s.list_opened().unwrap()[0].1.as_deref(),
            Some("sk-0123456789abcdef")
        );
        s.put("eu", &settings(json!({"kind": "mock"})), &KeyChange::Clear)
            .unwrap();
        assert_eq!(s.list_opened().unwrap()[0].1, None);
        assert!(s.remove("eu").unwrap());
        assert!(!s.remove("eu").unwrap());
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn a_key_in_the_settings_is_refused() {
        let s = store(Vault::new(MasterKey::from_bytes([3; 32]), None));
        let err = s
            .put("x", &settings(json!({"api_key": "sk"})), &KeyChange::Keep)
            .unwrap_err();
        assert!(err.to_string().contains("settings.api_key"), "{err}");
    }

    #[test]
    fn a_rotation_reseals_old_keys_under_the_new_master_key() {
        let old = MasterKey::from_bytes([1; 32]);
        let conn_path = std::env::temp_dir().join(format!("pb-up-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&conn_path);
        let before = UpstreamStore::open(&conn_path, Vault::new(old.clone(), None)).unwrap();
        before
            .put(
                "a",
                &settings(json!({"kind": "mock"})),
                &KeyChange::Set("key-a-0123456789".into()),
            )
            .unwrap();
        drop(before);
        let new = MasterKey::from_bytes([2; 32]);
        let after = UpstreamStore::open(&conn_path, Vault::new(new.clone(), Some(old))).unwrap();
        assert_eq!(after.reseal().unwrap(), 1);
        assert_eq!(after.reseal().unwrap(), 0, "nothing left to reseal");
        drop(after);
        let only_new = UpstreamStore::open(&conn_path, Vault::new(new, None)).unwrap();
        assert_eq!(
            only_new.list_opened().unwrap()[0].1.as_deref(),
            Some("key-a-0123456789")
        );
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", conn_path.display()));
        }
    }
}
