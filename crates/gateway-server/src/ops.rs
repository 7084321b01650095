//! The non-chat operations: embeddings, token counts and model lists. Embeddings and
//! token counts route like chat and go through the same attempt loop (retries,
//! fallbacks, cool-downs, the route's timeout); they are answered whole.

use std::sync::Arc;

use bytes::Bytes;
use gateway_auth::Entry;
use gateway_protocol::{
    ApiShape, ChatRequest, CountTokensResponse, EmbeddingsRequest, EmbeddingsResponse,
    GatewayError, ModelInfo, ModelList, Usage,
};
use gateway_providers::{Operation, Provider};
use gateway_translate::{EncodeOptions, TranslateError, codec, estimate};
use http::StatusCode;

use crate::accounting::{self, Ticket};
use crate::app::App;
use crate::attempts::{self, Attempt, Skip, Started};
use crate::chat::{Failure, policy};
use crate::ingress::EmbedForm;
use crate::respond::{self, Answer, Served};
use crate::routing::{Needs, RoutePlan, Target};
use crate::table::Table;

/// `GET /v1/models` and `GET /v1beta/models`: the models this key may use, in the
/// caller's list shape.
pub(crate) fn list_models(
    app: &App,
    table: &Table,
    shape: ApiShape,
    id: Option<&str>,
    entry: &Entry,
) -> Answer {
    let models = visible_models(app, table, entry);
    let Some(id) = id else {
        let body = codec::encode_model_list(shape, &ModelList { models });
        return respond::json(StatusCode::OK, body);
    };
    let id = id.strip_prefix("models/").unwrap_or(id);
    match models.iter().find(|m| m.id == id) {
        Some(model) => respond::json(StatusCode::OK, codec::encode_model(shape, model)),
        None => {
            let err = GatewayError::new(
                gateway_protocol::ErrorKind::NotFound,
                format!("model `{id}` is not one this key can use here (see GET /v1/models)"),
            );
            respond::error(shape, &err)
        }
    }
}

/// The models a key may use, by name: the routes' exact names, their aliases,
/// `[aliases]` and the auto model (owned by `patchbay`), then the discovered models
/// (`crate::discovery`) that a route sends to their own provider under their own
/// name — what glob and `*` routes reach — owned by that provider. The key's model
/// and provider globs apply; the catalogue gives context windows where it knows them.
pub(crate) fn visible_models(app: &App, table: &Table, entry: &Entry) -> Vec<ModelInfo> {
    let policy = &entry.policy;
    let mut names: std::collections::BTreeMap<String, Option<String>> = table
        .router
        .public_models()
        .into_iter()
        .filter(|m| policy.allows_model(m))
        .map(|m| (m, None))
        .collect();
    for (provider, models) in app.discovery().all() {
        if table.provider(&provider).is_none() || !policy.allows_provider(&provider) {
            continue;
        }
        for model in models.iter() {
            if names.contains_key(model) || !policy.allows_model(model) {
                continue;
            }
            let reached = table
                .router
                .resolve(model, &Needs::default())
                .is_ok_and(|plan| {
                    plan.attempts
                        .iter()
                        .any(|t| t.provider == provider && t.upstream_model == *model)
                });
            if reached {
                names.insert(model.clone(), Some(provider.clone()));
            }
        }
    }
    names
        .into_iter()
        .map(|(id, provider)| {
            let family = provider
                .as_deref()
                .and_then(|name| table.provider(name))
                .map(|p| p.preset().map_or(p.kind().as_str(), |pr| pr.name));
            let info = table.catalog.lookup_for(&id, family);
            // USD per million tokens to micro-USD (the catalogue's prices carry at
            // most six decimals).
            let micros = |usd: Option<f64>| {
                usd.filter(|v| v.is_finite() && *v >= 0.0)
                    .map(|v| (v * 1e6).round() as u64)
            };
            ModelInfo {
                context_window: info.and_then(|i| i.context_window),
                max_output_tokens: info.and_then(|i| i.max_output_tokens),
                input_micros_per_mtok: micros(info.and_then(|i| i.prices.input)),
                output_micros_per_mtok: micros(info.and_then(|i| i.prices.output)),
                capabilities: info.map(|i| gateway_protocol::Capabilities {
                    vision: i.vision,
                    tools: i.tools,
                    reasoning: i.reasoning,
                    embeddings: i.mode == "embedding",
                }),
                owned_by: Some(provider.unwrap_or_else(|| "patchbay".to_owned())),
                display_name: None,
                created: None,
                id,
            }
        })
        .collect()
}

