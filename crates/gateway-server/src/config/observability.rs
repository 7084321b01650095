//! `[metrics]`, `[access_log]` and `[tracing]`: what the gateway tells its operator.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// `[metrics]`: Prometheus `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `GET /metrics` on the admin listener (the admin token, or the scrape
    /// credentials below).
    pub enabled: bool,
    /// Also serve it on the main listener, behind the scrape credentials only (the
    /// admin token is never asked for there).
    pub main_listener: bool,
    /// Label per-key series with the key's public id (`patchbay_key_*`): one series
    /// per key, so off unless the key count is known to stay small.
    pub key_labels: bool,
    /// Basic-auth user name a scraper presents (with `password`).
    pub username: Option<String>,
    /// Basic-auth password (use `${ENV}`).
    pub password: Option<String>,
    /// A bearer token a scraper presents instead of basic auth (use `${ENV}`).
    pub token: Option<String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            main_listener: false,
            key_labels: false,
            username: None,
            password: None,
            token: None,
        }
    }
}

impl MetricsConfig {
    /// Whether scrape credentials (basic auth or a token) are configured.
    pub fn has_credentials(&self) -> bool {
        self.token.is_some() || (self.username.is_some() && self.password.is_some())
    }
}

/// `[access_log]`: one line per request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessLogConfig {
    /// `"text"` (`key=value` pairs), `"json"` (one object a line) or `"off"`.
    pub format: AccessLogFormat,
    /// A file to append to; standard error when unset.
    pub path: Option<PathBuf>,
    /// Lines for refused keys (401) per minute at most; the rest are counted and
    /// their number written with the next line let through, so a caller guessing
    /// keys cannot flood the log.
    pub auth_failures_per_minute: u32,
}

impl Default for AccessLogConfig {
    fn default() -> Self {
        AccessLogConfig {
            format: AccessLogFormat::Text,
            path: None,
            auth_failures_per_minute: 60,
        }
    }
}

/// `[access_log] format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLogFormat {
    /// `key=value` pairs, values quoted when they need it.
    Text,
    /// One JSON object per line.
    Json,
    /// No access log.
    Off,
}

/// `[tracing]`: OpenTelemetry traces over OTLP.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// The OTLP collector: `http://host:4318` (HTTP, `/v1/traces` appended) or
    /// `http://host:4317` (gRPC). No traces when unset.
    pub otlp_endpoint: Option<String>,
    /// `"http"` (protobuf over HTTP) or `"grpc"`.
    pub protocol: OtlpProtocol,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// The share of requests traced (0 to 1) when the caller's `traceparent` does
    /// not decide; a caller's sampled flag is followed.
    pub sample_ratio: f64,
    /// Extra headers sent to the collector (an API key, say; use `${ENV}`).
    pub headers: BTreeMap<String, String>,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            otlp_endpoint: None,
            protocol: OtlpProtocol::Http,
            service_name: "patchbay".to_owned(),
            sample_ratio: 1.0,
            headers: BTreeMap::new(),
        }
    }
}

/// `[tracing] protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtlpProtocol {
    /// OTLP/HTTP with protobuf bodies.
    Http,
    /// OTLP/gRPC.
    Grpc,
}
