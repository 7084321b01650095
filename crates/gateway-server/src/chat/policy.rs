//! A database key's policy applied to its request: default model, output-token cap
//! (clamp or refuse), injected system prompt, and the providers it may reach.

use gateway_auth::MaxTokensMode;
use gateway_protocol::{ChatRequest, ErrorKind, GatewayError, Part};

use crate::auth::KeyIdentity;
use crate::routing::{RoutePlan, glob_match};

/// Applies the policy of `identity` to `req`; true when `req` was changed (then the
/// caller's bytes can no longer be forwarded as they are).
pub(super) fn apply(identity: &KeyIdentity, req: &mut ChatRequest) -> Result<bool, GatewayError> {
    let Some(entry) = &identity.entry else {
        return Ok(false);
    };
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

/// Drops the targets on providers the key may not reach; refuses when none is left.
pub(crate) fn filter_providers(
    identity: &KeyIdentity,
    plan: &mut RoutePlan,
) -> Result<(), GatewayError> {
    let Some(entry) = &identity.entry else {
        return Ok(());
    };
    let allowed = &entry.policy.providers;
    if allowed.iter().any(|g| g == "*") {
        return Ok(());
    }
    plan.attempts
        .retain(|t| allowed.iter().any(|g| glob_match(g, &t.provider)));
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
