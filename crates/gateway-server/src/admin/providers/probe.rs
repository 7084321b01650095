//! The connection test: the provider's model-list request, really sent, timed, and
//! its answer read as a list of model ids.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_providers::{Operation, Provider, UpstreamCall};
use serde::Serialize;

/// How long a test waits for the whole answer.
const LIMIT: Duration = Duration::from_secs(15);
/// The most of an answer read.
const MAX_BODY: usize = 8 << 20;

/// What a test found.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Probe {
    /// The upstream answered 2xx with a readable model list.
    pub ok: bool,
    /// The upstream's HTTP status, when it answered.
    pub status: Option<u16>,
    /// From sending to the end of the answer.
    pub latency_ms: u64,
    /// The model ids it listed, sorted.
    pub models: Vec<String>,
    /// Why not ok: the upstream's own error message when it gave one.
    pub error: Option<String>,
}

/// Sends `provider` its model-list request.
pub(crate) async fn probe(provider: &Provider) -> Probe {
    let started = Instant::now();
    let elapsed = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if !provider.supports(Operation::ListModels) {
        return Probe {
            ok: false,
            status: None,
            latency_ms: 0,
            models: Vec::new(),
            error: Some(format!(
                "a `{}` provider has no model-list endpoint to probe",
                provider.kind().as_str()
            )),
        };
    }
    let call = UpstreamCall {
        operation: Operation::ListModels,
        model: String::new(),
        stream: false,
        body: Bytes::new(),
        headers: Default::default(),
    };
    let asked = async {
        let mut reply = provider.send(call).await?;
        let mut body = Vec::new();
        while let Some(chunk) = reply.body.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > MAX_BODY {
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok::<_, gateway_protocol::GatewayError>((reply.status, body))
    };
    match tokio::time::timeout(LIMIT, asked).await {
        Ok(Ok((status, body))) => {
            let models = model_ids(provider, &body);
            let readable = models.is_some();
            Probe {
                ok: readable,
                status: Some(status),
                latency_ms: elapsed(),
                models: models.unwrap_or_default(),
                error: (!readable)
                    .then(|| "the upstream answered, but not with a model list".to_owned()),
            }
        }
        Ok(Err(err)) => Probe {
            ok: false,
            status: err.upstream_status,
            latency_ms: elapsed(),
            models: Vec::new(),
            error: Some(err.message),
        },
        Err(_) => Probe {
            ok: false,
            status: None,
            latency_ms: elapsed(),
            models: Vec::new(),
            error: Some(format!("no answer within {} s", LIMIT.as_secs())),
        },
    }
}

/// The model ids of `provider`'s model list (its own shape), sorted; `None` when the
/// body is no such list.
fn model_ids(provider: &Provider, body: &[u8]) -> Option<Vec<String>> {
    let list = gateway_translate::codec::decode_model_list(provider.shape(), body).ok()?;
    let mut ids: Vec<String> = list
        .models
        .into_iter()
        .map(|m| {
            m.id.strip_prefix("models/")
                .map(str::to_owned)
                .unwrap_or(m.id)
        })
        .collect();
    ids.sort();
    ids.dedup();
    Some(ids)
}