/// An embeddings request in any of the three body forms, routed for this key.
pub(crate) fn decode_embeddings(
    app: &App,
    table: &Table,
    entry: &Entry,
    form: EmbedForm,
    body: &Bytes,
    url_model: Option<&str>,
) -> Result<(EmbeddingsRequest, RoutePlan), GatewayError> {
    let mut req = codec::decode_embeddings_request(form, body).map_err(GatewayError::from)?;
    if let Some(m) = url_model {
        req.model = m.strip_prefix("models/").unwrap_or(m).to_owned();
    }
    let plan = policy::plan(app, table, entry, &req.model, &Needs::default())?;
    Ok((req, plan))
}

struct EmbeddingsAttempt<'a> {
    req: &'a mut EmbeddingsRequest,
}

impl Attempt for EmbeddingsAttempt<'_> {
    type Prepared = ();

    async fn prepare(&mut self, provider: &Provider, target: &Target) -> Result<(Bytes, ()), Skip> {
        self.req.model.clone_from(&target.upstream_model);
        let body = codec::encode_embeddings_request(provider.shape(), self.req)
            .map_err(|e| Skip::Unfit(e.into()))?;
        Ok((Bytes::from(body), ()))
    }
}

/// Embeddings from any provider that has them, charged (input tokens) and recorded
/// like chat.
pub(crate) async fn embeddings(
    app: &Arc<App>,
    table: &Table,
    form: EmbedForm,
    mut req: EmbeddingsRequest,
    plan: &RoutePlan,
    mut ticket: Ticket,
) -> Result<Answer, Failure> {
    let caller_model = req.model.clone();
    let mut attempt = EmbeddingsAttempt { req: &mut req };
    let ran = attempts::run(
        app,
        table,
        plan,
        Operation::Embeddings,
        false,
        "",
        &mut ticket,
        &mut attempt,
    )
    .await;
    let won = match ran {
        Ok(won) => won,
        Err(lost) => return Err(lost.fail(ticket)),
    };
    let (from, shape, bytes) = whole(won);
    let served = from.served(&[]);
    ticket.routed(served.provider, served.model, shape);
    let decoded = codec::decode_embeddings_response(shape, &bytes, served.model);
    let mut resp: EmbeddingsResponse = match decoded {
        Ok(resp) => resp,
        Err(e) => return Err(unreadable_answer(e, ticket, &served)),
    };
    resp.model = caller_model;
    let out = codec::encode_embeddings_response(form, &resp, req.encoding_format);
    ticket.first_byte();
    ticket.response_body(&out);
    // Gemini reports no token count: the local one stands in.
    let input_tokens = resp
        .input_tokens
        .unwrap_or_else(|| accounting::embeddings_tokens(&req));
    ticket.succeed(Some(Usage {
        input_tokens,
        ..Usage::default()
    }));
    Ok(respond::whole(out, served))
}

/// A token-count request (Anthropic or Gemini body), routed for this key.
pub(crate) fn decode_count_tokens(
    app: &App,
    table: &Table,
    entry: &Entry,
    shape: ApiShape,
    body: &Bytes,
    url_model: Option<&str>,
    turn: Option<&mut crate::responses::Turn>,
) -> Result<(ChatRequest, RoutePlan), GatewayError> {
    let mut req = codec::decode_count_tokens_request(shape, body).map_err(GatewayError::from)?;
    if let Some(m) = url_model {
        req.model = m.to_owned();
    }
    // `POST /v1/responses/input_tokens` with `previous_response_id`: the stored
    // conversation counts too.
    if let Some(turn) = turn {
        turn.splice(&mut req, body)?;
        crate::responses::strip_state_fields(&mut req);
    }
    let plan = policy::plan(app, table, entry, &req.model, &Needs::default())?;
    Ok((req, plan))
}

