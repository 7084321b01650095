//! Checks a deserialized [`Config`] as a whole: cross-references, uniqueness, ranges.
//! Every problem is collected (not just the first), each with its key path.

use std::collections::{BTreeMap, BTreeSet};

use super::{Config, ConfigError, FallbackConfig, Problem, Strategy, TargetConfig, is_glob};

/// Validates `config`, filling `config.warnings`; all problems are reported at once.
pub fn validate(config: &mut Config) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    check_server(config, &mut problems);
    check_providers(config, &mut problems);
    check_routes(config, &mut problems);
    check_aliases(config, &mut problems);
    check_auto(config, &mut problems);
    check_catalog(config, &mut problems);
    check_keys(config, &mut problems, &mut warnings);
    check_admin(config, &mut problems);
    check_observability(config, &mut problems);
    check_discovery(config, &mut problems);
    if config.responses.retention().is_none() {
        problems.push(Problem::new(
            "responses.retention",
            "must be a positive whole number followed by d, h, m or s (e.g. \"30d\")",
        ));
    }
    check_limits(config, &mut problems);
    check_storage(config, &mut problems);
    super::cache::check(config, &mut problems);
    config.warnings = warnings;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            file: None,
            problems,
        })
    }
}

fn check_limits(config: &Config, problems: &mut Vec<Problem>) {
    let limits = &config.limits;
    if let Some(redis) = limits.redis_config() {
        if let Err(e) = gateway_redis::RedisLimiter::new(redis) {
            problems.push(Problem::new("limits.redis", e.to_string()));
        }
    }
    if limits.timeout_ms == 0 {
        problems.push(Problem::new(
            "limits.timeout_ms",
            "must be at least 1 (ms to wait for Redis before `fail` applies)",
        ));
    }
}

fn check_storage(config: &Config, problems: &mut Vec<Problem>) {
    if let Some(url) = &config.storage.url {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            problems.push(Problem::new(
                "storage.url",
                "must be a PostgreSQL URL: postgres://user:password@host:port/database",
            ));
        } else if let Err(e) = gateway_postgres::check_url(url) {
            problems.push(Problem::new("storage.url", e.to_string()));
        }
    }
}

/// Shortest admin token accepted in the config file: it guards key creation, and a
/// short one could be guessed over the admin listener.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 20;

fn check_admin(config: &Config, problems: &mut Vec<Problem>) {
    if let Some(token) = &config.admin.token {
        let chars = token.trim().chars().count();
        if chars < MIN_ADMIN_TOKEN_CHARS {
            problems.push(Problem::new(
                "admin.token",
                format!(
                    "is {chars} characters; use at least {MIN_ADMIN_TOKEN_CHARS} random ones (or leave it out: one is generated at first start)"
                ),
            ));
        }
    }
}

fn check_discovery(config: &Config, problems: &mut Vec<Problem>) {
    let d = &config.discovery;
    if d.refresh_secs < 10 {
        problems.push(Problem::new(
            "discovery.refresh_secs",
            "must be at least 10 (seconds between two fetches of a provider's model list)",
        ));
    }
    if d.timeout_ms == 0 {
        problems.push(Problem::new("discovery.timeout_ms", "must be above 0"));
    }
}

fn check_observability(config: &Config, problems: &mut Vec<Problem>) {
    let metrics = &config.metrics;
    if metrics.main_listener && !metrics.has_credentials() {
        problems.push(Problem::new(
            "metrics.main_listener",
            "needs scrape credentials on the main listener: set `metrics.username` and `metrics.password`, or `metrics.token`",
        ));
    }
    if metrics.username.is_some() != metrics.password.is_some() {
        problems.push(Problem::new(
            "metrics.username",
            "and `metrics.password` go together (basic auth needs both)",
        ));
    }
    if let Some(token) = &metrics.token
        && token.trim().chars().count() < MIN_ADMIN_TOKEN_CHARS
    {
        problems.push(Problem::new(
            "metrics.token",
            format!("is too short; use at least {MIN_ADMIN_TOKEN_CHARS} random characters"),
        ));
    }
    let tracing = &config.tracing;
    if !(0.0..=1.0).contains(&tracing.sample_ratio) {
        problems.push(Problem::new(
            "tracing.sample_ratio",
            "must be between 0 and 1 (the share of requests traced)",
        ));
    }
    if let Some(endpoint) = &tracing.otlp_endpoint
        && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        problems.push(Problem::new(
            "tracing.otlp_endpoint",
            "must be an http:// or https:// URL (`http://127.0.0.1:4318` for OTLP/HTTP, `:4317` for gRPC)",
        ));
    }
}

