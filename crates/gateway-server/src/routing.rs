//! From the model name a client sent to an ordered list of upstream attempts.
//!
//! [`Router::resolve`] looks a name up in this order: exact route names (a route's
//! `model` and its `aliases`), then `[aliases]`, then `provider/model` for a
//! configured provider, then glob routes in file order, then the default route
//! (`model = "*"`). The `auto` model picks a name by rules first. The resulting
//! [`RoutePlan`] lists the route's targets (ordered, or by a weighted random draw)
//! followed by its fallbacks; [`Cooldown`] moves failing targets to the end,
//! [`retryable`] and [`Backoff`] decide whether and when to try again.

mod cooldown;
mod explain;
mod needs;
mod retry;

use std::collections::BTreeSet;

use foldhash::HashMap;
use std::time::Duration;

use gateway_protocol::{ErrorKind, GatewayError};

use crate::catalog::Catalog;
use crate::config::{
    AutoConfig, AutoWhen, Config, ConfigError, FallbackConfig, RouteConfig, Strategy,
};

pub use cooldown::Cooldown;
pub use explain::{Step, Trail};
pub use gateway_auth::glob::glob_match;
pub use needs::Needs;
pub use retry::{Backoff, backoff_delay, retryable};

/// Extra tries of the same target when a route does not say (`retries`).
pub const DEFAULT_RETRIES: u32 = 1;
/// Per-attempt limit until the response head, when a route does not say (`timeout_ms`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// One place a request can go: a configured provider and the model name it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// A key of `[providers]`.
    pub provider: String,
    /// The model name sent upstream.
    pub upstream_model: String,
}

impl Target {
    /// A target.
    pub fn new(provider: impl Into<String>, upstream_model: impl Into<String>) -> Self {
        Target {
            provider: provider.into(),
            upstream_model: upstream_model.into(),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.provider, self.upstream_model)
    }
}

/// What to do with one request.
///
/// The caller tries `attempts` in order. On a [`retryable`] failure before the first
/// byte reached the client it tries the same target up to `retries` more times,
/// waiting [`Backoff::delay`] before each, then moves to the next attempt at once.
/// Each try is limited to `timeout` until the upstream's response head arrives.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutePlan {
    /// The route that matched (its `name`, else its `model`; `provider/model` for
    /// explicit addressing).
    pub route_name: String,
    /// Targets in the order to try: the route's own, then its fallbacks; no duplicates.
    pub attempts: Vec<Target>,
    /// Extra tries of one target on a retryable failure.
    pub retries: u32,
    /// Waits between tries of one target.
    pub backoff: Backoff,
    /// Per-try limit until the response head.
    pub timeout: Duration,
    /// For the `auto` model: which rule chose (`rules[0]`, `otherwise`, `cheapest`).
    pub auto_rule: Option<String>,
    /// The route's `cache` setting (`None`: `[cache] enabled` decides).
    pub cache: Option<bool>,
}

impl RoutePlan {
    /// Moves targets that are cooling at `now` to the end (never drops them).
    pub fn apply_cooldown(&mut self, cooldown: &Cooldown, now: std::time::Instant) {
        cooldown.reorder(&mut self.attempts, now);
    }
}

/// A candidate of `auto` with `cheapest = true`.
#[derive(Debug, Clone)]
struct Priced {
    target: Target,
    price: f64,
    tools: bool,
    vision: bool,
    context_window: Option<u64>,
}

/// The routing table built from a [`Config`]. Immutable; share it behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<RouteConfig>,
    /// Route `model`s (exact) and route `aliases` → route index.
    exact: HashMap<String, usize>,
    /// Route names → route index (for `fallbacks`).
    by_name: HashMap<String, usize>,
    aliases: HashMap<String, String>,
    /// Indexes of glob routes other than the default, in file order.
    globs: Vec<usize>,
    default: Option<usize>,
    providers: BTreeSet<String>,
    auto: Option<AutoConfig>,
    /// Priced candidates for `cheapest`, cheapest first.
    priced: Vec<Priced>,
}

