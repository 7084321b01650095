//! The in-memory key table the hot path reads: SHA-256 of the presented key → the
//! key's [`Entry`]. A lookup is one digest, one hash-map probe under a read lock and,
//! only for keys with an expiry or a rotation grace, one clock read: no database
//! round trip per request.
//!
//! Freshness: every mutation made through [`crate::keys::KeyStore`] patches this table
//! before it returns, so a revocation is refused by the very next request of the same
//! process. Changes written by another process (the CLI on the same file while a
//! server runs) are noticed by [`crate::keys::KeyStore::refresh_if_changed`], which
//! the server calls about once a second. Expiry and the end of a rotation's grace are
//! compared with the clock at lookup, so they need no reload at all.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Row};

use crate::error::AuthError;
use crate::keys::format;
use crate::policy::{KeyPolicy, Limits, Subject};

/// What a presented key stands for, shared by every request made with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key's public id and its project's: whom the request is charged to.
    pub subject: Subject,
    /// The key's name (logs, usage).
    pub name: String,
    /// What the key may do.
    pub policy: KeyPolicy,
    /// The key's project and its limits, when it belongs to one; a request must pass
    /// both the key's and the project's.
    pub project: Option<Arc<ProjectLimits>>,
    /// Disabled by an operator (may be enabled again).
    pub disabled: bool,
    /// When the key was revoked (Unix ms); revocation is final.
    pub revoked_ms: Option<i64>,
    /// When the key stops working (Unix ms).
    pub expires_ms: Option<i64>,
    /// Set on the entry of a rotated key's previous secret: it works until then.
    pub grace_until_ms: Option<i64>,
}

impl Entry {
    /// The key's public id.
    pub fn key_id(&self) -> &str {
        &self.subject.key_id
    }

    /// Whether a request presenting this entry's secret may proceed at `now_ms`.
    pub fn check(&self, now_ms: i64) -> Result<(), Refusal> {
        let key_id = || self.subject.key_id.clone();
        if self.revoked_ms.is_some() {
            return Err(Refusal::Revoked { key_id: key_id() });
        }
        if self.expires_ms.is_some_and(|t| now_ms >= t) {
            return Err(Refusal::Expired { key_id: key_id() });
        }
        if self.grace_until_ms.is_some_and(|t| now_ms >= t) {
            return Err(Refusal::Rotated { key_id: key_id() });
        }
        if self.disabled {
            return Err(Refusal::Disabled { key_id: key_id() });
        }
        Ok(())
    }

    /// Whether [`Entry::check`] depends on the time (so the hot path reads the clock
    /// only when it must).
    fn needs_clock(&self) -> bool {
        self.expires_ms.is_some() || self.grace_until_ms.is_some()
    }
}

/// A project as the hot path needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectLimits {
    /// The project's public id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its rates, quotas and budgets, shared by all its keys.
    pub limits: Limits,
}

/// Why a presented key was refused. The messages are safe to show the caller: they
/// name at most the key's public id, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No key has this secret.
    #[error("invalid API key")]
    Unknown,
    /// The key is disabled.
    #[error("API key {key_id} is disabled")]
    Disabled {
        /// The key's public id.
        key_id: String,
    },
    /// The key is revoked.
    #[error("API key {key_id} has been revoked")]
    Revoked {
        /// The key's public id.
        key_id: String,
    },
    /// The key is past its expiry time.
    #[error("API key {key_id} has expired")]
    Expired {
        /// The key's public id.
        key_id: String,
    },
    /// The secret was replaced by a rotation and its grace period is over.
    #[error("API key {key_id} was rotated; use its new secret")]
    Rotated {
        /// The key's public id.
        key_id: String,
    },
}

/// The current time as Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The key table. Read by every request, written by the store.
#[derive(Debug, Default)]
pub struct KeyCache {
    table: RwLock<Table>,
}

/// A SHA-256 digest as a map key. Its hash is its first 8 bytes: the digest is
/// already uniform, so SipHash over 32 bytes would buy nothing. Flooding is not a
/// concern because lookups never insert; only operators add entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DigestKey([u8; 32]);

impl Hash for DigestKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
    }
}

/// Passes a [`DigestKey`]'s `write_u64` through; anything else is folded in.
#[derive(Debug, Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

type DigestMap<V> = HashMap<DigestKey, V, BuildHasherDefault<PassThrough>>;

