//! The operator console's sessions on PostgreSQL, so a browser logged in through one
//! instance is logged in on all of them. Unlike the other stores here this one is
//! async: the console checks a session inside the admin listener's request
//! handling, and waits for this store's runtime without blocking a worker.

use crate::error::PgError;
use crate::pool::Postgres;

/// The digest of a session id (the store never sees the id itself).
pub type SessionDigest = [u8; 32];

/// Console sessions in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgSessions {
    pg: Postgres,
}

/// How long sessions last and how many are kept, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// A session unused this long has ended.
    pub idle_ms: i64,
    /// A session this old has ended.
    pub lifetime_ms: i64,
    /// Sessions kept at most; past it the least recently used go.
    pub max: i64,
}

impl PgSessions {
    /// Console sessions in `pg`.
    pub fn new(pg: Postgres) -> PgSessions {
        PgSessions { pg }
    }

    /// Keeps a new session started at `now_ms`, after forgetting the ended ones and,
    /// past `limits.max`, the least recently used.
    pub async fn insert(
        &self,
        digest: SessionDigest,
        csrf: String,
        now_ms: i64,
        limits: SessionLimits,
    ) -> Result<(), PgError> {
        let pg = self.pg.clone();
        self.pg
            .run(async move {
                let mut client = pg.client().await?;
                let tx = client.transaction().await?;
                tx.execute(
                    "DELETE FROM console_sessions \
                     WHERE last_used_ms <= $1::BIGINT - $2::BIGINT OR started_ms <= $1::BIGINT - $3::BIGINT",
                    &[&now_ms, &limits.idle_ms, &limits.lifetime_ms],
                )
                .await?;
                tx.execute(
                    "DELETE FROM console_sessions WHERE id_digest IN (\
                         SELECT id_digest FROM console_sessions \
                         ORDER BY last_used_ms DESC OFFSET $1::BIGINT)",
                    &[&(limits.max.max(1) - 1)],
                )
                .await?;
                tx.execute(
                    "INSERT INTO console_sessions (id_digest, csrf, started_ms, last_used_ms) \
                     VALUES ($1, $2, $3, $3)",
                    &[&digest.as_slice(), &csrf, &now_ms],
                )
                .await?;
                tx.commit().await?;
                Ok(())
            })
            .await
    }

    /// The CSRF token of session `digest` if it is live at `now_ms`, marking it used;
    /// `None` if it is unknown or has ended (an ended one is forgotten).
    pub async fn touch(
        &self,
        digest: SessionDigest,
        now_ms: i64,
        limits: SessionLimits,
    ) -> Result<Option<String>, PgError> {
        let pg = self.pg.clone();
        self.pg
            .run(async move {
                let client = pg.client().await?;
                let id = digest.as_slice();
                let live = client
                    .query_opt(
                        "UPDATE console_sessions SET last_used_ms = GREATEST(last_used_ms, $2) \
                         WHERE id_digest = $1 AND last_used_ms > $2::BIGINT - $3::BIGINT \
                         AND started_ms > $2::BIGINT - $4::BIGINT \
                         RETURNING csrf",
                        &[&id, &now_ms, &limits.idle_ms, &limits.lifetime_ms],
                    )
                    .await?;
                match live {
                    Some(row) => Ok(Some(row.get(0))),
                    None => {
                        client
                            .execute("DELETE FROM console_sessions WHERE id_digest = $1", &[&id])
                            .await?;
                        Ok(None)
                    }
                }
            })
            .await
    }

    /// Forgets session `digest`; whether it was kept.
    pub async fn remove(&self, digest: SessionDigest) -> Result<bool, PgError> {
        let pg = self.pg.clone();
        self.pg
            .run(async move {
                let client = pg.client().await?;
                let n = client
                    .execute(
                        "DELETE FROM console_sessions WHERE id_digest = $1",
                        &[&digest.as_slice()],
                    )
                    .await?;
                Ok(n > 0)
            })
            .await
    }
}