fn check_server(config: &Config, problems: &mut Vec<Problem>) {
    let server = &config.server;
    if server.max_body_bytes == 0 {
        problems.push(Problem::new(
            "server.max_body_bytes",
            "must be greater than 0 (the default is 10485760, 10 MiB)",
        ));
    }
    let positive = [
        ("server.max_connections", server.max_connections as u64),
        ("server.max_in_flight", server.max_in_flight as u64),
        ("server.header_timeout_ms", server.header_timeout_ms),
        ("server.idle_timeout_ms", server.idle_timeout_ms),
        ("server.body_timeout_ms", server.body_timeout_ms),
        ("server.send_timeout_ms", server.send_timeout_ms),
        (
            "server.tls_handshake_timeout_ms",
            server.tls_handshake_timeout_ms,
        ),
    ];
    for (path, value) in positive {
        if value == 0 {
            problems.push(Problem::new(path, "must be greater than 0"));
        }
    }
    for origin in &server.cors.allow_origins {
        if let Err(why) = crate::layers::cors::check_origin(origin) {
            problems.push(Problem::new("server.cors.allow_origins", why));
        }
    }
    if let Some(tls) = &server.tls {
        if tls.cert.as_os_str().is_empty() {
            problems.push(Problem::new(
                "server.tls.cert",
                "give the certificate's PEM file",
            ));
        }
        if tls.key.as_os_str().is_empty() {
            problems.push(Problem::new(
                "server.tls.key",
                "give the private key's PEM file",
            ));
        }
    }
}

fn check_providers(config: &Config, problems: &mut Vec<Problem>) {
    for name in config.providers.keys() {
        if name.is_empty() || name.contains('/') || name.chars().any(char::is_whitespace) {
            problems.push(Problem::new(
                format!("providers.{name}"),
                "a provider name must be non-empty, without `/` or spaces (clients address models as `provider/model`)",
            ));
        }
    }
}

fn known_providers(config: &Config) -> String {
    if config.providers.is_empty() {
        "no provider is configured: add a `[providers.<name>]` table".to_owned()
    } else {
        let names: Vec<&str> = config.providers.keys().map(String::as_str).collect();
        format!("configured providers: {}", names.join(", "))
    }
}

fn check_target(config: &Config, t: &TargetConfig, path: &str, problems: &mut Vec<Problem>) {
    if !config.providers.contains_key(&t.provider) {
        problems.push(Problem::new(
            format!("{path}.provider"),
            format!(
                "unknown provider `{}` ({})",
                t.provider,
                known_providers(config)
            ),
        ));
    }
    if t.model.as_ref().is_some_and(|m| m.trim().is_empty()) {
        problems.push(Problem::new(
            format!("{path}.model"),
            "empty upstream model: remove the key to forward the requested name",
        ));
    }
    if let Some(w) = t.weight.filter(|w| !(w.is_finite() && *w > 0.0)) {
        problems.push(Problem::new(
            format!("{path}.weight"),
            format!("weight must be a number greater than 0, not {w}"),
        ));
    }
}

