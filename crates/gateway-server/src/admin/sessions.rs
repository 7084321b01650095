//! Where the console's sessions live: in the admin listener's memory on a single
//! instance, in the shared PostgreSQL database when `[storage] url` names one, so a
//! browser logged in through one instance behind a load balancer is logged in on
//! every instance (and a logout anywhere ends it everywhere).

use std::sync::Arc;

use gateway_console::session::{IdDigest, Pending};
use gateway_console::{ConsoleError, Policy, SessionRow, SessionStore, Sessions};
use gateway_postgres::{PgSessions, SessionLimits};

use crate::app::App;

/// The console sessions `app` keeps, by the default policy.
pub(crate) fn for_app(app: &App) -> Sessions {
    match &app.postgres {
        Some(pg) => Sessions::new(
            Arc::new(Shared(PgSessions::new(pg.clone()))),
            Policy::default(),
        ),
        None => Sessions::default(),
    }
}

/// The console's session store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct Shared(pub PgSessions);

fn limits(policy: Policy) -> SessionLimits {
    SessionLimits {
        idle_ms: policy.idle_ms(),
        lifetime_ms: policy.lifetime_ms(),
        max: i64::try_from(policy.max).unwrap_or(i64::MAX),
    }
}

fn store_error(e: gateway_postgres::PgError) -> ConsoleError {
    ConsoleError::Store(e.to_string())
}

impl SessionStore for Shared {
    fn insert(&self, row: SessionRow, policy: Policy) -> Pending<()> {
        let db = self.0.clone();
        Box::pin(async move {
            db.insert(row.digest, row.csrf, row.started_ms, limits(policy))
                .await
                .map_err(store_error)
        })
    }

    fn touch(&self, digest: IdDigest, now_ms: i64, policy: Policy) -> Pending<Option<String>> {
        let db = self.0.clone();
        Box::pin(async move {
            db.touch(digest, now_ms, limits(policy))
                .await
                .map_err(store_error)
        })
    }

    fn remove(&self, digest: IdDigest) -> Pending<bool> {
        let db = self.0.clone();
        Box::pin(async move { db.remove(digest).await.map_err(store_error) })
    }
}
