//! The `patchbay` command line: its clap definitions, and `check`'s validation.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use gateway_auth::DeclaredKey;
use gateway_protocol::ApiShape;
use gateway_server::catalog::Catalog;
use gateway_server::config::{Config, ConfigError};
use gateway_server::mock_server::MockOptions;
use gateway_server::routing::Router;

/// Patchbay, an LLM API gateway.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "patchbay", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `patchbay <command>`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the gateway (without --config: the built-in mock provider on loopback).
    Serve(ServeArgs),
    /// Validate a config file and probe each upstream.
    Check(CheckArgs),
    /// Run a stand-alone mock upstream speaking one API shape.
    Mock(MockArgs),
    /// Create and manage virtual keys in the database.
    Keys(KeysArgs),
    /// Usage and cost totals from the database.
    Usage(UsageArgs),
    /// Point an AI tool (Claude Code, Codex, ...) at the gateway by editing its config.
    Connect(crate::connect::ConnectArgs),
    /// Undo `connect`: restore the tool's config files.
    Disconnect(crate::connect::DisconnectArgs),
    /// Print `export` lines pointing a tool or SDK at the gateway.
    Env(crate::connect::EnvArgs),
}

/// `patchbay usage`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct UsageArgs {
    /// Config file whose `[storage] path` names the database.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The database file (overrides the config's).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Group by key, project, model, provider or day (`total`: one line).
    #[arg(long, default_value = "key")]
    pub by: String,
    /// Start: 7d, 24h, 30m ago, an RFC 3339 time, or Unix ms.
    #[arg(long, default_value = "30d")]
    pub since: String,
    /// End (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// Only this key (public id).
    #[arg(long)]
    pub key: Option<String>,
    /// Only this model.
    #[arg(long)]
    pub model: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `patchbay keys`: works on the database the config names (`[storage] path`).
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct KeysArgs {
    /// Config file whose `[storage] path` names the database.
    #[arg(long, short, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// The database file (overrides the config's).
    #[arg(long, value_name = "FILE", global = true)]
    pub db: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub action: KeysAction,
}

/// `patchbay keys <action>`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum KeysAction {
    /// Create a key; its secret is printed once, as the last line.
    Create {
        /// A name for people (unique among live keys).
        #[arg(long)]
        name: String,
        /// How the key begins: patchbay (pbk_), openai (sk-), anthropic (sk-ant-).
        #[arg(long, default_value = "patchbay")]
        style: String,
        /// The project (id or name) it belongs to.
        #[arg(long)]
        project: Option<String>,
        /// Model globs it may use (repeatable); the config's defaults when absent.
        #[arg(long = "model", value_name = "GLOB")]
        models: Vec<String>,
        /// Days until it expires.
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
        /// The whole policy as JSON (see KeyPolicy), instead of the defaults.
        #[arg(long, value_name = "JSON")]
        policy: Option<String>,
    },
    /// List keys.
    List,
    /// Show one key.
    Show {
        /// Key id or name.
        key: String,
    },
    /// Change a key: JSON with any of name, project, policy, expires_ms.
    Update {
        /// Key id or name.
        key: String,
        /// The changes, e.g. '{"policy":{"limits":{"rpm":60}}}'.
        #[arg(value_name = "JSON")]
        changes: String,
    },
    /// Stop a key from working until enabled again.
    Disable {
        /// Key id or name.
        key: String,
    },
    /// Let a disabled key work again.
    Enable {
        /// Key id or name.
        key: String,
    },
    /// Revoke a key for good.
    Revoke {
        /// Key id or name.
        key: String,
    },
    /// Give a key a new secret, printed once as the last line; the old one keeps
    /// working for the grace period.
    Rotate {
        /// Key id or name.
        key: String,
        /// Seconds the old secret keeps working.
        #[arg(long, default_value_t = 0)]
        grace_secs: u64,
    },
}

/// `patchbay serve`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ServeArgs {
    /// The TOML config file.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen address, overriding `[server] listen` (e.g. 127.0.0.1:4000).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

/// `patchbay check`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct CheckArgs {
    /// The TOML config file (without it, the built-in default is checked).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Only validate the file; do not contact the upstreams.
    #[arg(long)]
    pub no_probe: bool,
}