fn check_routes(config: &Config, problems: &mut Vec<Problem>) {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut exact: BTreeMap<&str, String> = BTreeMap::new();
    let mut default_route: Option<usize> = None;
    for (i, route) in config.routes.iter().enumerate() {
        let path = format!("routes[{i}]");
        if route.model.trim().is_empty() {
            problems.push(Problem::new(
                format!("{path}.model"),
                "empty model name: give the public name clients send, or a glob such as `claude-*`",
            ));
        }
        if let Some(prev) = names.insert(route.name(), i) {
            problems.push(Problem::new(
                format!("{path}.name"),
                format!(
                    "route name `{}` is already used by routes[{prev}]; give one of them a distinct `name`",
                    route.name()
                ),
            ));
        }
        if route.is_default() {
            if let Some(prev) = default_route {
                problems.push(Problem::new(
                    format!("{path}.model"),
                    format!("routes[{prev}] is already the default route (`*`); keep one"),
                ));
            }
            default_route = Some(i);
        } else if !route.is_pattern() {
            claim(&mut exact, &route.model, format!("{path}.model"), problems);
        }
        for (j, alias) in route.aliases.iter().enumerate() {
            let apath = format!("{path}.aliases[{j}]");
            if alias.trim().is_empty() || is_glob(alias) {
                problems.push(Problem::new(
                    apath,
                    format!("alias `{alias}` must be an exact, non-empty name (use a route `model` glob for patterns)"),
                ));
            } else {
                claim(&mut exact, alias, apath, problems);
            }
        }
        if route.targets.is_empty() {
            problems.push(Problem::new(
                format!("{path}.targets"),
                "a route needs at least one target, e.g. `targets = [{ provider = \"openai\", model = \"gpt-5\" }]`",
            ));
        }
        for (j, t) in route.targets.iter().enumerate() {
            check_target(config, t, &format!("{path}.targets[{j}]"), problems);
        }
        if route.strategy == Strategy::Ordered && route.targets.iter().any(|t| t.weight.is_some()) {
            problems.push(Problem::new(
                format!("{path}.strategy"),
                "targets have weights but the strategy is `ordered`: set `strategy = \"weighted\"` or drop the weights",
            ));
        }
        for (j, fb) in route.fallbacks.iter().enumerate() {
            let fpath = format!("{path}.fallbacks[{j}]");
            match fb {
                FallbackConfig::Target(t) => check_target(config, t, &fpath, problems),
                FallbackConfig::Name(n) => {
                    if n == route.name() {
                        problems.push(Problem::new(
                            fpath,
                            format!("route `{n}` falls back to itself"),
                        ));
                    } else if !config.routes.iter().any(|r| r.name() == n) {
                        match n.split_once('/') {
                            Some((p, m)) if config.providers.contains_key(p) && !m.is_empty() => {}
                            _ => problems.push(Problem::new(
                                fpath,
                                format!(
                                    "`{n}` is neither a route name nor `provider/model` with a configured provider ({})",
                                    known_providers(config)
                                ),
                            )),
                        }
                    }
                }
            }
        }
        if route.timeout_ms == Some(0) {
            problems.push(Problem::new(
                format!("{path}.timeout_ms"),
                "must be greater than 0 (remove it for the default)",
            ));
        }
        if let Some(r) = route.retries.filter(|r| *r > 10) {
            problems.push(Problem::new(
                format!("{path}.retries"),
                format!(
                    "{r} retries per target is too many; use at most 10 and add fallbacks instead"
                ),
            ));
        }
        if let (Some(b), Some(m)) = (route.backoff_ms, route.backoff_max_ms) {
            if b > m {
                problems.push(Problem::new(
                    format!("{path}.backoff_ms"),
                    format!("backoff_ms ({b}) is above backoff_max_ms ({m})"),
                ));
            }
        }
    }
    for (alias, _) in config.aliases.iter() {
        claim(&mut exact, alias, format!("aliases.{alias}"), problems);
    }
}

/// Records that `name` is an exact public name defined at `path`; a second definition
/// is a problem.
fn claim<'a>(
    exact: &mut BTreeMap<&'a str, String>,
    name: &'a str,
    path: String,
    problems: &mut Vec<Problem>,
) {
    if let Some(prev) = exact.get(name) {
        problems.push(Problem::new(
            path,
            format!("model name `{name}` is already defined at `{prev}`; each public name must lead to one route"),
        ));
    } else {
        exact.insert(name, path);
    }
}

fn check_aliases(config: &Config, problems: &mut Vec<Problem>) {
    for (alias, target) in &config.aliases {
        let path = format!("aliases.{alias}");
        if is_glob(alias) || alias.trim().is_empty() {
            problems.push(Problem::new(
                path.clone(),
                "an alias must be an exact, non-empty name",
            ));
        }
        if target.trim().is_empty() {
            problems.push(Problem::new(
                path,
                "an alias needs a model name to point to",
            ));
            continue;
        }
        // Follow the chain through `[aliases]`; route aliases point at routes and
        // cannot loop.
        let mut seen = BTreeSet::from([alias.as_str()]);
        let mut chain = vec![alias.as_str()];
        let mut next = target.as_str();
        while let Some(further) = config.aliases.get(next) {
            chain.push(next);
            if !seen.insert(next) {
                problems.push(Problem::new(
                    path.clone(),
                    format!(
                        "alias cycle: {}; point one of them at a route or `provider/model`",
                        chain.join(" → ")
                    ),
                ));
                break;
            }
            next = further;
        }
    }
}