/// How deep `[aliases]` and `auto` may recurse (validation forbids cycles).
const MAX_DEPTH: usize = 16;

impl Router {
    /// Builds the table. `config` must have been validated (as `Config::from_toml_str`
    /// does); this also checks that every `auto` rule's model resolves and that
    /// `cheapest = true` has priced candidates in `catalog`.
    pub fn new(config: &Config, catalog: &Catalog) -> Result<Router, ConfigError> {
        let mut exact = HashMap::default();
        let mut by_name = HashMap::default();
        let mut globs = Vec::new();
        let mut default = None;
        for (i, route) in config.routes.iter().enumerate() {
            by_name.entry(route.name().to_owned()).or_insert(i);
            if route.is_default() {
                default.get_or_insert(i);
            } else if route.is_pattern() {
                globs.push(i);
            } else {
                exact.entry(route.model.clone()).or_insert(i);
            }
            for alias in &route.aliases {
                exact.entry(alias.clone()).or_insert(i);
            }
        }
        let mut router = Router {
            routes: config.routes.clone(),
            exact,
            by_name,
            aliases: config
                .aliases
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            globs,
            default,
            providers: config.providers.keys().cloned().collect(),
            auto: config.auto.clone(),
            priced: Vec::new(),
        };
        router.priced = priced_candidates(config, catalog);
        router.check_auto()?;
        Ok(router)
    }