/// `patchbay mock`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct MockArgs {
    /// The API shape to speak.
    #[arg(long, value_enum)]
    pub shape: MockShape,
    /// Listen address.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// A named behaviour of the mock provider (text, tool calls, failures, ...).
    #[arg(long)]
    pub scenario: Option<String>,
    /// Output tokens per answer.
    #[arg(long, value_name = "N")]
    pub tokens: Option<u32>,
    /// Stream chunks per answer.
    #[arg(long, value_name = "N")]
    pub chunks: Option<u32>,
    /// Delay between stream chunks.
    #[arg(long, value_name = "N")]
    pub chunk_delay_ms: Option<u64>,
}

impl MockArgs {
    /// What to serve, for [`gateway_server::mock_server::mock_options`].
    pub fn options(&self) -> MockOptions {
        MockOptions {
            shape: self.shape.into(),
            scenario: self.scenario.clone(),
            tokens: self.tokens,
            chunks: self.chunks,
            chunk_delay_ms: self.chunk_delay_ms,
        }
    }
}

/// The wire shapes `patchbay mock` can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MockShape {
    /// OpenAI Chat Completions and Responses.
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Gemini generateContent.
    Gemini,
    /// Ollama's native API.
    Ollama,
    /// Amazon Bedrock's Converse (SigV4-signed calls only).
    Bedrock,
    /// Cohere's v2 Chat (calls with a Bearer key only).
    Cohere,
}

impl From<MockShape> for ApiShape {
    fn from(shape: MockShape) -> ApiShape {
        match shape {
            MockShape::Openai => ApiShape::OpenAiChat,
            MockShape::Anthropic => ApiShape::Anthropic,
            MockShape::Gemini => ApiShape::Gemini,
            MockShape::Ollama => ApiShape::Ollama,
            MockShape::Bedrock => ApiShape::Bedrock,
            MockShape::Cohere => ApiShape::Cohere,
        }
    }
}

/// What `check` found in a valid configuration.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The configuration.
    pub config: Config,
    /// The routing table built from it.
    pub router: Router,
    /// The catalogue with the file's overrides.
    pub catalog: Catalog,
    /// The keys it declares.
    pub keys: Vec<DeclaredKey>,
}

impl CheckReport {
    /// A human summary: listener, providers, routes, keys, warnings.
    pub fn summary(&self) -> String {
        let c = &self.config;
        let mut s = String::new();
        let scheme = if c.server.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let _ = writeln!(s, "listen: {scheme}://{}", c.server.listen);
        let _ = writeln!(s, "max body: {} bytes", c.server.max_body_bytes);
        let providers: Vec<&str> = c.providers.keys().map(String::as_str).collect();
        let _ = writeln!(
            s,
            "providers ({}): {}",
            providers.len(),
            providers.join(", ")
        );
        let _ = writeln!(s, "routes ({}):", c.routes.len());
        for r in &c.routes {
            let targets: Vec<String> = r
                .targets
                .iter()
                .map(|t| {
                    format!(
                        "{}/{}",
                        t.provider,
                        t.model.as_deref().unwrap_or("<requested>")
                    )
                })
                .collect();
            let _ = writeln!(s, "  {} → {}", r.model, targets.join(", "));
        }
        let _ = writeln!(s, "keys: {}", self.keys.len());
        let _ = writeln!(
            s,
            "catalogue: {} models ({})",
            self.catalog.len(),
            self.catalog.source()
        );
        for w in &c.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        s
    }
}

