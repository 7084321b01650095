//! The `patchbay` binary's integration tests, one binary (one link, one file on disk)
//! for all: the built binary run as a user runs it (`serve`, `check`, `keys`, `usage`,
//! `connect`, `disconnect`, `env`), against scratch directories and a temporary HOME.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_pages;
mod cli;
mod connect;
mod instances;
