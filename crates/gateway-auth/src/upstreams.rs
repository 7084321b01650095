//! Providers added at runtime, kept in the database beside the keys: each one's
//! settings (what a `[providers.<name>]` table would say, as JSON) and its upstream
//! key sealed by the [`Vault`]. The server merges them with the config file's
//! providers; the key is opened only to build the provider and never leaves the
//! process whole (the admin API shows its last four characters).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::vault::Vault;

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
    conn: Mutex<Connection>,
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
    /// The store in the database at `path` (migrated), sealing with `vault`.
    pub fn open(path: &Path, vault: Vault) -> Result<UpstreamStore, AuthError> {
        Ok(UpstreamStore::with_connection(
            crate::migrate::open(path)?,
            vault,
        ))
    }

    /// The store on an open, migrated connection.
    pub fn with_connection(conn: Connection, vault: Vault) -> UpstreamStore {
        UpstreamStore {
            conn: Mutex::new(conn),
            vault,
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
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
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name, settings, api_key, created_ms, updated_ms FROM runtime_providers ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<Vec<u8>>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, settings, sealed, created_ms, updated_ms) = row?;
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
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let existing: Option<(Option<Vec<u8>>, i64)> = tx
            .query_row(
                "SELECT api_key, created_ms FROM runtime_providers WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let sealed = match key {
            KeyChange::Keep => existing.as_ref().and_then(|(k, _)| k.clone()),
            KeyChange::Set(plain) => Some(self.vault.seal(name, plain)?),
            KeyChange::Clear => None,
        };
        let created_ms = existing.map_or(now, |(_, c)| c);
        tx.execute(
            "INSERT INTO runtime_providers (name, settings, api_key, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(name) DO UPDATE SET settings = ?2, api_key = ?3, updated_ms = ?5",
            params![name, json, sealed, created_ms, now],
        )?;
        tx.commit()?;
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
        let n = self
            .conn()
            .execute("DELETE FROM runtime_providers WHERE name = ?1", [name])?;
        Ok(n > 0)
    }

    /// Seals again under the current master key every key sealed under the previous
    /// one (after a rotation); returns how many.
    pub fn reseal(&self) -> Result<usize, AuthError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let stale: Vec<(String, Vec<u8>)> = {
            let mut stmt = tx
                .prepare("SELECT name, api_key FROM runtime_providers WHERE api_key IS NOT NULL")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter(|(_, sealed): &(String, Vec<u8>)| self.vault.needs_reseal(sealed))
                .collect()
        };
        for (name, sealed) in &stale {
            let plain = self.vault.open(name, sealed)?;
            let fresh = self.vault.seal(name, &plain)?;
            tx.execute(
                "UPDATE runtime_providers SET api_key = ?1 WHERE name = ?2",
                params![fresh, name],
            )?;
        }
        tx.commit()?;
        Ok(stale.len())
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
        let raw: Vec<u8> = s
            .conn()
            .query_row("SELECT api_key FROM runtime_providers", [], |r| r.get(0))
            .unwrap();
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
