//! One request through the gateway's layers, outermost first: request id → ingress
//! (which API, which envelope) → authentication → body limit → the operation.
//! A panic anywhere below is caught and answered as a 500 in the caller's envelope.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use gateway_protocol::{ApiShape, ErrorKind, GatewayError};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::app::App;
use crate::auth::{KeyIdentity, extract_key};
use crate::chat::{self, Failure};
use crate::ingress::{self, Endpoint};
use crate::ops;
use crate::respond::{self, Answer, REQUEST_ID};

/// Serves one request. Never fails: every problem is an answer.
pub async fn handle<B>(app: Arc<App>, req: Request<B>) -> Answer
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let request_id = app.request_id();
    let endpoint = ingress::classify(
        req.method(),
        req.uri().path(),
        req.uri().query(),
        req.headers(),
    );
    let shape = endpoint.error_shape();
    let work = AssertUnwindSafe(dispatch(&app, endpoint, req, &request_id));
    let mut resp = match work.catch_unwind().await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::error!(request_id, "a request handler panicked");
            respond::error(
                shape,
                &GatewayError::new(
                    ErrorKind::Internal,
                    format!("internal error (request {request_id})"),
                ),
            )
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

async fn dispatch<B>(
    app: &Arc<App>,
    endpoint: Endpoint,
    req: Request<B>,
    request_id: &str,
) -> Answer
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    // An answer sent before the body is read leaves the body on an HTTP/1.1
    // connection; hyper then drops the connection, and a client reusing it sees a
    // disconnect instead of the answer. Such answers say `connection: close`.
    let unread_body = req.version() <= http::Version::HTTP_11
        && (req.headers().contains_key(header::TRANSFER_ENCODING)
            || req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0"));
    let mut resp = route(app, endpoint, req, request_id).await;
    if unread_body && resp.extensions().get::<BodyRead>().is_none() {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Marks an answer given after the request body was read whole.
#[derive(Debug, Clone, Copy)]
struct BodyRead;

async fn route<B>(app: &Arc<App>, endpoint: Endpoint, req: Request<B>, request_id: &str) -> Answer
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let shape = endpoint.error_shape();
    match endpoint {
        Endpoint::Root | Endpoint::Health => return plain(StatusCode::OK, "ok"),
        Endpoint::Ready => {
            return if app.is_draining() {
                plain(StatusCode::SERVICE_UNAVAILABLE, "draining")
            } else {
                plain(StatusCode::OK, "ready")
            };
        }
        Endpoint::WebSocketRefused => {
            // 426 would invite a retry with an upgrade; a plain refusal makes clients
            // (Codex) fall back to HTTP at once.
            let mut resp = respond::error(
                ApiShape::OpenAiResponses,
                &GatewayError::new(
                    ErrorKind::NotFound,
                    "WebSocket transport is not offered; use POST /v1/responses",
                ),
            );
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return resp;
        }
        Endpoint::NotFound { .. } => {
            let path = req.uri().path().to_owned();
            return respond::error(
                shape,
                &GatewayError::new(
                    ErrorKind::NotFound,
                    format!("no route for {} {path}", req.method()),
                ),
            );
        }
        Endpoint::MethodNotAllowed { allow, .. } => {
            let mut resp = respond::error(
                shape,
                &GatewayError::new(
                    ErrorKind::InvalidRequest,
                    format!("{} takes {allow}", req.uri().path()),
                )
                .with_status(405),
            );
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            return resp;
        }
        _ => {}
    }
    let identity = match authenticate(app, &req) {
        Ok(id) => id,
        Err(err) => return respond::error(shape, &err),
    };
    if let Endpoint::ListModels { shape } = endpoint {
        return ops::list_models(app, shape, &identity);
    }
    let body = match read_body(app, req).await {
        Ok(b) => b,
        Err(err) => return respond::error(shape, &err),
    };
    let op_call = |url_model| ops::OpCall {
        body: &body,
        identity: &identity,
        request_id,
        url_model,
    };
    let result = match &endpoint {
        Endpoint::Chat(call) => chat::serve(app, call, &body, &identity, request_id).await,
        Endpoint::Embeddings { form, url_model } => {
            ops::embeddings(app, *form, &op_call(url_model.as_deref())).await
        }
        Endpoint::Estimate { shape } => crate::estimate::estimate(app, *shape, &body, &identity),
        Endpoint::CountTokens { shape, url_model } => {
            ops::count_tokens(app, *shape, &op_call(url_model.as_deref())).await
        }
        _ => Err(Failure {
            err: GatewayError::new(ErrorKind::Internal, "unhandled endpoint"),
            target: None,
            attempts: 0,
            headers: Vec::new(),
        }),
    };
    let mut resp = match result {
        Ok(resp) => resp,
        Err(failure) => failed(shape, &failure),
    };
    resp.extensions_mut().insert(BodyRead);
    resp
}

/// The answer to a failed operation, saying where it last went.
fn failed(shape: ApiShape, failure: &Failure) -> Answer {
    let mut resp = respond::error(shape, &failure.err);
    for (name, value) in &failure.headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut()
                .insert(http::HeaderName::from_static(name), v);
        }
    }
    if let Some(target) = &failure.target {
        let served = respond::Served {
            provider: target.provider.clone(),
            model: target.upstream_model.clone(),
            attempts: failure.attempts,
            notes: Vec::new(),
        };
        respond::mark(&mut resp, &served);
    }
    resp
}

fn authenticate<B>(app: &App, req: &Request<B>) -> Result<KeyIdentity, GatewayError> {
    let Some(key) = extract_key(req.headers(), req.uri().query()) else {
        return Err(GatewayError::new(
            ErrorKind::Authentication,
            "no API key: send your Patchbay key as `Authorization: Bearer <key>` (or `x-api-key`, `x-goog-api-key`, `api-key`)",
        ));
    };
    if let Some(identity) = app.keys.authenticate(&key) {
        return Ok(identity);
    }
    let refusal = match &app.db {
        Some(db) => match db.authenticate(&key) {
            Ok(entry) => return Ok(KeyIdentity::of_entry(entry)),
            Err(refusal) => refusal,
        },
        None => gateway_auth::cache::Refusal::Unknown,
    };
    Err(GatewayError::new(
        ErrorKind::Authentication,
        crate::auth::refusal_message(&refusal),
    ))
}

/// Reads the body whole, refusing more than the configured limit with 413 (at once
/// when `content-length` says so).
async fn read_body<B>(app: &App, req: Request<B>) -> Result<Bytes, GatewayError>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let limit = app.max_body_bytes;
    let too_large = || {
        GatewayError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "the request body is larger than the gateway's limit of {limit} bytes (server.max_body_bytes)"
            ),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(too_large()),
        Err(err) => Err(GatewayError::invalid_request(
            "",
            format!("the request body could not be read: {err}"),
        )),
    }
}

fn plain(status: StatusCode, text: &'static str) -> Answer {
    let mut resp = Response::new(respond::full(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
