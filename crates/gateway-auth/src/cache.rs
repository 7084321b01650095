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

use crate::error::AuthError;
use crate::keys::db::CacheColumns;
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
        self.authenticate_digest(&format::digest(presented))
    }

    /// As [`KeyCache::authenticate`], for a secret already hashed.
    pub fn authenticate_digest(&self, digest: &[u8; 32]) -> Result<Arc<Entry>, Refusal> {
        let entry = self.lookup(digest)?;
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
        let entry = self.lookup(&format::digest(presented))?;
        entry.check(now_ms)?;
        Ok(entry)
    }

    fn lookup(&self, digest: &[u8; 32]) -> Result<Arc<Entry>, Refusal> {
        // The secret is hashed before the lookup, so the probe's timing depends on
        // the digest only and reveals nothing about how much of a secret matched.
        let digest = DigestKey(*digest);
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

    /// Replaces the whole table with `rows`. The new table is built before the lock
    /// is taken, so requests wait only for the swap.
    pub(crate) fn reload(&self, rows: Vec<CacheColumns>) {
        let mut table = Table::default();
        for row in rows {
            let id = row.id.clone();
            match key_row(row) {
                Ok(r) => table.insert(r),
                // One unreadable row (say, a policy edited by hand) must not lock
                // every key out: skip it, so that key alone is refused.
                Err(e) => {
                    tracing::error!(key_id = %id, error = %e, "key skipped: its stored row is unreadable");
                }
            }
        }
        self.write(|t| *t = table);
    }

    /// Replaces the entries of the key `key_id` with `loaded` (what the database
    /// holds now: nothing when it is gone). On any error the key's entries are
    /// removed: a failure to refresh must never leave a revoked key working.
    pub(crate) fn reload_key(
        &self,
        key_id: &str,
        loaded: Result<Vec<CacheColumns>, AuthError>,
    ) -> Result<(), AuthError> {
        let row = loaded.and_then(|rows| rows.into_iter().next().map(key_row).transpose());
        match row {
            Ok(Some(row)) => {
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
            Err(e) => {
                self.write(|t| t.remove_key(key_id));
                Err(e)
            }
        }
    }
}

struct KeyRow {
    entry: Entry,
    digest: [u8; 32],
    old_digest: Option<([u8; 32], i64)>,
}

fn digest_of(bytes: Vec<u8>) -> Result<[u8; 32], AuthError> {
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        AuthError::Migration(format!(
            "a stored key digest is {} bytes, not 32",
            bytes.len()
        ))
    })
}

fn key_row(row: CacheColumns) -> Result<KeyRow, AuthError> {
    let policy: KeyPolicy = serde_json::from_str(&row.policy)?;
    let (project_id, project) = match row.project {
        None => (None, None),
        Some((id, name, limits)) => {
            let limits = serde_json::from_str(&limits)?;
            (
                Some(id.clone()),
                Some(Arc::new(ProjectLimits { id, name, limits })),
            )
        }
    };
    let old_digest = match row.old_digest {
        Some((d, until)) => Some((digest_of(d)?, until)),
        None => None,
    };
    Ok(KeyRow {
        entry: Entry {
            subject: Subject {
                key_id: row.id,
                project_id,
            },
            name: row.name,
            policy,
            project,
            disabled: row.disabled,
            revoked_ms: row.revoked_ms,
            expires_ms: row.expires_ms,
            grace_until_ms: None,
        },
        digest: digest_of(row.digest)?,
        old_digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, plain: &str) -> CacheColumns {
        CacheColumns {
            id: id.into(),
            name: id.into(),
            digest: format::digest(plain).to_vec(),
            old_digest: None,
            policy: "{}".into(),
            disabled: false,
            revoked_ms: None,
            expires_ms: None,
            project: None,
        }
    }

    #[test]
    fn a_failed_key_reload_removes_the_key() {
        let cache = KeyCache::new();
        cache.reload(vec![row("a", "pbk_a_1"), row("b", "pbk_b_2")]);
        assert!(cache.authenticate("pbk_a_1").is_ok());
        let mut bad = row("a", "pbk_a_1");
        bad.policy = "nonsense".into();
        assert!(cache.reload_key("a", Ok(vec![bad])).is_err());
        assert_eq!(cache.authenticate("pbk_a_1"), Err(Refusal::Unknown));
        assert!(cache.authenticate("pbk_b_2").is_ok());
        // A key the database failed to read goes too.
        let failed = Err(AuthError::Migration("disk gone".into()));
        assert!(cache.reload_key("b", failed).is_err());
        assert!(cache.is_empty());
        // A deleted key goes, and a short digest is refused, not panicked on.
        cache.reload(vec![row("c", "pbk_c_3")]);
        cache.reload_key("c", Ok(vec![])).unwrap();
        assert!(cache.is_empty());
        let mut short = row("d", "pbk_d_4");
        short.digest.truncate(31);
        cache.reload(vec![short, row("e", "pbk_e_5")]);
        assert_eq!(cache.len(), 1);
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
