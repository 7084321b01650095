//! The `patchbay` command line over the gateway crates: the clap definitions, what
//! each command does (`serve`, `check`, `mock`, `keys`, `usage`, `connect`,
//! `disconnect`, `env`), and what they print. The gateway itself (config, routing,
//! the HTTP layer, the admin API) is `gateway-server`; this crate only wires it up.

mod banner;
pub mod cli;
pub mod connect;
pub mod keys_cli;
pub mod run;
pub mod usage_cli;
