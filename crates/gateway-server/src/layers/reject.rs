//! [`Envelope`]: the gateway's [`Reject`]er. Refusals of the key check and of the
//! limits are answered in the caller's own error envelope (from the request's
//! [`Endpoint`]); limit refusals also get their usage record.

use std::sync::Arc;

use bytes::Bytes;
use gateway_auth::{Entry, Reject, Rejection};
use gateway_protocol::{ApiShape, ErrorKind, GatewayError};
use http::{HeaderName, HeaderValue, Request, Response};

use crate::accounting::{self, Charge};
use crate::app::App;
use crate::ingress::Endpoint;
use crate::observe::{Accounted, Arrival};
use crate::respond::{self, Answer, Body, REQUEST_ID};

/// What a limit refusal's usage record needs, put in the extensions by the prepare
/// layer.
#[derive(Debug, Clone)]
pub struct Charged {
    /// The model the caller asked for.
    pub model: String,
    /// The caller's shape.
    pub caller: ApiShape,
    /// Whether the caller asked for a stream.
    pub streamed: bool,
    /// The request body (logged for keys that log bodies).
    pub body: Bytes,
    /// The operation's name (`chat`, `embeddings`, ...).
    pub operation: &'static str,
}

/// Renders refusals in the caller's envelope.
#[derive(Debug, Clone)]
pub struct Envelope {
    app: Arc<App>,
}

impl Envelope {
    /// Refusals for `app` (whose usage writer records limit refusals).
    pub fn new(app: Arc<App>) -> Self {
        Envelope { app }
    }
}

impl Reject<Body> for Envelope {
    fn reject<B>(&self, req: &Request<B>, why: Rejection) -> Response<Body> {
        let ext = req.extensions();
        let shape = ext
            .get::<Endpoint>()
            .map_or(ApiShape::OpenAiChat, Endpoint::error_shape);
        let err = match &why {
            Rejection::Limited(refused) => refused.to_gateway_error(),
            _ => GatewayError::new(ErrorKind::Authentication, why.message()),
        };
        let mut accounted = false;
        if let (Rejection::Limited(_), Some(entry), Some(charged)) =
            (&why, ext.get::<Arc<Entry>>(), ext.get::<Charged>())
        {
            let request_id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let charge = Charge {
                entry,
                body: &charged.body,
                request_id,
                caller: charged.caller,
                streamed: charged.streamed,
                // Refused before any upstream was asked: nothing was used.
                input_estimate: 0,
                operation: charged.operation,
                arrival: ext.get::<Arrival>(),
            };
            let limit = match &why {
                // An unreachable limit store names no limit.
                Rejection::Limited(refused) if !refused.unavailable => Some(refused.limit),
                _ => None,
            };
            accounting::record_refusal(&self.app, &charge, &charged.model, &err, limit);
            accounted = true;
        }
        let mut resp: Answer = respond::error(shape, &err);
        if accounted {
            resp.extensions_mut().insert(Accounted);
        } else if let Some(entry) = ext.get::<Arc<Entry>>() {
            resp.extensions_mut().insert(entry.clone());
        }
        for (name, value) in why.headers() {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(HeaderName::from_static(name), v);
            }
        }
        // The refused limit also in the caller's SDK family (Anthropic's, for
        // Anthropic callers); the `x-ratelimit-*` triple above stays for all.
        if let Rejection::Limited(refused) = &why {
            let status = refused.status(gateway_auth::cache::now_ms());
            respond::rate_limits(&mut resp, shape, &status);
        }
        resp
    }
}
