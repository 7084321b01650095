//! Patchbay's upstream adapters: what a provider is (kind, preset, config), how a
//! call reaches it (URL, headers, time limits, errors), and the built-in mock.
//!
//! The server resolves each `[providers.<name>]` table into a [`Provider`] sharing
//! one [`HttpClient`], encodes a request in [`Provider::shape`], and calls
//! [`Provider::send`]; it gets the reply headers and a [`BodyStream`] of chunks, or a
//! [`gateway_protocol::GatewayError`] with blame and retryability set.

pub mod aws;
mod body;
mod client;
mod error;
pub mod fetch;
mod google_auth;
pub mod mock;
mod plain;
pub mod presets;
mod provider;
mod quirks;
mod routes;
pub mod spec;
mod upstream;
mod vertex;

pub use body::BodyStream;
pub use client::HttpClient;
pub use error::ProviderError;
pub use fetch::{FetchPolicy, Fetched, MediaFetcher};
pub use mock::{MockAnswer, MockConfig, Scenario};
pub use provider::{ANTHROPIC_VERSION, Operation, Provider, UpstreamCall, UpstreamReply};
pub use routes::AZURE_API_VERSION;
pub use spec::{Preset, ProviderConfig, ProviderKind, Quirks, Timeouts, preset};
pub use upstream::retry_after;
pub use vertex::{CREDENTIALS_ENV, DEFAULT_LOCATION, VERTEX_ANTHROPIC_VERSION};
