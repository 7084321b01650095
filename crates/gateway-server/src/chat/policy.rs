//! A database key's policy applied to its request: default model, output-token cap
//! (clamp or refuse), injected system prompt, and the models and providers it may reach.

use std::time::Instant;

use gateway_auth::MaxTokensMode;
use gateway_protocol::{ChatRequest, ErrorKind, GatewayError, Part};

use crate::app::App;
use crate::routing::{Needs, RoutePlan};
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
    if model.is_empty() {
        return Err(GatewayError::invalid_request(
            "model",
            "a model name is required",
        ));
    }
    if !entry.policy.allows_model(model) {
        return Err(GatewayError::new(
            ErrorKind::PermissionDenied,
            format!("this key may not use model `{model}`; ask for a key that allows it"),
        ));
    }
    let mut plan = table.router.resolve(model, needs)?;
    filter_providers(entry, &mut plan)?;
    plan.apply_cooldown(&app.cooldown, Instant::now());
    Ok(plan)
}

/// Drops the targets on providers the key may not reach; refuses when none is left.
fn filter_providers(entry: &Entry, plan: &mut RoutePlan) -> Result<(), GatewayError> {
    let allowed = &entry.policy.providers;
    if allowed.iter().any(|g| g == "*") {
        return Ok(());
    }
    plan.attempts
        .retain(|t| entry.policy.allows_provider(&t.provider));
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
