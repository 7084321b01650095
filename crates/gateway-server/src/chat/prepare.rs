//! The body one target is sent: the caller's own bytes with the model swapped when
//! the shapes match and nothing else must change (the fast path), else the canonical
//! request encoded for the target — after the catalogue clamp, the provider's
//! `patchbay.ext` parameters, and the hosted-tool rule.
//!
//! Hosted-tool rule: tools that run on the caller's provider only (OpenAI `web_search`,
//! `file_search`, ...; Anthropic server tools) are dropped, not forwarded, when a
//! target of another family serves the request; the answer says which in
//! `x-patchbay-dropped-tools`. Responses `namespace` tools are flattened by the
//! decoder into the function tools they group. Other fields that only the caller's
//! provider understands (`n: 3`, `previous_response_id`, ...) still refuse the request
//! with a 400 naming the field, because dropping them would change the answer.

use bytes::Bytes;
use gateway_protocol::{ApiShape, ChatRequest, GatewayError};
use gateway_providers::Provider;
use gateway_translate::{EncodeOptions, codec, fastpath};

use crate::ingress::ChatCall;
use crate::routing::Target;
use crate::table::Table;

/// A body ready for one target.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// What is sent.
    pub body: Bytes,
    /// The caller's bytes are relayed as they are (same shape, fast path).
    pub same_shape: bool,
    /// OpenAI Chat fast path: the usage chunk was forced on and must be dropped from
    /// what the caller sees.
    pub strip_usage: bool,
    /// Response headers telling what was changed.
    pub notes: Vec<(&'static str, String)>,
}

/// Prepares the body for `target`. `req` is changed only for the duration of the
/// call; `changed` says the gateway already changed it (key policy), so the caller's
/// bytes no longer match it. `emulate`: the gateway keeps this Responses call's state,
/// so the body is always encoded (the answer gets the gateway's id) and says nothing
/// of `store` or `previous_response_id`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn prepare(
    table: &Table,
    req: &mut ChatRequest,
    call: &ChatCall,
    raw: &Bytes,
    provider: &Provider,
    target: &Target,
    changed: bool,
    emulate: bool,
) -> Result<Prepared, GatewayError> {
    let upstream = provider.shape();
    let saved_max = req.sampling.max_output_tokens;
    let saved_reasoning = req.reasoning.clone();
    let clamped = table.catalog.clamp(req, &target.upstream_model);
    let mut notes = Vec::new();
    if let Some((from, to)) = clamped.max_output_tokens {
        notes.push(("x-patchbay-clamped-max-tokens", format!("{from}->{to}")));
    }
    if let Some((from, to)) = clamped.budget_tokens {
        notes.push((
            "x-patchbay-clamped-thinking-budget",
            format!("{from}->{to}"),
        ));
    }
    // A generate body is not the `/api/chat` body an Ollama upstream is sent.
    let same = upstream == call.shape && !(call.json_array && req.stream) && !call.generate;
    let fast = same
        && !changed
        && !emulate
        && clamped.is_empty()
        && fastpath::get_member(raw, "patchbay")
            .map_err(GatewayError::from)?
            .is_none();
    let result = if fast {
        fast_body(raw, upstream, &target.upstream_model, req.stream).map(|(body, strip_usage)| {
            Prepared {
                body,
                same_shape: true,
                strip_usage,
                notes: Vec::new(),
            }
        })
    } else {
        encoded_body(table, req, provider, target, emulate, &mut notes).map(|body| Prepared {
            body,
            same_shape: false,
            strip_usage: false,
            notes,
        })
    };
    req.sampling.max_output_tokens = saved_max;
    req.reasoning = saved_reasoning;
    result
}

fn fast_body(
    raw: &Bytes,
    shape: ApiShape,
    model: &str,
    stream: bool,
) -> Result<(Bytes, bool), GatewayError> {
    if shape == ApiShape::Gemini {
        // The model travels in the URL.
        return Ok((raw.clone(), false));
    }
    let body = match fastpath::set_model_if_changed(raw, model)? {
        Some(edited) => Bytes::from(edited),
        None => raw.clone(),
    };
    if shape == ApiShape::OpenAiChat && stream {
        let forced = fastpath::force_include_usage(&body)?;
        return Ok((Bytes::from(forced.body), !forced.caller_asked));
    }
    Ok((body, false))
}

fn encoded_body(
    table: &Table,
    req: &mut ChatRequest,
    provider: &Provider,
    target: &Target,
    emulate: bool,
    notes: &mut Vec<(&'static str, String)>,
) -> Result<Bytes, GatewayError> {
    let upstream = provider.shape();
    let saved_ext = (!req.extensions.is_empty()).then(|| req.extensions.clone());
    if emulate {
        crate::responses::strip_state_fields(req);
    }
    apply_named_ext(req, provider);
    let dropped = drop_hosted_tools(req, upstream);
    if !dropped.is_empty() {
        notes.push(("x-patchbay-dropped-tools", dropped.join(", ")));
    }
    let caller_model = std::mem::replace(&mut req.model, target.upstream_model.clone());
    let opts = EncodeOptions {
        default_max_tokens: table
            .catalog
            .lookup(&target.upstream_model)
            .and_then(|m| m.max_output_tokens)
            .unwrap_or(EncodeOptions::default().default_max_tokens),
    };
    let result = codec::encode_request(upstream, req, &opts);
    req.model = caller_model;
    if let Some(ext) = saved_ext {
        req.extensions = ext;
    }
    result.map(Bytes::from).map_err(GatewayError::from)
}

/// `patchbay.ext.<provider name>` and `patchbay.ext.<preset>` apply when that
/// provider serves: they are merged into the parameters of its family.
fn apply_named_ext(req: &mut ChatRequest, provider: &Provider) {
    let family = provider.shape().family().as_str();
    let names = [Some(provider.name()), provider.preset().map(|p| p.name)];
    for name in names.into_iter().flatten() {
        if name == family {
            continue;
        }
        if let Some(params) = req.extensions.params.get(name).cloned() {
            for (k, v) in params {
                req.extensions.insert(family, k, v);
            }
        }
    }
}

/// Removes the hosted tools `upstream` cannot run; returns their paths.
fn drop_hosted_tools(req: &mut ChatRequest, upstream: ApiShape) -> Vec<String> {
    let mut dropped = Vec::new();
    req.extensions.binding.retain(|b| {
        let against = match b.only_shape {
            Some(shape) => shape != upstream,
            None => b.family != upstream.family(),
        };
        let tool = b.path.starts_with("tools[");
        if against && tool {
            dropped.push(b.path.clone());
        }
        !(against && tool)
    });
    dropped
}
