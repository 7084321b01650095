//! [`PrepareLayer`]: the request body read whole (under tower-http's limit) and
//! turned into the operation it asks for: decoded, the key's policy applied, routed,
//! and — for keys with limits — estimated, so the limiter inward can reserve it.
//! Everything this layer refuses is refused before any limit is charged.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use gateway_auth::{Entry, Estimate, Exempt};
use gateway_protocol::{ApiShape, ChatRequest, EmbeddingsRequest, ErrorKind, GatewayError};
use http::{Request, Response};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, LengthLimitError};
use tower::{BoxError, Layer, Service};

use super::close::BodyRead;
use super::reject::Charged;
use crate::app::App;
use crate::ingress::{ChatCall, EmbedForm, Endpoint};
use crate::respond::{self, Answer, REQUEST_ID};
use crate::routing::RoutePlan;
use crate::{accounting, chat, ops};

/// A request ready for its operation. Boxed as it travels inward (`Request<Box<Call>>`):
/// it holds the decoded request, and every layer moves what it passes on.
pub struct Call {
    /// What was asked, by path.
    pub endpoint: Endpoint,
    /// The body as the caller sent it.
    pub body: Bytes,
    /// The request id.
    pub request_id: String,
    /// The caller's key.
    pub entry: Arc<Entry>,
    /// The decoded and routed operation.
    pub work: Work,
    /// The providers, routes and catalogue it was routed with, kept to its end.
    pub table: Arc<crate::table::Table>,
}

/// A decoded and routed operation.
pub enum Work {
    /// A chat request.
    Chat {
        /// What the URL says.
        call: ChatCall,
        /// The canonical request, the key's policy applied.
        req: Box<ChatRequest>,
        /// Whether the policy changed it (the caller's bytes no longer match).
        changed: bool,
        /// Where it may go.
        plan: RoutePlan,
        /// Its part in the Responses state (Responses callers; see `crate::responses`).
        turn: Option<Box<crate::responses::Turn>>,
    },
    /// Embeddings.
    Embeddings {
        /// The body form.
        form: EmbedForm,
        /// The canonical request.
        req: Box<EmbeddingsRequest>,
        /// Where it may go.
        plan: RoutePlan,
    },
    /// A token count.
    CountTokens {
        /// The caller's shape.
        shape: ApiShape,
        /// The canonical request.
        req: Box<ChatRequest>,
        /// Where it may go.
        plan: RoutePlan,
    },
    /// A model list, or one model (not charged).
    ListModels {
        /// The caller's list shape.
        shape: ApiShape,
        /// The one model asked for.
        id: Option<String>,
    },
    /// A local estimate (not charged).
    Estimate {
        /// The body's shape.
        shape: ApiShape,
    },
    /// A stored response read or deleted (not charged).
    StoredResponse {
        /// Its id.
        id: String,
        /// What is asked.
        op: crate::responses::StoredOp,
    },
    /// A Responses WebSocket upgrade (not charged: each of its responses is).
    Socket,
}

/// Reads, decodes and routes requests before the limiter.
#[derive(Debug, Clone)]
pub struct PrepareLayer {
    app: Arc<App>,
}

impl PrepareLayer {
    /// Preparation for `app` (its router, catalogue and limits).
    pub fn new(app: Arc<App>) -> Self {
        PrepareLayer { app }
    }
}

impl<S> Layer<S> for PrepareLayer {
    type Service = Prepare<S>;
    fn layer(&self, inner: S) -> Prepare<S> {
        Prepare {
            inner,
            app: self.app.clone(),
        }
    }
}

