//! The configuration file: one TOML document, `${ENV}` interpolation, unknown keys
//! rejected with their path, cross-references checked before anything starts.
//!
//! Loading goes in three steps, each with its own kind of error:
//! 1. parse the text into a TOML table (syntax errors carry line and column);
//! 2. replace `${NAME}` in every string from the environment (a missing variable is
//!    named together with the key that uses it; `$${` writes a literal `${`);
//! 3. deserialize into [`Config`] through `serde_path_to_error`, so a typo is reported
//!    as "unknown field `tiemout` at `routes[2]`", then [`validate`] the whole.

mod cache;
mod discovery;
mod interpolate;
mod limits;
mod media;
mod observability;
mod responses;
mod server;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use cache::{CacheBackend, CacheConfig, CacheScope};
pub use discovery::DiscoveryConfig;
pub use interpolate::interpolate;
pub use limits::{FailMode, LimitsConfig};
pub use media::MediaConfig;
pub use observability::{
    AccessLogConfig, AccessLogFormat, MetricsConfig, OtlpProtocol, TracingConfig,
};
pub use responses::{ResponsesConfig, Share as ResponsesShare};
pub use server::{
    CorsConfig, DEFAULT_LISTEN, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SHUTDOWN_GRACE_SECS, RuntimeLayout, ServerConfig, TlsConfig,
};
pub use validate::validate;

/// The model name a route pattern uses to be the default route.
pub const DEFAULT_ROUTE_PATTERN: &str = "*";

/// A whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: listener and limits.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[providers.<name>]`: each provider's table, validated by `gateway-providers`.
    #[serde(default)]
    pub providers: BTreeMap<String, toml::Table>,
    /// `[[routes]]`, in file order (globs are tried in this order).
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// `[aliases]`: extra model names mapped to another name (which resolves again).
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// `[auto]`: how the `auto` model picks a model.
    #[serde(default)]
    pub auto: Option<AutoConfig>,
    /// `[catalog.<model>]`: overrides of the bundled model catalogue.
    #[serde(default)]
    pub catalog: BTreeMap<String, CatalogOverride>,
    /// `[[keys]]`: keys declared in the file (hashed), accepted beside the database's.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// `[storage]`: the SQLite database of keys and usage.
    #[serde(default)]
    pub storage: StorageConfig,
    /// `[limits]`: where keys' rates, quotas and budgets are kept (Redis, shared by
    /// several instances, or this process).
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[key_defaults]`: the policy of new keys that do not give one.
    #[serde(default)]
    pub key_defaults: gateway_auth::KeyPolicy,
    /// `[admin]`: the admin API's listener and token.
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[media]`: fetching media URLs for upstreams that take media inline only.
    #[serde(default)]
    pub media: MediaConfig,
    /// `[metrics]`: Prometheus `/metrics`.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[access_log]`: one line per request.
    #[serde(default)]
    pub access_log: AccessLogConfig,
    /// `[tracing]`: OpenTelemetry traces over OTLP.
    #[serde(default)]
    pub tracing: TracingConfig,
    /// `[discovery]`: the providers' own model lists, for `GET /v1/models`.
    #[serde(default)]
    pub discovery: DiscoveryConfig,
    /// `[cache]`: the response cache (exact match), off by default.
    #[serde(default)]
    pub cache: CacheConfig,
    /// `[responses]`: Responses API state kept by the gateway.
    #[serde(default)]
    pub responses: ResponsesConfig,
    /// Things that work but deserve a word (plain-text secrets, ...). Not read from
    /// the file; filled by validation.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// `[storage]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// The database file, created on first use (`":memory:"`: a private in-memory
    /// database, gone at exit — for tests). Relative paths are relative to the working
    /// directory.
    pub path: PathBuf,
    /// Days the per-request log is kept (hourly rollups are kept for ever); unset
    /// keeps every request.
    pub retention_days: Option<u32>,
    /// MiB the usage records waiting to be written may take (a locked database or a
    /// full disk holds them while their batch is retried); past it new records are
    /// dropped and counted. Unset: 256.
    pub usage_queue_mib: Option<std::num::NonZeroU32>,
    /// The file holding the master key that seals the upstream keys of providers
    /// added at runtime (created, mode 0600, at the first start; unless
    /// `PATCHBAY_MASTER_KEY` gives the key). Unset: the database's path with the
    /// extension `.key`.
    pub master_key_file: Option<PathBuf>,
    /// A PostgreSQL database (`postgres://user:password@host:port/database`) for
    /// keys, projects, usage records, rollups, the request log and runtime
    /// providers, shared by every instance that names it, instead of the SQLite file
    /// (instances sharing runtime providers need the same `PATCHBAY_MASTER_KEY`).
    pub url: Option<String>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: PathBuf::from(DEFAULT_DATABASE),
            retention_days: None,
            usage_queue_mib: None,
            master_key_file: None,
            url: None,
        }
    }
}

