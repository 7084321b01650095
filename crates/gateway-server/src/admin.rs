//! The admin API: JSON endpoints for keys, projects, usage, the request log, the
//! providers, the routing table (with "try it") and the AI tools (connect /
//! disconnect), on a listener of its own (loopback by default), behind an admin token.
//! The same listener serves the operator console (gateway-console) at `/`: its pages,
//! login and sessions; a console session stands for the token on `/admin/` paths
//! (with its CSRF token on changes).
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

mod export;
mod keys;
mod live;
mod overview;
mod params;
mod providers;
mod reply;
mod routes;
mod routing;
pub mod sessions;
mod throttle;
pub mod tools;
mod usage;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, LengthLimitError};
use tokio::net::TcpListener;

use crate::app::App;
use crate::layers::close::BodyRead;
use crate::respond::Answer;
use reply::ApiError;
use routes::Op;

pub use gateway_auth::admin_token::{AdminToken, META_NAME, first_start_token};
pub use routes::ROUTES;
pub use tools::{Account, ToolError, ToolHost, ToolStatus};

/// The OpenAPI 3.1 description of the admin API.
pub const OPENAPI: &str = include_str!("admin/openapi.json");

/// Largest request body the admin API reads.
const MAX_BODY: usize = 1 << 20;

/// How long a shutdown waits for open admin connections.
const GRACE: Duration = Duration::from_secs(5);

/// Connections the admin listener holds at once: it serves operators and scripts,
/// so a flood on it must not use up the descriptors the gateway needs.
const MAX_CONNECTIONS: usize = 256;

/// Serves the admin API for `app` on `listener` (over TLS when `tls` is given: the
/// gateway's own certificate when it has one) until `shutdown` resolves; then stops
/// accepting and waits (up to 5 s) for open connections to finish. The gateway's
/// connection deadlines apply; at most 256 connections. `tools`: the AI tools' config
/// files the Tools endpoints read and edit (`None`: their snippets only).
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<crate::listen::TlsAcceptor>,
    token: AdminToken,
    tools: tools::Host,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = crate::listen::ConnLimits {
        max_connections: MAX_CONNECTIONS,
        ..app.conn_limits
    };
    // Live feeds never end on their own: closed when accepting stops, so the grace
    // period waits only for real work.
    let live = app.observer.live.clone();
    let stack = admin_stack::<hyper::body::Incoming>(app, token, tls.is_some(), tools);
    // The wrong-token throttle keys on the peer.
    let make = move |peer| crate::listen::PeerService::new(stack.clone(), peer);
    let slots = crate::listen::Slots::new(limits.max_connections);
    let on_stop = move || live.close();
    let alone = crate::listen::Sharing::default();
    crate::listen::serve_with(
        listener, tls, make, limits, slots, alone, shutdown, GRACE, on_stop,
    )
    .await
}

/// The admin API as a tower stack, from the gateway's building blocks, outermost
/// first: `cache-control: no-store` on every answer (they may hold a new key's
/// plaintext) → close unread (answers before the body is read say
/// `connection: close`) → catch panic (a 500 in the admin envelope) → body limit
/// (1 MiB) → wrong-token throttle (per peer: ten, then one per 6 s; 429 past it) →
/// `/metrics` (the admin token or the scrape credentials, `observe::scrape`) →
/// the console's gate (gateway-console: its pages and login outside `/admin/`;
/// security headers on every answer; on `/admin/`, a live console session with, for a
/// change, its CSRF token, stands for the token) → the admin token (gateway-auth's
/// key layer, `Authorization: Bearer` only; 401 before anything else, so unknown
/// API paths reveal nothing) → the route table and handlers. `tls`: the listener
/// serves HTTPS (the console's cookie is `Secure`, HSTS is sent); `tools`: as for
/// [`serve`].
pub fn admin_stack<B>(
    app: Arc<App>,
    token: AdminToken,
    tls: bool,
    tools: tools::Host,
) -> impl tower::Service<
    Request<B>,
    Response = http::Response<
        impl HttpBody<Data = Bytes, Error = tower::BoxError> + Send + 'static,
    >,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ Sync
+ 'static
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<tower::BoxError>,
{
    use gateway_auth::{KeyLayer, KeySources};
    use tower_http::catch_panic::CatchPanicLayer;
    use tower_http::limit::RequestBodyLimitLayer;
    use tower_http::set_header::SetResponseHeaderLayer;

    let token = Arc::new(token);
    let scrape = crate::observe::scrape::ScrapeLayer::new(app.clone(), token.clone());
    let sessions = sessions::for_app(&app);
    let handler = tower::service_fn(move |req: Request<_>| {
        let app = app.clone();
        let tools = tools.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(&app, &tools, req).await) }
    });
    let checked = token.clone();
    let console = Arc::new(gateway_console::Console::with_sessions(
        tls,
        move |t| checked.verify(t),
        sessions,
    ));
    let keyed = tower::Layer::layer(
        &KeyLayer::new(token, KeySources::BearerOnly, TokenReject),
        handler.clone(),
    );
    tower::ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .map_response(too_large_in_envelope)
        .layer(crate::layers::close::CloseUnreadLayer)
        .layer(CatchPanicLayer::custom(|_| {
            reply::ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "internal error",
            )
            .answer()
        }))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(throttle::ThrottleLayer::default())
        .layer(scrape)
        .service(console.gate(keyed, handler))
}