#[derive(Debug, Default)]
struct Table {
    by_digest: DigestMap<Arc<Entry>>,
    /// Key id → its digests (the current secret and, in a grace period, the old one),
    /// so one key's entries can be replaced without a full reload.
    by_id: HashMap<String, Vec<DigestKey>>,
    /// Project id → its limits, shared by the entries of all its keys.
    projects: HashMap<String, Arc<ProjectLimits>>,
}

impl Table {
    fn remove_key(&mut self, key_id: &str) {
        for d in self.by_id.remove(key_id).unwrap_or_default() {
            self.by_digest.remove(&d);
        }
    }

    fn insert(&mut self, row: KeyRow) {
        let KeyRow {
            mut entry,
            digest,
            old_digest,
        } = row;
        if let Some(p) = &mut entry.project {
            match self.projects.get(&p.id) {
                Some(shared) if **shared == **p => *p = Arc::clone(shared),
                _ => {
                    self.projects.insert(p.id.clone(), Arc::clone(p));
                }
            }
        }
        let id = entry.subject.key_id.clone();
        let mut digests = vec![DigestKey(digest)];
        if let Some((old, until)) = old_digest {
            let mut old_entry = entry.clone();
            old_entry.grace_until_ms = Some(until);
            self.by_digest.insert(DigestKey(old), Arc::new(old_entry));
            digests.push(DigestKey(old));
        }
        self.by_digest.insert(DigestKey(digest), Arc::new(entry));
        self.by_id.insert(id, digests);
    }
}

impl KeyCache {
    /// An empty table: every key is unknown.
    pub fn new() -> KeyCache {
        KeyCache::default()
    }

    /// How many keys the table holds (revoked ones included, so they are refused
    /// as revoked rather than unknown).
    pub fn len(&self) -> usize {
        self.read(|t| t.by_id.len())
    }

    /// Whether the table holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry for the key `presented`, if it may be used now.
    pub fn authenticate(&self, presented: &str) -> Result<Arc<Entry>, Refusal> {
        let entry = self.lookup(presented)?;
        if entry.needs_clock() {
            entry.check(now_ms())?;
        } else {
            // No time-dependent field: the check cannot read the clock's value.
            entry.check(0)?;
        }
        Ok(entry)
    }

    /// As [`KeyCache::authenticate`], at the time `now_ms` (tests, replays).
    pub fn authenticate_at(&self, presented: &str, now_ms: i64) -> Result<Arc<Entry>, Refusal> {
        let entry = self.lookup(presented)?;
        entry.check(now_ms)?;
        Ok(entry)
    }

    fn lookup(&self, presented: &str) -> Result<Arc<Entry>, Refusal> {
        // The secret is hashed before the lookup, so the probe's timing depends on
        // the digest only and reveals nothing about how much of a secret matched.
        let digest = DigestKey(format::digest(presented));
        self.read(|t| t.by_digest.get(&digest).cloned())
            .ok_or(Refusal::Unknown)
    }

