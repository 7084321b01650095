//! `[media]`: the gateway's fetching of media URLs.

use serde::Deserialize;

/// `[media]`: images and documents given by URL are fetched by the gateway (and sent
/// inline) when the upstream cannot read URLs (Gemini, Ollama).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Fetch at all (off: such requests get a 400 saying to send the media inline).
    pub fetch_urls: bool,
    /// Also fetch from loopback, private and link-local addresses (off: a caller
    /// could otherwise make the gateway read its own network).
    pub allow_private: bool,
    /// The largest file fetched, in bytes.
    pub max_bytes: u64,
    /// Time for one fetch, redirects and body included, in milliseconds. All of a
    /// request's fetches together also end at its route's `timeout_ms`.
    pub timeout_ms: u64,
    /// The most distinct URLs fetched for one request (the same URL twice is fetched
    /// once); past it the request gets a 400 and nothing is fetched.
    pub max_urls: u64,
    /// The most bytes fetched for one request, all its URLs together, and put inline
    /// (a URL named twice counts twice there); past it the request gets a 400.
    pub max_total_bytes: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        let policy = gateway_providers::FetchPolicy::default();
        MediaConfig {
            fetch_urls: policy.enabled,
            allow_private: policy.allow_private,
            max_bytes: policy.max_bytes as u64,
            timeout_ms: policy.timeout.as_millis() as u64,
            max_urls: policy.max_urls as u64,
            max_total_bytes: policy.max_total_bytes as u64,
        }
    }
}

impl MediaConfig {
    /// The fetch policy these settings describe.
    pub fn policy(&self) -> gateway_providers::FetchPolicy {
        gateway_providers::FetchPolicy {
            enabled: self.fetch_urls,
            allow_private: self.allow_private,
            max_bytes: usize::try_from(self.max_bytes).unwrap_or(usize::MAX),
            timeout: std::time::Duration::from_millis(self.timeout_ms),
            max_urls: usize::try_from(self.max_urls).unwrap_or(usize::MAX),
            max_total_bytes: usize::try_from(self.max_total_bytes).unwrap_or(usize::MAX),
        }
    }
}