/// tower-http's body limit answers a declared oversize body in plain text; the admin
/// API answers in its own envelope.
fn too_large_in_envelope<RB>(
    resp: http::Response<RB>,
) -> http::Response<crate::layers::classify::Outer<RB>> {
    use http_body_util::Either;
    if resp.status() != StatusCode::PAYLOAD_TOO_LARGE || crate::layers::classify::is_json(&resp) {
        return resp.map(Either::Left);
    }
    let mut answer = too_large().answer();
    if let Some(close) = resp.headers().get(header::CONNECTION) {
        answer
            .headers_mut()
            .insert(header::CONNECTION, close.clone());
    }
    answer.map(Either::Right)
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request_error",
        format!("the request body is larger than {MAX_BODY} bytes"),
    )
}

/// Admin token refusals in the admin envelope.
#[derive(Debug, Clone, Copy)]
struct TokenReject;

impl gateway_auth::Reject<crate::respond::Body> for TokenReject {
    fn reject<B>(&self, _req: &Request<B>, why: gateway_auth::Rejection) -> Answer {
        let message = match why {
            gateway_auth::Rejection::MissingKey => {
                "no admin token: send it as `Authorization: Bearer <admin token>`"
            }
            _ => {
                "the admin token is not valid (it is printed once at the first start, or set in [admin] token)"
            }
        };
        ApiError::unauthenticated(message).answer()
    }
}

/// Answers one admin request whose token was checked. Never fails: every problem is
/// an answer.
async fn handle<B>(app: &Arc<App>, tools: &tools::Host, req: Request<B>) -> Answer
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<tower::BoxError>,
{
    match answer(app, tools, req).await {
        Ok(resp) => resp,
        Err(err) => err.answer(),
    }
}

async fn answer<B>(app: &Arc<App>, tools: &tools::Host, req: Request<B>) -> Result<Answer, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<tower::BoxError>,
{
    let (op, ids) = routes::find(req.method(), req.uri().path())?;
    let origin = tools::Origin::of(&req);
    let query = req.uri().query().map(str::to_owned);
    let query = query.as_deref();
    let id = ids.into_iter().next().unwrap_or_default();
    let body = match tokio::time::timeout(app.body_timeout, read_body(req)).await {
        Ok(read) => read?,
        Err(_) => {
            let slow = crate::layers::prepare::body_too_slow(app.body_timeout);
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                slow.message,
            ));
        }
    };
    let resp = match op {
        Op::ListKeys => keys::list(app).await,
        Op::CreateKey => keys::create(app, &body).await,
        Op::GetKey => keys::get(app, id, query).await,
        Op::UpdateKey => keys::update(app, id, &body).await,
        Op::RevokeKey => keys::act(app, id, keys::Action::Revoke, &body).await,
        Op::RotateKey => keys::rotate(app, id, &body).await,
        Op::DisableKey => keys::act(app, id, keys::Action::Disable, &body).await,
        Op::EnableKey => keys::act(app, id, keys::Action::Enable, &body).await,
        Op::KeyLimits => keys::key_limits(app, id).await,
        Op::ListProjects => keys::list_projects(app).await,
        Op::CreateProject => keys::create_project(app, &body).await,
        Op::GetProject => keys::get_project(app, id, query).await,
        Op::UpdateProject => keys::update_project(app, id, &body).await,
        Op::ProjectLimits => keys::project_limits(app, id).await,
        Op::Usage => usage::totals(app, query).await,
        Op::UsageSeries => usage::series(app, query).await,
        Op::UsageExport => export::export(app, query).await,
        Op::Overview => overview::overview(app, query).await,
        Op::Logs => usage::logs(app, query).await,
        Op::Providers => providers::list(app).await,
        Op::ProviderPresets => Ok(providers::presets()),
        Op::CreateProvider => providers::create(app, &body).await,
        Op::UpdateProvider => providers::update(app, &id, &body).await,
        Op::RemoveProvider => providers::remove(app, &id).await,
        Op::TestProvider => providers::test(app, &id).await,
        Op::ProviderModels => providers::models(app, &id).await,
        Op::ConfigStatus => Ok(providers::status(app)),
        Op::ReloadConfig => providers::reload(app).await,
        Op::Routing => Ok(routing::table(app)),
        Op::ResolveRoute => routing::resolve(app, query).await,
        Op::ListTools => tools::list(app, tools, &origin).await,
        Op::ConnectTool => tools::connect(app, tools, &origin, id, &body).await,
        Op::DisconnectTool => tools::disconnect(app, tools, &origin, id, &body).await,
        Op::Live => Ok(live::stream(app)),
        Op::OpenApi => Ok(crate::respond::json(StatusCode::OK, OPENAPI.into())),
    };
    // Read whole: the connection can be reused whatever the answer.
    let mut resp = resp.unwrap_or_else(|e| e.answer());
    resp.extensions_mut().insert(BodyRead);
    Ok(resp)
}

/// The body, whole (the body limit layer stops it past [`MAX_BODY`] bytes).
async fn read_body<B>(req: Request<B>) -> Result<Bytes, ApiError>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<tower::BoxError>,
{
    match req.into_body().collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) => {
            let err: tower::BoxError = err.into();
            if err.is::<LengthLimitError>() {
                Err(too_large())
            } else {
                Err(ApiError::invalid(
                    None,
                    format!("the request body could not be read: {err}"),
                ))
            }
        }
    }
}