/// `[admin]`: the admin API, on its own listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve the admin API at all.
    pub enabled: bool,
    /// Its address (loopback by default: it manages keys).
    pub listen: SocketAddr,
    /// The admin token in plain text (use `${ENV}`); without it (and without
    /// `token_sha256`), one is generated at first start, printed once, stored hashed.
    pub token: Option<String>,
    /// The SHA-256 (hex) of the admin token, instead of the token.
    pub token_sha256: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 4001)),
            token: None,
            token_sha256: None,
        }
    }
}

/// The database file when `[storage] path` is not set.
pub const DEFAULT_DATABASE: &str = "patchbay.db";

/// One `[[routes]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The route's name in logs, headers and `fallbacks`; defaults to `model`.
    #[serde(default)]
    pub name: Option<String>,
    /// The public model name: exact, or a glob with `*` and `?`. `"*"` is the default
    /// route, tried last whatever its place in the file.
    pub model: String,
    /// Other exact names for this route.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Where requests go.
    pub targets: Vec<TargetConfig>,
    /// How targets are ordered for one request.
    #[serde(default)]
    pub strategy: Strategy,
    /// Tried after this route's own targets: route names, `provider/model` strings or
    /// target tables.
    #[serde(default)]
    pub fallbacks: Vec<FallbackConfig>,
    /// Extra tries of the same target on a retryable failure before moving on.
    #[serde(default)]
    pub retries: Option<u32>,
    /// Per-attempt time limit until the upstream's response head arrives.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// First backoff step before a retry (full jitter, doubling).
    #[serde(default)]
    pub backoff_ms: Option<u64>,
    /// Cap of the backoff.
    #[serde(default)]
    pub backoff_max_ms: Option<u64>,
    /// The response cache for this route: `true` on, `false` off; unset,
    /// `[cache] enabled` decides (a key's policy overrides both).
    #[serde(default)]
    pub cache: Option<bool>,
}

impl RouteConfig {
    /// The route's name: `name`, else `model`.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.model)
    }

    /// Whether `model` is a glob pattern rather than an exact name.
    pub fn is_pattern(&self) -> bool {
        is_glob(&self.model)
    }

    /// Whether this is the default route (`model = "*"`).
    pub fn is_default(&self) -> bool {
        self.model == DEFAULT_ROUTE_PATTERN
    }
}

/// Whether a model name contains glob metacharacters.
pub fn is_glob(name: &str) -> bool {
    name.contains(['*', '?'])
}

/// One target of a route.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// A key of `[providers]`.
    pub provider: String,
    /// The upstream model; when absent, the requested model name is sent as is.
    #[serde(default)]
    pub model: Option<String>,
    /// Relative weight under the `weighted` strategy (default 1; must be > 0).
    #[serde(default)]
    pub weight: Option<f64>,
}

/// How a route orders its targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// In file order: the first is the primary, the rest are fallbacks.
    #[default]
    Ordered,
    /// A weighted random draw decides the order for each request.
    Weighted,
}

/// One entry of a route's `fallbacks`: a string or a target table.
#[derive(Debug, Clone, PartialEq)]
pub enum FallbackConfig {
    /// A route name, or `provider/model`.
    Name(String),
    /// An explicit target.
    Target(TargetConfig),
}

impl<'de> Deserialize<'de> for FallbackConfig {
    // By hand rather than `untagged`, so a typo inside a target table is reported
    // as such instead of "did not match any variant".
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = FallbackConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a route name, `provider/model`, or a table {provider, model}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FallbackConfig::Name(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                TargetConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(FallbackConfig::Target)
            }
        }
        d.deserialize_any(V)
    }
}

/// `[auto]`: rules for the `auto` model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoConfig {
    /// The public name that triggers the rules (default `auto`).
    #[serde(default = "default_auto_name")]
    pub model: String,
    /// Rules in order; the first whose `when` holds picks the model.
    #[serde(default)]
    pub rules: Vec<AutoRule>,
    /// The model when no rule holds.
    #[serde(default)]
    pub otherwise: Option<String>,
    /// When no rule holds (and no `otherwise`): the cheapest catalogue model among the
    /// configured targets that satisfies the request's needs.
    #[serde(default)]
    pub cheapest: bool,
}

