//! Patchbay's limiter on Redis: the rates, token quotas and USD budgets of
//! gateway-auth's [`Limiter`](gateway_auth::Limiter) kept in one Redis server, so
//! several gateway instances share them exactly (issue 14).
//!
//! [`RedisLimiter`] answers an admission with one round trip: a Lua script that
//! checks every limit of the key and its project and reserves the request's estimate
//! atomically on the server, with the arithmetic of gateway-auth's
//! [`MemoryLimiter`](gateway_auth::MemoryLimiter) (same refusals, same remaining and
//! reset figures, to the millisecond). Settling or releasing a reservation is a
//! second script, sent from a spawned task so the answer never waits on it. When
//! Redis does not answer within the configured time, [`FailMode`] decides: refuse
//! with a 503 ([`Refused::unavailable`](gateway_auth::Refused::unavailable)) or admit
//! against a local in-memory limiter, with a rate-limited warning and a counter
//! ([`RedisLimiter::stats`]).
//!
//! [`RedisStore`] keeps bytes with a time to live (`SET PX` / `GET`): the response
//! cache's shared backend, where a failure is a miss, never an error.

mod config;
mod error;
mod keys;
mod limiter;
mod reply;
mod store;
mod tally;

pub use config::{FailMode, RedisConfig};
pub use error::{Error, StoreError};
pub use limiter::{RedisLimiter, Stats};
pub use store::RedisStore;
