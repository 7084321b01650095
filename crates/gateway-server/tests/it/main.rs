//! The gateway's integration tests, one binary (one link, one file on disk) for all:
//! loopback mock upstreams of each shape, the gateway in-process, real HTTP between
//! them. The `patchbay` binary's own tests are in `crates/patchbay/tests/it/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod admin_limits;
mod cache;
mod charging;
mod connections;
mod console;
mod console_sessions;
mod cors;
mod dashboard;
mod discovery;
mod endpoints;
mod failures;
mod faults;
mod headers;
mod keys;
mod limits;
mod live;
mod matrix;
mod media;
mod memory;
mod mock_server;
mod observe;
mod ollama_ingress;
mod reload;
mod responses_reasoning;
mod responses_socket;
mod responses_state;
mod shared_limits;
mod stream_end;
mod stuck_database;
mod support;
mod threads;
mod tls;
mod traces;
mod transforms;
mod unreachable;
mod vertex;
