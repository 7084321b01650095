//! Stored responses on PostgreSQL: `gateway-auth`'s [`ResponseDb`], so every
//! instance sharing the database can continue a chain another instance started.

use gateway_auth::{AuthError, ResponseDb, ResponseRow};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::pool::Postgres;

/// Stored responses in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgResponses {
    pg: Postgres,
}

impl PgResponses {
    /// Stored responses in `pg`.
    pub fn new(pg: Postgres) -> PgResponses {
        PgResponses { pg }
    }

    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, AuthError> {
        Ok(self.pg.query(sql, params)?)
    }

    fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, AuthError> {
        Ok(self.pg.execute(sql, params)?)
    }
}

const COLUMNS: &str = "id, key_id, project_id, created_ms, model, status, \
                       input_items, turns, response, input_tokens, output_tokens";

fn row(r: &Row) -> ResponseRow {
    ResponseRow {
        id: r.get(0),
        key_id: r.get(1),
        project_id: r.get(2),
        created_ms: r.get(3),
        model: r.get(4),
        status: r.get(5),
        input_items: r.get(6),
        turns: r.get(7),
        response: r.get(8),
        input_tokens: r.get(9),
        output_tokens: r.get(10),
    }
}

impl ResponseDb for PgResponses {
    fn put(&self, r: &ResponseRow) -> Result<(), AuthError> {
        self.execute(
            &format!(
                "INSERT INTO responses ({COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (id) DO UPDATE SET key_id = $2, project_id = $3,
                   created_ms = $4, model = $5, status = $6, input_items = $7,
                   turns = $8, response = $9, input_tokens = $10, output_tokens = $11"
            ),
            &[
                &r.id,
                &r.key_id,
                &r.project_id,
                &r.created_ms,
                &r.model,
                &r.status,
                &r.input_items,
                &r.turns,
                &r.response,
                &r.input_tokens,
                &r.output_tokens,
            ],
        )
        .map(drop)
    }

    fn get(&self, id: &str) -> Result<Option<ResponseRow>, AuthError> {
        let sql = format!("SELECT {COLUMNS} FROM responses WHERE id = $1");
        Ok(self.query(&sql, &[&id])?.first().map(row))
    }

    fn delete(&self, id: &str) -> Result<bool, AuthError> {
        Ok(self.execute("DELETE FROM responses WHERE id = $1", &[&id])? > 0)
    }

    fn purge(&self, before_ms: i64) -> Result<u64, AuthError> {
        self.execute("DELETE FROM responses WHERE created_ms < $1", &[&before_ms])
    }
}
