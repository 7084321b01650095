//! Patchbay's store on PostgreSQL, for several gateway instances that share keys,
//! projects, usage, runtime providers and the console's sessions: the second implementation of `gateway-auth`'s store traits (SQLite is
//! the first, and the default).
//!
//! The driver is async (`tokio-postgres`, pooled by `deadpool-postgres`) and runs on
//! a small runtime of this crate's own. The store traits are synchronous because
//! their callers are already off the async workers (blocking tasks, the CLI, the
//! key watch's thread); they wait here for the driver's futures.
//!
//! Migrations are versioned and this crate's own ([`migrate`]); every instance runs
//! them at start, one at a time under an advisory lock.

mod error;
mod keys;
pub mod migrate;
mod notify;
mod pool;
mod providers;
mod responses;
mod sessions;
mod usage;

pub use error::PgError;
pub use keys::PgKeys;
pub use pool::{Postgres, PostgresOptions, check_url};
pub use providers::PgProviders;
pub use responses::PgResponses;
pub use sessions::{PgSessions, SessionDigest, SessionLimits};
pub use usage::PgUsage;