    fn check_auto(&self) -> Result<(), ConfigError> {
        let Some(auto) = &self.auto else {
            return Ok(());
        };
        let mut rng = fastrand::Rng::with_seed(0);
        let names = auto
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("auto.rules[{i}].model"), &r.model))
            .chain(
                auto.otherwise
                    .iter()
                    .map(|m| ("auto.otherwise".to_owned(), m)),
            );
        for (path, name) in names {
            if let Err(e) = self.resolve_name(name, &mut rng, 1, &mut Trail::off()) {
                return Err(ConfigError::invalid(path, e.message));
            }
        }
        if auto.cheapest && self.priced.is_empty() {
            return Err(ConfigError::invalid(
                "auto.cheapest",
                "no route target has a model with prices in the catalogue: give targets an explicit `model`, or add `[catalog.<model>]` prices",
            ));
        }
        Ok(())
    }

    /// The exact public names clients can list (`GET /v1/models`): route models that
    /// are not globs, route aliases, `[aliases]` and the auto model, sorted.
    pub fn public_models(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.exact.keys().cloned().collect();
        names.extend(self.aliases.keys().cloned());
        names.extend(self.auto.iter().map(|a| a.model.clone()));
        names.into_iter().collect()
    }

    /// Resolves `requested_model` for a request with `needs`, drawing weighted orders
    /// from a randomly seeded generator.
    pub fn resolve(&self, requested_model: &str, needs: &Needs) -> Result<RoutePlan, GatewayError> {
        self.resolve_with_rng(requested_model, needs, &mut fastrand::Rng::new())
    }

    /// [`Router::resolve`] with the random generator given (seed it in tests).
    pub fn resolve_with_rng(
        &self,
        requested_model: &str,
        needs: &Needs,
        rng: &mut fastrand::Rng,
    ) -> Result<RoutePlan, GatewayError> {
        self.resolve_traced(requested_model, needs, rng, &mut Trail::off())
    }

    /// [`Router::resolve_with_rng`], noting each decision on `trail` (the operator's
    /// explanation; the request path passes [`Trail::off`]).
    pub fn resolve_traced(
        &self,
        requested_model: &str,
        needs: &Needs,
        rng: &mut fastrand::Rng,
        trail: &mut Trail,
    ) -> Result<RoutePlan, GatewayError> {
        if let Some(auto) = self.auto.as_ref().filter(|a| a.model == requested_model) {
            return self.resolve_auto(auto, needs, rng, trail);
        }
        self.resolve_name(requested_model, rng, 0, trail)
    }

    fn resolve_name(
        &self,
        name: &str,
        rng: &mut fastrand::Rng,
        depth: usize,
        trail: &mut Trail,
    ) -> Result<RoutePlan, GatewayError> {
        if depth > MAX_DEPTH {
            return Err(GatewayError::new(
                ErrorKind::Internal,
                format!("model `{name}`: aliases nest too deeply"),
            ));
        }
        if let Some(&i) = self.exact.get(name) {
            trail.note(|| {
                let route = self.routes[i].name().to_owned();
                let shadowed = self.globs_matching(name, 0);
                if self.routes[i].model == name {
                    Step::Exact {
                        name: name.to_owned(),
                        route,
                        shadowed,
                    }
                } else {
                    Step::RouteAlias {
                        name: name.to_owned(),
                        route,
                        shadowed,
                    }
                }
            });
            return Ok(self.plan(i, name, rng));
        }
        if let Some(target) = self.aliases.get(name) {
            trail.note(|| Step::Alias {
                from: name.to_owned(),
                to: target.clone(),
            });
            return self.resolve_name(target, rng, depth + 1, trail);
        }
        if let Some(target) = self.explicit(name) {
            trail.note(|| Step::Explicit {
                target: target.clone(),
                shadowed: self.globs_matching(name, 0),
            });
            return Ok(RoutePlan {
                route_name: name.to_owned(),
                attempts: vec![target],
                retries: DEFAULT_RETRIES,
                backoff: Backoff::default(),
                timeout: DEFAULT_TIMEOUT,
                auto_rule: None,
                cache: None,
            });
        }
        if let Some(k) = self
            .globs
            .iter()
            .position(|&i| glob_match(&self.routes[i].model, name))
        {
            let i = self.globs[k];
            trail.note(|| Step::Glob {
                name: name.to_owned(),
                pattern: self.routes[i].model.clone(),
                route: self.routes[i].name().to_owned(),
                passed: self.glob_patterns(..k),
                shadowed: self.globs_matching(name, k + 1),
            });
            return Ok(self.plan(i, name, rng));
        }
        if let Some(i) = self.default {
            trail.note(|| Step::Default {
                name: name.to_owned(),
                route: self.routes[i].name().to_owned(),
                passed: self.glob_patterns(..),
            });
            return Ok(self.plan(i, name, rng));
        }
        trail.note(|| Step::NotRouted {
            name: name.to_owned(),
        });
        Err(self.not_found(name))
    }

    /// The routes as configured, in file order.
    pub fn routes(&self) -> &[RouteConfig] {
        &self.routes
    }

    /// `[aliases]`: name → the name it stands for.
    pub fn aliases(&self) -> impl Iterator<Item = (&str, &str)> {
        self.aliases.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The `auto` model's configuration, when there is one.
    pub fn auto(&self) -> Option<&AutoConfig> {
        self.auto.as_ref()
    }

    /// `provider/model` for a configured provider.
    fn explicit(&self, name: &str) -> Option<Target> {
        let (provider, model) = name.split_once('/')?;
        (self.providers.contains(provider) && !model.is_empty())
            .then(|| Target::new(provider, model))
    }

    fn not_found(&self, name: &str) -> GatewayError {
        let providers: Vec<&str> = self.providers.iter().map(String::as_str).collect();
        let direct = match providers.first() {
            Some(p) => format!(
                "or address a provider directly as `{p}/<model>` (configured providers: {})",
                providers.join(", ")
            ),
            None => "and configure a provider under `[providers.<name>]`".to_owned(),
        };
        GatewayError::new(
            ErrorKind::NotFound,
            format!(
                "model `{name}` is not routed: add a `[[routes]]` entry with `model = \"{name}\"` (or a glob such as `{}`, or a default route `model = \"*\"`) to the Patchbay config, {direct}",
                match name.split_once('-') {
                    Some((family, _)) => format!("{family}-*"),
                    None => format!("{name}*"),
                },
            ),
        )
        .with_param("model")
        .with_code("model_not_found")
    }

    /// The plan of route `index` for the name `requested`.
    fn plan(&self, index: usize, requested: &str, rng: &mut fastrand::Rng) -> RoutePlan {
        let route = &self.routes[index];
        let mut attempts = Vec::new();
        let mut visited = Vec::new();
        self.collect(index, requested, rng, &mut attempts, &mut visited);
        dedup_in_order(&mut attempts);
        let backoff = Backoff {
            base: route
                .backoff_ms
                .map_or(Backoff::default().base, Duration::from_millis),
            cap: route
                .backoff_max_ms
                .map_or(Backoff::default().cap, Duration::from_millis),
        };
        RoutePlan {
            route_name: route.name().to_owned(),
            attempts,
            retries: route.retries.unwrap_or(DEFAULT_RETRIES),
            backoff: Backoff {
                base: backoff.base.min(backoff.cap),
                cap: backoff.cap,
            },
            timeout: route
                .timeout_ms
                .map_or(DEFAULT_TIMEOUT, Duration::from_millis),
            auto_rule: None,
            cache: route.cache,
        }
    }

    /// Appends route `index`'s targets, then its fallbacks (recursively, each route once).
    fn collect(
        &self,
        index: usize,
        requested: &str,
        rng: &mut fastrand::Rng,
        out: &mut Vec<Target>,
        visited: &mut Vec<usize>,
    ) {
        if visited.contains(&index) {
            return;
        }
        visited.push(index);
        let route = &self.routes[index];
        let upstream = |m: &Option<String>| m.clone().unwrap_or_else(|| requested.to_owned());
        match route.strategy {
            Strategy::Ordered => {
                for t in &route.targets {
                    out.push(Target::new(&t.provider, upstream(&t.model)));
                }
            }
            Strategy::Weighted => {
                let weights: Vec<f64> = route
                    .targets
                    .iter()
                    .map(|t| t.weight.unwrap_or(1.0))
                    .collect();
                for i in weighted_order(&weights, rng) {
                    let t = &route.targets[i];
                    out.push(Target::new(&t.provider, upstream(&t.model)));
                }
            }
        }
        for fb in &route.fallbacks {
            match fb {
                FallbackConfig::Target(t) => out.push(Target::new(&t.provider, upstream(&t.model))),
                FallbackConfig::Name(n) => {
                    if let Some(&j) = self.by_name.get(n) {
                        self.collect(j, requested, rng, out, visited);
                    } else if let Some(t) = self.explicit(n) {
                        out.push(t);
                    }
                }
            }
        }
    }

    fn resolve_auto(
        &self,
        auto: &AutoConfig,
        needs: &Needs,
        rng: &mut fastrand::Rng,
        trail: &mut Trail,
    ) -> Result<RoutePlan, GatewayError> {
        let chosen = auto
            .rules
            .iter()
            .enumerate()
            .find(|(_, r)| holds(&r.when, needs))
            .map(|(i, r)| (format!("rules[{i}]"), r.model.as_str()))
            .or_else(|| {
                auto.otherwise
                    .as_deref()
                    .map(|m| ("otherwise".to_owned(), m))
            });
        if let Some((rule, model)) = chosen {
            trail.note(|| Step::Auto {
                rule: rule.clone(),
                model: Some(model.to_owned()),
            });
            let mut plan = self.resolve_name(model, rng, 1, trail)?;
            plan.auto_rule = Some(rule);
            return Ok(plan);
        }
        trail.note(|| Step::Auto {
            rule: "cheapest".to_owned(),
            model: None,
        });
        let attempts: Vec<Target> = self
            .priced
            .iter()
            .filter(|c| {
                (!needs.tools || c.tools)
                    && (!needs.images || c.vision)
                    && c.context_window.is_none_or(|w| needs.prompt_tokens <= w)
            })
            .map(|c| c.target.clone())
            .collect();
        if attempts.is_empty() {
            return Err(GatewayError::new(
                ErrorKind::InvalidRequest,
                format!(
                    "model `{}`: no configured model satisfies this request ({}); name a model instead, or add an `[[auto.rules]]` entry for it",
                    auto.model,
                    needs.describe()
                ),
            )
            .with_param("model"));
        }
        Ok(RoutePlan {
            route_name: auto.model.clone(),
            attempts,
            retries: DEFAULT_RETRIES,
            backoff: Backoff::default(),
            timeout: DEFAULT_TIMEOUT,
            auto_rule: Some("cheapest".to_owned()),
            cache: None,
        })
    }
}