/// The service [`PrepareLayer`] makes.
#[derive(Debug, Clone)]
pub struct Prepare<S> {
    inner: S,
    app: Arc<App>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<B>> for Prepare<S>
where
    S: Service<Request<Box<Call>>, Response = Answer> + Clone + Send + 'static,
    S::Future: Send,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Answer;
    type Error = S::Error;
    type Future = BoxFuture<Result<Answer, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The clone that was made ready is the one called (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let app = self.app.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let Some(endpoint) = parts.extensions.get::<Endpoint>().cloned() else {
                return Ok(internal("the request was not classified"));
            };
            let shape = endpoint.error_shape();
            let Some(entry) = parts.extensions.get::<Arc<Entry>>().cloned() else {
                return Ok(respond::error(shape, &unauthenticated()));
            };
            let request_id = parts
                .extensions
                .get::<tower_http::request_id::RequestId>()
                .map(|id| id.header_value())
                .or_else(|| parts.headers.get(REQUEST_ID))
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let read = !matches!(endpoint, Endpoint::ListModels { .. });
            let body = if read {
                match tokio::time::timeout(app.body_timeout, read_body(body, app.max_body_bytes))
                    .await
                {
                    Ok(Ok(b)) => b,
                    Ok(Err(err)) => return Ok(refused(shape, &err, entry)),
                    Err(_) => return Ok(refused(shape, &body_too_slow(app.body_timeout), entry)),
                }
            } else {
                Bytes::new()
            };
            let table = app.table();
            // The response a Responses call continues, loaded off the workers (or
            // recalled by the WebSocket connection the call came on).
            let memory = parts.extensions.get::<Arc<crate::responses::Memory>>();
            let turn = match &endpoint {
                Endpoint::Chat(ChatCall {
                    shape: ApiShape::OpenAiResponses,
                    ..
                })
                | Endpoint::CountTokens {
                    shape: ApiShape::OpenAiResponses,
                    ..
                } => match crate::responses::begin(&app, &body, &entry, memory).await {
                    Ok(turn) => turn,
                    Err(err) => {
                        let mut resp = refused(shape, &err, entry);
                        resp.extensions_mut().insert(BodyRead);
                        return Ok(resp);
                    }
                },
                _ => None,
            };
            let mut resp = match work_of(&app, &table, &endpoint, &body, &entry, turn) {
                Ok((work, charge)) => {
                    match charge {
                        Charge::Exempt => {
                            parts.extensions.insert(Exempt);
                        }
                        Charge::Estimated(estimate, charged) => {
                            parts.extensions.insert(estimate);
                            parts.extensions.insert(charged);
                        }
                        Charge::Unlimited => {}
                    }
                    let call = Box::new(Call {
                        endpoint,
                        body,
                        request_id,
                        entry,
                        work,
                        table,
                    });
                    inner.call(Request::from_parts(parts, call)).await?
                }
                Err(err) => refused(shape, &err, entry),
            };
            if read {
                resp.extensions_mut().insert(BodyRead);
            }
            Ok(resp)
        })
    }
}

/// `err` in the caller's envelope, saying whose request it was (for the access log).
fn refused(shape: ApiShape, err: &GatewayError, entry: Arc<Entry>) -> Answer {
    let mut resp = respond::error(shape, err);
    resp.extensions_mut().insert(entry);
    resp
}

/// How the limiter is to see a request.
enum Charge {
    /// Not charged at all.
    Exempt,
    /// The key has no limits: nothing to estimate.
    Unlimited,
    /// Reserve this.
    Estimated(Estimate, Charged),
}

