//! The gateway as a library: configuration, routing, the model catalogue,
//! authentication, the tower stack and the HTTP server built on them, the admin API,
//! and the mock provider served over HTTP. The `patchbay` crate is its command line.

pub mod accounting;
pub mod admin;
pub mod app;
mod attempts;
pub mod cache;
pub mod catalog;
mod chat;
pub mod config;
pub mod discovery;
mod estimate;
#[doc(hidden)]
pub mod fuzzing;
pub mod ingress;
pub mod layers;
pub mod listen;
pub mod mock_server;
pub mod observe;
mod ops;
pub mod reload;
pub mod respond;
pub mod responses;
pub mod routing;
pub mod stack;
pub mod table;

pub use stack::{Gateway, gateway_stack};
