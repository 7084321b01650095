//! The routing table as the operator sees it (`GET /admin/routing`) and "try it"
//! (`GET /admin/routing/resolve?model=…[&key=…]`): which route a name matches and
//! why, and the targets a chat request would try, each with why it is tried, tried
//! last or passed over. The answer comes from the request path's own functions
//! (`chat::policy::plan_traced`, `Router::resolve_traced`, `attempts::usable`), so it
//! cannot disagree with what a request gets.

use std::time::Instant;

use gateway_auth::KeyPolicy;
use gateway_protocol::GatewayError;
use gateway_providers::{Operation, Provider};
use serde_json::{Value, json};

use super::params::Params;
use super::reply::{ApiError, blocking, ok};
use crate::app::App;
use crate::chat::policy::{Seen, plan_traced};
use crate::config::{FallbackConfig, RouteConfig, Strategy};
use crate::respond::Answer;
use crate::routing::{Needs, RoutePlan, Step, Target};

/// The order names are looked up in, as the table states it.
const PRECEDENCE: &str = "exact route names and route aliases, then [aliases], then provider/model for a configured provider, then glob routes in file order, then the default route (model = \"*\")";

/// The operations a provider can be asked for, by name.
const OPERATIONS: [(Operation, &str); 3] = [
    (Operation::Chat, "chat"),
    (Operation::Embeddings, "embeddings"),
    (Operation::CountTokens, "count_tokens"),
];

/// The gateway and the routing table one answer reads (taken once, so a reload
/// in between cannot mix two tables in one answer).
struct View<'a> {
    app: &'a App,
    table: &'a crate::table::Table,
}

/// `GET /admin/routing`: every route with its targets, fallbacks, aliases, the
/// catalogue's facts about each target's model, whether its provider is configured,
/// and what is cooling down now.
pub(crate) fn table(app: &App) -> Answer {
    let now = Instant::now();
    let table = app.table();
    let v = &View { app, table: &table };
    let router = &table.router;
    let routes: Vec<Value> = router
        .routes()
        .iter()
        .enumerate()
        .map(|(i, r)| route_json(v, i, r, now))
        .collect();
    let mut aliases: Vec<Value> = router
        .aliases()
        .map(|(from, to)| json!({"from": from, "to": to}))
        .collect();
    aliases.sort_by(|a, b| a["from"].as_str().cmp(&b["from"].as_str()));
    let auto = router.auto().map(|a| {
        json!({
            "model": a.model,
            "rules": a.rules.iter().map(|r| json!({
                "model": r.model,
                "needs_tools": r.when.needs_tools,
                "needs_images": r.when.needs_images,
                "min_prompt_tokens": r.when.min_prompt_tokens,
                "max_prompt_tokens": r.when.max_prompt_tokens,
            })).collect::<Vec<_>>(),
            "otherwise": a.otherwise,
            "cheapest": a.cheapest,
        })
    });
    let mut providers: Vec<&str> = table.providers.keys().map(String::as_str).collect();
    providers.sort_unstable();
    let cooling: Vec<Value> = app
        .cooldown
        .cooling(now)
        .into_iter()
        .map(|(t, left, failures)| {
            json!({
                "provider": t.provider,
                "upstream_model": t.upstream_model,
                "remaining_ms": left.as_millis() as u64,
                "failures": failures,
            })
        })
        .collect();
    ok(&json!({
        "precedence": PRECEDENCE,
        "routes": routes,
        "aliases": aliases,
        "auto": auto,
        "providers": providers,
        "cooling": cooling,
    }))
}

