//! [`KeyLayer`]: who is calling. The identity goes into the request's extensions; a
//! missing or refused key is answered by the [`Reject`]er without calling inward.
//!
//! The check answers from memory. Only a key the cache does not know, with a
//! database behind it, waits: for a catch-up with other processes' changes run on the
//! store's own thread ([`Authenticate::catch_up`]), then one more look. The request's
//! task waits, never the thread it runs on.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{Reject, Rejection};
use crate::admin_token::AdminToken;
use crate::cache::{Entry, Refusal};
use crate::identity::{KeySources, Keys, presented_key};
use crate::keys::CatchUp;

/// Something that can tell who a presented secret belongs to.
pub trait Authenticate: Send + Sync + 'static {
    /// What a request's extensions get when the secret is good.
    type Identity: Clone + Send + Sync + 'static;
    /// The identity of `presented`, or why it is refused. Called on the async
    /// runtime's threads: it must answer from memory, never block.
    fn authenticate(&self, presented: &str) -> Result<Self::Identity, Refusal>;
    /// A wait after which a secret refused as [`Refusal::Unknown`] is worth one more
    /// look (a key another process made since the last refresh); `None`, the
    /// default, when there is nothing to catch up with.
    fn catch_up(&self) -> Option<CatchUp> {
        None
    }
}

impl Authenticate for Keys {
    type Identity = Arc<Entry>;
    fn authenticate(&self, presented: &str) -> Result<Arc<Entry>, Refusal> {
        Keys::authenticate(self, presented)
    }
    fn catch_up(&self) -> Option<CatchUp> {
        Keys::catch_up(self)
    }
}

/// The identity an admin token gives: the bearer is the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator;

impl Authenticate for AdminToken {
    type Identity = Operator;
    fn authenticate(&self, presented: &str) -> Result<Operator, Refusal> {
        if self.verify(presented) {
            Ok(Operator)
        } else {
            Err(Refusal::Unknown)
        }
    }
}

/// Checks the presented key before anything else sees the request.
#[derive(Debug)]
pub struct KeyLayer<A, R> {
    auth: Arc<A>,
    reject: R,
    sources: KeySources,
}

impl<A, R: Clone> Clone for KeyLayer<A, R> {
    fn clone(&self) -> Self {
        KeyLayer {
            auth: Arc::clone(&self.auth),
            reject: self.reject.clone(),
            sources: self.sources,
        }
    }
}

impl<A, R> KeyLayer<A, R> {
    /// Keys read from `sources`, checked by `auth`, refusals answered by `reject`.
    pub fn new(auth: Arc<A>, sources: KeySources, reject: R) -> Self {
        KeyLayer {
            auth,
            reject,
            sources,
        }
    }
}

impl<S, A, R: Clone> Layer<S> for KeyLayer<A, R> {
    type Service = KeyCheck<S, A, R>;
    fn layer(&self, inner: S) -> Self::Service {
        KeyCheck {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`KeyLayer`] makes.
#[derive(Debug)]
pub struct KeyCheck<S, A, R> {
    inner: S,
    layer: KeyLayer<A, R>,
}

impl<S: Clone, A, R: Clone> Clone for KeyCheck<S, A, R> {
    fn clone(&self) -> Self {
        KeyCheck {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, A, R, B, ResBody> Service<Request<B>> for KeyCheck<S, A, R>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    A: Authenticate,
    R: Reject<ResBody> + Clone,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = KeyCheckFuture<S, A, R, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let KeyLayer {
            auth,
            reject,
            sources,
        } = &self.layer;
        let Some(presented) = presented_key(req.headers(), req.uri().query(), *sources) else {
            return KeyCheckFuture::refused(reject.reject(&req, Rejection::MissingKey));
        };
        let refusal = match auth.authenticate(&presented) {
            Ok(identity) => {
                req.extensions_mut().insert(identity);
                return KeyCheckFuture::called(self.inner.call(req));
            }
            Err(refusal) => refusal,
        };
        let wait = match refusal {
            Refusal::Unknown => auth.catch_up(),
            _ => None,
        };
        let Some(wait) = wait else {
            return KeyCheckFuture::refused(reject.reject(&req, Rejection::KeyRefused(refusal)));
        };
        // The service made ready goes with the request; this one keeps a clone.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        KeyCheckFuture {
            state: State::CatchingUp {
                wait,
                retry: Some(Retry {
                    inner,
                    auth: Arc::clone(auth),
                    reject: reject.clone(),
                    req,
                    presented,
                }),
            },
        }
    }
}

pin_project! {
    /// The response future of [`KeyCheck`]: the inner service's for a good key (no
    /// allocation), a refusal, or a wait for a catch-up before one more look.
    pub struct KeyCheckFuture<S, A, R, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, A, R, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, A, R, B>
    where
        S: Service<Request<B>>,
    {
        Called {
            #[pin]
            future: S::Future,
        },
        Refused {
            response: Option<S::Response>,
        },
        CatchingUp {
            #[pin]
            wait: CatchUp,
            retry: Option<Retry<S, A, R, B>>,
        },
    }
}

/// What a request for an unknown key needs for its second look.
struct Retry<S, A, R, B> {
    inner: S,
    auth: Arc<A>,
    reject: R,
    req: Request<B>,
    presented: String,
}

impl<S: Service<Request<B>>, A, R, B> KeyCheckFuture<S, A, R, B> {
    fn called(future: S::Future) -> Self {
        KeyCheckFuture {
            state: State::Called { future },
        }
    }

    fn refused(response: S::Response) -> Self {
        KeyCheckFuture {
            state: State::Refused {
                response: Some(response),
            },
        }
    }
}

impl<S, A, R, B, ResBody> Future for KeyCheckFuture<S, A, R, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    A: Authenticate,
    R: Reject<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let next = match state.as_mut().project() {
                StateProj::Called { future } => return future.poll(cx),
                StateProj::Refused { response } => {
                    let response = response
                        .take()
                        .expect("KeyCheckFuture polled after it ended");
                    return Poll::Ready(Ok(response));
                }
                StateProj::CatchingUp { wait, retry } => {
                    ready!(wait.poll(cx));
                    let Retry {
                        mut inner,
                        auth,
                        reject,
                        mut req,
                        presented,
                    } = retry.take().expect("KeyCheckFuture polled after it ended");
                    match auth.authenticate(&presented) {
                        Ok(identity) => {
                            req.extensions_mut().insert(identity);
                            State::Called {
                                future: inner.call(req),
                            }
                        }
                        Err(refusal) => State::Refused {
                            response: Some(reject.reject(&req, Rejection::KeyRefused(refusal))),
                        },
                    }
                }
            };
            state.set(next);
        }
    }
}
