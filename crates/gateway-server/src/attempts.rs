//! One upstream attempt loop for every operation (chat, embeddings, token counts):
//! targets in the plan's order (cooling-down ones already moved back), the same
//! target retried with jittered backoff while the failure is retryable, then the
//! next one; every try under the route's timeout; cool-downs recorded. A try counts
//! as won at the **commit point** — the whole body read (at most 64 MiB), or a
//! stream's first chunk — and nothing after it is retried, so the caller never sees
//! a failed try.

use std::future::Future;
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_protocol::{ApiShape, Blame, ErrorKind, GatewayError};
use gateway_providers::{BodyStream, Operation, Provider, UpstreamCall};

use crate::accounting::Ticket;
use crate::app::App;
use crate::routing::{RoutePlan, Target, retryable};

/// Upstream answers larger than this (non-streaming) are refused rather than held.
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// Why a target gets no call.
pub(crate) enum Skip {
    /// The request cannot be made for this target; the next may take it.
    Unfit(GatewayError),
    /// The answer is made locally (a token count no upstream of the route offers).
    Local,
}

/// What an operation does per target before a try.
pub(crate) trait Attempt {
    /// What comes with the body (chat: what the fast path decided).
    type Prepared: Send;
    /// The body for `target` on `provider`.
    fn prepare(
        &mut self,
        provider: &Provider,
        target: &Target,
    ) -> impl Future<Output = Result<(Bytes, Self::Prepared), Skip>> + Send;
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

/// A try that reached the commit point.
pub(crate) struct Won<P> {
    pub target: Target,
    pub shape: ApiShape,
    pub tries: u32,
    pub started: Started,
    pub prepared: P,
}

/// Every try failed (or none could be made).
pub(crate) struct Lost {
    pub err: GatewayError,
    pub target: Option<Target>,
    pub shape: Option<ApiShape>,
    pub tries: u32,
    /// An [`Attempt`] asked for the local answer.
    pub local: bool,
}

/// Why a target of a plan is passed over without a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unusable {
    /// No provider of that name is configured.
    UnknownProvider,
    /// The provider does not offer the operation.
    Unsupported,
}

/// The provider `target` is sent to for `op`, or why it is passed over (the attempt
/// loop's check, also what the operator's explanation reports).
pub(crate) fn usable<'a>(
    table: &'a crate::table::Table,
    target: &Target,
    op: Operation,
) -> Result<&'a Provider, Unusable> {
    let provider = table
        .providers
        .get(&target.provider)
        .ok_or(Unusable::UnknownProvider)?;
    if provider.supports(op) {
        Ok(provider)
    } else {
        Err(Unusable::Unsupported)
    }
}

/// Runs `op` over `plan`'s targets until one commits; `ticket` is told each target
/// asked (a request dropped while one is asked is charged its input).
// Each argument is a different part of the request; bundling them would only move the list.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<A: Attempt>(
    app: &App,
    table: &crate::table::Table,
    plan: &RoutePlan,
    op: Operation,
    stream: bool,
    request_id: &str,
    ticket: &mut Ticket,
    attempt: &mut A,
) -> Result<Won<A::Prepared>, Lost> {
    let mut rng = fastrand::Rng::new();
    let mut tries = 0u32;
    let mut last_err: Option<GatewayError> = None;
    let mut last: Option<(Target, ApiShape)> = None;
    // The provider whose target was tried and failed last: moving on is a fallback.
    let mut failed_over: Option<&str> = None;
    for target in &plan.attempts {
        let provider = match usable(table, target, op) {
            Ok(provider) => provider,
            Err(Unusable::UnknownProvider) => {
                last_err = Some(GatewayError::new(
                    ErrorKind::Internal,
                    format!("route target `{target}` names an unknown provider"),
                ));
                continue;
            }
            Err(Unusable::Unsupported) => continue,
        };
        let (body, prepared) = match attempt.prepare(provider, target).await {
            Ok(p) => p,
            Err(Skip::Unfit(err)) => {
                last_err = Some(err);
                last = Some((target.clone(), provider.shape()));
                continue;
            }
            Err(Skip::Local) => {
                return Err(Lost {
                    err: GatewayError::new(ErrorKind::NotFound, "answered locally"),
                    target: None,
                    shape: None,
                    tries,
                    local: true,
                });
            }
        };
        if let Some(from) = failed_over.take()
            && let Some(m) = app.observer.metrics()
        {
            m.fallback(from);
        }
        for retry in 0..=plan.retries {
            if retry > 0 {
                if let Some(m) = app.observer.metrics() {
                    m.retry(&target.provider);
                }
                let after = last_err.as_ref().unwrap_or(&GENERIC);
                tokio::time::sleep(plan.backoff.delay_after(after, retry - 1, &mut rng)).await;
            }
            tries += 1;
            ticket.asking(&target.provider, &target.upstream_model, provider.shape());
            // The try's span goes upstream in its `traceparent`; untraced, the caller's.
            let (traced, headers) = match ticket.trace() {
                Some(trace) => {
                    let (span, headers) = trace.upstream_try(
                        &target.provider,
                        provider.kind(),
                        &target.upstream_model,
                        op,
                    );
                    (Some(span), headers)
                }
                None => (None, ticket.passed_trace().cloned().unwrap_or_default()),
            };
            let call = UpstreamCall {
                operation: op,
                model: target.upstream_model.clone(),
                stream,
                body: body.clone(),
                headers,
            };
            let sent = Instant::now();
            let ends = tokio::time::Instant::from_std(sent) + plan.timeout;
            let mut answered = None;
            let outcome = tokio::time::timeout_at(ends, async {
                let reply = provider.send_within(call, Some(ends)).await?;
                answered = Some(reply.status);
                commit(reply.body, stream).await
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
            app.observer
                .attempt(&target.provider, sent.elapsed(), outcome.as_ref().err());
            if let Some(span) = traced {
                let upstream_status = outcome.as_ref().err().and_then(|e| e.upstream_status);
                span.ended(answered.or(upstream_status), outcome.as_ref().err());
            }
            match outcome {
                Ok(started) => {
                    app.cooldown.record_success(target);
                    return Ok(Won {
                        target: target.clone(),
                        shape: provider.shape(),
                        tries,
                        started,
                        prepared,
                    });
                }
                Err(err) => {
                    let again = retryable(&err);
                    tracing::debug!(request_id, %target, tries, error = %err.message, again, "upstream try failed");
                    last = Some((target.clone(), provider.shape()));
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
        failed_over = Some(&target.provider);
    }
    let err = last_err.unwrap_or_else(|| {
        GatewayError::new(
            ErrorKind::NotFound,
            format!(
                "no provider routed for `{}` has a {} endpoint",
                plan.route_name,
                op.as_str()
            ),
        )
    });
    let (target, shape) = last.unzip();
    Err(Lost {
        err,
        target,
        shape,
        tries,
        local: false,
    })
}

/// The backoff's reference failure when none was recorded yet.
static GENERIC: GatewayError = GatewayError {
    kind: ErrorKind::Upstream,
    status: 502,
    blame: Blame::Upstream,
    retryable: true,
    message: String::new(),
    param: None,
    code: None,
    retry_after: None,
    upstream_status: None,
};

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