fn route_json(v: &View<'_>, index: usize, r: &RouteConfig, now: Instant) -> Value {
    let kind = if r.is_default() {
        "default"
    } else if r.is_pattern() {
        "glob"
    } else {
        "exact"
    };
    let weighted = r.strategy == Strategy::Weighted;
    let targets: Vec<Value> = r
        .targets
        .iter()
        .enumerate()
        .map(|(order, t)| {
            let mut v = target_json(v, &t.provider, t.model.as_deref(), now);
            v["order"] = json!(order + 1);
            if weighted {
                v["weight"] = json!(t.weight.unwrap_or(1.0));
            }
            v
        })
        .collect();
    let fallbacks: Vec<Value> = r
        .fallbacks
        .iter()
        .map(|f| match f {
            FallbackConfig::Name(name) => {
                let is_route = v.table.router.routes().iter().any(|r| r.name() == name);
                json!({"name": name, "is_route": is_route})
            }
            FallbackConfig::Target(t) => target_json(v, &t.provider, t.model.as_deref(), now),
        })
        .collect();
    json!({
        "index": index,
        "name": r.name(),
        "model": r.model,
        "kind": kind,
        "aliases": r.aliases,
        "strategy": if weighted { "weighted" } else { "ordered" },
        "targets": targets,
        "fallbacks": fallbacks,
        "retries": r.retries.unwrap_or(crate::routing::DEFAULT_RETRIES),
        "timeout_ms": r.timeout_ms.map_or(crate::routing::DEFAULT_TIMEOUT.as_millis() as u64, |t| t),
    })
}

/// One configured target: its provider (configured? what it offers), the upstream
/// model (`null`: the requested name is sent), the catalogue's facts and its cool-down.
fn target_json(v: &View<'_>, provider: &str, model: Option<&str>, now: Instant) -> Value {
    let configured = v.table.providers.get(provider);
    let facts = model.and_then(|m| catalog_json(v, configured, m));
    let cooling_ms = model.and_then(|m| {
        v.app
            .cooldown
            .remaining(&Target::new(provider, m), now)
            .map(|d| d.as_millis() as u64)
    });
    json!({
        "provider": provider,
        "upstream_model": model,
        "provider_configured": configured.is_some(),
        "provider_kind": configured.map(|p| p.preset().map_or(p.kind().as_str(), |pr| pr.name)),
        "operations": configured.map(supported),
        "catalog": facts,
        "cooling_ms": cooling_ms,
    })
}

fn supported(p: &Provider) -> Vec<&'static str> {
    OPERATIONS
        .iter()
        .filter(|(op, _)| p.supports(*op))
        .map(|(_, name)| *name)
        .collect()
}

/// What the catalogue knows of `model` (looked up as for `provider`'s family).
fn catalog_json(v: &View<'_>, provider: Option<&Provider>, model: &str) -> Option<Value> {
    let family = provider.map(|p| p.preset().map_or(p.kind().as_str(), |pr| pr.name));
    let info = v.table.catalog.lookup_for(model, family)?;
    Some(json!({
        "context_window": info.context_window,
        "max_output_tokens": info.max_output_tokens,
        "input_usd_per_mtok": info.prices.input,
        "output_usd_per_mtok": info.prices.output,
        "tools": info.tools,
        "vision": info.vision,
    }))
}

/// What "try it" found for one name.
#[derive(Debug)]
pub(crate) struct Explanation {
    /// The router's decisions, in order.
    pub steps: Vec<Step>,
    /// The router's plan before the key's providers and the cool-downs.
    pub routed: Option<RoutePlan>,
    /// What a chat request gets: the plan, or the error.
    pub plan: Result<RoutePlan, GatewayError>,
}

/// Resolves `model` as a chat request without tools or images would be, with
/// `policy` (a key's) applied, at `now`, drawing weighted orders from `rng`.
pub(crate) fn explain(
    app: &App,
    table: &crate::table::Table,
    policy: Option<&KeyPolicy>,
    model: &str,
    rng: &mut fastrand::Rng,
    now: Instant,
) -> Explanation {
    let mut seen = Seen {
        trail: crate::routing::Trail::on(),
        routed: None,
    };
    let plan = plan_traced(
        app,
        table,
        policy,
        model,
        &Needs::default(),
        rng,
        now,
        Some(&mut seen),
    );
    Explanation {
        steps: seen.trail.into_steps(),
        routed: seen.routed,
        plan,
    }
}

