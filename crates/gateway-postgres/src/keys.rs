//! Keys and projects on PostgreSQL: `gateway-auth`'s [`KeyDb`].
//!
//! Writers serialise on a transaction-scoped advisory lock, the counterpart of
//! SQLite's `BEGIN IMMEDIATE`: two instances cannot both find a name free, then both
//! take it, and `meta.keys_version` counts every change once. Readers take a
//! repeatable-read snapshot and never wait for writers. Every change is announced
//! with `NOTIFY` on commit: each instance listening catches up at once, and looks
//! once a second anyway in case a notice was missed.

use std::sync::Arc;

use gateway_auth::AuthError;
use gateway_auth::keys::db::{
    CacheColumns, KeyChange, KeyColumns, KeyDb, KeyInsert, KeyTx, KeyWatch, ProjectChange,
    ProjectColumns, keys_version_of,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::db;
use crate::pool::Postgres;

/// The channel key changes are announced on (`NOTIFY`), per database.
const CHANNEL: &str = "patchbay_keys";

/// The advisory lock key writers of keys and projects hold ("pbkeys" in ASCII).
const KEYS_LOCK: i64 = 0x7062_6b65_7973;

/// Keys and projects in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgKeys {
    pg: Postgres,
}

impl PgKeys {
    /// Keys and projects in `pg`.
    pub fn new(pg: Postgres) -> PgKeys {
        PgKeys { pg }
    }
}

impl KeyDb for PgKeys {
    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn KeyTx) -> Result<(), AuthError>,
    ) -> Result<(), AuthError> {
        let pg = &self.pg;
        let mut client = pg.block_on(pg.client())?;
        let tx = pg.block_on(client.transaction()).map_err(db)?;
        pg.block_on(tx.execute("SELECT pg_advisory_xact_lock($1)", &[&KEYS_LOCK]))
            .map_err(db)?;
        f(&mut PgTx { pg, tx: &tx })?;
        pg.block_on(tx.commit()).map_err(db)
    }

    fn read(
        &self,
        f: &mut dyn FnMut(&mut dyn KeyTx) -> Result<(), AuthError>,
    ) -> Result<(), AuthError> {
        let pg = &self.pg;
        let mut client = pg.block_on(pg.client())?;
        let tx = pg
            .block_on(
                client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start(),
            )
            .map_err(db)?;
        f(&mut PgTx { pg, tx: &tx })
        // Dropping the transaction rolls it back: it wrote nothing.
    }

    fn watch(&self) -> Result<Option<Box<dyn KeyWatch>>, AuthError> {
        Ok(Some(Box::new(PgWatch {
            pg: self.pg.clone(),
        })))
    }

    fn on_change(&self, wake: Arc<dyn Fn() + Send + Sync>) -> Result<(), AuthError> {
        self.pg.spawn(crate::notify::listen(
            self.pg.config().clone(),
            CHANNEL,
            wake,
        ));
        Ok(())
    }
}

/// A transaction's statements.
struct PgTx<'t> {
    pg: &'t Postgres,
    tx: &'t deadpool_postgres::Transaction<'t>,
}

const KEY_COLUMNS: &str = "id, name, prefix, project_id, policy, disabled, revoked_ms, \
     expires_ms, CASE WHEN old_sha256 IS NULL THEN NULL ELSE old_until_ms END, created_ms, updated_ms";

fn key_columns(r: &Row) -> KeyColumns {
    KeyColumns {
        id: r.get(0),
        name: r.get(1),
        prefix: r.get(2),
        project_id: r.get(3),
        policy: r.get(4),
        disabled: r.get(5),
        revoked_ms: r.get(6),
        expires_ms: r.get(7),
        previous_secret_until_ms: r.get(8),
        created_ms: r.get(9),
        updated_ms: r.get(10),
    }
}

const PROJECT_COLUMNS: &str = "id, name, policy, created_ms, updated_ms";

fn project_columns(r: &Row) -> ProjectColumns {
    ProjectColumns {
        id: r.get(0),
        name: r.get(1),
        limits: r.get(2),
        created_ms: r.get(3),
        updated_ms: r.get(4),
    }
}

const CACHE_COLUMNS: &str = "SELECT k.id, k.name, k.secret_sha256, k.old_sha256, k.old_until_ms, \
     k.policy, k.disabled, k.revoked_ms, k.expires_ms, k.project_id, p.name, p.policy \
     FROM keys k LEFT JOIN projects p ON p.id = k.project_id";