fn check_auto(config: &Config, problems: &mut Vec<Problem>) {
    let Some(auto) = &config.auto else { return };
    if auto.model.trim().is_empty() || is_glob(&auto.model) {
        problems.push(Problem::new(
            "auto.model",
            "must be an exact, non-empty name such as `auto`",
        ));
    }
    let taken = config
        .routes
        .iter()
        .any(|r| r.model == auto.model || r.aliases.contains(&auto.model))
        || config.aliases.contains_key(&auto.model);
    if taken {
        problems.push(Problem::new(
            "auto.model",
            format!(
                "`{}` is also a route or alias; rename one of them",
                auto.model
            ),
        ));
    }
    if auto.otherwise.is_some() && auto.cheapest {
        problems.push(Problem::new(
            "auto.cheapest",
            "set either `otherwise = \"<model>\"` or `cheapest = true`, not both",
        ));
    }
    if auto.otherwise.is_none() && !auto.cheapest {
        problems.push(Problem::new(
            "auto",
            "say what happens when no rule holds: `otherwise = \"<model>\"` or `cheapest = true`",
        ));
    }
    for (i, rule) in auto.rules.iter().enumerate() {
        if rule.model == auto.model {
            problems.push(Problem::new(
                format!("auto.rules[{i}].model"),
                "a rule cannot pick the auto model itself",
            ));
        }
        if let (Some(lo), Some(hi)) = (rule.when.min_prompt_tokens, rule.when.max_prompt_tokens) {
            if lo > hi {
                problems.push(Problem::new(
                format!("auto.rules[{i}].when"),
                format!("min_prompt_tokens ({lo}) is above max_prompt_tokens ({hi}): the rule can never hold"),
            ));
            }
        }
    }
    if auto.otherwise.as_deref() == Some(auto.model.as_str()) {
        problems.push(Problem::new(
            "auto.otherwise",
            "cannot be the auto model itself",
        ));
    }
}

fn check_catalog(config: &Config, problems: &mut Vec<Problem>) {
    for (model, o) in &config.catalog {
        let path = format!("catalog.{model}");
        for (field, v) in [
            ("context_window", o.context_window),
            ("max_output_tokens", o.max_output_tokens),
        ] {
            if v == Some(0) {
                problems.push(Problem::new(
                    format!("{path}.{field}"),
                    "must be greater than 0",
                ));
            }
        }
        for (field, v) in [
            ("input_per_mtok", o.input_per_mtok),
            ("output_per_mtok", o.output_per_mtok),
            ("cache_read_per_mtok", o.cache_read_per_mtok),
            ("cache_write_per_mtok", o.cache_write_per_mtok),
        ] {
            if let Some(p) = v.filter(|p| !(p.is_finite() && *p >= 0.0)) {
                problems.push(Problem::new(
                    format!("{path}.{field}"),
                    format!("a price in USD per million tokens must be 0 or more, not {p}"),
                ));
            }
        }
    }
}

fn check_keys(config: &Config, problems: &mut Vec<Problem>, warnings: &mut Vec<String>) {
    let mut names = BTreeMap::new();
    for (i, key) in config.keys.iter().enumerate() {
        let path = format!("keys[{i}]");
        if key.name.trim().is_empty() {
            problems.push(Problem::new(
                format!("{path}.name"),
                "give the key a name (it appears in logs)",
            ));
        } else if let Some(prev) = names.insert(key.name.as_str(), i) {
            problems.push(Problem::new(
                format!("{path}.name"),
                format!("key name `{}` is already used by keys[{prev}]", key.name),
            ));
        }
        match (&key.sha256, &key.secret) {
            (Some(_), Some(_)) => problems.push(Problem::new(
                path.clone(),
                "set `sha256` or `secret`, not both",
            )),
            (None, None) => problems.push(Problem::new(
                path.clone(),
                "set `sha256` (hex SHA-256 of the key: `printf %s \"$KEY\" | sha256sum`) or, for local use, `secret`",
            )),
            (Some(h), None) => {
                if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    problems.push(Problem::new(
                        format!("{path}.sha256"),
                        "must be 64 hex digits: the SHA-256 of the key (`printf %s \"$KEY\" | sha256sum`)",
                    ));
                }
            }
            (None, Some(s)) => {
                if s.is_empty() {
                    problems.push(Problem::new(format!("{path}.secret"), "an empty key would let anyone in"));
                }
                warnings.push(format!(
                    "`{path}.secret`: key `{}` is stored in plain text; fine for local development, otherwise store `sha256` instead",
                    key.name
                ));
            }
        }
        if key.models.is_empty() {
            problems.push(Problem::new(
                format!("{path}.models"),
                "an empty list allows no model; remove it to allow all, or list globs such as `claude-*`",
            ));
        }
    }
}
