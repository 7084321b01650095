//! The non-chat operations: embeddings, token counts and model lists.
//!
//! They route like chat (same routes, fallbacks on retryable failures) but are
//! answered whole, so each target is tried once.

use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;

use gateway_protocol::{
    ApiShape, ChatRequest, CountTokensResponse, EmbeddingsRequest, EmbeddingsResponse, ErrorKind,
    GatewayError, ModelInfo, ModelList, Usage,
};
use gateway_providers::{Operation, Provider, UpstreamCall};
use gateway_translate::{
    EncodeOptions, TranslateError, anthropic, estimate, gemini, ollama, openai_chat,
    openai_embeddings,
};
use http::StatusCode;

use crate::accounting;
use crate::app::App;
use crate::auth::KeyIdentity;
use crate::chat::{Failure, policy};
use crate::ingress::EmbedForm;
use crate::respond::{self, Answer, Served};
use crate::routing::{Needs, RoutePlan, Target, retryable};

/// `GET /v1/models` and `GET /v1beta/models`: the public names this key may use.
pub(crate) fn list_models(app: &App, shape: ApiShape, identity: &KeyIdentity) -> Answer {
    let models = app
        .router
        .public_models()
        .into_iter()
        .filter(|m| identity.allows(m))
        .map(|id| {
            let info = app.catalog.lookup(&id);
            ModelInfo {
                context_window: info.and_then(|i| i.context_window),
                max_output_tokens: info.and_then(|i| i.max_output_tokens),
                owned_by: Some("patchbay".to_owned()),
                display_name: None,
                created: None,
                id,
            }
        })
        .collect();
    let list = ModelList { models };
    let body = match shape {
        ApiShape::Anthropic => anthropic::models::encode(&list),
        ApiShape::Gemini => gemini::models::encode(&list),
        ApiShape::Ollama => ollama::models::encode(&list),
        ApiShape::OpenAiChat | ApiShape::OpenAiResponses => openai_chat::models::encode_list(&list),
    };
    respond::json(StatusCode::OK, body)
}

/// What an operation's caller sent, for its usage record.
pub(crate) struct OpCall<'a> {
    pub body: &'a Bytes,
    pub identity: &'a KeyIdentity,
    pub request_id: &'a str,
    pub url_model: Option<&'a str>,
}