fn holds(when: &AutoWhen, needs: &Needs) -> bool {
    when.needs_tools.is_none_or(|v| v == needs.tools)
        && when.needs_images.is_none_or(|v| v == needs.images)
        && when
            .min_prompt_tokens
            .is_none_or(|n| needs.prompt_tokens >= n)
        && when
            .max_prompt_tokens
            .is_none_or(|n| needs.prompt_tokens <= n)
}

/// Indexes of `weights` in the order of a weighted draw without replacement.
fn weighted_order(weights: &[f64], rng: &mut fastrand::Rng) -> Vec<usize> {
    let mut left: Vec<usize> = (0..weights.len()).collect();
    let mut order = Vec::with_capacity(weights.len());
    while !left.is_empty() {
        let total: f64 = left.iter().map(|&i| weights[i]).sum();
        let mut x = rng.f64() * total;
        let mut pick = left.len() - 1;
        for (k, &i) in left.iter().enumerate() {
            if x < weights[i] {
                pick = k;
                break;
            }
            x -= weights[i];
        }
        order.push(left.remove(pick));
    }
    order
}

/// Every route target (and fallback target) with an explicit model that the
/// catalogue prices, cheapest first (input + output price per million tokens).
fn priced_candidates(config: &Config, catalog: &Catalog) -> Vec<Priced> {
    let mut out: Vec<Priced> = Vec::new();
    let targets = config.routes.iter().flat_map(|r| {
        r.targets
            .iter()
            .chain(r.fallbacks.iter().filter_map(|f| match f {
                FallbackConfig::Target(t) => Some(t),
                FallbackConfig::Name(_) => None,
            }))
    });
    for t in targets {
        let Some(model) = &t.model else { continue };
        let hint = config.providers.get(&t.provider).and_then(provider_family);
        let Some(info) = catalog.lookup_for(model, hint) else {
            continue;
        };
        let (Some(input), Some(output)) = (info.prices.input, info.prices.output) else {
            continue;
        };
        let target = Target::new(&t.provider, model);
        if out.iter().any(|c| c.target == target) {
            continue;
        }
        out.push(Priced {
            target,
            price: input + output,
            tools: info.tools,
            vision: info.vision,
            context_window: info.context_window,
        });
    }
    out.sort_by(|a, b| a.price.total_cmp(&b.price));
    out
}

/// The catalogue family of a provider table: its `preset`, else its `kind`.
pub fn provider_family(table: &toml::Table) -> Option<&str> {
    table
        .get("preset")
        .or_else(|| table.get("kind"))
        .and_then(toml::Value::as_str)
}

/// Drops the later copies of targets that appear twice, keeping the first in place
/// (plans hold a handful of targets: no set is worth building).
fn dedup_in_order(targets: &mut Vec<Target>) {
    let mut i = 1;
    while i < targets.len() {
        if targets[..i].contains(&targets[i]) {
            targets.remove(i);
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests;
