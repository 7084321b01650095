//! `[discovery]`: fetching each provider's own model list, so `GET /v1/models` can
//! name the models glob and default routes reach.

use serde::Deserialize;

/// `[discovery]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    /// Ask the providers for their model lists (at start, then every `refresh_secs`).
    pub enabled: bool,
    /// Seconds between two fetches of a provider's list; a failed fetch keeps the
    /// last good list and is tried again after a tenth of this.
    pub refresh_secs: u64,
    /// How long one provider's list may take.
    pub timeout_ms: u64,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            enabled: true,
            refresh_secs: 600,
            timeout_ms: 10_000,
        }
    }
}
