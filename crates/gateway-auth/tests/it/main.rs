//! gateway-auth's integration tests, one binary: the key store, the limiter, the
//! usage store, and the tower layers.
#![allow(clippy::unwrap_used)]

mod backends;
mod catch_up;
mod keys;
mod layers;
mod limits;
mod postgres_outage;
mod providers;
mod request_log;
mod responses;
mod usage;
mod usage_backends;
mod usage_failures;
