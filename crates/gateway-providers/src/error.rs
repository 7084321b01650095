//! `ProviderError`: what can be wrong with a provider's configuration.
//!
//! Upstream failures at request time are [`gateway_protocol::GatewayError`]s; this
//! enum is only for problems found while building a [`crate::Provider`] or the
//! [`crate::HttpClient`]. Messages name the provider and the setting to fix and never
//! contain a key.

/// A provider that cannot be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// `preset = "…"` names no known preset.
    #[error("provider `{provider}`: unknown preset `{preset}`; known presets: {known}")]
    UnknownPreset {
        /// The provider's name.
        provider: String,
        /// The preset asked for.
        preset: String,
        /// The known preset names, comma-separated.
        known: String,
    },
    /// `preset` was given for a kind other than `openai_compatible`.
    #[error(
        "provider `{provider}`: `preset` only applies to kind = \"openai_compatible\" (this one is `{kind}`); remove it or change the kind"
    )]
    PresetNeedsCompatible {
        /// The provider's name.
        provider: String,
        /// The configured kind.
        kind: &'static str,
    },
    /// The kind has no default base URL and none was configured.
    #[error(
        "provider `{provider}`: kind `{kind}` needs `base_url` (e.g. {example}); set it, or use a `preset`"
    )]
    MissingBaseUrl {
        /// The provider's name.
        provider: String,
        /// The configured kind.
        kind: &'static str,
        /// An example value.
        example: &'static str,
    },
    /// The kind or preset needs an API key and none was configured.
    #[error("provider `{provider}`: kind `{kind}` needs `api_key` (e.g. api_key = \"${{{env}}}\")")]
    MissingApiKey {
        /// The provider's name.
        provider: String,
        /// The configured kind (or preset).
        kind: String,
        /// The environment variable people usually keep it in.
        env: &'static str,
    },
    /// `base_url` does not parse or is not http(s).
    #[error("provider `{provider}`: base_url `{url}` is not usable: {reason}")]
    BadUrl {
        /// The provider's name.
        provider: String,
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configured header name or value is not valid HTTP.
    #[error("provider `{provider}`: header `{header}` is not valid HTTP: {reason}")]
    BadHeader {
        /// The provider's name.
        provider: String,
        /// The header's name (values are never printed: they may be secrets).
        header: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting that does not apply to this kind.
    #[error("provider `{provider}`: `{setting}` does not apply to kind `{kind}`; remove it")]
    NotForKind {
        /// The provider's name.
        provider: String,
        /// The setting.
        setting: &'static str,
        /// The configured kind.
        kind: &'static str,
    },
    /// The kind needs a setting that is not configured.
    #[error("provider `{provider}`: kind `{kind}` needs `{setting}` (e.g. {example})")]
    MissingSetting {
        /// The provider's name.
        provider: String,
        /// The configured kind.
        kind: &'static str,
        /// The setting to add.
        setting: &'static str,
        /// An example line.
        example: &'static str,
    },
    /// A setting's value cannot be used.
    #[error("provider `{provider}`: `{setting}` is not usable: {reason}")]
    BadSetting {
        /// The provider's name.
        provider: String,
        /// The setting.
        setting: &'static str,
        /// What is wrong with it (never the value: it may be a secret).
        reason: String,
    },
    /// A service-account key file that cannot be used.
    #[error(
        "provider `{provider}`: the service-account key `{path}` (from {from}) is not usable: {reason}"
    )]
    BadCredentials {
        /// The provider's name.
        provider: String,
        /// Where its path came from: `credentials_file` or the environment variable.
        from: &'static str,
        /// The file's path.
        path: String,
        /// What is wrong with it (never the key).
        reason: String,
    },
    /// The HTTP client could not be built (TLS roots, resolver).
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}

impl ProviderError {
    /// The setting of the provider's table to fix (`base_url`, `api_key`, ...), so
    /// an error can name its key's path; `None` when no one setting is at fault.
    pub fn setting(&self) -> Option<&'static str> {
        match self {
            ProviderError::UnknownPreset { .. } | ProviderError::PresetNeedsCompatible { .. } => {
                Some("preset")
            }
            ProviderError::MissingBaseUrl { .. } | ProviderError::BadUrl { .. } => Some("base_url"),
            ProviderError::MissingApiKey { .. } => Some("api_key"),
            ProviderError::BadHeader { .. } => Some("headers"),
            ProviderError::NotForKind { setting, .. }
            | ProviderError::MissingSetting { setting, .. }
            | ProviderError::BadSetting { setting, .. } => Some(setting),
            ProviderError::BadCredentials { .. } => Some("credentials_file"),
            ProviderError::Client(_) => None,
        }
    }
}