fn default_auto_name() -> String {
    "auto".to_owned()
}

/// `[[auto.rules]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoRule {
    /// Conditions, all of which must hold (an empty `when` always holds).
    #[serde(default)]
    pub when: AutoWhen,
    /// The model name to use (resolved like any requested name).
    pub model: String,
}

/// Conditions of an auto rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoWhen {
    /// The request declares tools (or does not, when `false`).
    #[serde(default)]
    pub needs_tools: Option<bool>,
    /// The request carries images (or does not, when `false`).
    #[serde(default)]
    pub needs_images: Option<bool>,
    /// The estimated prompt has at least this many tokens.
    #[serde(default)]
    pub min_prompt_tokens: Option<u64>,
    /// The estimated prompt has at most this many tokens.
    #[serde(default)]
    pub max_prompt_tokens: Option<u64>,
}

/// `[catalog.<model>]`: fields replacing the bundled entry's (or a new entry).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogOverride {
    /// Catalogue provider family (`anthropic`, `openai`, ...).
    #[serde(default)]
    pub provider: Option<String>,
    /// Context window in tokens.
    #[serde(default, alias = "max_input_tokens")]
    pub context_window: Option<u64>,
    /// Largest output the model accepts.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    /// USD per million input tokens.
    #[serde(default)]
    pub input_per_mtok: Option<f64>,
    /// USD per million output tokens.
    #[serde(default)]
    pub output_per_mtok: Option<f64>,
    /// USD per million cache-read tokens.
    #[serde(default)]
    pub cache_read_per_mtok: Option<f64>,
    /// USD per million cache-write tokens.
    #[serde(default)]
    pub cache_write_per_mtok: Option<f64>,
    /// Supports function tools.
    #[serde(default)]
    pub tools: Option<bool>,
    /// Accepts images.
    #[serde(default)]
    pub vision: Option<bool>,
    /// Supports reasoning / thinking.
    #[serde(default)]
    pub reasoning: Option<bool>,
    /// Supports JSON-schema structured output.
    #[serde(default)]
    pub json_schema: Option<bool>,
}

/// One `[[keys]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Names the key in logs.
    pub name: String,
    /// Hex SHA-256 of the secret (`printf %s "$KEY" | sha256sum`).
    #[serde(default)]
    pub sha256: Option<String>,
    /// The secret in plain text (local development only; a warning is printed).
    #[serde(default)]
    pub secret: Option<String>,
    /// Model-name globs this key may use (default: all).
    #[serde(default = "all_models")]
    pub models: Vec<String>,
}

fn all_models() -> Vec<String> {
    vec!["*".to_owned()]
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid TOML.
    #[error("{}invalid TOML: {message}", file_prefix(file))]
    Syntax {
        /// The file, when loaded from one.
        file: Option<PathBuf>,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A `${NAME}` names a variable that is not set.
    #[error(
        "{}environment variable `{var}` is not set (used at `{path}`); export it, or write `$${{` for a literal `${{`",
        file_prefix(file)
    )]
    MissingEnv {
        /// The file, when loaded from one.
        file: Option<PathBuf>,
        /// The variable.
        var: String,
        /// The key that uses it.
        path: String,
    },
    /// One or more keys are wrong: unknown, mistyped, or referring to nothing.
    #[error("{}{}", file_prefix(file), Problems(problems))]
    Invalid {
        /// The file, when loaded from one.
        file: Option<PathBuf>,
        /// Each problem with its key path.
        problems: Vec<Problem>,
    },
    /// No secure random bytes for a key.
    #[error("cannot generate a key: reading /dev/urandom failed: {0}")]
    Random(std::io::Error),
}

impl ConfigError {
    /// A single problem at `path`.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            file: None,
            problems: vec![Problem::new(path, message)],
        }
    }

    fn in_file(mut self, path: &Path) -> Self {
        match &mut self {
            ConfigError::Syntax { file, .. }
            | ConfigError::MissingEnv { file, .. }
            | ConfigError::Invalid { file, .. } => *file = Some(path.to_owned()),
            ConfigError::Read { .. } | ConfigError::Random(_) => {}
        }
        self
    }
}

fn file_prefix(file: &Option<PathBuf>) -> String {
    match file {
        Some(f) => format!("{}: ", f.display()),
        None => String::new(),
    }
}

