use super::*;

const FULL: &str = include_str!("../../tests/fixtures/config/full.toml");
const MINIMAL: &str = include_str!("../../tests/fixtures/config/minimal.toml");
const TYPO: &str = include_str!("../../tests/fixtures/config/typo.toml");
const BROKEN: &str = include_str!("../../tests/fixtures/config/broken_references.toml");

fn env(k: &str) -> Option<String> {
    match k {
        "ANTHROPIC_API_KEY" | "OPENAI_API_KEY" | "DEEPSEEK_API_KEY" => Some(format!("sk-{k}")),
        "ALICE_KEY_SHA256" => Some(gateway_auth::secret::digest_hex("pbk_alice")),
        "PROMETHEUS_SCRAPE_KEY" | "COLLECTOR_KEY" => Some(format!("secret-{k}")),
        _ => None,
    }
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, &env)
}

fn problems(err: ConfigError) -> Vec<Problem> {
    match err {
        ConfigError::Invalid { problems, .. } => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn the_full_example_loads() {
    let c = load(FULL).unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:4000".parse().unwrap());
    assert_eq!(c.server.max_body_bytes, 10 * 1024 * 1024);
    assert_eq!(c.server.workers, Some(2));
    assert_eq!(c.server.runtime, RuntimeLayout::WorkStealing);
    assert_eq!(c.providers.len(), 4);
    assert_eq!(
        c.providers["anthropic"]["api_key"].as_str(),
        Some("sk-ANTHROPIC_API_KEY")
    );
    assert_eq!(c.routes.len(), 3);
    assert!(c.metrics.main_listener && c.metrics.has_credentials());
    assert_eq!(c.access_log.format, AccessLogFormat::Json);
    assert_eq!(c.limits.redis.as_deref(), Some("redis://127.0.0.1:6379"));
    assert_eq!(c.limits.fail, crate::config::FailMode::Open);
    assert_eq!(c.limits.timeout_ms, 50);
    assert_eq!(c.tracing.protocol, OtlpProtocol::Http);
    assert_eq!(c.tracing.sample_ratio, 0.25);
    assert_eq!(c.tracing.headers["x-collector-key"], "secret-COLLECTOR_KEY");
    assert_eq!(c.routes[1].name(), "gpt-5");
    assert_eq!(c.routes[1].strategy, Strategy::Weighted);
    assert_eq!(c.routes[0].fallbacks.len(), 2);
    assert!(
        matches!(&c.routes[0].fallbacks[1], FallbackConfig::Target(t) if t.provider == "deepseek")
    );
    assert!(c.routes[2].is_default());
    let auto = c.auto.as_ref().unwrap();
    assert_eq!(auto.rules.len(), 2);
    assert_eq!(auto.rules[1].when.min_prompt_tokens, Some(100_000));
    assert!(auto.cheapest);
    assert_eq!(c.catalog["my-fine-tune"].context_window, Some(128_000));
    assert_eq!(
        c.keys[0].sha256.as_deref(),
        Some(gateway_auth::secret::digest_hex("pbk_alice").as_str())
    );
    assert_eq!(c.keys[1].models, ["*"]);
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].contains("keys[1].secret"));
}

#[test]
fn defaults_fill_an_almost_empty_file() {
    let c = load(MINIMAL).unwrap();
    assert_eq!(c.server, ServerConfig::default());
    assert_eq!(c.server.listen.to_string(), DEFAULT_LISTEN);
    assert!(c.server.listen.ip().is_loopback());
    assert_eq!(c.server.runtime, RuntimeLayout::PerThread);
    let stealing = load("[server]\nruntime = \"work_stealing\"").unwrap();
    assert_eq!(stealing.server.runtime, RuntimeLayout::WorkStealing);
    assert!(load("[server]\nruntime = \"green\"").is_err());
    assert!(c.warnings.is_empty());
    let empty = load("").unwrap();
    assert!(empty.routes.is_empty() && empty.providers.is_empty());
}

#[test]
fn unknown_keys_are_reported_with_their_path() {
    let msg = load(TYPO).unwrap_err().to_string();
    assert!(msg.contains("unknown field `tiemout`"), "{msg}");
    assert!(msg.contains("routes[2]"), "{msg}");
    for (text, path) in [
        ("[server]\nlisten = \"127.0.0.1:1\"\nmax_body = 1", "server"),
        (
            "[server.tls]\ncert = \"a\"\nkey = \"b\"\npem = 1",
            "server.tls",
        ),
        (
            "[[keys]]\nname = \"a\"\nsecret = \"b\"\nmodel = []",
            "keys[0]",
        ),
        (
            "[auto]\ncheapest = true\nrules = [{ when = { tools = true }, model = \"x\" }]",
            "auto.rules[0].when",
        ),
        ("[catalog.x]\nmax_tokens = 1", "catalog.x"),
        (
            "[providers.m]\nkind = \"mock\"\n[[routes]]\nmodel = \"a\"\ntargets = [{ provider = \"m\", modle = \"x\" }]",
            "routes[0].targets[0]",
        ),
        (
            "[providers.m]\nkind = \"mock\"\n[[routes]]\nmodel = \"a\"\ntargets = [{ provider = \"m\" }]\nfallbacks = [{ provider = \"m\", wieght = 1 }]",
            "routes[0].fallbacks[0]",
        ),
        ("[servr]\nlisten = \"x\"", ""),
    ] {
        let msg = load(text).unwrap_err().to_string();
        assert!(msg.contains("unknown field"), "{text}: {msg}");
        assert!(msg.contains(&format!("`{path}")), "{text}: {msg}");
    }
}