/// Embeddings in any of the three body forms, from any provider that has them.
/// Admitted, charged and recorded like chat (input tokens only).
pub(crate) async fn embeddings(
    app: &Arc<App>,
    form: EmbedForm,
    call: &OpCall<'_>,
) -> Result<Answer, Failure> {
    let decoded = match form {
        EmbedForm::OpenAi => openai_embeddings::request::decode(call.body),
        EmbedForm::GeminiOne => gemini::embeddings::decode_request(call.body),
        EmbedForm::GeminiBatch => gemini::embeddings::decode_batch_request(call.body),
    };
    let mut req = decoded.map_err(client_error)?;
    if let Some(m) = call.url_model {
        req.model = m.strip_prefix("models/").unwrap_or(m).to_owned();
    }
    let caller_model = req.model.clone();
    let caller = match form {
        EmbedForm::OpenAi => ApiShape::OpenAiChat,
        EmbedForm::GeminiOne | EmbedForm::GeminiBatch => ApiShape::Gemini,
    };
    let plan = policy::plan(app, call.identity, &caller_model, &Needs::default())
        .map_err(|e| Failure::new(e, None))?;
    let mut ticket = accounting::admit_estimated(app, &charge(call, caller), &caller_model, || {
        accounting::embeddings_estimate(&app.catalog, &req, &plan)
    })
    .map_err(|r| Failure::refused(&r))?;
    let result = routed(
        app,
        &caller_model,
        &plan,
        Operation::Embeddings,
        |provider, target| {
            req.model.clone_from(&target.upstream_model);
            encode_embeddings(provider.shape(), &req)
        },
    )
    .await;
    let (served, shape, bytes) = match result {
        Ok(r) => r,
        Err(failure) => {
            ticket.fail(&failure.err, None);
            return Err(failure);
        }
    };
    ticket.routed(&served.provider, &served.model, shape);
    let mut resp = match decode_embeddings(shape, &bytes, &target_model(&served)) {
        Ok(resp) => resp,
        Err(e) => return Err(unreadable_answer(e, ticket, &served)),
    };
    resp.model = caller_model;
    let out = match form {
        EmbedForm::OpenAi => openai_embeddings::response::encode(&resp, req.encoding_format),
        EmbedForm::GeminiOne => gemini::embeddings::encode_response(&resp),
        EmbedForm::GeminiBatch => gemini::embeddings::encode_batch_response(&resp),
    };
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

/// Token counts: Anthropic and Gemini upstreams are asked; others get the local
/// estimate (said in `x-patchbay-estimate: true`). Admitted and recorded as a
/// request that uses no tokens (it counts against request rates, not quotas).
pub(crate) async fn count_tokens(
    app: &Arc<App>,
    shape: ApiShape,
    call: &OpCall<'_>,
) -> Result<Answer, Failure> {
    let decoded = match shape {
        ApiShape::Gemini => gemini::count_tokens::decode_request(call.body),
        _ => anthropic::count_tokens::decode_request(call.body),
    };
    let mut req: ChatRequest = decoded.map_err(client_error)?;
    if let Some(m) = call.url_model {
        req.model = m.to_owned();
    }
    let caller_model = req.model.clone();
    let plan = policy::plan(app, call.identity, &caller_model, &Needs::default())
        .map_err(|e| Failure::new(e, None))?;
    let mut ticket = accounting::admit_estimated(app, &charge(call, shape), &caller_model, || {
        gateway_auth::Estimate {
            input_tokens: 0,
            output_tokens: 0,
            cost_micros: Some(0),
        }
    })
    .map_err(|r| Failure::refused(&r))?;
    let mut estimated = false;
    let result = routed(
        app,
        &caller_model,
        &plan,
        Operation::CountTokens,
        |provider, target| {
            let opts = EncodeOptions::default();
            let encoded = match provider.shape() {
                ApiShape::Anthropic => {
                    req.model.clone_from(&target.upstream_model);
                    anthropic::count_tokens::encode_request(&req, &opts)
                }
                ApiShape::Gemini => {
                    gemini::count_tokens::encode_request(&req, &target.upstream_model, &opts)
                }
                _ => {
                    estimated = true;
                    return Err(Estimate);
                }
            };
            encoded.map_err(|e| Prep::Refused(e.into()))
        },
    )
    .await;
    let count = match result {
        Ok((served, up, bytes)) => {
            ticket.routed(&served.provider, &served.model, up);
            let decoded = match up {
                ApiShape::Gemini => gemini::count_tokens::decode_response(&bytes),
                _ => anthropic::count_tokens::decode_response(&bytes),
            };
            match decoded {
                Ok(count) => (count, served),
                Err(e) => return Err(unreadable_answer(e, ticket, &served)),
            }
        }
        Err(_) if estimated => (
            CountTokensResponse {
                input_tokens: estimate::input_tokens(&req),
            },
            Served {
                notes: vec![("x-patchbay-estimate", "true".to_owned())],
                ..Served::default()
            },
        ),
        Err(failure) => {
            ticket.fail(&failure.err, None);
            return Err(failure);
        }
    };
    let out = match shape {
        ApiShape::Gemini => gemini::count_tokens::encode_response(&count.0),
        _ => anthropic::count_tokens::encode_response(&count.0),
    };
    ticket.first_byte();
    ticket.response_body(&out);
    ticket.succeed(None);
    Ok(respond::whole(out, count.1))
}

fn charge<'a>(call: &OpCall<'a>, caller: ApiShape) -> accounting::Charge<'a> {
    accounting::Charge {
        identity: call.identity,
        body: call.body,
        request_id: call.request_id,
        caller,
        streamed: false,
    }
}