fn cache_columns(r: &Row) -> CacheColumns {
    let old: Option<Vec<u8>> = r.get(3);
    let old_until: Option<i64> = r.get(4);
    let project_id: Option<String> = r.get(9);
    CacheColumns {
        id: r.get(0),
        name: r.get(1),
        digest: r.get(2),
        old_digest: old.zip(old_until),
        policy: r.get(5),
        disabled: r.get(6),
        revoked_ms: r.get(7),
        expires_ms: r.get(8),
        // A key whose project row is gone gets empty limits text, which the cache
        // refuses to read: that key alone is skipped.
        project: project_id.map(|id| {
            let name: Option<String> = r.get(10);
            let limits: Option<String> = r.get(11);
            (id, name.unwrap_or_default(), limits.unwrap_or_default())
        }),
    }
}

impl PgTx<'_> {
    fn rows(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, AuthError> {
        self.pg.block_on(self.tx.query(sql, params)).map_err(db)
    }

    fn row(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, AuthError> {
        self.pg.block_on(self.tx.query_opt(sql, params)).map_err(db)
    }

    fn exec(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<(), AuthError> {
        self.pg
            .block_on(self.tx.execute(sql, params))
            .map(drop)
            .map_err(db)
    }

    fn id(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<String>, AuthError> {
        Ok(self.row(sql, params)?.map(|r| r.get(0)))
    }
}

impl KeyTx for PgTx<'_> {
    fn key(&mut self, id: &str) -> Result<Option<KeyColumns>, AuthError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM keys WHERE id = $1");
        Ok(self.row(&sql, &[&id])?.as_ref().map(key_columns))
    }

    fn keys(&mut self) -> Result<Vec<KeyColumns>, AuthError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM keys ORDER BY created_ms, seq");
        Ok(self.rows(&sql, &[])?.iter().map(key_columns).collect())
    }

    fn key_named(&mut self, name: &str) -> Result<Option<String>, AuthError> {
        self.id(
            "SELECT id FROM keys WHERE name = $1 \
             ORDER BY (revoked_ms IS NULL) DESC, created_ms DESC LIMIT 1",
            &[&name],
        )
    }

    fn live_key_named(
        &mut self,
        name: &str,
        except: Option<&str>,
    ) -> Result<Option<String>, AuthError> {
        self.id(
            "SELECT id FROM keys WHERE name = $1 AND revoked_ms IS NULL \
             AND id IS DISTINCT FROM $2 LIMIT 1",
            &[&name, &except],
        )
    }

    fn secret(&mut self, id: &str) -> Result<Option<(String, [u8; 32])>, AuthError> {
        let Some(row) = self.row(
            "SELECT prefix, secret_sha256 FROM keys WHERE id = $1",
            &[&id],
        )?
        else {
            return Ok(None);
        };
        let digest: Vec<u8> = row.get(1);
        let digest = <[u8; 32]>::try_from(digest.as_slice()).map_err(|_| {
            AuthError::Migration(format!("key {id}'s stored digest is not 32 bytes"))
        })?;
        Ok(Some((row.get(0), digest)))
    }

    fn insert_key(&mut self, k: &KeyInsert<'_>) -> Result<(), AuthError> {
        self.exec(
            "INSERT INTO keys (id, name, prefix, secret_sha256, project_id, policy, \
             expires_ms, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            &[
                &k.id,
                &k.name,
                &k.prefix,
                &k.digest.as_slice(),
                &k.project_id,
                &k.policy,
                &k.expires_ms,
                &k.now_ms,
            ],
        )
    }

    fn change_key(&mut self, id: &str, change: &KeyChange<'_>) -> Result<(), AuthError> {
        match change {
            KeyChange::Name(name) => {
                self.exec("UPDATE keys SET name = $2 WHERE id = $1", &[&id, name])
            }
            KeyChange::Project(p) => {
                self.exec("UPDATE keys SET project_id = $2 WHERE id = $1", &[&id, p])
            }
            KeyChange::Policy(json) => {
                self.exec("UPDATE keys SET policy = $2 WHERE id = $1", &[&id, json])
            }
            KeyChange::Expires(t) => {
                self.exec("UPDATE keys SET expires_ms = $2 WHERE id = $1", &[&id, t])
            }
            KeyChange::Disabled(d) => {
                self.exec("UPDATE keys SET disabled = $2 WHERE id = $1", &[&id, d])
            }
            KeyChange::Revoked(now) => self.exec(
                "UPDATE keys SET revoked_ms = $2, updated_ms = $2 \
                 WHERE id = $1 AND revoked_ms IS NULL",
                &[&id, now],
            ),
            KeyChange::Secret {
                prefix,
                digest,
                previous,
            } => {
                let old = previous.map(|p| p.0.as_slice());
                let until = previous.map(|p| p.1);
                self.exec(
                    "UPDATE keys SET prefix = $2, secret_sha256 = $3, old_sha256 = $4, \
                     old_until_ms = $5 WHERE id = $1",
                    &[&id, prefix, &digest.as_slice(), &old, &until],
                )
            }
            KeyChange::Touched(now) => {
                self.exec("UPDATE keys SET updated_ms = $2 WHERE id = $1", &[&id, now])
            }
        }
    }

    fn project(&mut self, id: &str) -> Result<Option<ProjectColumns>, AuthError> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1");
        Ok(self.row(&sql, &[&id])?.as_ref().map(project_columns))
    }

    fn projects(&mut self) -> Result<Vec<ProjectColumns>, AuthError> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects ORDER BY name");
        Ok(self.rows(&sql, &[])?.iter().map(project_columns).collect())
    }

    fn project_id_or_named(&mut self, id_or_name: &str) -> Result<Option<String>, AuthError> {
        self.id(
            "SELECT id FROM projects WHERE id = $1 OR name = $1 \
             ORDER BY (id = $1) DESC LIMIT 1",
            &[&id_or_name],
        )
    }

    fn project_named(
        &mut self,
        name: &str,
        except: Option<&str>,
    ) -> Result<Option<String>, AuthError> {
        self.id(
            "SELECT id FROM projects WHERE name = $1 AND id IS DISTINCT FROM $2",
            &[&name, &except],
        )
    }

    fn insert_project(
        &mut self,
        id: &str,
        name: &str,
        limits: &str,
        now_ms: i64,
    ) -> Result<(), AuthError> {
        self.exec(
            "INSERT INTO projects (id, name, policy, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $4)",
            &[&id, &name, &limits, &now_ms],
        )
    }

    fn change_project(&mut self, id: &str, change: &ProjectChange<'_>) -> Result<(), AuthError> {
        match change {
            ProjectChange::Name(name) => {
                self.exec("UPDATE projects SET name = $2 WHERE id = $1", &[&id, name])
            }
            ProjectChange::Limits(json) => self.exec(
                "UPDATE projects SET policy = $2 WHERE id = $1",
                &[&id, json],
            ),
            ProjectChange::Touched(now) => self.exec(
                "UPDATE projects SET updated_ms = $2 WHERE id = $1",
                &[&id, now],
            ),
        }
    }

    fn cache_rows(&mut self, id: Option<&str>) -> Result<Vec<CacheColumns>, AuthError> {
        let rows = match id {
            Some(id) => self.rows(&format!("{CACHE_COLUMNS} WHERE k.id = $1"), &[&id])?,
            None => self.rows(&format!("{CACHE_COLUMNS} ORDER BY k.seq"), &[])?,
        };
        Ok(rows.iter().map(cache_columns).collect())
    }

    fn keys_version(&mut self) -> Result<i64, AuthError> {
        let row = self.row("SELECT value FROM meta WHERE name = 'keys_version'", &[])?;
        keys_version_of(row.map(|r| r.get(0)))
    }

    fn set_keys_version(&mut self, version: i64) -> Result<(), AuthError> {
        self.exec(
            "INSERT INTO meta (name, value) VALUES ('keys_version', $1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[&version.to_string()],
        )?;
        // Delivered to every listening instance when this transaction commits.
        self.exec(&format!("NOTIFY {CHANNEL}"), &[])
    }
}

/// Reads `meta.keys_version` on every look: one indexed row, a pooled connection's
/// round trip (PostgreSQL has no counterpart of SQLite's `data_version`).
#[derive(Debug)]
struct PgWatch {
    pg: Postgres,
}

impl KeyWatch for PgWatch {
    fn version_if_changed(&mut self) -> Result<Option<i64>, AuthError> {
        let pg = &self.pg;
        let row = pg.block_on(async {
            let client = pg.client().await?;
            client
                .query_opt("SELECT value FROM meta WHERE name = 'keys_version'", &[])
                .await
                .map_err(crate::PgError::Db)
        })?;
        keys_version_of(row.map(|r| r.get(0))).map(Some)
    }

    fn forget(&mut self) {}

    fn cache_rows(&mut self) -> Result<Vec<CacheColumns>, AuthError> {
        let pg = &self.pg;
        let rows = pg.block_on(async {
            let client = pg.client().await?;
            client
                .query(&format!("{CACHE_COLUMNS} ORDER BY k.seq"), &[])
                .await
                .map_err(crate::PgError::Db)
        })?;
        Ok(rows.iter().map(cache_columns).collect())
    }
}
