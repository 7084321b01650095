use super::*;

const FULL: &str = include_str!("../../tests/fixtures/config/full.toml");

fn env(k: &str) -> Option<String> {
    Some(if k == "ALICE_KEY_SHA256" {
        gateway_auth::secret::digest_hex("x")
    } else {
        format!("v-{k}")
    })
}

fn router(text: &str) -> Router {
    let config = Config::from_toml_str(text, &env).unwrap();
    Router::new(&config, &Catalog::from_config(&config)).unwrap()
}

fn resolve(r: &Router, model: &str) -> RoutePlan {
    r.resolve_with_rng(model, &Needs::default(), &mut fastrand::Rng::with_seed(1))
        .unwrap()
}

fn attempts(plan: &RoutePlan) -> Vec<String> {
    plan.attempts.iter().map(ToString::to_string).collect()
}

#[test]
fn exact_names_and_route_aliases() {
    let r = router(FULL);
    let plan = resolve(&r, "claude-opus-4-8");
    assert_eq!(plan.route_name, "claude-opus-4-8");
    assert_eq!(plan.retries, 2);
    assert_eq!(plan.timeout, Duration::from_secs(120));
    // Own target, then fallback route `gpt-5` (weighted: both of its targets, in some
    // order, with the requested name where the target has no model), then the target.
    let a = attempts(&plan);
    assert_eq!(a[0], "anthropic/claude-opus-4-5");
    assert_eq!(a.len(), 3, "{a:?}");
    assert!(a.contains(&"openai/claude-opus-4-8".to_owned()), "{a:?}");
    assert!(a.contains(&"deepseek/deepseek-chat".to_owned()), "{a:?}");
    assert_eq!(resolve(&r, "opus").attempts[0], plan.attempts[0]);
    assert_eq!(resolve(&r, "best").route_name, "claude-opus-4-8");
}

#[test]
fn config_aliases_resolve_again() {
    let r = router(FULL);
    let plan = resolve(&r, "claude-sonnet-4-6");
    assert_eq!(plan.route_name, "claude-opus-4-8");
    assert_eq!(
        plan.attempts[0],
        Target::new("anthropic", "claude-opus-4-5")
    );
}

#[test]
fn explicit_provider_addressing_only_for_configured_providers() {
    let r = router(FULL);
    let plan = resolve(&r, "openai/gpt-4.1");
    assert_eq!(attempts(&plan), ["openai/gpt-4.1"]);
    assert_eq!(plan.route_name, "openai/gpt-4.1");
    // `gw/...` is not a provider: the default route takes it, name untouched.
    let plan = resolve(&r, "gw/any-model-name");
    assert_eq!(plan.route_name, "default");
    assert_eq!(attempts(&plan), ["mock/gw/any-model-name"]);
}

#[test]
fn globs_in_file_order_then_the_default() {
    let r = router(FULL);
    assert_eq!(resolve(&r, "gpt-5-codex").route_name, "gpt-5");
    let plan = resolve(&r, "gemini-3.5-flash-lite");
    assert_eq!(plan.route_name, "default");
    assert_eq!(attempts(&plan), ["mock/gemini-3.5-flash-lite"]);
    assert_eq!(plan.retries, DEFAULT_RETRIES);
    assert_eq!(plan.timeout, DEFAULT_TIMEOUT);
    assert!(plan.auto_rule.is_none());

    // The default route is last even when written first.
    let r = router(
        r#"
[providers.a]
kind = "mock"
[providers.b]
kind = "mock"
[[routes]]
model = "*"
targets = [{ provider = "a" }]
[[routes]]
model = "x-*"
targets = [{ provider = "b" }]
[[routes]]
model = "x-?"
targets = [{ provider = "a", model = "never" }]
"#,
    );
    assert_eq!(attempts(&resolve(&r, "x-1")), ["b/x-1"]);
    assert_eq!(attempts(&resolve(&r, "y")), ["a/y"]);
}

