//! [`KeyLayer`]: who is calling. The identity goes into the request's extensions; a
//! missing or refused key is answered by the [`Reject`]er without calling inward.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::{Reject, Rejection};
use crate::admin_token::AdminToken;
use crate::cache::{Entry, Refusal};
use crate::identity::{KeySources, Keys, presented_key};

/// Something that can tell who a presented secret belongs to.
pub trait Authenticate: Send + Sync + 'static {
    /// What a request's extensions get when the secret is good.
    type Identity: Clone + Send + Sync + 'static;
    /// The identity of `presented`, or why it is refused.
    fn authenticate(&self, presented: &str) -> Result<Self::Identity, Refusal>;
}

impl Authenticate for Keys {
    type Identity = Arc<Entry>;
    fn authenticate(&self, presented: &str) -> Result<Arc<Entry>, Refusal> {
        Keys::authenticate(self, presented)
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
    S: Service<Request<B>, Response = Response<ResBody>>,
    A: Authenticate,
    R: Reject<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response<ResBody>, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let KeyLayer {
            auth,
            reject,
            sources,
        } = &self.layer;
        let presented = presented_key(req.headers(), req.uri().query(), *sources);
        let why = match presented.map(|key| auth.authenticate(&key)) {
            Some(Ok(identity)) => {
                req.extensions_mut().insert(identity);
                return Either::Right(self.inner.call(req));
            }
            Some(Err(refusal)) => Rejection::KeyRefused(refusal),
            None => Rejection::MissingKey,
        };
        Either::Left(ready(Ok(reject.reject(&req, why))))
    }
}
