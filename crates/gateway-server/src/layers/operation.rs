//! [`Operation`]: the innermost service. It opens the request's account (with the
//! reservation the limiter made, if any) and runs the operation: chat, embeddings,
//! token counts, model lists, estimates. Failures are answered in the caller's
//! envelope, saying where the request last went.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use gateway_auth::{Admission, Estimate};
use gateway_protocol::ApiShape;
use gateway_translate::estimate;
use http::{HeaderValue, Request};
use tower::Service;

use super::prepare::{Call, Work};
use crate::accounting::{self, Charge, Ticket};
use crate::app::App;
use crate::chat::Failure;
use crate::observe::{Accounted, Arrival};
use crate::respond::{self, Answer};
use crate::{chat, ops};

/// Runs prepared requests against the upstreams.
#[derive(Debug, Clone)]
pub struct Operation {
    app: Arc<App>,
}

impl Operation {
    /// Operations of `app`.
    pub fn new(app: Arc<App>) -> Self {
        Operation { app }
    }
}

impl Service<Request<Box<Call>>> for Operation {
    type Response = Answer;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Box<Call>>) -> Self::Future {
        // The operation's own future, boxed directly (no wrapping block to move it into).
        Box::pin(run(self.app.clone(), req))
    }
}

async fn run(app: Arc<App>, req: Request<Box<Call>>) -> Result<Answer, Infallible> {
    let (mut parts, call) = req.into_parts();
    let admission = parts.extensions.get::<Admission>();
    let limits = admission.map(|a| *a.status());
    let reservation = admission.and_then(Admission::take);
    // The limiter's estimate, when the key has limits (made by the prepare layer).
    let estimated_input = parts.extensions.get::<Estimate>().map(|e| e.input_tokens);
    let arrival = parts.extensions.get::<Arrival>();
    let Call {
        endpoint,
        body,
        request_id,
        entry,
        work,
        table,
    } = *call;
    let shape = endpoint.error_shape();
    let operation = endpoint.operation().unwrap_or("chat");
    let mut report = respond::Report::new(shape, limits);
    if let Work::Chat { plan, .. }
    | Work::Embeddings { plan, .. }
    | Work::CountTokens { plan, .. } = &work
    {
        report.routed(plan);
    }
    let charge = |caller: ApiShape, streamed: bool, input_estimate: u64| Charge {
        entry: &entry,
        body: &body,
        request_id: &request_id,
        caller,
        streamed,
        input_estimate,
        operation,
        arrival,
    };
    // The account reports these when it closes; the rest the observe layer does.
    let accounted = !matches!(
        work,
        Work::ListModels { .. }
            | Work::Estimate { .. }
            | Work::StoredResponse { .. }
            | Work::Socket
    );
    let result = match work {
        Work::Chat {
            call,
            req,
            changed,
            plan,
            turn,
        } => {
            let input = estimated_input.unwrap_or_else(|| estimate::input_tokens(&req));
            let ticket = Ticket::open(
                &app,
                &charge(call.shape, req.stream, input),
                &req.model,
                reservation,
            );
            // A stored Responses turn gets an answer and an id of its own: it is
            // not answered from the response cache, nor kept in it.
            let cache = match turn {
                Some(_) => None,
                None => app.cache.pending(&entry, &plan, &req, &parts.headers),
            };
            let served = chat::Routed {
                changed,
                plan,
                ticket,
                cache,
                turn,
            };
            chat::serve(&app, &table, &call, &body, req, served, &request_id).await
        }
        Work::Embeddings { form, req, plan } => {
            let input = estimated_input.unwrap_or_else(|| accounting::embeddings_tokens(&req));
            let charge = charge(form.shape(), false, input);
            let ticket = Ticket::open(&app, &charge, &req.model, reservation);
            // Boxed, as the count below: rarer than chat, they would otherwise size
            // every request's future (moved whole when it is boxed for hyper).
            Box::pin(ops::embeddings(&app, &table, form, *req, &plan, ticket)).await
        }
        Work::CountTokens { shape, req, plan } => {
            // A count uses no tokens.
            let ticket = Ticket::open(&app, &charge(shape, false, 0), &req.model, reservation);
            Box::pin(ops::count_tokens(&app, &table, shape, *req, &plan, ticket)).await
        }
        Work::ListModels { shape, id } => {
            Ok(ops::list_models(&app, &table, shape, id.as_deref(), &entry))
        }
        Work::Estimate { shape } => crate::estimate::estimate(&app, shape, &body, &entry),
        Work::StoredResponse { id, op } => {
            Ok(crate::responses::serve_stored(&app, op, id, &entry).await)
        }
        Work::Socket => Ok(crate::responses::socket::accept(&app, &mut parts)),
    };
    let mut resp = match result {
        Ok(resp) => resp,
        Err(failure) => failed(shape, &failure),
    };
    report.apply(&mut resp);
    if accounted {
        resp.extensions_mut().insert(Accounted);
    } else {
        resp.extensions_mut().insert(entry);
    }
    Ok(resp)
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
            provider: &target.provider,
            model: &target.upstream_model,
            attempts: failure.attempts,
            notes: &[],
        };
        respond::mark(&mut resp, &served);
    }
    resp
}