/// `GET /admin/routing/resolve?model=NAME[&key=ID]`.
pub(crate) async fn resolve(app: &App, query: Option<&str>) -> Result<Answer, ApiError> {
    let params = Params::parse(query, &["model", "key"])?;
    let model = params.text("model").ok_or_else(|| {
        ApiError::invalid(Some("model"), "give the model name to resolve: ?model=NAME")
    })?;
    let key = match params.text("key") {
        Some(id) => {
            let store = super::keys::store(app)?;
            Some(blocking(move || Ok(store.get(&id)?)).await?)
        }
        None => None,
    };
    let now = Instant::now();
    let table = app.table();
    let found = explain(
        app,
        &table,
        key.as_ref().map(|k| &k.policy),
        &model,
        &mut fastrand::Rng::new(),
        now,
    );
    let v = &View { app, table: &table };
    let mut answer = explanation_json(v, &model, &found, now);
    if let Some(k) = &key {
        let state = k.state(gateway_auth::cache::now_ms());
        answer["key"] = json!({
            "id": k.id,
            "name": k.name,
            "state": state,
            "models": k.policy.models,
            "providers": k.policy.providers,
        });
        if state != gateway_auth::keys::KeyState::Active {
            answer["key_note"] = json!(format!(
                "this key is {}: a request with it is refused (401) before routing",
                serde_json::to_value(state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ));
        }
    }
    Ok(ok(&answer))
}

/// The explanation as the API answers it.
fn explanation_json(v: &View<'_>, model: &str, found: &Explanation, now: Instant) -> Value {
    let why: Vec<String> = found.steps.iter().map(sentence).collect();
    let matched = found.steps.iter().rev().find_map(|s| match s {
        Step::Exact { route, .. } => Some(json!({"how": "exact", "route": route})),
        Step::RouteAlias { route, .. } => Some(json!({"how": "route_alias", "route": route})),
        Step::Explicit { target, .. } => {
            Some(json!({"how": "provider", "route": target.to_string()}))
        }
        Step::Glob { route, pattern, .. } => {
            Some(json!({"how": "glob", "route": route, "pattern": pattern}))
        }
        Step::Default { route, .. } => Some(json!({"how": "default", "route": route})),
        Step::Auto { rule, model: None } => {
            Some(json!({"how": "auto", "route": model, "rule": rule}))
        }
        _ => None,
    });
    let aliases: Vec<Value> = found
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Alias { from, to } => Some(json!({"from": from, "to": to})),
            _ => None,
        })
        .collect();
    let auto_rule = found.steps.iter().find_map(|s| match s {
        Step::Auto { rule, .. } => Some(rule.clone()),
        _ => None,
    });
    let mut out = json!({
        "model": model,
        "assumes": "a chat request without tools or images, with a short prompt",
        "matched": matched,
        "aliases": aliases,
        "auto_rule": auto_rule,
        "why": why,
    });
    match &found.plan {
        Ok(plan) => {
            out["route"] = json!(plan.route_name);
            out["retries"] = json!(plan.retries);
            out["timeout_ms"] = json!(plan.timeout.as_millis() as u64);
            out["weighted"] = json!(
                v.table
                    .router
                    .routes()
                    .iter()
                    .find(|r| r.name() == plan.route_name)
                    .is_some_and(|r| r.strategy == Strategy::Weighted)
            );
            out["plan"] = json!(plan_json(v, found.routed.as_ref(), plan, now));
            out["error"] = Value::Null;
        }
        Err(err) => {
            out["plan"] = json!([]);
            out["error"] = json!({
                "status": err.kind.status(),
                "message": err.message,
                "code": err.code,
            });
        }
    }
    out
}