#[test]
fn unknown_models_are_not_found_with_a_hint() {
    let r = router(
        "[providers.openai]\nkind = \"openai\"\n[[routes]]\nmodel = \"gpt-5\"\ntargets = [{ provider = \"openai\" }]",
    );
    let err = r.resolve("claude-opus-4-8", &Needs::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert_eq!(err.status, 404);
    assert_eq!(err.code.as_deref(), Some("model_not_found"));
    assert!(err.message.contains("`claude-opus-4-8`"), "{}", err.message);
    assert!(err.message.contains("[[routes]]"), "{}", err.message);
    assert!(err.message.contains("openai/<model>"), "{}", err.message);
    // A provider name that is not configured is no explicit address.
    assert!(r.resolve("anthropic/claude-x", &Needs::default()).is_err());
    assert!(r.resolve("openai/", &Needs::default()).is_err());
}

#[test]
fn weighted_order_follows_the_weights() {
    let r = router(
        r#"
[providers.a]
kind = "mock"
[providers.b]
kind = "mock"
[[routes]]
model = "m"
strategy = "weighted"
targets = [{ provider = "a", weight = 9 }, { provider = "b", weight = 1 }]
"#,
    );
    let mut rng = fastrand::Rng::with_seed(42);
    let mut first_a = 0;
    for _ in 0..1000 {
        let plan = r
            .resolve_with_rng("m", &Needs::default(), &mut rng)
            .unwrap();
        assert_eq!(plan.attempts.len(), 2);
        if plan.attempts[0].provider == "a" {
            first_a += 1;
        }
    }
    assert!((850..950).contains(&first_a), "{first_a}");
    // Same seed, same order.
    let p1 = r
        .resolve_with_rng("m", &Needs::default(), &mut fastrand::Rng::with_seed(5))
        .unwrap();
    let p2 = r
        .resolve_with_rng("m", &Needs::default(), &mut fastrand::Rng::with_seed(5))
        .unwrap();
    assert_eq!(p1, p2);
}

#[test]
fn weighted_draw_is_a_permutation() {
    let mut rng = fastrand::Rng::with_seed(9);
    for _ in 0..100 {
        let mut order = weighted_order(&[1.0, 0.001, 5.0, 2.5], &mut rng);
        order.sort_unstable();
        assert_eq!(order, [0, 1, 2, 3]);
    }
}

#[test]
fn fallback_chains_follow_routes_once_and_drop_duplicates() {
    let r = router(
        r#"
[providers.a]
kind = "mock"
[providers.b]
kind = "mock"
[[routes]]
model = "one"
targets = [{ provider = "a", model = "m1" }]
fallbacks = ["two", "b/m9", { provider = "a", model = "m1" }]
[[routes]]
model = "two"
targets = [{ provider = "b", model = "m2" }]
fallbacks = ["one", "three"]
[[routes]]
model = "three"
targets = [{ provider = "a" }]
retries = 0
timeout_ms = 5
backoff_ms = 10
backoff_max_ms = 20
"#,
    );
    let plan = resolve(&r, "one");
    assert_eq!(attempts(&plan), ["a/m1", "b/m2", "a/one", "b/m9"]);
    let plan = resolve(&r, "three");
    assert_eq!(plan.retries, 0);
    assert_eq!(plan.timeout, Duration::from_millis(5));
    assert_eq!(
        plan.backoff,
        Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(20)
        }
    );
}

#[test]
fn cooling_targets_go_last() {
    let r = router(FULL);
    let mut plan = resolve(&r, "claude-opus-4-8");
    let first = plan.attempts[0].clone();
    let cooldown = Cooldown::default();
    let now = std::time::Instant::now();
    cooldown.record_failure(&first, now);
    plan.apply_cooldown(&cooldown, now);
    assert_eq!(plan.attempts.last(), Some(&first));
    assert_eq!(plan.attempts.len(), 3);
}

fn needs(tools: bool, images: bool, prompt_tokens: u64) -> Needs {
    Needs {
        tools,
        images,
        prompt_tokens,
    }
}

