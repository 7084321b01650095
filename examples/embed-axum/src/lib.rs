//! An axum app that mounts the whole Patchbay gateway under `/llm` beside its own
//! routes, and guards one of its own routes with Patchbay's key check.
//!
//! - `GET /hello`: the app's own, open route.
//! - `GET /private`: the app's own route behind gateway-auth's [`KeyLayer`]: the same
//!   keys as the gateway, refused with a JSON 401.
//! - `/llm/...`: the gateway, every API shape (`/llm/v1/chat/completions`,
//!   `/llm/v1/responses`, `/llm/v1/messages`, `/llm/v1beta/models/{m}:generateContent`,
//!   ...). axum strips the prefix, so SDKs use `http://host/llm` (or `.../llm/v1`) as
//!   their base URL.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use gateway_auth::layer::JsonReject;
use gateway_auth::{Entry, KeyLayer, KeySources};
use gateway_server::Gateway;
use gateway_server::config::{Config, ConfigError};

/// The app for `config` (the gateway's providers, routes and keys).
pub fn app(config: &Config) -> Result<Router, ConfigError> {
    let gateway = Gateway::from_config(config)?;
    let keys = gateway.app().keys().clone();
    let private = get(
        |axum::Extension(entry): axum::Extension<Arc<Entry>>| async move {
            format!("hello, {}", entry.name)
        },
    )
    .layer(KeyLayer::new(keys, KeySources::AnyShape, JsonReject));
    Ok(Router::new()
        .route("/hello", get(|| async { "hello from the app" }))
        .route("/private", private)
        .nest_service("/llm", gateway))
}
