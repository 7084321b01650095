//! The tools `patchbay connect` knows, as data: for each, the files (relative to HOME),
//! their format and the keys to set (from `/work/shared/CLIENTS.md`, "Pointing each tool
//! at the gateway").

use serde_json::{Value, json};

use super::edit::{Format, Set};

/// What a connection is made of.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The gateway's base URL, without a trailing slash or `/v1`.
    pub url: String,
    /// The virtual key.
    pub key: String,
    /// The model, when given.
    pub model: Option<String>,
    /// Now, as an ISO 8601 UTC time (Cline stamps its provider settings).
    pub now: String,
}

/// The keys set in one file.
#[derive(Debug, Clone)]
pub struct FileEdit {
    /// Path relative to HOME, as on Linux ([`Place`](super::place::Place) finds it on
    /// other systems).
    pub rel: &'static str,
    /// How the file is written.
    pub format: Format,
    /// The keys and their values.
    pub sets: Vec<Set>,
}

/// The style of key a tool accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `sk-ant-…`.
    Anthropic,
    /// `sk-…`.
    OpenAi,
}

/// One tool.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// Its name on the command line.
    pub name: &'static str,
    /// Its name for people (the console).
    pub title: &'static str,
    /// Its executable, for `--list`.
    pub binary: &'static str,
    /// Its configuration directory relative to HOME (as on Linux), for `--list`.
    pub dir: &'static str,
    /// The key style `--create-key` makes.
    pub key: KeyKind,
    /// The model used without `--model`, when the tool needs one.
    pub model: Option<&'static str>,
    /// The edits, given the context.
    pub plan: fn(&Ctx) -> Vec<FileEdit>,
    /// The environment variables for `patchbay env`: (name, value) given the context.
    pub env: fn(&Ctx) -> Vec<(&'static str, String)>,
}

/// The gateway's id in tools' provider tables.
pub const ID: &str = "patchbay";

fn path(s: &str) -> Vec<String> {
    s.split('.').map(str::to_owned).collect()
}

fn sets(pairs: Vec<(&str, Value)>) -> Vec<Set> {
    pairs.into_iter().map(|(k, v)| (path(k), v)).collect()
}

fn model(c: &Ctx) -> String {
    c.model.clone().unwrap_or_default()
}

fn v1(c: &Ctx) -> String {
    format!("{}/v1", c.url)
}

/// Every tool, in `--list` order.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "claude-code",
        title: "Claude Code",
        binary: "claude",
        dir: ".claude",
        key: KeyKind::Anthropic,
        model: None,
        plan: claude_code,
        env: anthropic_env,
    },
    Tool {
        name: "codex",
        title: "Codex CLI",
        binary: "codex",
        dir: ".codex",
        key: KeyKind::OpenAi,
        model: Some("gpt-5-mock"),
        plan: codex,
        env: openai_env,
    },
    Tool {
        name: "gemini",
        title: "Gemini CLI",
        binary: "gemini",
        dir: ".gemini",
        key: KeyKind::OpenAi,
        model: None,
        plan: gemini,
        env: gemini_env,
    },
    Tool {
        name: "opencode",
        title: "opencode",
        binary: "opencode",
        dir: ".config/opencode",
        key: KeyKind::OpenAi,
        model: Some("gpt-5-mock"),
        plan: opencode,
        env: openai_env,
    },
    Tool {
        name: "qwen",
        title: "Qwen Code",
        binary: "qwen",
        dir: ".qwen",
        key: KeyKind::OpenAi,
        model: Some("gpt-5-mock"),
        plan: qwen,
        env: openai_env,
    },
    Tool {
        name: "kimi",
        title: "Kimi Code",
        binary: "kimi",
        dir: ".kimi-code",
        key: KeyKind::OpenAi,
        model: Some("gpt-5-mock"),
        plan: kimi,
        env: openai_env,
    },
    Tool {
        name: "crush",
        title: "Crush",
        binary: "crush",
        dir: ".config/crush",
        key: KeyKind::OpenAi,
        model: Some("gpt-5-mock"),
        plan: crush,
        env: openai_env,
    },
    Tool {
        name: "continue",
        title: "Continue",
        binary: "cn",
        dir: ".continue",
        key: KeyKind::OpenAi,
        model: Some("gpt-5-mock"),
        plan: continue_dev,
        env: openai_env,
    },
    Tool {
        name: "cline",
        title: "Cline",
        binary: "cline",
        dir: ".cline",
        key: KeyKind::OpenAi,
        model: Some("gpt-5-mock"),
        plan: cline,
        env: openai_env,
    },
    Tool {
        name: "roo",
        title: "Roo Code",
        binary: "code",
        dir: ".config/Code/User",
        key: KeyKind::OpenAi,
        model: Some("gpt-5-mock"),
        plan: roo,
        env: openai_env,
    },
    Tool {
        name: "codebuddy",
        title: "CodeBuddy",
        binary: "codebuddy",
        dir: ".codebuddy",
        key: KeyKind::OpenAi,
        model: Some("gpt-5-mock"),
        plan: codebuddy,
        env: openai_env,
    },
];

