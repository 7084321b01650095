//! A chat request from decode to the committed answer: routing, per-target body
//! preparation (same-shape fast path or codec), and the tries with retries,
//! fallbacks and cool-downs — all before the first byte reaches the caller.

mod inline;
pub(crate) mod policy;
mod prepare;
mod relay;

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_protocol::{ApiShape, ChatRequest, ErrorKind, GatewayError};
use gateway_providers::{BodyStream, Operation, UpstreamCall};
use gateway_translate::{ResponseContext, codec, usage_tap};

use crate::accounting;
use crate::app::App;
use crate::auth::KeyIdentity;
use crate::ingress::ChatCall;
use crate::respond::{self, Answer, Served};
use crate::routing::{Needs, Target, retryable};

pub(crate) use prepare::Prepared;

/// Upstream answers larger than this (non-streaming) are refused rather than held.
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// Serves one chat request. Errors come back in the caller's envelope.
pub(crate) async fn serve(
    app: &Arc<App>,
    call: &ChatCall,
    body: &Bytes,
    identity: &KeyIdentity,
    request_id: &str,
) -> Result<Answer, Failure> {
    let mut req =
        codec::decode_request(call.shape, body).map_err(|e| Failure::new(e.into(), None))?;
    if let Some(model) = &call.url_model {
        req.model.clone_from(model);
    }
    if let Some(stream) = call.url_stream {
        req.stream = stream;
    }
    let mut changed = policy::apply(identity, &mut req).map_err(|e| Failure::new(e, None))?;
    let plan = policy::plan(app, identity, &req.model, &Needs::of(&req))
        .map_err(|e| Failure::new(e, None))?;
    let charge = accounting::Charge {
        identity,
        body,
        request_id,
        caller: call.shape,
        streamed: req.stream,
    };
    let mut ticket =
        accounting::admit(app, &charge, &req, &plan).map_err(|r| Failure::refused(&r))?;

    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut rng = fastrand::Rng::new();
    let mut tries = 0u32;
    let mut last_err = None;
    let mut last_target = None;
    for target in &plan.attempts {
        let Some(provider) = app.providers.get(&target.provider) else {
            last_err = Some(GatewayError::new(
                ErrorKind::Internal,
                format!("route target `{target}` names an unknown provider"),
            ));
            continue;
        };
        match inline::inline_media(&app.fetcher, &mut req, provider.shape()).await {
            Ok(inlined) => changed |= inlined,
            Err(err) => {
                // The media cannot be had for this target; another may read the URL.
                last_err = Some(err);
                last_target = Some(target.clone());
                continue;
            }
        }
        let prepared = match prepare::prepare(app, &mut req, call, body, provider, target, changed)
        {
            Ok(p) => p,
            Err(err) => {
                // This target cannot take the request as sent; another may.
                last_err = Some(err);
                last_target = Some(target.clone());
                continue;
            }
        };
        for retry in 0..=plan.retries {
            if retry > 0 {
                let wait = plan.backoff.delay_after(
                    last_err.as_ref().unwrap_or(&GENERIC),
                    retry - 1,
                    &mut rng,
                );
                tokio::time::sleep(wait).await;
            }
            tries += 1;
            let upstream_call = UpstreamCall {
                operation: Operation::Chat,
                model: target.upstream_model.clone(),
                stream: req.stream,
                body: prepared.body.clone(),
            };
            let outcome = tokio::time::timeout(plan.timeout, async {
                let reply = provider.send(upstream_call).await?;
                commit(reply.body, req.stream).await
            })
            .await
            .unwrap_or_else(|_| {
                Err(GatewayError::new(
                    ErrorKind::UpstreamTimeout,
                    format!(
                        "`{target}` did not answer within the route's timeout ({} ms)",
                        plan.timeout.as_millis()
                    ),
                ))
            });
            match outcome {
                Ok(started) => {
                    app.cooldown.record_success(target);
                    let served = Served {
                        provider: target.provider.clone(),
                        model: target.upstream_model.clone(),
                        attempts: tries,
                        notes: prepared.notes.clone(),
                    };
                    let ctx = response_context(&req, call, provider.shape(), created, request_id);
                    ticket.routed(&target.provider, &target.upstream_model, provider.shape());
                    ticket.first_byte();
                    return answer(
                        call,
                        provider.shape(),
                        &prepared,
                        started,
                        ctx,
                        served,
                        ticket,
                    )
                    .map_err(|e| Failure::new(e, Some(target.clone())));
                }
                Err(err) => {
                    let again = retryable(&err);
                    tracing::debug!(request_id, %target, tries, error = %err.message, again, "upstream try failed");
                    last_target = Some(target.clone());
                    last_err = Some(err);
                    if !again {
                        break;
                    }
                    app.cooldown.record_failure(target, Instant::now());
                }
            }
        }
        if last_err.as_ref().is_some_and(|e| !retryable(e)) {
            break;
        }
    }
    let err = last_err.unwrap_or_else(|| {
        GatewayError::new(ErrorKind::Internal, "the route has no usable target")
    });
    if let Some(t) = &last_target {
        if let Some(p) = app.providers.get(&t.provider) {
            ticket.routed(&t.provider, &t.upstream_model, p.shape());
        }
    }
    ticket.fail(&err, None);
    Err(Failure {
        err,
        target: last_target,
        attempts: tries,
        headers: Vec::new(),
    })
}

