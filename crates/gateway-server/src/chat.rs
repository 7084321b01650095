//! A chat request from decode to the answer: routing, per-target body preparation
//! (same-shape fast path or codec) inside the shared attempt loop, and the answer —
//! whole, or relayed as a stream.

mod inline;
pub(crate) mod policy;
mod prepare;
mod relay;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gateway_auth::Entry;
use gateway_protocol::{ApiShape, ChatRequest, ErrorKind, GatewayError};
use gateway_providers::{Operation, Provider};
use gateway_translate::{ResponseContext, codec, usage_tap};

use crate::accounting;
use crate::app::App;
use crate::attempts::{self, Attempt, Skip, Started};
use crate::cache;
use crate::ingress::ChatCall;
use crate::respond::{self, Answer, Served};
use crate::routing::{Needs, RoutePlan, Target};
use crate::table::Table;

pub(crate) use prepare::Prepared;

/// Decodes a chat request in the caller's shape, applies the URL's model and stream
/// flag and the key's policy, and routes it. `true` when the policy changed it.
pub(crate) fn decode(
    app: &App,
    table: &Table,
    call: &ChatCall,
    body: &Bytes,
    entry: &Entry,
    turn: Option<&mut crate::responses::Turn>,
) -> Result<(ChatRequest, bool, RoutePlan), GatewayError> {
    let decoded = if call.generate {
        gateway_translate::ollama::generate::decode_request(body)
    } else {
        codec::decode_request(call.shape, body)
    };
    let mut req = decoded.map_err(GatewayError::from)?;
    if let Some(model) = &call.url_model {
        req.model.clone_from(model);
    }
    if let Some(stream) = call.url_stream {
        req.stream = stream;
    }
    // The stored conversation a Responses call continues goes in front of its input
    // before the key's policy (its system prompt, its caps) sees the request.
    if let Some(turn) = turn {
        turn.splice(&mut req, body)?;
    }
    let changed = policy::apply(entry, &mut req)?;
    let plan = policy::plan(app, table, entry, &req.model, &Needs::of(&req))?;
    Ok((req, changed, plan))
}

/// A decoded chat request's route and account.
pub(crate) struct Routed {
    /// The key's policy changed the request.
    pub changed: bool,
    /// Where it may go.
    pub plan: RoutePlan,
    /// Its account.
    pub ticket: accounting::Ticket,
    /// The response cache's part, when the cache applies to it.
    pub cache: Option<cache::Pending>,
    /// Its part in the Responses state.
    pub turn: Option<Box<crate::responses::Turn>>,
}

/// The per-target step of a chat request: media inlined for upstreams that need it,
/// then the body prepared (same-shape fast path or codec).
struct ChatAttempt<'a> {
    app: &'a App,
    table: &'a Table,
    req: &'a mut ChatRequest,
    call: &'a ChatCall,
    body: &'a Bytes,
    changed: bool,
    media: inline::Media,
    turn: Option<&'a crate::responses::Turn>,
}

impl Attempt for ChatAttempt<'_> {
    type Prepared = Prepared;

    async fn prepare(
        &mut self,
        provider: &Provider,
        target: &Target,
    ) -> Result<(Bytes, Prepared), Skip> {
        // The media cannot be had for this target; another may read the URL.
        let inlined = self
            .media
            .inline(&self.app.fetcher, self.req, provider.shape())
            .await
            .map_err(Skip::Unfit)?;
        self.changed |= inlined;
        // This target cannot take the request as sent; another may.
        let prepared = prepare::prepare(
            self.table,
            self.req,
            self.call,
            self.body,
            provider,
            target,
            self.changed,
            self.turn.is_some(),
        )
        .map_err(Skip::Unfit)?;
        Ok((prepared.body.clone(), prepared))
    }
}

