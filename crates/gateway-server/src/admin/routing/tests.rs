use std::time::Instant;

use super::*;
use crate::config::Config;

const CONFIG: &str = r#"
[providers.a]
kind = "mock"
[providers.b]
kind = "mock"
[providers.c]
kind = "mock"

[aliases]
smart = "big"

[[routes]]
model = "big"
aliases = ["large"]
targets = [{ provider = "a", model = "big-a" }, { provider = "b", model = "big-b" }]
fallbacks = ["spread"]
retries = 3

[[routes]]
name = "spread"
model = "spread-*"
strategy = "weighted"
targets = [
  { provider = "a", model = "w-a", weight = 1 },
  { provider = "b", model = "w-b", weight = 5 },
  { provider = "c", model = "w-c", weight = 2 },
]

[[routes]]
name = "claude"
model = "claude-*"
targets = [{ provider = "c" }]

[[routes]]
name = "default"
model = "*"
targets = [{ provider = "a" }]
"#;

fn app() -> App {
    let config = Config::from_toml_str(CONFIG, &|_| None).unwrap();
    App::with_keys(&config, None).unwrap()
}

/// What the request path would try: the router's draw, then the cool-downs.
fn resolved(app: &App, model: &str, seed: u64, now: Instant) -> Vec<Target> {
    let mut plan = app
        .table()
        .router
        .resolve_with_rng(
            model,
            &Needs::default(),
            &mut fastrand::Rng::with_seed(seed),
        )
        .unwrap();
    plan.apply_cooldown(&app.cooldown, now);
    plan.attempts
}

fn explained(app: &App, model: &str, seed: u64, now: Instant) -> Explanation {
    explain(
        app,
        &app.table(),
        None,
        model,
        &mut fastrand::Rng::with_seed(seed),
        now,
    )
}

#[test]
fn the_explained_plan_is_the_resolved_plan() {
    let app = app();
    let now = Instant::now();
    // Exact, route alias, [aliases], glob (weighted), fallback into a weighted route,
    // provider/model, the default.
    let names = [
        "big",
        "large",
        "smart",
        "spread-x",
        "claude-opus-4-8",
        "b/raw",
        "anything",
    ];
    for seed in 0..8 {
        for name in names {
            let e = explained(&app, name, seed, now);
            assert_eq!(
                e.plan.unwrap().attempts,
                resolved(&app, name, seed, now),
                "{name} with seed {seed}"
            );
        }
    }
    // And with targets cooling down: moved last in both.
    app.cooldown
        .record_failure(&Target::new("a", "big-a"), Instant::now());
    app.cooldown
        .record_failure(&Target::new("b", "w-b"), Instant::now());
    let now = Instant::now();
    for seed in 0..8 {
        for name in ["big", "spread-y"] {
            let e = explained(&app, name, seed, now);
            assert_eq!(e.plan.unwrap().attempts, resolved(&app, name, seed, now));
        }
    }
    let e = explained(&app, "big", 1, now);
    let plan = e.plan.as_ref().unwrap();
    assert_eq!(plan.attempts[0], Target::new("b", "big-b"));
    let cold = plan.attempts.len() - 2;
    assert!(
        plan.attempts[cold..].contains(&Target::new("a", "big-a")),
        "{plan:?}"
    );
}

#[test]
fn steps_say_which_rule_matched_and_what_it_shadowed() {
    let app = app();
    let now = Instant::now();
    let steps = |name| explained(&app, name, 0, now).steps;
    assert!(matches!(
        &steps("big")[..],
        [Step::Exact { route, shadowed, .. }] if route == "big" && shadowed == &["default"]
    ));
    assert!(matches!(&steps("large")[..], [Step::RouteAlias { route, .. }] if route == "big"));
    assert!(matches!(
        &steps("smart")[..],
        [Step::Alias { from, to }, Step::Exact { .. }] if from == "smart" && to == "big"
    ));
    assert!(matches!(
        &steps("claude-x")[..],
        [Step::Glob { pattern, passed, .. }] if pattern == "claude-*" && passed == &["spread-*"]
    ));
    assert!(matches!(
        &steps("zzz")[..],
        [Step::Default { passed, .. }] if passed.len() == 2
    ));
    assert!(matches!(
        &steps("c/raw")[..],
        [Step::Explicit { target, .. }] if target == &Target::new("c", "raw")
    ));
}

#[test]
fn the_answer_names_targets_cooling_and_refused_by_the_key() {
    let app = app();
    app.cooldown
        .record_failure(&Target::new("a", "big-a"), Instant::now());
    let policy = KeyPolicy {
        providers: vec!["a".to_owned(), "c".to_owned()],
        ..KeyPolicy::default()
    };
    let now = Instant::now();
    let found = explain(
        &app,
        &app.table(),
        Some(&policy),
        "big",
        &mut fastrand::Rng::with_seed(3),
        now,
    );
    let v = explanation_json(
        &View {
            app: &app,
            table: &app.table(),
        },
        "big",
        &found,
        now,
    );
    assert_eq!(v["matched"]["how"], "exact");
    assert_eq!(v["route"], "big");
    assert_eq!(v["retries"], 3);
    let plan = v["plan"].as_array().unwrap();
    let row = |p: &str, m: &str| {
        plan.iter()
            .find(|t| t["provider"] == p && t["upstream_model"] == m)
            .unwrap_or_else(|| panic!("{p}/{m} in {v}"))
            .clone()
    };
    assert_eq!(row("a", "big-a")["state"], "cooling", "{v}");
    assert_eq!(row("b", "big-b")["state"], "not_allowed", "{v}");
    assert_eq!(row("b", "w-b")["state"], "not_allowed", "{v}");
    // The warm targets the key allows come first, in the order resolve gives.
    assert_eq!(plan[0]["state"], "try");
    assert_eq!(plan[0]["order"], 1);
    assert!(v["error"].is_null());

    // A model the key may not use: the refusal and its status.
    let narrow = KeyPolicy {
        models: vec!["claude-*".to_owned()],
        ..KeyPolicy::default()
    };
    let found = explain(
        &app,
        &app.table(),
        Some(&narrow),
        "big",
        &mut fastrand::Rng::with_seed(0),
        now,
    );
    let v = explanation_json(
        &View {
            app: &app,
            table: &app.table(),
        },
        "big",
        &found,
        now,
    );
    assert_eq!(v["error"]["status"], 403, "{v}");
    assert!(v["plan"].as_array().unwrap().is_empty());
}

#[test]
fn a_name_nothing_routes_is_a_404_with_the_reason() {
    let text = CONFIG.replace("model = \"*\"", "model = \"gpt-*\"");
    let config = Config::from_toml_str(&text, &|_| None).unwrap();
    let app = App::with_keys(&config, None).unwrap();
    let now = Instant::now();
    let found = explained(&app, "mystery", 0, now);
    assert!(matches!(&found.steps[..], [Step::NotRouted { .. }]));
    let v = explanation_json(
        &View {
            app: &app,
            table: &app.table(),
        },
        "mystery",
        &found,
        now,
    );
    assert_eq!(v["error"]["status"], 404);
    assert!(
        v["why"][0].as_str().unwrap().contains("no default route"),
        "{v}"
    );
}
