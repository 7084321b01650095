//! A database key's policy applied to its request: default model, output-token cap
//! (clamp or refuse), injected system prompt, and the models and providers it may reach.

use std::time::Instant;

use gateway_auth::{KeyPolicy, MaxTokensMode};
use gateway_protocol::{ChatRequest, ErrorKind, GatewayError, Part};

use crate::app::App;
use crate::routing::{Needs, RoutePlan, Trail};
use gateway_auth::Entry;

/// Applies the policy of `entry` to `req`; true when `req` was changed (then the
/// caller's bytes can no longer be forwarded as they are).
pub(crate) fn apply(entry: &Entry, req: &mut ChatRequest) -> Result<bool, GatewayError> {
    let policy = &entry.policy;
    let mut changed = false;
    if req.model.is_empty() {
        if let Some(model) = &policy.default_model {
            req.model.clone_from(model);
            changed = true;
        }
    }
    if let Some(cap) = policy.max_tokens_per_request {
        match req.sampling.max_output_tokens {
            Some(asked) if asked > cap && policy.max_tokens_mode == MaxTokensMode::Reject => {
                return Err(GatewayError::invalid_request(
                    "max_tokens",
                    format!(
                        "this key allows at most {cap} output tokens per request; {asked} were asked"
                    ),
                ));
            }
            Some(asked) if asked <= cap => {}
            _ => {
                req.sampling.max_output_tokens = Some(cap);
                changed = true;
            }
        }
    }
    if let Some(prompt) = policy.system_prompt.as_ref().filter(|p| !p.is_empty()) {
        req.system.insert(0, Part::text(prompt.clone()));
        changed = true;
    }
    Ok(changed)
}

/// The route for `model` as this key may use it: the model must be named and allowed,
/// targets on providers the key may not reach are dropped, cooling-down ones moved back.
pub(crate) fn plan(
    app: &App,
    table: &crate::table::Table,
    entry: &Entry,
    model: &str,
    needs: &Needs,
) -> Result<RoutePlan, GatewayError> {
    plan_traced(
        app,
        table,
        Some(&entry.policy),
        model,
        needs,
        &mut fastrand::Rng::new(),
        Instant::now(),
        None,
    )
}

/// What [`plan_traced`] saw on its way, for the operator's explanation.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// The router's decisions.
    pub trail: Trail,
    /// The router's plan, before the key's providers and the cool-downs.
    pub routed: Option<RoutePlan>,
}

/// [`plan`] with everything that varies given: the key's policy (`None`: no key, no
/// policy), the random draw, the time the cool-downs are read at, and where to note
/// what happened (`None` on the request path).
// The explanation varies each of these; a struct would only move the list.
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan_traced(
    app: &App,
    table: &crate::table::Table,
    policy: Option<&KeyPolicy>,
    model: &str,
    needs: &Needs,
    rng: &mut fastrand::Rng,
    now: Instant,
    mut seen: Option<&mut Seen>,
) -> Result<RoutePlan, GatewayError> {
    if model.is_empty() {
        return Err(GatewayError::invalid_request(
            "model",
            "a model name is required",
        ));
    }
    if policy.is_some_and(|p| !p.allows_model(model)) {
        return Err(GatewayError::new(
            ErrorKind::PermissionDenied,
            format!("this key may not use model `{model}`; ask for a key that allows it"),
        ));
    }
    let mut off = Trail::off();
    let trail = match seen.as_deref_mut() {
        Some(seen) => &mut seen.trail,
        None => &mut off,
    };
    let mut plan = table.router.resolve_traced(model, needs, rng, trail)?;
    if let Some(seen) = seen {
        seen.routed = Some(plan.clone());
    }
    if let Some(policy) = policy {
        filter_providers(policy, &mut plan)?;
    }
    plan.apply_cooldown(&app.cooldown, now);
    Ok(plan)
}

/// Drops the targets on providers the key may not reach; refuses when none is left.
fn filter_providers(policy: &KeyPolicy, plan: &mut RoutePlan) -> Result<(), GatewayError> {
    if policy.providers.iter().any(|g| g == "*") {
        return Ok(());
    }
    plan.attempts
        .retain(|t| policy.allows_provider(&t.provider));
    if plan.attempts.is_empty() {
        return Err(GatewayError::new(
            ErrorKind::PermissionDenied,
            format!(
                "this key may not use the providers that serve `{}`",
                plan.route_name
            ),
        ));
    }
    Ok(())
}
