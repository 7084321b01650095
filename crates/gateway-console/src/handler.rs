//! The console's own routes: the page at `/`, the files at `/assets/<name>`, and the
//! session endpoints under `/console/`:
//!
//! - `POST /console/login` with `{"token": "<admin token>"}` (JSON only, so another
//!   site's form cannot post it; same origin only): a session cookie and the page's
//!   CSRF token; a wrong token is a 401, which the admin listener's throttle counts.
//! - `GET /console/session`: `{"authenticated": true, "csrf": ...}` for a live
//!   session, `{"authenticated": false}` otherwise (never a 401: loading the login
//!   page is not a wrong guess).
//! - `POST /console/logout`: ends the session (with its CSRF token) and drops the
//!   cookie.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use serde_json::json;

use crate::{Answer, Console, assets, cookie, csrf, reply, session};

/// Largest login body read.
const MAX_LOGIN_BODY: usize = 4096;

/// The body of `POST /console/login`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    token: String,
}

/// Answers a request for a path outside `/admin/`.
pub(crate) async fn serve<B>(console: &Console, req: Request<B>) -> Answer
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let path = req.uri().path();
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let known: Option<&str> = match path {
        "/" | "/index.html" => Some("GET, HEAD"),
        "/console/session" => Some("GET"),
        "/console/login" | "/console/logout" => Some("POST"),
        p if p.starts_with("/assets/") => Some("GET, HEAD"),
        _ => None,
    };
    match (path, req.method()) {
        ("/" | "/index.html", _) if read => file(assets::page()),
        (p, _) if read && p.starts_with("/assets/") => match assets::find(&p["/assets/".len()..]) {
            Some(a) => file(a),
            None => not_found(),
        },
        ("/console/session", &Method::GET) => session(console, req.headers()).await,
        ("/console/login", &Method::POST) => login(console, req).await,
        ("/console/logout", &Method::POST) => logout(console, req.headers()).await,
        _ => match known {
            Some(allow) => {
                let mut resp = reply::error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "invalid_request_error",
                    &format!("{path} takes {allow}"),
                );
                resp.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                resp
            }
            None => not_found(),
        },
    }
}

fn file(a: &'static assets::Asset) -> Answer {
    reply::bytes(StatusCode::OK, a.content_type, Bytes::from_static(a.bytes))
}

fn not_found() -> Answer {
    reply::bytes(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        Bytes::from_static(b"not found: the console is at /, the admin API under /admin/\n"),
    )
}

async fn session(console: &Console, headers: &HeaderMap) -> Answer {
    let Some(id) = cookie::read(headers, console.tls()) else {
        return reply::json(StatusCode::OK, &json!({ "authenticated": false }));
    };
    match console.sessions().touch(id, session::now_ms()).await {
        Err(err) => reply::store_down(&err),
        Ok(Some(csrf)) => reply::json(
            StatusCode::OK,
            &json!({ "authenticated": true, "csrf": csrf }),
        ),
        Ok(None) => {
            let mut resp = reply::json(StatusCode::OK, &json!({ "authenticated": false }));
            resp.headers_mut()
                .insert(header::SET_COOKIE, cookie::clear(console.tls()));
            resp
        }
    }
}

/// Whether a request's `Origin` and `Sec-Fetch-Site` (when the browser sends them)
/// say it comes from a page of this origin.
pub(crate) fn same_origin(headers: &HeaderMap, tls: bool) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return false;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST) else {
        return false;
    };
    let scheme: &[u8] = if tls { b"https://" } else { b"http://" };
    let origin = origin.as_bytes();
    origin.len() == scheme.len() + host.len()
        && origin.starts_with(scheme)
        && origin.ends_with(host.as_bytes())
}

async fn login<B>(console: &Console, req: Request<B>) -> Answer
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let json_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return reply::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            "log in with a JSON body: {\"token\": \"<admin token>\"}",
        );
    }
    if !same_origin(req.headers(), console.tls()) {
        return reply::forbidden("log in from the console's own page");
    }
    let body = match Limited::new(req.into_body(), MAX_LOGIN_BODY)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return reply::error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "the login body could not be read (at most 4 KiB)",
            );
        }
    };
    let Ok(Login { token }) = serde_json::from_slice::<Login>(&body) else {
        return reply::error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "log in with a JSON body: {\"token\": \"<admin token>\"}",
        );
    };
    if !(console.check)(token.trim()) {
        return reply::unauthenticated(
            "the admin token is not valid (it is printed once at the first start, or set in [admin] token)",
        );
    }
    let started = match console.sessions().start(session::now_ms()).await {
        Ok(s) => s,
        Err(err @ crate::ConsoleError::Store(_)) => return reply::store_down(&err),
        Err(err) => {
            return reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                &format!("no session could be made: {err}"),
            );
        }
    };
    let sessions = console.sessions();
    let mut resp = reply::json(
        StatusCode::OK,
        &json!({
            "authenticated": true,
            "csrf": started.csrf,
            "idle_secs": sessions.idle().as_secs(),
            "lifetime_secs": sessions.lifetime().as_secs(),
        }),
    );
    resp.headers_mut().insert(
        header::SET_COOKIE,
        cookie::set(&started.id, sessions.lifetime(), console.tls()),
    );
    resp
}

async fn logout(console: &Console, headers: &HeaderMap) -> Answer {
    if let Some(id) = cookie::read(headers, console.tls()) {
        let touched = console.sessions().touch(id, session::now_ms()).await;
        let ended = match touched {
            Ok(Some(token)) => {
                if let Err(refusal) = csrf::check(&Method::POST, headers, &token) {
                    return reply::forbidden(refusal.message());
                }
                console.sessions().end(id).await.map(|_| ())
            }
            Ok(None) => Ok(()),
            Err(err) => Err(err),
        };
        if let Err(err) = ended {
            return reply::store_down(&err);
        }
    }
    let mut resp = reply::bytes(StatusCode::NO_CONTENT, "text/plain", Bytes::new());
    resp.headers_mut().remove(header::CONTENT_TYPE);
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie::clear(console.tls()));
    resp
}
