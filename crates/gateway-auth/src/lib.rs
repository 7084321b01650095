//! Virtual keys and what they may spend: the SQLite store (keys, projects, usage),
//! the in-memory key cache the hot path reads, rate limits, quotas and budgets.
//!
//! Depends on `gateway-protocol` only among the workspace's crates (`protocol <-
//! auth <- server`), and on no async runtime. Its key check and its limiter are also
//! tower layers ([`layer`]) that sit in front of any `Service<http::Request<_>>`:
//! the gateway's own stack uses them, and so can any other service.

pub mod admin_token;
pub mod cache;
pub mod error;
pub mod glob;
pub mod identity;
pub mod keys;
pub mod layer;
pub mod limits;
pub mod migrate;
pub mod policy;
pub mod responses;
pub mod secret;
pub mod upstreams;
pub mod usage;
pub mod vault;

pub use admin_token::AdminToken;
pub use identity::{DeclaredKey, KeySources, Keys, presented_key, refusal_message};
pub use layer::{Admission, Exempt, KeyLayer, LimitLayer, Reject, Rejection};

pub use cache::{Entry, KeyCache, ProjectLimits, Refusal};
pub use error::AuthError;
pub use keys::{
    KeyRecord, KeyState, KeyStore, KeyStyle, KeyUpdate, NewKey, NewProject, ProjectRecord,
    ProjectUpdate,
};
pub use limits::{
    Actual, Admit, AdmitFuture, Estimate, HeaderFamily, LimitKind, LimitStatus, LimitUsage,
    Limiter, MemoryLimiter, RateStatus, Refused, Reservation, Scope, Window,
};
pub use policy::{KeyPolicy, Limits, MaxTokensMode, Metadata, Subject};
pub use responses::{Owner, ResponseDb, ResponseRow, ResponseStore, Share};
pub use upstreams::{KeyChange, ProviderDb, ProviderRow, StoredUpstream, UpstreamStore};
pub use usage::{UsageRecord, UsageWriter};
pub use vault::{MasterKey, Vault, VaultError};
