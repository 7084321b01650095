//! [`LimitLayer`]: rates, quotas and budgets, admitted before the request goes
//! inward, with the reservation handed to the inner service as an [`Admission`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{Reject, Rejection};
use crate::cache::{Entry, now_ms};
use crate::limits::{Actual, Admit, AdmitFuture, Estimate, LimitStatus, Limiter, Reservation};

/// A marker in a request's extensions: this request is not charged (a model list, a
/// local estimate).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exempt;

/// An admitted request's reservation, in its extensions. [`Admission::take`] hands
/// it to whoever will settle it with the real usage; if nobody does, it is settled
/// at the estimate when the request (and every clone of this) is gone.
/// [`Admission::status`] says where the limits stood once it was counted, for the
/// answer's rate-limit headers.
#[derive(Debug, Clone)]
pub struct Admission(Arc<Held>);

#[derive(Debug)]
struct Held {
    reservation: Mutex<Option<Reservation>>,
    estimate: Estimate,
    status: LimitStatus,
}

impl Admission {
    fn new(reservation: Reservation, estimate: Estimate) -> Admission {
        let status = *reservation.status();
        Admission(Arc::new(Held {
            reservation: Mutex::new(Some(reservation)),
            estimate,
            status,
        }))
    }

    /// The reservation, once (later calls get `None`).
    pub fn take(&self) -> Option<Reservation> {
        self.0
            .reservation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// What was reserved.
    pub fn estimate(&self) -> Estimate {
        self.0.estimate
    }

    /// Where the key's and project's request and token limits stood once this
    /// request was counted (empty when none is set).
    pub fn status(&self) -> &LimitStatus {
        &self.0.status
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let slot = self
            .reservation
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(reservation) = slot.take() {
            let e = self.estimate;
            let actual = Actual {
                input_tokens: e.input_tokens,
                output_tokens: e.output_tokens,
                cost_micros: e.cost_micros,
            };
            reservation.settle(&actual, now_ms());
        }
    }
}

/// Admits requests against their key's limits before they go inward.
#[derive(Debug)]
pub struct LimitLayer<L: ?Sized, R> {
    limiter: Arc<L>,
    reject: R,
}

impl<L: ?Sized, R: Clone> Clone for LimitLayer<L, R> {
    fn clone(&self) -> Self {
        LimitLayer {
            limiter: Arc::clone(&self.limiter),
            reject: self.reject.clone(),
        }
    }
}

impl<L: ?Sized, R> LimitLayer<L, R> {
    /// Limits kept by `limiter`, refusals answered by `reject`.
    pub fn new(limiter: Arc<L>, reject: R) -> Self {
        LimitLayer { limiter, reject }
    }
}

impl<S, L: ?Sized, R: Clone> Layer<S> for LimitLayer<L, R> {
    type Service = Limit<S, L, R>;
    fn layer(&self, inner: S) -> Self::Service {
        Limit {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`LimitLayer`] makes.
#[derive(Debug)]
pub struct Limit<S, L: ?Sized, R> {
    inner: S,
    layer: LimitLayer<L, R>,
}

impl<S: Clone, L: ?Sized, R: Clone> Clone for Limit<S, L, R> {
    fn clone(&self) -> Self {
        Limit {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, L, R, B, ResBody> Service<Request<B>> for Limit<S, L, R>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    L: Limiter + ?Sized,
    R: Reject<ResBody> + Clone,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = LimitFuture<S, R, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let ext = req.extensions();
        // Requests without a key entry (another identity, or none) have no limits here.
        let Some(entry) = ext.get::<Arc<Entry>>() else {
            return LimitFuture::called(self.inner.call(req));
        };
        let project = entry.project.as_deref().map(|p| &p.limits);
        if ext.get::<Exempt>().is_some() || !entry.policy.is_limited(project) {
            return LimitFuture::called(self.inner.call(req));
        }
        let estimate = ext.get::<Estimate>().copied().unwrap_or_default();
        let admission = self.layer.limiter.admission(
            &entry.subject,
            &entry.policy.limits,
            project,
            &estimate,
            now_ms(),
        );
        match admission {
            Admit::Now(Ok(reservation)) => {
                req.extensions_mut()
                    .insert(Admission::new(reservation, estimate));
                LimitFuture::called(self.inner.call(req))
            }
            Admit::Now(Err(refused)) => {
                let why = Rejection::Limited(Box::new(refused));
                LimitFuture::refused(self.layer.reject.reject(&req, why))
            }
            Admit::Later(decided) => {
                // The clone made ready is the one called once the store answers
                // (tower's usual swap).
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                LimitFuture {
                    state: State::Waiting {
                        decided,
                        rest: Some(Rest {
                            inner,
                            reject: self.layer.reject.clone(),
                            req,
                            estimate,
                        }),
                    },
                }
            }
        }
    }
}

pin_project! {
    /// The response future of [`Limit`]: the inner service's when the limiter answers
    /// at once (no allocation), a refusal, or a wait for a shared store's answer.
    pub struct LimitFuture<S, R, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, R, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, R, B>
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
        Waiting {
            decided: AdmitFuture,
            rest: Option<Rest<S, R, B>>,
        },
    }
}

/// What a request waiting on the store needs once it is decided.
struct Rest<S, R, B> {
    inner: S,
    reject: R,
    req: Request<B>,
    estimate: Estimate,
}

impl<S: Service<Request<B>>, R, B> LimitFuture<S, R, B> {
    fn called(future: S::Future) -> Self {
        LimitFuture {
            state: State::Called { future },
        }
    }

    fn refused(response: S::Response) -> Self {
        LimitFuture {
            state: State::Refused {
                response: Some(response),
            },
        }
    }
}

impl<S, R, B, ResBody> Future for LimitFuture<S, R, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    R: Reject<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let next = match state.as_mut().project() {
                StateProj::Called { future } => return future.poll(cx),
                StateProj::Refused { response } => {
                    let response = response.take().expect("LimitFuture polled after it ended");
                    return Poll::Ready(Ok(response));
                }
                StateProj::Waiting { decided, rest } => {
                    let decided = ready!(decided.as_mut().poll(cx));
                    let Rest {
                        mut inner,
                        reject,
                        mut req,
                        estimate,
                    } = rest.take().expect("LimitFuture polled after it ended");
                    match decided {
                        Ok(reservation) => {
                            req.extensions_mut()
                                .insert(Admission::new(reservation, estimate));
                            State::Called {
                                future: inner.call(req),
                            }
                        }
                        Err(refused) => State::Refused {
                            response: Some(
                                reject.reject(&req, Rejection::Limited(Box::new(refused))),
                            ),
                        },
                    }
                }
            };
            state.set(next);
        }
    }
}