#[test]
fn wrong_types_name_the_key() {
    let msg = load("[server]\nlisten = \"localhost\"")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("server.listen"), "{msg}");
    let msg = load("[server]\nmax_body_bytes = \"big\"")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("server.max_body_bytes"), "{msg}");
    let msg = load("[[routes]]\nmodel = \"a\"\nstrategy = \"random\"\ntargets = []")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("routes[0].strategy") && msg.contains("weighted"),
        "{msg}"
    );
}

#[test]
fn syntax_errors_say_where() {
    let err = load("[server\nlisten = 1").unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }));
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn missing_variables_name_the_variable_and_the_key() {
    let text = "[providers.openai]\nkind = \"openai\"\napi_key = \"${NOT_SET_ANYWHERE}\"";
    let err = load(text).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::MissingEnv { .. }));
    assert!(
        msg.contains("`NOT_SET_ANYWHERE`") && msg.contains("`providers.openai.api_key`"),
        "{msg}"
    );
    // In arrays and nested tables too.
    let text = "[[keys]]\nname = \"k\"\nsecret = \"s\"\nmodels = [\"a\", \"${NOPE}\"]";
    assert!(
        load(text)
            .unwrap_err()
            .to_string()
            .contains("`keys[0].models[1]`")
    );
    // Escaped: no lookup.
    let c = load("[providers.p]\nkind = \"mock\"\nnote = \"$${NOPE}\"").unwrap();
    assert_eq!(c.providers["p"]["note"].as_str(), Some("${NOPE}"));
}

#[test]
fn secrets_from_the_environment_never_appear_in_errors() {
    let env = |k: &str| (k == "SECRET").then(|| "sk-very-secret".to_owned());
    let text = "[server]\nlisten = \"${SECRET}\"";
    let msg = Config::from_toml_str(text, &env).unwrap_err().to_string();
    assert!(msg.contains("server.listen"), "{msg}");
    assert!(!msg.contains("sk-very-secret"), "{msg}");
}

#[test]
fn cross_references_are_checked_all_at_once() {
    let ps = problems(load(BROKEN).unwrap_err());
    let text: Vec<String> = ps.iter().map(ToString::to_string).collect();
    let has = |path: &str, word: &str| {
        ps.iter()
            .any(|p| p.path == path && p.message.contains(word))
    };
    assert!(
        has("routes[0].targets[0].provider", "unknown provider `mokc`"),
        "{text:#?}"
    );
    assert!(
        has(
            "routes[0].targets[0].provider",
            "configured providers: mock"
        ),
        "{text:#?}"
    );
    assert!(has("routes[0].fallbacks[0]", "`nowhere`"), "{text:#?}");
    assert!(
        has("routes[1].targets[0].weight", "greater than 0"),
        "{text:#?}"
    );
    assert!(has("aliases.x", "alias cycle"), "{text:#?}");
    assert!(has("aliases.y", "alias cycle"), "{text:#?}");
    let msg = load(BROKEN).unwrap_err().to_string();
    assert!(msg.contains("problems:"), "{msg}");
}

#[test]
fn duplicate_names_and_bad_keys_are_refused() {
    let text = r#"
[providers.m]
kind = "mock"
[[routes]]
model = "a"
aliases = ["b"]
targets = [{ provider = "m" }]
[[routes]]
model = "b"
targets = [{ provider = "m" }]
[[routes]]
model = "*"
targets = [{ provider = "m" }]
[[routes]]
name = "other-default"
model = "*"
targets = [{ provider = "m" }]
[[keys]]
name = "k"
sha256 = "abc"
[[keys]]
name = "k"
[[keys]]
name = "both"
secret = "s"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
"#;
    let ps = problems(load(text).unwrap_err());
    let paths: Vec<&str> = ps.iter().map(|p| p.path.as_str()).collect();
    for expected in [
        "routes[1].model",
        "routes[3].model",
        "keys[0].sha256",
        "keys[1].name",
        "keys[1]",
        "keys[2]",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {paths:?}");
    }
}