struct CountAttempt<'a> {
    req: &'a mut ChatRequest,
}

impl Attempt for CountAttempt<'_> {
    type Prepared = ();

    async fn prepare(&mut self, provider: &Provider, target: &Target) -> Result<(Bytes, ()), Skip> {
        self.req.model.clone_from(&target.upstream_model);
        let opts = EncodeOptions::default();
        let Some(encoded) = codec::encode_count_tokens_request(provider.shape(), self.req, &opts)
        else {
            return Err(Skip::Local);
        };
        let body = encoded.map_err(|e| Skip::Unfit(e.into()))?;
        Ok((Bytes::from(body), ()))
    }
}

/// Token counts: Anthropic and Gemini upstreams are asked; others get the local
/// estimate (said in `x-patchbay-estimate: true`). Recorded as a request that uses
/// no tokens (it counts against request rates, not quotas).
pub(crate) async fn count_tokens(
    app: &Arc<App>,
    table: &Table,
    shape: ApiShape,
    mut req: ChatRequest,
    plan: &RoutePlan,
    mut ticket: Ticket,
) -> Result<Answer, Failure> {
    let mut attempt = CountAttempt { req: &mut req };
    let ran = attempts::run(
        app,
        table,
        plan,
        Operation::CountTokens,
        false,
        "",
        &mut ticket,
        &mut attempt,
    )
    .await;
    let estimated = [("x-patchbay-estimate", "true".to_owned())];
    let (count, from) = match ran {
        Ok(won) => {
            let (from, up, bytes) = whole(won);
            ticket.routed(&from.target.provider, &from.target.upstream_model, up);
            match codec::decode_count_tokens_response(up, &bytes) {
                Ok(count) => (count, Some(from)),
                Err(e) => return Err(unreadable_answer(e, ticket, &from.served(&[]))),
            }
        }
        // No route target counts tokens: the local estimate answers.
        Err(lost) if lost.local || lost.tries == 0 && lost.target.is_none() => (
            CountTokensResponse {
                input_tokens: estimate::input_tokens(&req),
            },
            None,
        ),
        Err(lost) => return Err(lost.fail(ticket)),
    };
    let out = codec::encode_count_tokens_response(shape, &count);
    ticket.first_byte();
    ticket.response_body(&out);
    ticket.succeed(None);
    let served = match &from {
        Some(from) => from.served(&[]),
        None => Served {
            notes: &estimated,
            ..Served::default()
        },
    };
    Ok(respond::whole(out, served))
}

/// Where a whole answer came from.
struct Source {
    target: Target,
    attempts: u32,
}

impl Source {
    fn served<'a>(&'a self, notes: &'a [(&'static str, String)]) -> Served<'a> {
        Served {
            provider: &self.target.provider,
            model: &self.target.upstream_model,
            attempts: self.attempts,
            notes,
        }
    }
}

/// Who served a whole answer, their shape and the body.
fn whole(won: attempts::Won<()>) -> (Source, ApiShape, Vec<u8>) {
    let from = Source {
        target: won.target,
        attempts: won.tries,
    };
    let body = match won.started {
        Started::Whole(body) => body,
        // Operations other than chat are asked whole.
        Started::Stream { first, .. } => first.map(|b| b.to_vec()).unwrap_or_default(),
    };
    (from, won.shape, body)
}

/// An upstream answer that could not be read: recorded as failed, answered as such.
fn unreadable_answer(e: TranslateError, ticket: Ticket, served: &Served<'_>) -> Failure {
    let inner: GatewayError = e.into();
    let err = GatewayError::new(
        gateway_protocol::ErrorKind::Upstream,
        format!("the upstream answer could not be read: {}", inner.message),
    );
    ticket.fail(&err, None);
    Failure {
        err,
        target: Some(Target::new(served.provider, served.model)),
        attempts: served.attempts,
        headers: Vec::new(),
    }
}
