//! `POST /v1/estimate`: what a chat request would cost — its input tokens counted
//! locally, the output it may produce, at the prices of the model its route tries
//! first — without calling any upstream.

use bytes::Bytes;
use gateway_protocol::{ApiShape, ErrorKind, GatewayError, Usage};
use gateway_translate::{codec, estimate};
use http::StatusCode;
use serde_json::json;

use crate::app::App;
use crate::chat::Failure;
use crate::respond::{self, Answer};
use crate::routing::Needs;
use gateway_auth::Entry;

/// Answers an estimate for a body in `shape`.
// The same `Failure` the async operations return (clippy does not weigh those); it is
// built once per failed request, so its size does not matter.
#[allow(clippy::result_large_err)]
pub(crate) fn estimate(
    app: &App,
    shape: ApiShape,
    body: &Bytes,
    entry: &Entry,
) -> Result<Answer, Failure> {
    let req = codec::decode_request(shape, body).map_err(|e| Failure::new(e.into(), None))?;
    if req.model.is_empty() {
        return Err(Failure::new(
            GatewayError::invalid_request(
                "model",
                "a model name is required (Gemini bodies: put it in the body as `model`)",
            ),
            None,
        ));
    }
    if !entry.policy.allows_model(&req.model) {
        return Err(Failure::new(
            GatewayError::new(
                ErrorKind::PermissionDenied,
                format!("this key may not use model `{}`", req.model),
            ),
            None,
        ));
    }
    let table = app.table();
    let plan = table
        .router
        .resolve(&req.model, &Needs::of(&req))
        .map_err(|e| Failure::new(e, None))?;
    let first = plan.attempts.first();
    let info = first.and_then(|t| table.catalog.lookup(&t.upstream_model));
    let input_tokens = estimate::input_tokens(&req);
    let max_output = req
        .sampling
        .max_output_tokens
        .or_else(|| info.and_then(|i| i.max_output_tokens));
    let price = |input: u64, output: u64| {
        let usage = Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        };
        info.and_then(|i| i.prices.cost(&usage))
    };
    let cost = match (price(input_tokens, 0), max_output.and_then(|m| price(0, m))) {
        (Some(input), output_max) => json!({
            "input": input,
            "output_max": output_max,
            "total_max": output_max.map(|o| input + o),
        }),
        (None, _) => serde_json::Value::Null,
    };
    let out = json!({
        "object": "estimate",
        "model": req.model,
        "route": plan.route_name,
        "targets": plan.attempts.iter().map(|t| json!({"provider": t.provider, "model": t.upstream_model})).collect::<Vec<_>>(),
        "input_tokens": input_tokens,
        "input_tokens_method": "local estimate (the upstream's tokenizer may count differently)",
        "max_output_tokens": max_output,
        "cost_usd": cost,
        "prices_per_mtok": info.map(|i| json!({
            "input": i.prices.input,
            "output": i.prices.output,
            "cache_read": i.prices.cache_read,
            "cache_write": i.prices.cache_write,
        })),
    });
    Ok(respond::json(
        StatusCode::OK,
        serde_json::to_vec(&out).unwrap_or_default(),
    ))
}