/// The tool called `name` (a few other spellings accepted).
pub fn find(name: &str) -> Option<&'static Tool> {
    let name = match name {
        "claude" | "claude_code" => "claude-code",
        "codex-cli" => "codex",
        "gemini-cli" => "gemini",
        "qwen-code" => "qwen",
        "kimi-code" => "kimi",
        "roo-code" | "roo-cline" => "roo",
        "cn" => "continue",
        "codebuddy-code" | "cbc" => "codebuddy",
        other => other,
    };
    TOOLS.iter().find(|t| t.name == name)
}

/// `OPENAI_BASE_URL` and `OPENAI_API_KEY`.
pub fn openai_env(c: &Ctx) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_BASE_URL", v1(c)),
        ("OPENAI_API_KEY", c.key.clone()),
    ]
}

/// `ANTHROPIC_BASE_URL` and `ANTHROPIC_API_KEY`.
pub fn anthropic_sdk_env(c: &Ctx) -> Vec<(&'static str, String)> {
    vec![
        ("ANTHROPIC_BASE_URL", c.url.clone()),
        ("ANTHROPIC_API_KEY", c.key.clone()),
    ]
}

fn anthropic_env(c: &Ctx) -> Vec<(&'static str, String)> {
    vec![
        ("ANTHROPIC_BASE_URL", c.url.clone()),
        ("ANTHROPIC_AUTH_TOKEN", c.key.clone()),
    ]
}

/// `GOOGLE_GEMINI_BASE_URL` and `GEMINI_API_KEY`.
pub fn gemini_env(c: &Ctx) -> Vec<(&'static str, String)> {
    vec![
        ("GOOGLE_GEMINI_BASE_URL", c.url.clone()),
        ("GEMINI_API_KEY", c.key.clone()),
    ]
}

/// `OLLAMA_HOST` (the gateway's root: the clients add `/api/...`) and `OLLAMA_API_KEY`,
/// which the `ollama` Python client sends as a Bearer key to any host (the JavaScript
/// client sends it to ollama.com only: pass the header there).
pub fn ollama_env(c: &Ctx) -> Vec<(&'static str, String)> {
    vec![
        ("OLLAMA_HOST", c.url.clone()),
        ("OLLAMA_API_KEY", c.key.clone()),
    ]
}

fn claude_code(c: &Ctx) -> Vec<FileEdit> {
    let mut s = vec![
        ("env.ANTHROPIC_BASE_URL", json!(c.url)),
        ("env.ANTHROPIC_AUTH_TOKEN", json!(c.key)),
        ("env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", json!("1")),
    ];
    if let Some(m) = &c.model {
        s.push(("env.ANTHROPIC_MODEL", json!(m)));
    }
    vec![FileEdit {
        rel: ".claude/settings.json",
        format: Format::Json,
        sets: sets(s),
    }]
}