    fn read<T>(&self, f: impl FnOnce(&Table) -> T) -> T {
        // A panic elsewhere cannot leave the table half-written (every write is a
        // whole insert, remove or swap), so a poisoned lock is still good to read.
        f(&self.table.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn write<T>(&self, f: impl FnOnce(&mut Table) -> T) -> T {
        f(&mut self.table.write().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the whole table with the keys in `conn`. The new table is built
    /// before the lock is taken, so requests wait only for the swap.
    pub(crate) fn reload(&self, conn: &Connection) -> Result<(), AuthError> {
        let mut table = Table::default();
        let mut stmt = conn.prepare(&format!("{SELECT_ROWS} ORDER BY k.rowid"))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            match key_row(row) {
                Ok(r) => table.insert(r),
                // One unreadable row (say, a policy edited by hand) must not lock
                // every key out: skip it, so that key alone is refused.
                Err(e) => {
                    let id: Option<String> = row.get(0).ok();
                    tracing::error!(key_id = ?id, error = %e, "key skipped: its stored row is unreadable");
                }
            }
        }
        self.write(|t| *t = table);
        Ok(())
    }

    /// Replaces the entries of the key `key_id` with what `conn` holds now. On any
    /// error the key's entries are removed: a failure to refresh must never leave a
    /// revoked key working.
    pub(crate) fn reload_key(&self, conn: &Connection, key_id: &str) -> Result<(), AuthError> {
        let loaded = conn
            .query_row(&format!("{SELECT_ROWS} WHERE k.id = ?1"), [key_id], |row| {
                Ok(key_row(row))
            })
            .optional();
        match loaded {
            Ok(Some(Ok(row))) => {
                self.write(|t| {
                    t.remove_key(key_id);
                    t.insert(row);
                });
                Ok(())
            }
            Ok(None) => {
                self.write(|t| t.remove_key(key_id));
                Ok(())
            }
            Ok(Some(Err(e))) => {
                self.write(|t| t.remove_key(key_id));
                Err(e)
            }
            Err(e) => {
                self.write(|t| t.remove_key(key_id));
                Err(e.into())
            }
        }
    }
}

const SELECT_ROWS: &str = "SELECT k.id, k.name, k.secret_sha256, k.old_sha256, k.old_until_ms, \
     k.project_id, k.policy, k.disabled, k.revoked_ms, k.expires_ms, p.name, p.policy \
     FROM keys k LEFT JOIN projects p ON p.id = k.project_id";

struct KeyRow {
    entry: Entry,
    digest: [u8; 32],
    old_digest: Option<([u8; 32], i64)>,
}

/// One row of [`SELECT_ROWS`].
fn key_row(row: &Row<'_>) -> Result<KeyRow, AuthError> {
    let id: String = row.get(0)?;
    let digest: [u8; 32] = row.get(2)?;
    let old: Option<[u8; 32]> = row.get(3)?;
    let old_until: Option<i64> = row.get(4)?;
    let project_id: Option<String> = row.get(5)?;
    let policy: KeyPolicy = serde_json::from_str(&row.get::<_, String>(6)?)?;
    let project = match &project_id {
        None => None,
        Some(pid) => Some(Arc::new(ProjectLimits {
            id: pid.clone(),
            name: row.get(10)?,
            limits: serde_json::from_str(&row.get::<_, String>(11)?)?,
        })),
    };
    Ok(KeyRow {
        entry: Entry {
            subject: Subject {
                key_id: id,
                project_id,
            },
            name: row.get(1)?,
            policy,
            project,
            disabled: row.get(7)?,
            revoked_ms: row.get(8)?,
            expires_ms: row.get(9)?,
            grace_until_ms: None,
        },
        digest,
        old_digest: old.zip(old_until),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate;

    fn insert_key(conn: &Connection, id: &str, plain: &str) {
        conn.execute(
            "INSERT INTO keys (id, name, prefix, secret_sha256, policy, created_ms, updated_ms) \
             VALUES (?1, ?1, 'pbk_…', ?2, '{}', 0, 0)",
            rusqlite::params![id, format::digest(plain)],
        )
        .unwrap();
    }

    #[test]
    fn a_failed_key_reload_removes_the_key() {
        let conn = migrate::open_in_memory().unwrap();
        insert_key(&conn, "a", "pbk_a_1");
        insert_key(&conn, "b", "pbk_b_2");
        let cache = KeyCache::new();
        cache.reload(&conn).unwrap();
        assert!(cache.authenticate("pbk_a_1").is_ok());
        conn.execute("UPDATE keys SET policy = 'nonsense' WHERE id = 'a'", [])
            .unwrap();
        assert!(cache.reload_key(&conn, "a").is_err());
        assert_eq!(cache.authenticate("pbk_a_1"), Err(Refusal::Unknown));
        assert!(cache.authenticate("pbk_b_2").is_ok());
        // A deleted key goes too.
        conn.execute("DELETE FROM keys WHERE id = 'b'", []).unwrap();
        cache.reload_key(&conn, "b").unwrap();
        assert!(cache.is_empty());
    }

    #[test]
    fn refusals_are_checked_in_order_and_against_the_given_time() {
        let mut e = Entry {
            subject: Subject {
                key_id: "k".into(),
                project_id: None,
            },
            name: "k".into(),
            policy: KeyPolicy::default(),
            project: None,
            disabled: true,
            revoked_ms: None,
            expires_ms: Some(100),
            grace_until_ms: Some(50),
        };
        let k = || "k".to_owned();
        assert_eq!(e.check(10), Err(Refusal::Disabled { key_id: k() }));
        assert_eq!(e.check(60), Err(Refusal::Rotated { key_id: k() }));
        assert_eq!(e.check(100), Err(Refusal::Expired { key_id: k() }));
        e.revoked_ms = Some(1);
        assert_eq!(e.check(10), Err(Refusal::Revoked { key_id: k() }));
        e.revoked_ms = None;
        e.disabled = false;
        assert_eq!(e.check(49), Ok(()));
    }
}
