//! The non-chat operations: embeddings, token counts and model lists.
//!
//! They route like chat (same routes, fallbacks on retryable failures) but are
//! answered whole, so each target is tried once.

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_protocol::{
    ApiShape, ChatRequest, CountTokensResponse, EmbeddingsRequest, EmbeddingsResponse, ErrorKind,
    GatewayError, ModelInfo, ModelList,
};
use gateway_providers::{Operation, Provider, UpstreamCall};
use gateway_translate::{
    EncodeOptions, TranslateError, anthropic, estimate, gemini, ollama, openai_chat,
    openai_embeddings,
};
use http::StatusCode;

use crate::app::App;
use crate::auth::KeyIdentity;
use crate::chat::Failure;
use crate::ingress::EmbedForm;
use crate::respond::{self, Answer, Served};
use crate::routing::{Needs, Target, retryable};

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

/// Embeddings in any of the three body forms, from any provider that has them.
pub(crate) async fn embeddings(
    app: &App,
    form: EmbedForm,
    url_model: Option<&str>,
    body: &Bytes,
    identity: &KeyIdentity,
) -> Result<Answer, Failure> {
    let decoded = match form {
        EmbedForm::OpenAi => openai_embeddings::request::decode(body),
        EmbedForm::GeminiOne => gemini::embeddings::decode_request(body),
        EmbedForm::GeminiBatch => gemini::embeddings::decode_batch_request(body),
    };
    let mut req = decoded.map_err(client_error)?;
    if let Some(m) = url_model {
        req.model = m.strip_prefix("models/").unwrap_or(m).to_owned();
    }
    let caller_model = req.model.clone();
    let result = routed(
        app,
        &caller_model,
        identity,
        Operation::Embeddings,
        |provider, target| {
            req.model.clone_from(&target.upstream_model);
            encode_embeddings(provider.shape(), &req)
        },
    )
    .await?;
    let (served, shape, bytes) = result;
    let mut resp =
        decode_embeddings(shape, &bytes, &target_model(&served)).map_err(|e| Failure {
            err: unreadable(e),
            target: None,
            attempts: served.attempts,
            headers: Vec::new(),
        })?;
    resp.model = caller_model;
    let out = match form {
        EmbedForm::OpenAi => openai_embeddings::response::encode(&resp, req.encoding_format),
        EmbedForm::GeminiOne => gemini::embeddings::encode_response(&resp),
        EmbedForm::GeminiBatch => gemini::embeddings::encode_batch_response(&resp),
    };
    Ok(respond::whole(out, served))
}

/// Token counts: Anthropic and Gemini upstreams are asked; others get the local
/// estimate (said in `x-patchbay-estimate: true`).
pub(crate) async fn count_tokens(
    app: &App,
    shape: ApiShape,
    url_model: Option<&str>,
    body: &Bytes,
    identity: &KeyIdentity,
) -> Result<Answer, Failure> {
    let decoded = match shape {
        ApiShape::Gemini => gemini::count_tokens::decode_request(body),
        _ => anthropic::count_tokens::decode_request(body),
    };
    let mut req: ChatRequest = decoded.map_err(client_error)?;
    if let Some(m) = url_model {
        req.model = m.to_owned();
    }
    let caller_model = req.model.clone();
    let mut estimated = false;
    let result = routed(
        app,
        &caller_model,
        identity,
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
            let decoded = match up {
                ApiShape::Gemini => gemini::count_tokens::decode_response(&bytes),
                _ => anthropic::count_tokens::decode_response(&bytes),
            };
            let count = decoded.map_err(|e| Failure {
                err: unreadable(e),
                target: None,
                attempts: served.attempts,
                headers: Vec::new(),
            })?;
            (count, served)
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
        Err(failure) => return Err(failure),
    };
    let out = match shape {
        ApiShape::Gemini => gemini::count_tokens::encode_response(&count.0),
        _ => anthropic::count_tokens::encode_response(&count.0),
    };
    Ok(respond::whole(out, count.1))
}

/// Why a target got no call.
enum Prep {
    /// The body cannot be made for this target; try the next.
    Refused(GatewayError),
    /// The answer is computed locally.
    Estimate,
}
use Prep::Estimate;

/// Routes `model` and tries each target that has `op` once, in order, moving on
/// after a retryable failure. Returns who served, their shape and the body.
async fn routed(
    app: &App,
    model: &str,
    identity: &KeyIdentity,
    op: Operation,
    mut body_for: impl FnMut(&Provider, &Target) -> Result<Vec<u8>, Prep>,
) -> Result<(Served, ApiShape, Vec<u8>), Failure> {
    let fail = |err| Failure {
        err,
        target: None,
        attempts: 0,
        headers: Vec::new(),
    };
    if model.is_empty() {
        return Err(fail(GatewayError::invalid_request(
            "model",
            "a model name is required",
        )));
    }
    if !identity.allows(model) {
        return Err(fail(GatewayError::new(
            ErrorKind::PermissionDenied,
            format!("this key may not use model `{model}`"),
        )));
    }
    let plan = app.router.resolve(model, &Needs::default()).map_err(fail)?;
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

fn unreadable(e: TranslateError) -> GatewayError {
    let inner: GatewayError = e.into();
    GatewayError::new(
        ErrorKind::Upstream,
        format!("the upstream answer could not be read: {}", inner.message),
    )
}