fn codex(c: &Ctx) -> Vec<FileEdit> {
    vec![FileEdit {
        rel: ".codex/config.toml",
        format: Format::Toml,
        sets: sets(vec![
            ("model_provider", json!(ID)),
            ("model", json!(model(c))),
            ("model_providers.patchbay.name", json!("Patchbay")),
            ("model_providers.patchbay.base_url", json!(v1(c))),
            ("model_providers.patchbay.wire_api", json!("responses")),
            // Codex's Responses WebSocket transport (off for custom providers unless
            // they say so): one connection per turn, each call after the first
            // continuing the previous response by id with only the new items.
            ("model_providers.patchbay.supports_websockets", json!(true)),
            (
                "model_providers.patchbay.experimental_bearer_token",
                json!(c.key),
            ),
            ("check_for_update_on_startup", json!(false)),
            ("analytics.enabled", json!(false)),
        ]),
    }]
}

fn gemini(c: &Ctx) -> Vec<FileEdit> {
    let mut settings = vec![
        ("security.auth.selectedType", json!("gemini-api-key")),
        ("privacy.usageStatisticsEnabled", json!(false)),
    ];
    // Without it the CLI asks for its own default model names.
    if let Some(m) = &c.model {
        settings.push(("model.name", json!(m)));
    }
    vec![
        FileEdit {
            rel: ".gemini/.env",
            format: Format::Dotenv,
            sets: sets(vec![
                ("GOOGLE_GEMINI_BASE_URL", json!(c.url)),
                ("GEMINI_API_KEY", json!(c.key)),
            ]),
        },
        FileEdit {
            rel: ".gemini/settings.json",
            format: Format::Json,
            sets: sets(settings),
        },
    ]
}

fn opencode(c: &Ctx) -> Vec<FileEdit> {
    let m = model(c);
    vec![FileEdit {
        rel: ".config/opencode/opencode.json",
        format: Format::Json,
        sets: sets(vec![
            (
                "provider.patchbay",
                json!({
                    "npm": "@ai-sdk/openai-compatible",
                    "name": "Patchbay",
                    "options": {"baseURL": v1(c), "apiKey": c.key},
                    "models": {m.clone(): {"name": m}},
                }),
            ),
            ("model", json!(format!("{ID}/{m}"))),
            ("autoupdate", json!(false)),
            ("share", json!("disabled")),
        ]),
    }]
}

fn qwen(c: &Ctx) -> Vec<FileEdit> {
    vec![FileEdit {
        rel: ".qwen/settings.json",
        format: Format::Json,
        sets: sets(vec![
            ("security.auth.baseUrl", json!(v1(c))),
            ("security.auth.selectedType", json!("openai")),
            ("security.auth.apiKey", json!(c.key)),
            ("model.name", json!(model(c))),
            ("privacy.usageStatisticsEnabled", json!(false)),
        ]),
    }]
}

fn kimi(c: &Ctx) -> Vec<FileEdit> {
    vec![FileEdit {
        rel: ".kimi-code/config.toml",
        format: Format::Toml,
        sets: sets(vec![
            ("default_model", json!(ID)),
            ("telemetry", json!(false)),
            // Kimi Code 2.x knows `openai` (Chat Completions); the older kimi-cli's
            // `openai_legacy` gives "must declare a wire protocol" there.
            ("providers.patchbay.type", json!("openai")),
            ("providers.patchbay.base_url", json!(v1(c))),
            ("providers.patchbay.api_key", json!(c.key)),
            ("models.patchbay.provider", json!(ID)),
            ("models.patchbay.model", json!(model(c))),
            ("models.patchbay.protocol", json!("openai")),
            ("models.patchbay.max_context_size", json!(200_000)),
        ]),
    }]
}

