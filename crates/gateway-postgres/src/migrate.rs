//! Versioned migrations: each file of `schema/` runs once, in order, in a transaction
//! of its own, recorded in `patchbay_schema`. Instances starting together take turns
//! under an advisory lock, so each migration runs exactly once.

use tokio_postgres::Client;

use crate::error::PgError;

/// The migrations, oldest first; a migration's version is its place here, from 1.
const MIGRATIONS: &[(&str, &str)] = &[
    ("001_keys", include_str!("schema/001_keys.sql")),
    ("002_usage", include_str!("schema/002_usage.sql")),
    (
        "003_runtime_providers",
        include_str!("schema/003_runtime_providers.sql"),
    ),
    (
        "004_console_sessions",
        include_str!("schema/004_console_sessions.sql"),
    ),
    (
        "005_response_cache_hits",
        include_str!("schema/005_response_cache_hits.sql"),
    ),
    ("006_responses", include_str!("schema/006_responses.sql")),
];

/// The advisory lock taken while migrating ("pbmigrat" in ASCII).
const MIGRATION_LOCK: i64 = 0x7062_6d69_6772_6174;

/// The newest schema version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the database's schema up to [`latest`]; returns the version found.
pub async fn run(client: &mut Client) -> Result<i64, PgError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let ran = run_locked(client).await;
    // Unlocked whatever happened; the session ending would unlock it too.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let found = ran?;
    unlocked?;
    Ok(found)
}

async fn run_locked(client: &mut Client) -> Result<i64, PgError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS patchbay_schema (\
                 version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)",
        )
        .await?;
    let found: i64 = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM patchbay_schema", &[])
        .await?
        .get(0);
    if found > latest() {
        return Err(PgError::SchemaTooNew {
            found,
            known: latest(),
        });
    }
    for (version, (name, sql)) in (1_i64..).zip(MIGRATIONS).skip(found as usize) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO patchbay_schema (version, name, applied_ms) \
             VALUES ($1, $2, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT)",
            &[&version, name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "postgres schema migrated");
    }
    Ok(found)
}