/// Why a target got no call.
enum Prep {
    /// The body cannot be made for this target; try the next.
    Refused(GatewayError),
    /// The answer is computed locally.
    Estimate,
}
use Prep::Estimate;

/// Tries each target of `plan` that has `op` once, in order, moving on after a
/// retryable failure. Returns who served, their shape and the body.
async fn routed(
    app: &App,
    model: &str,
    plan: &RoutePlan,
    op: Operation,
    mut body_for: impl FnMut(&Provider, &Target) -> Result<Vec<u8>, Prep>,
) -> Result<(Served, ApiShape, Vec<u8>), Failure> {
    let fail = |err| Failure {
        err,
        target: None,
        attempts: 0,
        headers: Vec::new(),
    };
    let mut last = None;
    let mut tries = 0;
    for target in &plan.attempts {
        let Some(provider) = app.providers.get(&target.provider) else {
            continue;
        };
        let body = match body_for(provider, target) {
            Ok(b) => b,
            Err(Prep::Refused(err)) => {
                last = Some(err);
                continue;
            }
            Err(Prep::Estimate) => {
                return Err(fail(GatewayError::new(ErrorKind::NotFound, "estimate")));
            }
        };
        if !provider.supports(op) {
            continue;
        }
        tries += 1;
        let call = UpstreamCall {
            operation: op,
            model: target.upstream_model.clone(),
            stream: false,
            body: Bytes::from(body),
        };
        let reply = match provider.send(call).await {
            Ok(r) => r,
            Err(err) => {
                let again = retryable(&err);
                last = Some(err);
                if again {
                    continue;
                }
                break;
            }
        };
        let mut whole = Vec::new();
        let mut stream = reply.body;
        let mut broke = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => whole.extend_from_slice(&c),
                Err(e) => {
                    broke = Some(e);
                    break;
                }
            }
        }
        if let Some(err) = broke {
            last = Some(err);
            continue;
        }
        let served = Served {
            provider: target.provider.clone(),
            model: target.upstream_model.clone(),
            attempts: tries,
            notes: Vec::new(),
        };
        return Ok((served, provider.shape(), whole));
    }
    Err(Failure {
        err: last.unwrap_or_else(|| {
            GatewayError::new(
                ErrorKind::NotFound,
                format!(
                    "no provider routed for `{model}` has a {} endpoint",
                    op.as_str()
                ),
            )
        }),
        target: None,
        attempts: tries,
        headers: Vec::new(),
    })
}

fn target_model(served: &Served) -> String {
    served.model.clone()
}

fn encode_embeddings(shape: ApiShape, req: &EmbeddingsRequest) -> Result<Vec<u8>, Prep> {
    let encoded = match shape {
        ApiShape::Gemini => gemini::embeddings::encode_batch_request(req),
        ApiShape::Ollama => ollama::embeddings::encode_request(req),
        _ => openai_embeddings::request::encode(req),
    };
    encoded.map_err(|e| Prep::Refused(e.into()))
}

fn decode_embeddings(
    shape: ApiShape,
    body: &[u8],
    model: &str,
) -> Result<EmbeddingsResponse, TranslateError> {
    match shape {
        ApiShape::Gemini => gemini::embeddings::decode_response(body, model),
        ApiShape::Ollama => ollama::embeddings::decode_response(body),
        _ => openai_embeddings::response::decode(body),
    }
}

fn client_error(e: TranslateError) -> Failure {
    Failure {
        err: e.into(),
        target: None,
        attempts: 0,
        headers: Vec::new(),
    }
}

/// An upstream answer that could not be read: recorded as failed, answered as such.
fn unreadable_answer(e: TranslateError, ticket: accounting::Ticket, served: &Served) -> Failure {
    let err = unreadable(e);
    ticket.fail(&err, None);
    Failure {
        err,
        target: None,
        attempts: served.attempts,
        headers: Vec::new(),
    }
}

fn unreadable(e: TranslateError) -> GatewayError {
    let inner: GatewayError = e.into();
    GatewayError::new(
        ErrorKind::Upstream,
        format!("the upstream answer could not be read: {}", inner.message),
    )
}