#[test]
fn providers_and_routes_are_checked() {
    let text = "[providers.\"a/b\"]\nkind = \"mock\"\n[[routes]]\nmodel = \"x\"\ntargets = []";
    let ps = problems(load(text).unwrap_err());
    assert!(ps.iter().any(|p| p.path == "providers.a/b"));
    assert!(ps.iter().any(|p| p.path == "routes[0].targets"));
    let text = "[providers.m]\nkind = \"mock\"\n[[routes]]\nmodel = \"x\"\ntargets = [{ provider = \"m\", weight = 2 }]";
    let ps = problems(load(text).unwrap_err());
    assert!(ps.iter().any(|p| p.path == "routes[0].strategy"), "{ps:?}");
}

#[test]
fn auto_needs_a_last_resort() {
    let ps = problems(load("[auto]\nrules = []").unwrap_err());
    assert!(
        ps.iter()
            .any(|p| p.path == "auto" && p.message.contains("cheapest"))
    );
    let ps = problems(load("[auto]\notherwise = \"x\"\ncheapest = true").unwrap_err());
    assert!(ps.iter().any(|p| p.path == "auto.cheapest"));
}

#[test]
fn errors_from_a_file_name_it() {
    let dir = std::env::temp_dir().join(format!("patchbay-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("typo.toml");
    std::fs::write(&path, TYPO).unwrap();
    let msg = Config::load(&path).unwrap_err().to_string();
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");
    let missing = Config::load(&dir.join("nope.toml")).unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_default_mock_config_is_valid_and_routes_everything_to_mock() {
    let (mut c, key) = Config::default_mock().unwrap();
    assert!(key.starts_with("pbk_"));
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:4000");
    assert_eq!(c.providers["mock"]["kind"].as_str(), Some("mock"));
    assert!(c.routes[0].is_default());
    assert_eq!(c.keys.len(), 1);
    assert_eq!(
        c.keys[0].sha256,
        Some(gateway_auth::secret::digest_hex(&key))
    );
    validate(&mut c).unwrap();
}

#[test]
fn short_admin_tokens_are_refused() {
    let short = Config::from_toml_str("[admin]\ntoken = \"admin\"", &|_| None).unwrap_err();
    let said = short.to_string();
    assert!(
        said.contains("admin.token") && said.contains("at least 20"),
        "{said}"
    );
    let long = "[admin]\ntoken = \"pba_0123456789abcdefghij\"";
    assert!(Config::from_toml_str(long, &|_| None).is_ok());
}

#[test]
fn observability_settings_are_checked() {
    let text = "[metrics]\nmain_listener = true\nusername = \"prom\"\n\n[tracing]\nsample_ratio = 1.5\notlp_endpoint = \"collector:4317\"\n";
    let found: Vec<String> = problems(load(text).unwrap_err())
        .into_iter()
        .map(|p| p.path)
        .collect();
    for path in [
        "metrics.main_listener",
        "metrics.username",
        "tracing.sample_ratio",
        "tracing.otlp_endpoint",
    ] {
        assert!(found.iter().any(|p| p == path), "{path} in {found:?}");
    }
}

#[test]
fn a_limits_redis_url_that_is_not_one_is_refused_with_its_path() {
    let err = load("[limits]\nredis = \"http://example.com\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("limits.redis"), "{err}");
    let err = load("[limits]\ntimeout_ms = 0\n").unwrap_err().to_string();
    assert!(err.contains("limits.timeout_ms"), "{err}");
    let err = load("[limits]\nfail = \"sometimes\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("limits"), "{err}");
}

#[test]
fn a_storage_url_that_is_not_postgres_is_refused_with_its_path() {
    for bad in ["mysql://db/x", "postgres://user@host:notaport/db"] {
        let err = load(&format!("[storage]\nurl = \"{bad}\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("storage.url"), "{bad}: {err}");
    }
    let ok =
        load("[storage]\nurl = \"postgresql://pb:secret@db.internal:5432/patchbay\"\n").unwrap();
    assert_eq!(
        ok.storage.url.as_deref(),
        Some("postgresql://pb:secret@db.internal:5432/patchbay")
    );
}

#[test]
fn responses_section_reads_share_and_retention_and_names_a_bad_one() {
    let c = load(FULL).unwrap();
    assert!(c.responses.enabled);
    assert_eq!(
        c.responses.retention(),
        Some(std::time::Duration::from_secs(30 * 86_400))
    );
    let c = load("[responses]\nshare = \"project\"\nretention = \"12h\"").unwrap();
    assert_eq!(c.responses.share, crate::config::ResponsesShare::Project);
    assert_eq!(
        c.responses.retention(),
        Some(std::time::Duration::from_secs(12 * 3_600))
    );
    let msg = load("[responses]\nretention = \"forever\"")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("responses.retention"), "{msg}");
    let msg = load("[responses]\nshare = \"team\"")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("responses.share"), "{msg}");
}