fn work_of(
    app: &App,
    table: &crate::table::Table,
    endpoint: &Endpoint,
    body: &Bytes,
    entry: &Arc<Entry>,
    mut turn: Option<crate::responses::Turn>,
) -> Result<(Work, Charge), GatewayError> {
    let limited = entry
        .policy
        .is_limited(entry.project.as_deref().map(|p| &p.limits));
    let charged = |model: &str, caller, streamed| Charged {
        model: model.to_owned(),
        caller,
        streamed,
        body: body.clone(),
        operation: endpoint.operation().unwrap_or("chat"),
    };
    Ok(match endpoint {
        Endpoint::Chat(call) => {
            let (req, changed, plan) = chat::decode(app, table, call, body, entry, turn.as_mut())?;
            let charge = if limited {
                let estimate = accounting::estimate_for(&table.catalog, &req, &plan);
                Charge::Estimated(estimate, charged(&req.model, call.shape, req.stream))
            } else {
                Charge::Unlimited
            };
            let work = Work::Chat {
                call: call.clone(),
                req: Box::new(req),
                changed,
                plan,
                turn: turn.map(Box::new),
            };
            (work, charge)
        }
        Endpoint::Embeddings { form, url_model } => {
            let (req, plan) =
                ops::decode_embeddings(app, table, entry, *form, body, url_model.as_deref())?;
            let charge = if limited {
                let estimate = accounting::embeddings_estimate(&table.catalog, &req, &plan);
                Charge::Estimated(estimate, charged(&req.model, form.shape(), false))
            } else {
                Charge::Unlimited
            };
            (
                Work::Embeddings {
                    form: *form,
                    req: Box::new(req),
                    plan,
                },
                charge,
            )
        }
        Endpoint::CountTokens { shape, url_model } => {
            let (req, plan) = ops::decode_count_tokens(
                app,
                table,
                entry,
                *shape,
                body,
                url_model.as_deref(),
                turn.as_mut(),
            )?;
            let charge = if limited {
                // A count uses no tokens but counts as a request.
                Charge::Estimated(Estimate::default(), charged(&req.model, *shape, false))
            } else {
                Charge::Unlimited
            };
            (
                Work::CountTokens {
                    shape: *shape,
                    req: Box::new(req),
                    plan,
                },
                charge,
            )
        }
        Endpoint::ListModels { shape, id } => (
            Work::ListModels {
                shape: *shape,
                id: id.clone(),
            },
            Charge::Exempt,
        ),
        Endpoint::ShowModel => {
            let id = gateway_translate::ollama::models::decode_show_request(body)
                .map_err(GatewayError::from)?;
            let work = Work::ListModels {
                shape: ApiShape::Ollama,
                id: Some(id),
            };
            (work, Charge::Exempt)
        }
        Endpoint::Estimate { shape } => (Work::Estimate { shape: *shape }, Charge::Exempt),
        Endpoint::StoredResponse { id, op } => (
            Work::StoredResponse {
                id: id.clone(),
                op: op.clone(),
            },
            Charge::Exempt,
        ),
        Endpoint::ResponsesSocket => (Work::Socket, Charge::Exempt),
        _ => return Err(GatewayError::new(ErrorKind::Internal, "unhandled endpoint")),
    })
}

/// The body whole; tower-http's limit ends the read past `server.max_body_bytes`.
async fn read_body<B>(body: B, limit: u64) -> Result<Bytes, GatewayError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    match body.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) => {
            let err: BoxError = err.into();
            if err.is::<LengthLimitError>() {
                Err(super::classify::too_large(limit))
            } else {
                Err(GatewayError::invalid_request(
                    "",
                    format!("the request body could not be read: {err}"),
                ))
            }
        }
    }
}

/// The body did not arrive whole in time: a slow upload holds a connection and a
/// buffer, so it gets a deadline like the head.
pub(crate) fn body_too_slow(limit: std::time::Duration) -> GatewayError {
    GatewayError::invalid_request(
        "",
        format!(
            "the request body did not arrive within {} ms (server.body_timeout_ms)",
            limit.as_millis()
        ),
    )
    .with_code("request_timeout")
    .with_status(408)
}

fn unauthenticated() -> GatewayError {
    GatewayError::new(ErrorKind::Authentication, "no API key was checked")
}

fn internal(message: &str) -> Response<respond::Body> {
    respond::error(
        ApiShape::OpenAiChat,
        &GatewayError::new(ErrorKind::Internal, message),
    )
}
