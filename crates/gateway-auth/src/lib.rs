//! Virtual keys and what they may spend: the SQLite store (keys, projects, usage),
//! the in-memory key cache the hot path reads, rate limits, quotas and budgets.
//!
//! Depends on `gateway-protocol` only (`protocol <- auth <- server`): no HTTP, no
//! async runtime. The server wraps these in its tower layers.

pub mod cache;
pub mod error;
pub mod keys;
pub mod limits;
pub mod migrate;
pub mod policy;
pub mod usage;

pub use cache::{Entry, KeyCache, ProjectLimits, Refusal};
pub use error::AuthError;
pub use keys::{
    KeyRecord, KeyState, KeyStore, KeyStyle, KeyUpdate, NewKey, NewProject, ProjectRecord,
    ProjectUpdate,
};
pub use limits::{
    Actual, Estimate, LimitKind, LimitStatus, Limiter, MemoryLimiter, Refused, Reservation, Scope,
};
pub use policy::{KeyPolicy, Limits, MaxTokensMode, Metadata, Subject};
pub use usage::{UsageRecord, UsageWriter};
