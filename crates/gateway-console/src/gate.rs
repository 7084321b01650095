//! The gate in front of the admin API: it sends each request to the console's own
//! routes, to the API behind its bearer-token check, or (with a live session and,
//! for a change, the right CSRF token) to the API directly; and sets the security
//! headers on every answer.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, header};
use http_body::Body as HttpBody;
use tower::{Service, ServiceExt};

use crate::{Answer, Console, cookie, csrf, handler, headers, reply, session};

/// How an `/admin/` request is let in.
#[derive(Debug)]
enum Access {
    /// By the bearer token (or refused for the want of one), as without a console.
    Token,
    /// By a live session (with the right CSRF token for a change).
    Session,
    /// Refused here: an ended session, or a change without the right CSRF token.
    Refused(Answer),
}

/// The service [`Console::gate`] makes.
pub struct Gate<K, D> {
    console: Arc<Console>,
    keyed: K,
    direct: D,
}

impl<K: Clone, D: Clone> Clone for Gate<K, D> {
    fn clone(&self) -> Self {
        Gate {
            console: self.console.clone(),
            keyed: self.keyed.clone(),
            direct: self.direct.clone(),
        }
    }
}

impl<K, D> std::fmt::Debug for Gate<K, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("console", &self.console)
            .finish_non_exhaustive()
    }
}

impl<K, D> Gate<K, D> {
    pub(crate) fn new(console: Arc<Console>, keyed: K, direct: D) -> Self {
        Gate {
            console,
            keyed,
            direct,
        }
    }
}

/// Whether `path` is the admin API's.
pub(crate) fn is_admin(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

async fn access(console: &Console, req: &http::request::Parts) -> Access {
    let headers = &req.headers;
    if headers.contains_key(header::AUTHORIZATION) {
        return Access::Token;
    }
    let Some(id) = cookie::read(headers, console.tls()) else {
        return Access::Token;
    };
    let touched = console.sessions().touch(id, session::now_ms()).await;
    let token = match touched {
        Ok(token) => token,
        Err(err) => return Access::Refused(reply::store_down(&err)),
    };
    let Some(token) = token else {
        let mut resp = reply::unauthenticated(
            "the console session has ended (logged out, idle or too old): log in again",
        );
        resp.headers_mut()
            .insert(header::SET_COOKIE, cookie::clear(console.tls()));
        return Access::Refused(resp);
    };
    match csrf::check(&req.method, headers, &token) {
        Ok(()) => Access::Session,
        Err(refusal) => Access::Refused(reply::forbidden(refusal.message())),
    }
}

type Boxed = Pin<Box<dyn Future<Output = Result<Answer, Infallible>> + Send>>;

impl<K, D, B> Service<Request<B>> for Gate<K, D>
where
    K: Service<Request<B>, Response = Answer, Error = Infallible> + Clone + Send + 'static,
    K::Future: Send,
    D: Service<Request<B>, Response = Answer, Error = Infallible> + Clone + Send + 'static,
    D::Future: Send,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Answer;
    type Error = Infallible;
    type Future = Boxed;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each call readies a clone of the service it picks.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Boxed {
        let console = self.console.clone();
        let tls = console.tls();
        if !is_admin(req.uri().path()) {
            return Box::pin(async move {
                let mut resp = handler::serve(&console, req).await;
                headers::apply(resp.headers_mut(), tls);
                Ok(resp)
            });
        }
        let keyed = self.keyed.clone();
        let direct = self.direct.clone();
        Box::pin(async move {
            // Parts, not the request, cross the wait: the body need not be `Sync`.
            let (parts, body) = req.into_parts();
            let access = access(&console, &parts).await;
            let req = Request::from_parts(parts, body);
            let mut resp = match access {
                Access::Token => keyed.oneshot(req).await?,
                Access::Session => direct.oneshot(req).await?,
                Access::Refused(resp) => resp,
            };
            headers::apply(resp.headers_mut(), tls);
            Ok(resp)
        })
    }
}