static GENERIC: GatewayError = GatewayError {
    kind: ErrorKind::Upstream,
    status: 502,
    blame: gateway_protocol::Blame::Upstream,
    retryable: true,
    message: String::new(),
    param: None,
    code: None,
    retry_after: None,
};

/// A failed request: the error and where it last went.
#[derive(Debug)]
pub(crate) struct Failure {
    pub err: GatewayError,
    pub target: Option<Target>,
    pub attempts: u32,
    /// Further headers (a limit refusal's `x-ratelimit-*`).
    pub headers: Vec<(&'static str, String)>,
}

impl Failure {
    pub(crate) fn new(err: GatewayError, target: Option<Target>) -> Self {
        Failure {
            err,
            target,
            attempts: 0,
            headers: Vec::new(),
        }
    }

    /// A request the key's limits refused, with the limit headers.
    pub(crate) fn refused(refused: &gateway_auth::Refused) -> Self {
        Failure {
            err: refused.to_gateway_error(),
            target: None,
            attempts: 0,
            headers: refused.headers(),
        }
    }
}

/// What arrived before the answer is committed to the caller.
pub(crate) enum Started {
    /// A whole (non-streaming) body.
    Whole(Vec<u8>),
    /// A stream whose first chunk arrived (or that ended empty).
    Stream {
        first: Option<Bytes>,
        rest: BodyStream,
    },
}

/// Waits for what must arrive before the caller sees a status: the whole body, or
/// the first chunk of a stream. Failures here can still be retried.
async fn commit(mut body: BodyStream, stream: bool) -> Result<Started, GatewayError> {
    if stream {
        let first = body.next().await.transpose()?;
        return Ok(Started::Stream { first, rest: body });
    }
    let mut whole = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if whole.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(GatewayError::new(
                ErrorKind::Upstream,
                format!(
                    "the upstream answer is larger than {} MiB",
                    MAX_ANSWER_BYTES >> 20
                ),
            ));
        }
        whole.extend_from_slice(&chunk);
    }
    Ok(Started::Whole(whole))
}

fn response_context(
    req: &ChatRequest,
    call: &ChatCall,
    upstream: ApiShape,
    created: u64,
    request_id: &str,
) -> ResponseContext {
    let mut ctx = ResponseContext::for_request(req, upstream);
    ctx.created = created;
    ctx.id_seed = request_id.to_owned();
    ctx.json_array = call.json_array;
    ctx
}

/// Builds the caller's answer from what the upstream started.
fn answer(
    call: &ChatCall,
    upstream: ApiShape,
    prepared: &Prepared,
    started: Started,
    ctx: ResponseContext,
    served: Served,
    mut ticket: accounting::Ticket,
) -> Result<Answer, GatewayError> {
    match started {
        Started::Whole(body) => {
            let body = if prepared.same_shape {
                ticket.response_body(&body);
                ticket.succeed(usage_tap::response_usage(upstream, &body));
                body
            } else {
                let decoded = codec::decode_response(upstream, &body, &ctx).map_err(|e| {
                    let mut err: GatewayError = e.into();
                    err.kind = ErrorKind::Upstream;
                    err.status = 502;
                    err.blame = gateway_protocol::Blame::Upstream;
                    err.message = format!("the upstream answer could not be read: {}", err.message);
                    err
                });
                let resp = match decoded {
                    Ok(resp) => resp,
                    Err(err) => {
                        ticket.fail(&err, usage_tap::response_usage(upstream, &body));
                        return Err(err);
                    }
                };
                let out = codec::encode_response(call.shape, &resp, &ctx);
                ticket.response_body(&out);
                ticket.succeed(Some(resp.usage));
                out
            };
            Ok(respond::whole(body, served))
        }
        Started::Stream { first, rest } => {
            let relay = relay::Relay::new(call.shape, upstream, prepared, ctx, first, rest, ticket);
            Ok(respond::stream(
                relay.into_body(),
                respond::stream_content_type(call.shape, call.json_array),
                served,
            ))
        }
    }
}
