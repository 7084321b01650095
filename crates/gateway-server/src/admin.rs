//! The admin API: JSON endpoints for keys, projects, usage, the request log and the
//! providers, on a listener of its own (loopback by default), behind an admin token.
//!
//! One request, outermost first: the admin token (`Authorization: Bearer`, compared
//! as SHA-256 digests in constant time; 401 before anything else, so unknown paths
//! reveal nothing) → the route table ([`ROUTES`]: 404 for unknown paths, 405 for
//! known paths with another method) → the body (JSON, at most 1 MiB) → the handler.
//! Database work runs in blocking tasks; usage queries open their own read
//! connection so they never wait on the key store's.
//!
//! Errors are `{"error": {"message", "type", "param"}}`: 400 names the offending
//! field (`policy.limits.rmp`) or query parameter, 404 an unknown id. The OpenAPI 3.1
//! description of all of it is served at `GET /admin/openapi.json`.

mod keys;
mod params;
mod reply;
mod routes;
mod usage;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::net::TcpListener;

use crate::app::App;
use crate::respond::Answer;
use reply::ApiError;
use routes::Op;

pub use gateway_auth::admin_token::{AdminToken, META_NAME, first_start_token};
pub use routes::ROUTES;

/// The OpenAPI 3.1 description of the admin API.
pub const OPENAPI: &str = include_str!("admin/openapi.json");

/// Largest request body the admin API reads.
const MAX_BODY: usize = 1 << 20;

/// How long a shutdown waits for open admin connections.
const GRACE: Duration = Duration::from_secs(5);

/// Serves the admin API for `app` on `listener` until `shutdown` resolves; then
/// stops accepting and waits (up to 5 s) for open connections to finish.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    token: AdminToken,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let token = Arc::new(token);
    let handler = move |req| {
        let (app, token) = (app.clone(), token.clone());
        async move { handle(&app, &token, req).await }
    };
    crate::listen::serve_with(listener, None, handler, shutdown, GRACE, || {}).await
}

/// Answers one admin request. Never fails: every problem is an answer.
pub async fn handle<B>(app: &Arc<App>, token: &AdminToken, req: Request<B>) -> Answer
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let unread_body = req.version() <= http::Version::HTTP_11
        && (req.headers().contains_key(header::TRANSFER_ENCODING)
            || req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0"));
    let mut resp = match answer(app, token, req).await {
        Ok(resp) => resp,
        Err(err) => {
            let mut resp = err.answer();
            // Refused before the body was read: on HTTP/1.1 hyper drops the
            // connection, so say so rather than let a client reuse it.
            if unread_body {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            resp
        }
    };
    // Answers may hold a new key's plaintext; nothing here is for caches.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn answer<B>(app: &Arc<App>, token: &AdminToken, req: Request<B>) -> Result<Answer, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    check_token(token, req.headers())?;
    let (op, ids) = routes::find(req.method(), req.uri().path())?;
    let query = req.uri().query().map(str::to_owned);
    let query = query.as_deref();
    let id = ids.into_iter().next().unwrap_or_default();
    let body = read_body(req).await?;
    match op {
        Op::ListKeys => keys::list(app).await,
        Op::CreateKey => keys::create(app, &body).await,
        Op::GetKey => keys::get(app, id).await,
        Op::UpdateKey => keys::update(app, id, &body).await,
        Op::RevokeKey => keys::act(app, id, keys::Action::Revoke, &body).await,
        Op::RotateKey => keys::rotate(app, id, &body).await,
        Op::DisableKey => keys::act(app, id, keys::Action::Disable, &body).await,
        Op::EnableKey => keys::act(app, id, keys::Action::Enable, &body).await,
        Op::ListProjects => keys::list_projects(app).await,
        Op::CreateProject => keys::create_project(app, &body).await,
        Op::GetProject => keys::get_project(app, id).await,
        Op::UpdateProject => keys::update_project(app, id, &body).await,
        Op::Usage => usage::totals(app, query).await,
        Op::UsageSeries => usage::series(app, query).await,
        Op::Logs => usage::logs(app, query).await,
        Op::Providers => Ok(usage::providers(app)),
        Op::OpenApi => Ok(crate::respond::json(StatusCode::OK, OPENAPI.into())),
    }
}

/// The body, whole, at most [`MAX_BODY`] bytes.
async fn read_body<B>(req: Request<B>) -> Result<Bytes, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("the request body is larger than {MAX_BODY} bytes"),
        )),
        Err(err) => Err(ApiError::invalid(
            None,
            format!("the request body could not be read: {err}"),
        )),
    }
}

/// Refuses a request without the token in `Authorization: Bearer`.
fn check_token(token: &AdminToken, headers: &http::HeaderMap) -> Result<(), ApiError> {
    use gateway_auth::{KeySources, presented_key};
    match presented_key(headers, None, KeySources::BearerOnly) {
        None => Err(ApiError::unauthenticated(
            "no admin token: send it as `Authorization: Bearer <admin token>`",
        )),
        Some(t) if token.verify(&t) => Ok(()),
        Some(_) => Err(ApiError::unauthenticated(
            "the admin token is not valid (it is printed once at the first start, or set in [admin] token)",
        )),
    }
}
