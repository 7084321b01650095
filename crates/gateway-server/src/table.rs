//! The part of the server's state a config reload replaces whole: the providers,
//! the routing table and the model catalogue, built together from one effective
//! configuration (the file's, with the providers added at runtime).
//!
//! A request takes the current table once, when it is prepared, and keeps that
//! `Arc` to its end: a reload in the middle of it changes nothing it sees, and
//! the next request uses the new table.

use std::collections::BTreeSet;

use foldhash::HashMap;
use gateway_providers::{HttpClient, Provider};

use crate::app::provider_config;
use crate::catalog::Catalog;
use crate::config::{Config, ConfigError};
use crate::routing::Router;

/// Providers, routes and catalogue of one configuration.
#[derive(Debug)]
pub struct Table {
    pub(crate) providers: HashMap<String, Provider>,
    pub(crate) router: Router,
    pub(crate) catalog: Catalog,
    /// The providers added at runtime (the rest are the config file's).
    pub(crate) runtime: BTreeSet<String>,
    /// Counts the tables built since the start (1 is the first).
    pub(crate) generation: u64,
}

impl Table {
    /// Builds every provider of `config` (on the shared connection pool), its
    /// routes and its catalogue; `runtime` names the providers not from the file.
    pub(crate) fn build(
        config: &Config,
        client: &HttpClient,
        runtime: BTreeSet<String>,
        generation: u64,
    ) -> Result<Table, ConfigError> {
        let mut providers = HashMap::default();
        for (name, table) in &config.providers {
            let cfg = provider_config(name, table)?;
            let provider = Provider::new(name, &cfg, client).map_err(|e| {
                // The path names the setting at fault, as deserializing errors do.
                let at = match e.setting() {
                    Some(setting) => format!("providers.{name}.{setting}"),
                    None => format!("providers.{name}"),
                };
                ConfigError::invalid(at, e.to_string())
            })?;
            providers.insert(name.clone(), provider);
        }
        let catalog = Catalog::from_config(config);
        let router = Router::new(config, &catalog)?;
        Ok(Table {
            providers,
            router,
            catalog,
            runtime,
            generation,
        })
    }

    /// The provider called `name`.
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.get(name)
    }

    /// The providers by name, in no particular order.
    pub fn providers(&self) -> impl Iterator<Item = (&str, &Provider)> {
        self.providers.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// True when `name` was added at runtime rather than by the config file.
    pub fn is_runtime(&self, name: &str) -> bool {
        self.runtime.contains(name)
    }

    /// The routing table.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The model catalogue.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Which build this is (1 at start, one more per reload).
    pub fn generation(&self) -> u64 {
        self.generation
    }
}