#[test]
fn auto_rules_in_order() {
    let r = router(FULL);
    let mut rng = fastrand::Rng::with_seed(1);
    let plan = r
        .resolve_with_rng("auto", &needs(false, true, 10), &mut rng)
        .unwrap();
    assert_eq!(plan.auto_rule.as_deref(), Some("rules[0]"));
    assert_eq!(plan.route_name, "claude-opus-4-8");
    let plan = r
        .resolve_with_rng("auto", &needs(true, false, 200_000), &mut rng)
        .unwrap();
    assert_eq!(plan.auto_rule.as_deref(), Some("rules[1]"));
    assert_eq!(plan.route_name, "gpt-5");
    // The gpt-5 route forwards the rule's model name.
    assert!(
        plan.attempts.iter().any(|t| t.upstream_model == "gpt-5"),
        "{plan:?}"
    );
}

#[test]
fn auto_cheapest_picks_among_configured_targets_that_fit() {
    let r = router(FULL);
    let mut rng = fastrand::Rng::with_seed(1);
    let plan = r
        .resolve_with_rng("auto", &needs(true, false, 1000), &mut rng)
        .unwrap();
    assert_eq!(plan.auto_rule.as_deref(), Some("cheapest"));
    assert_eq!(plan.route_name, "auto");
    // Priced explicit targets of the file: claude-opus-4-5 ($5 + $25) and
    // deepseek-chat (cheaper); cheapest first, all kept as fallbacks.
    assert_eq!(
        plan.attempts[0],
        Target::new("deepseek", "deepseek-chat"),
        "{plan:?}"
    );
    assert_eq!(
        plan.attempts.last(),
        Some(&Target::new("anthropic", "claude-opus-4-5"))
    );

    // Prompt larger than any candidate's window: a clear error.
    let text = FULL.replace("min_prompt_tokens = 100000", "min_prompt_tokens = 99999999");
    let r = router(&text);
    let err = r
        .resolve_with_rng("auto", &needs(false, false, 50_000_000), &mut rng)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert!(
        err.message.contains("50000000 prompt tokens"),
        "{}",
        err.message
    );
}

#[test]
fn auto_rules_must_resolve() {
    let text = r#"
[providers.m]
kind = "mock"
[[routes]]
model = "a"
targets = [{ provider = "m" }]
[auto]
rules = [{ when = { needs_tools = true }, model = "nowhere" }]
otherwise = "a"
"#;
    let config = Config::from_toml_str(text, &env).unwrap();
    let err = Router::new(&config, &Catalog::bundled())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("auto.rules[0].model") && err.contains("`nowhere`"),
        "{err}"
    );

    let text = "[providers.m]\nkind = \"mock\"\n[[routes]]\nmodel = \"*\"\ntargets = [{ provider = \"m\" }]\n[auto]\ncheapest = true";
    let config = Config::from_toml_str(text, &env).unwrap();
    let err = Router::new(&config, &Catalog::bundled())
        .unwrap_err()
        .to_string();
    assert!(err.contains("auto.cheapest"), "{err}");
}

#[test]
fn the_default_mock_config_routes_any_name() {
    let config = Config::default_mock_with_key("k");
    let r = Router::new(&config, &Catalog::bundled()).unwrap();
    for name in [
        "claude-opus-4-8",
        "gpt-5-codex",
        "gemini-3.5-flash-lite",
        "gw/x",
    ] {
        let plan = resolve(&r, name);
        assert_eq!(attempts(&plan), [format!("mock/{name}")]);
    }
    assert_eq!(attempts(&resolve(&r, "mock/echo")), ["mock/echo"]);
}

#[test]
fn public_models_list_exact_names() {
    let r = router(FULL);
    assert_eq!(
        r.public_models(),
        [
            "auto",
            "best",
            "claude-opus-4-8",
            "claude-sonnet-4-6",
            "opus"
        ]
    );
}
