//! The connection test: the provider's model-list request, really sent, timed, and
//! its answer read as a list of model ids.

use std::time::{Duration, Instant};

use gateway_providers::{Operation, Provider};
use serde::Serialize;

/// How long a test waits for the whole answer.
const LIMIT: Duration = Duration::from_secs(15);

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
    match crate::discovery::ask(provider, LIMIT).await {
        Ok(asked) => Probe {
            ok: true,
            status: Some(asked.status),
            latency_ms: elapsed(),
            models: asked.models,
            error: None,
        },
        Err(err) => Probe {
            ok: false,
            status: err.upstream_status,
            latency_ms: elapsed(),
            models: Vec::new(),
            error: Some(err.message),
        },
    }
}