/// One thing wrong in a configuration, at a key path (`routes[2].targets[0].provider`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where (empty for the document root).
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() || self.path == "." {
            f.write_str(&self.message)
        } else {
            write!(f, "{} at `{}`", self.message, self.path)
        }
    }
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems:", many.len())?;
                for p in many {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

impl Config {
    /// Parses, interpolates, deserializes and validates `text`. `env` looks up
    /// variables for `${NAME}` (pass `&|k| std::env::var(k).ok()` in production).
    pub fn from_toml_str(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: None,
            message: e.to_string().trim_end().to_owned(),
        })?;
        interpolate::interpolate_table(&mut table, "", env)?;
        let mut config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let path = e.path().to_string();
                // `message()` leaves out toml's own "in `routes`" suffix: the path
                // from serde_path_to_error is more precise.
                let mut message = e.into_inner().message().trim_end().to_owned();
                if path == "server.listen" {
                    message.push_str(
                        ": write an IP address and port, e.g. \"127.0.0.1:4000\" (loopback) or \"0.0.0.0:4000\" (all interfaces)",
                    );
                }
                ConfigError::invalid(path, message)
            })?;
        validate(&mut config)?;
        Ok(config)
    }

    /// Reads and loads the file at `path`, with the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml_str(&text, &|k| std::env::var(k).ok()).map_err(|e| e.in_file(path))
    }

    /// The `[[keys]]` as the key system takes them (digests only).
    pub fn declared_keys(&self) -> Result<Vec<gateway_auth::DeclaredKey>, ConfigError> {
        use gateway_auth::DeclaredKey;
        self.keys
            .iter()
            .enumerate()
            .map(|(i, k)| match (&k.sha256, &k.secret) {
                (Some(hex), _) => DeclaredKey::from_sha256_hex(&k.name, hex, k.models.clone())
                    .map_err(|_| {
                        ConfigError::invalid(format!("keys[{i}].sha256"), "must be 64 hex digits")
                    }),
                (None, Some(secret)) => {
                    Ok(DeclaredKey::from_secret(&k.name, secret, k.models.clone()))
                }
                (None, None) => Err(ConfigError::invalid(
                    format!("keys[{i}]"),
                    "set `sha256` or `secret`",
                )),
            })
            .collect()
    }

    /// The configuration used when no file is given, with a freshly generated key.
    /// Returns the configuration and the key in plain text (to print once).
    pub fn default_mock() -> Result<(Config, String), ConfigError> {
        let key = gateway_auth::secret::new_token("pbk_")
            .map_err(|e| ConfigError::Random(std::io::Error::other(e.to_string())))?;
        let config = Config::default_mock_with_key(&key);
        Ok((config, key))
    }

    /// The no-file configuration: listen on 127.0.0.1:4000, one provider `mock` of kind
    /// `mock`, a default route `*` → `mock/<requested model>`, and one key (`local`)
    /// whose secret is `key` (stored hashed).
    pub fn default_mock_with_key(key: &str) -> Config {
        let mut mock = toml::Table::new();
        mock.insert("kind".to_owned(), toml::Value::String("mock".to_owned()));
        Config {
            server: ServerConfig::default(),
            providers: BTreeMap::from([("mock".to_owned(), mock)]),
            routes: vec![RouteConfig {
                name: Some("default".to_owned()),
                model: DEFAULT_ROUTE_PATTERN.to_owned(),
                aliases: Vec::new(),
                targets: vec![TargetConfig {
                    provider: "mock".to_owned(),
                    model: None,
                    weight: None,
                }],
                strategy: Strategy::Ordered,
                fallbacks: Vec::new(),
                retries: None,
                timeout_ms: None,
                backoff_ms: None,
                backoff_max_ms: None,
                cache: None,
            }],
            metrics: MetricsConfig::default(),
            access_log: AccessLogConfig::default(),
            tracing: TracingConfig::default(),
            discovery: DiscoveryConfig::default(),
            responses: ResponsesConfig::default(),
            aliases: BTreeMap::new(),
            auto: None,
            catalog: BTreeMap::new(),
            keys: vec![KeyConfig {
                name: "local".to_owned(),
                sha256: Some(gateway_auth::secret::digest_hex(key)),
                secret: None,
                models: all_models(),
            }],
            storage: StorageConfig::default(),
            limits: LimitsConfig::default(),
            key_defaults: gateway_auth::KeyPolicy::default(),
            admin: AdminConfig::default(),
            media: MediaConfig::default(),
            cache: CacheConfig::default(),
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