/// `patchbay check` without probing: loads `path` (or the built-in default), builds
/// the router, the catalogue and the keys, and checks that TLS files exist.
pub fn check_config(path: Option<&Path>) -> Result<CheckReport, ConfigError> {
    let config = match path {
        Some(p) => Config::load(p)?,
        None => Config::default_mock()?.0,
    };
    if let Some(tls) = &config.server.tls {
        for (key, file) in [("server.tls.cert", &tls.cert), ("server.tls.key", &tls.key)] {
            if !file.is_file() {
                return Err(ConfigError::invalid(
                    key,
                    format!("no such file: {}", file.display()),
                ));
            }
        }
    }
    let catalog = Catalog::from_config(&config);
    let router = Router::new(&config, &catalog)?;
    let keys = config.declared_keys()?;
    Ok(CheckReport {
        config,
        router,
        catalog,
        keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_with_and_without_options() {
        let cli = Cli::parse_from(["patchbay", "serve"]);
        assert_eq!(
            cli.command,
            Command::Serve(ServeArgs {
                config: None,
                listen: None
            })
        );
        let cli = Cli::parse_from([
            "patchbay",
            "serve",
            "--config",
            "p.toml",
            "--listen",
            "0.0.0.0:8080",
        ]);
        let Command::Serve(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.config, Some(PathBuf::from("p.toml")));
        assert_eq!(args.listen, Some("0.0.0.0:8080".parse().unwrap()));
    }

    #[test]
    fn check_and_no_probe() {
        let cli = Cli::parse_from(["patchbay", "check", "-c", "x.toml", "--no-probe"]);
        assert_eq!(
            cli.command,
            Command::Check(CheckArgs {
                config: Some("x.toml".into()),
                no_probe: true
            })
        );
    }

    #[test]
    fn mock_with_every_option() {
        let cli = Cli::parse_from([
            "patchbay",
            "mock",
            "--shape",
            "anthropic",
            "--listen",
            "127.0.0.1:9001",
            "--scenario",
            "tools",
            "--tokens",
            "50",
            "--chunks",
            "10",
            "--chunk-delay-ms",
            "5",
        ]);
        assert_eq!(
            cli.command,
            Command::Mock(MockArgs {
                shape: MockShape::Anthropic,
                listen: "127.0.0.1:9001".parse().unwrap(),
                scenario: Some("tools".to_owned()),
                tokens: Some(50),
                chunks: Some(10),
                chunk_delay_ms: Some(5),
            })
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(
            Cli::try_parse_from([
                "patchbay",
                "mock",
                "--shape",
                "cobol",
                "--listen",
                "127.0.0.1:1"
            ])
            .is_err()
        );
        assert!(Cli::try_parse_from(["patchbay", "mock", "--shape", "openai"]).is_err());
        assert!(Cli::try_parse_from(["patchbay", "serve", "--listen", "localhost"]).is_err());
        assert!(Cli::try_parse_from(["patchbay"]).is_err());
    }

    #[test]
    fn mock_options_map_to_the_mock_config() {
        use gateway_providers::{MockConfig, Scenario};
        use gateway_server::mock_server::mock_options;
        let parse = |extra: &[&str]| {
            let mut args = vec!["patchbay", "mock", "--listen", "127.0.0.1:0"];
            args.extend_from_slice(extra);
            match Cli::try_parse_from(args).expect("parses").command {
                Command::Mock(args) => mock_options(&args.options()),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            parse(&["--shape", "bedrock"]).expect("valid").shape,
            ApiShape::Bedrock
        );
        assert_eq!(
            parse(&["--shape", "cohere"]).expect("valid").shape,
            ApiShape::Cohere
        );
        let s = parse(&["--shape", "openai"]).expect("valid");
        assert_eq!(s.shape, ApiShape::OpenAiChat);
        assert_eq!(
            s.config,
            MockConfig {
                shape: Some(ApiShape::OpenAiChat),
                ..MockConfig::default()
            }
        );
        let s = parse(&[
            "--shape",
            "ollama",
            "--scenario",
            "text-100-cut-2",
            "--tokens",
            "50",
            "--chunks",
            "10",
            "--chunk-delay-ms",
            "5",
        ])
        .expect("valid");
        assert_eq!(s.shape, ApiShape::Ollama);
        assert_eq!(s.config.scenario, Scenario::Text);
        assert_eq!(
            (
                s.config.tokens,
                s.config.chunks,
                s.config.chunk_delay_ms,
                s.config.cut_after_chunks
            ),
            (50, 10, 5, Some(2))
        );
        let s = parse(&["--shape", "anthropic", "--scenario", "tools"]).expect("valid");
        assert_eq!(
            (s.shape, s.config.scenario),
            (ApiShape::Anthropic, Scenario::Tools)
        );
        let s = parse(&["--shape", "gemini", "--scenario", "fail-529"]).expect("valid");
        assert_eq!(
            (s.shape, s.config.fail_status),
            (ApiShape::Gemini, Some(529))
        );
        let err = parse(&["--shape", "openai", "--scenario", "chaos"]).expect_err("unknown");
        assert!(err.contains("chaos") && err.contains("echo"), "{err}");
        let err = parse(&["--shape", "openai", "--chunks", "0"]).expect_err("zero chunks");
        assert!(err.contains("--chunks"), "{err}");
    }

    #[test]
    fn the_definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn check_without_a_file_checks_the_default() {
        let report = check_config(None).unwrap();
        assert_eq!(report.keys.len(), 1);
        assert!(report.summary().contains("mock"));
    }
}