/// The plan's targets in the order tried, each with its state and why; then the
/// route's targets the key's policy removed.
fn plan_json(
    v: &View<'_>,
    routed: Option<&RoutePlan>,
    plan: &RoutePlan,
    now: Instant,
) -> Vec<Value> {
    let mut order = 0;
    let mut out: Vec<Value> = plan
        .attempts
        .iter()
        .map(|t| {
            let (state, reason) = match crate::attempts::usable(v.table, t, Operation::Chat) {
                Err(crate::attempts::Unusable::UnknownProvider) => (
                    "skipped",
                    format!("no provider `{}` is configured: passed over", t.provider),
                ),
                Err(crate::attempts::Unusable::Unsupported) => (
                    "skipped",
                    format!(
                        "provider `{}` offers no chat endpoint: passed over",
                        t.provider
                    ),
                ),
                Ok(_) => match v.app.cooldown.remaining(t, now) {
                    Some(left) => (
                        "cooling",
                        format!(
                            "cooling down for {} s after failures: tried after the targets that are not",
                            left.as_secs().max(1)
                        ),
                    ),
                    None => ("try", "tried in this order".to_owned()),
                },
            };
            let tried = state != "skipped";
            if tried {
                order += 1;
            }
            json!({
                "provider": t.provider,
                "upstream_model": t.upstream_model,
                "order": tried.then_some(order),
                "state": state,
                "reason": reason,
            })
        })
        .collect();
    for t in routed.map_or(&[][..], |r| &r.attempts[..]) {
        if !plan.attempts.contains(t) {
            out.push(json!({
                "provider": t.provider,
                "upstream_model": t.upstream_model,
                "order": null,
                "state": "not_allowed",
                "reason": format!("this key may not use provider `{}`", t.provider),
            }));
        }
    }
    out
}

fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn shadow_note(shadowed: &[String]) -> String {
    if shadowed.is_empty() {
        String::new()
    } else {
        format!(
            " It also matches {}, which {} looked up later.",
            list(shadowed),
            if shadowed.len() == 1 { "is" } else { "are" }
        )
    }
}

/// One step in words.
fn sentence(step: &Step) -> String {
    match step {
        Step::Auto {
            rule,
            model: Some(m),
        } => format!("`auto` picks by its rules: `{rule}` holds for this request and names `{m}`."),
        Step::Auto { rule, model: None } => format!(
            "`auto`: no rule holds, so `{rule}` takes the cheapest priced target that fits."
        ),
        Step::Exact {
            name,
            route,
            shadowed,
        } => format!(
            "`{name}` is route `{route}`'s own model name; exact names are looked up first.{}",
            shadow_note(shadowed)
        ),
        Step::RouteAlias {
            name,
            route,
            shadowed,
        } => format!(
            "`{name}` is one of route `{route}`'s aliases; exact names and route aliases are looked up first.{}",
            shadow_note(shadowed)
        ),
        Step::Alias { from, to } => {
            format!("[aliases] maps `{from}` to `{to}`, which is looked up in turn.")
        }
        Step::Explicit { target, shadowed } => format!(
            "`{target}` names the configured provider `{}` directly (provider/model), with upstream model `{}`; no route is involved.{}",
            target.provider,
            target.upstream_model,
            shadow_note(shadowed)
        ),
        Step::Glob {
            name,
            pattern,
            route,
            passed,
            shadowed,
        } => {
            let before = if passed.is_empty() {
                String::new()
            } else {
                format!(" {} did not match;", list(passed))
            };
            format!(
                "No route, alias or provider is named `{name}`, so glob routes are tried in file order:{before} `{pattern}` (route `{route}`) matches.{}",
                shadow_note(shadowed)
            )
        }
        Step::Default {
            name,
            route,
            passed,
        } => {
            let globs = if passed.is_empty() {
                String::new()
            } else {
                format!(" (globs tried: {})", list(passed))
            };
            format!(
                "No exact name, alias, provider/model or glob{globs} matches `{name}`, so the default route `{route}` takes it."
            )
        }
        Step::NotRouted { name } => {
            format!("Nothing matches `{name}` and there is no default route (model = \"*\").")
        }
    }
}

#[cfg(test)]
mod tests;