/// Serves one decoded chat request through the attempt loop.
///
/// Not an `async fn`: its future is inside every chat request's, and an `async fn`
/// keeps its arguments twice (`routed` as the argument and as the locals taken from
/// it); this one reads `routed`'s fields where they are.
#[allow(clippy::manual_async_fn)]
pub(crate) fn serve<'a>(
    app: &'a Arc<App>,
    table: &'a Table,
    call: &'a ChatCall,
    body: &'a Bytes,
    mut req: Box<ChatRequest>,
    mut routed: Routed,
    request_id: &'a str,
) -> impl Future<Output = Result<Answer, Failure>> + 'a {
    async move {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let stream = req.stream;
        if let Some(key) = routed.cache.as_ref().and_then(cache::Pending::lookup) {
            // Boxed: the lookup's state would otherwise size every chat request's future.
            if let Some(hit) = Box::pin(app.cache.get(key)).await {
                app.cache.count("hit");
                let ctx = response_context(&req, call, call.shape, created, request_id);
                return Ok(cache::replay::answer(
                    &hit,
                    call,
                    stream,
                    ctx,
                    routed.ticket,
                ));
            }
        }
        let outcome = routed.cache.as_ref().map(cache::Pending::outcome);
        if let Some(outcome) = outcome {
            app.cache.count(outcome);
        }
        let store = routed
            .cache
            .as_ref()
            .and_then(cache::Pending::store)
            .map(|key| (Arc::clone(&app.cache), key));
        let mut attempt = ChatAttempt {
            app,
            table,
            req: &mut req,
            call,
            body,
            changed: routed.changed,
            media: inline::Media::new(routed.plan.timeout),
            turn: routed.turn.as_deref(),
        };
        let tried = attempts::run(
            app,
            table,
            &routed.plan,
            Operation::Chat,
            stream,
            request_id,
            &mut routed.ticket,
            &mut attempt,
        )
        .await;
        let won = match tried {
            Ok(won) => won,
            Err(lost) => {
                let mut failure = lost.fail(routed.ticket);
                if let Some(outcome) = outcome {
                    failure
                        .headers
                        .push(("x-patchbay-cache", outcome.to_owned()));
                }
                return Err(failure);
            }
        };
        // A block, so that nothing of it is held across the store below.
        let (answer, row) = {
            let served = Served {
                provider: &won.target.provider,
                model: &won.target.upstream_model,
                attempts: won.tries,
                notes: &won.prepared.notes,
            };
            let mut ticket = routed.ticket;
            let elapsed_ns = (call.shape == ApiShape::Ollama).then(|| ticket.elapsed_ns());
            let response_id = routed.turn.as_ref().map(|turn| turn.id.clone());
            // Built only where it is read: a same-shape whole answer is relayed as it is.
            let ctx = || {
                let mut ctx = response_context(&req, call, won.shape, created, request_id);
                ctx.elapsed_ns = elapsed_ns;
                ctx.response_id = response_id;
                ctx
            };
            ticket.routed(&won.target.provider, &won.target.upstream_model, won.shape);
            ticket.first_byte();
            let keep = store.map(|(cache, key)| Keep {
                cache,
                key,
                provider: won.target.provider.clone(),
                model: won.target.upstream_model.clone(),
            });
            answer(
                call,
                won.shape,
                &won.prepared,
                won.started,
                ctx,
                served,
                ticket,
                keep,
                routed.turn,
            )
            .map(|(mut resp, row)| {
                if let Some(outcome) = outcome {
                    resp.headers_mut()
                        .insert(cache::CACHE, http::HeaderValue::from_static(outcome));
                }
                (resp, row)
            })
            .map_err(|e| Failure {
                attempts: won.tries,
                ..Failure::new(e, Some(won.target))
            })?
        };
        // Stored before the caller has the answer, so the next call finds it.
        if let Some(row) = row {
            // Boxed, with the row in it: rare, and it would size every chat future.
            Box::pin(crate::responses::save(app, row)).await;
        }
        Ok(answer)
    }
}

/// Where and under what a miss's answer is kept once it is whole.
pub(crate) struct Keep {
    cache: Arc<cache::ResponseCache>,
    key: cache::Key,
    provider: String,
    model: String,
}

impl Keep {
    fn put(self, response: gateway_protocol::ChatResponse) {
        let stored = cache::Stored {
            provider: self.provider,
            model: self.model,
            response,
        };
        self.cache.put(self.key, stored);
    }
}

/// A failed request: the error and where it last went.
#[derive(Debug)]
pub(crate) struct Failure {
    pub err: GatewayError,
    pub target: Option<Target>,
    pub attempts: u32,
    /// Further headers.
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
}

impl attempts::Lost {
    /// The failure of a request whose tries all failed, recorded on its ticket.
    pub(crate) fn fail(self, mut ticket: accounting::Ticket) -> Failure {
        if let (Some(t), Some(shape)) = (&self.target, self.shape) {
            ticket.routed(&t.provider, &t.upstream_model, shape);
        }
        ticket.fail(&self.err, None);
        Failure {
            err: self.err,
            target: self.target,
            attempts: self.tries,
            headers: Vec::new(),
        }
    }
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
    ctx.ollama_generate = call.generate;
    ctx
}

/// Builds the caller's answer from what the upstream started, and the row to store
/// for a whole Responses answer (a stream stores its own at its end); with `keep`,
/// the answer is kept in the response cache once it is whole.
// The answer's parts, each from another step of `serve`.
#[allow(clippy::too_many_arguments)]
fn answer(
    call: &ChatCall,
    upstream: ApiShape,
    prepared: &Prepared,
    started: Started,
    ctx: impl FnOnce() -> ResponseContext,
    served: Served<'_>,
    mut ticket: accounting::Ticket,
    keep: Option<Keep>,
    turn: Option<Box<crate::responses::Turn>>,
) -> Result<(Answer, Option<crate::responses::Kept>), GatewayError> {
    match started {
        Started::Whole(body) => {
            let mut row = None;
            let body = if prepared.same_shape {
                ticket.response_body(&body);
                ticket.succeed(usage_tap::response_usage(upstream, &body));
                // Relayed as it came; the cache keeps its canonical form.
                if let Some(keep) = keep {
                    if let Ok(resp) = codec::decode_response(upstream, &body, &ctx()) {
                        keep.put(resp);
                    }
                }
                body
            } else {
                let ctx = ctx();
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
                if let Some(turn) = &turn {
                    row = turn.kept_of(&resp, &out);
                }
                if let Some(keep) = keep {
                    keep.put(resp);
                }
                out
            };
            Ok((respond::whole(body, served), row))
        }
        Started::Stream { first, rest } => {
            let ctx = ctx();
            let recorder = keep.map(|k| {
                cache::record::Recorder::new(k.cache, k.key, upstream, &ctx, &k.provider, &k.model)
            });
            let relay = relay::Relay::new(
                call.shape, upstream, prepared, ctx, first, rest, ticket, recorder, turn,
            );
            Ok((
                respond::stream(
                    relay,
                    respond::stream_content_type(call.shape, call.json_array),
                    served,
                ),
                None,
            ))
        }
    }
}