fn crush(c: &Ctx) -> Vec<FileEdit> {
    let m = model(c);
    vec![FileEdit {
        rel: ".config/crush/crush.json",
        format: Format::Json,
        sets: sets(vec![
            (
                "providers.patchbay",
                json!({
                    "type": "openai-compat",
                    "base_url": v1(c),
                    "api_key": c.key,
                    "models": [{"id": m, "name": m, "context_window": 200_000, "default_max_tokens": 8192}],
                }),
            ),
            ("models.large", json!({"model": m, "provider": ID})),
            ("models.small", json!({"model": m, "provider": ID})),
            ("options.disable_metrics", json!(true)),
            ("options.disable_provider_auto_update", json!(true)),
        ]),
    }]
}

fn continue_dev(c: &Ctx) -> Vec<FileEdit> {
    vec![FileEdit {
        rel: ".continue/config.yaml",
        format: Format::YamlModels,
        sets: vec![(
            path("models.apiBase"),
            json!({
                "name": "Patchbay",
                "provider": "openai",
                "model": model(c),
                "apiBase": v1(c),
                "apiKey": c.key,
                "roles": ["chat", "edit", "apply"],
            }),
        )],
    }]
}

fn cline(c: &Ctx) -> Vec<FileEdit> {
    vec![
        // Cline 3 discards (and rewrites) a providers file without `version` and a
        // provider without `updatedAt`.
        FileEdit {
            rel: ".cline/data/settings/providers.json",
            format: Format::Json,
            sets: sets(vec![
                ("version", json!(1)),
                (
                    "providers.openai-compatible.settings",
                    json!({"provider": "openai-compatible", "apiKey": c.key, "model": model(c), "baseUrl": v1(c)}),
                ),
                ("providers.openai-compatible.updatedAt", json!(c.now)),
                ("lastUsedProvider", json!("openai-compatible")),
            ]),
        },
        FileEdit {
            rel: ".cline/data/settings/global-settings.json",
            format: Format::Json,
            sets: sets(vec![
                ("telemetryOptOut", json!(true)),
                ("autoUpdateEnabled", json!(false)),
            ]),
        },
    ]
}

fn roo(c: &Ctx) -> Vec<FileEdit> {
    vec![
        FileEdit {
            rel: ".config/patchbay/roo-settings.json",
            format: Format::Json,
            sets: sets(vec![(
                "providerProfiles",
                json!({
                    "currentApiConfigName": ID,
                    "apiConfigs": {ID: {
                        "apiProvider": "openai",
                        "openAiBaseUrl": v1(c),
                        "openAiApiKey": c.key,
                        "openAiModelId": model(c),
                        "id": ID,
                    }},
                }),
            )]),
        },
        FileEdit {
            rel: ".config/Code/User/settings.json",
            format: Format::Json,
            sets: vec![(
                vec!["roo-cline.autoImportSettingsPath".to_owned()],
                json!("~/.config/patchbay/roo-settings.json"),
            )],
        },
    ]
}

/// CodeBuddy Code (the CLI) and the CodeBuddy IDE read custom models from
/// `~/.codebuddy/models.json` (the same path on every OS): an OpenAI-compatible entry
/// whose `url` is the whole Chat Completions endpoint. Ours is the entry named
/// `Patchbay`, whatever its model; `settings.json`'s `model` makes it the default.
fn codebuddy(c: &Ctx) -> Vec<FileEdit> {
    let m = model(c);
    vec![
        FileEdit {
            rel: ".codebuddy/models.json",
            format: Format::Json,
            sets: vec![(
                vec!["models".to_owned(), "[name=Patchbay]".to_owned()],
                json!({
                    "id": m,
                    "name": "Patchbay",
                    "vendor": "Patchbay",
                    "url": format!("{}/chat/completions", v1(c)),
                    "apiKey": c.key,
                    "maxInputTokens": 200_000,
                    "maxOutputTokens": 8192,
                    "supportsToolCall": true,
                    "supportsImages": true,
                }),
            )],
        },
        FileEdit {
            rel: ".codebuddy/settings.json",
            format: Format::Json,
            sets: vec![(vec!["model".to_owned()], json!(m))],
        },
    ]
}
