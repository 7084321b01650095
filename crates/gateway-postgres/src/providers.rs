//! Runtime providers on PostgreSQL: `gateway-auth`'s [`ProviderDb`]. Every change
//! is announced with `NOTIFY`, so the other instances rebuild their providers.

use std::sync::Arc;

use gateway_auth::{AuthError, ProviderDb, ProviderRow};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::PgError;
use crate::pool::Postgres;

/// The channel provider changes are announced on.
const CHANNEL: &str = "patchbay_providers";

/// Runtime providers in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgProviders {
    pg: Postgres,
}

impl PgProviders {
    /// Runtime providers in `pg`.
    pub fn new(pg: Postgres) -> PgProviders {
        PgProviders { pg }
    }

    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, AuthError> {
        Ok(self.pg.query(sql, params)?)
    }

    /// Runs `sql` and announces the change, in one transaction; rows changed.
    fn change(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, AuthError> {
        let pg = &self.pg;
        Ok(pg.block_on(async {
            let mut client = pg.client().await?;
            let tx = client.transaction().await?;
            let n = tx.execute(sql, params).await?;
            tx.batch_execute(&format!("NOTIFY {CHANNEL}")).await?;
            tx.commit().await?;
            Ok::<_, PgError>(n)
        })?)
    }
}

const COLUMNS: &str = "name, settings, api_key, created_ms, updated_ms";

fn row(r: &Row) -> ProviderRow {
    ProviderRow {
        name: r.get(0),
        settings: r.get(1),
        api_key: r.get(2),
        created_ms: r.get(3),
        updated_ms: r.get(4),
    }
}

impl ProviderDb for PgProviders {
    fn rows(&self) -> Result<Vec<ProviderRow>, AuthError> {
        let sql = format!("SELECT {COLUMNS} FROM runtime_providers ORDER BY name");
        Ok(self.query(&sql, &[])?.iter().map(row).collect())
    }

    fn row(&self, name: &str) -> Result<Option<ProviderRow>, AuthError> {
        let sql = format!("SELECT {COLUMNS} FROM runtime_providers WHERE name = $1");
        Ok(self.query(&sql, &[&name])?.first().map(row))
    }

    fn upsert(&self, r: &ProviderRow) -> Result<(), AuthError> {
        self.change(
            "INSERT INTO runtime_providers (name, settings, api_key, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO UPDATE SET settings = $2, api_key = $3, updated_ms = $5",
            &[
                &r.name,
                &r.settings,
                &r.api_key,
                &r.created_ms,
                &r.updated_ms,
            ],
        )
        .map(drop)
    }

    fn remove(&self, name: &str) -> Result<bool, AuthError> {
        let n = self.change("DELETE FROM runtime_providers WHERE name = $1", &[&name])?;
        Ok(n > 0)
    }

    fn set_key(&self, name: &str, sealed: &[u8]) -> Result<(), AuthError> {
        self.change(
            "UPDATE runtime_providers SET api_key = $1 WHERE name = $2",
            &[&sealed, &name],
        )
        .map(drop)
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
