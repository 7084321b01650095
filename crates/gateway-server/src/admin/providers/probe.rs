//! The connection test: the provider's model-list request, really sent, timed, and
//! its answer read as a list of model ids.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_providers::{Operation, Provider, UpstreamCall};
use serde::Serialize;
use serde_json::Value;

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
            let models = model_ids(&body);
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

/// The model ids of a model list in any upstream's shape: `data[].id` (OpenAI,
/// Anthropic), `models[].name` (Gemini, with `models/` dropped; Ollama's tags).
/// `None` when the body is no such list.
pub(crate) fn model_ids(body: &[u8]) -> Option<Vec<String>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let items = v
        .get("data")
        .or_else(|| v.get("models"))
        .and_then(Value::as_array)?;
    let mut ids: Vec<String> = items
        .iter()
        .filter_map(|m| {
            m.get("id")
                .or_else(|| m.get("name"))
                .and_then(Value::as_str)
        })
        .map(|id| id.strip_prefix("models/").unwrap_or(id).to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    Some(ids)
}

#[cfg(test)]
mod tests {
    use super::model_ids;

    #[test]
    fn every_upstream_list_shape_reads_as_ids() {
        let openai = br#"{"object":"list","data":[{"id":"gpt-b"},{"id":"gpt-a"}]}"#;
        assert_eq!(model_ids(openai).unwrap(), ["gpt-a", "gpt-b"]);
        let gemini = br#"{"models":[{"name":"models/gemini-2.5-pro"}]}"#;
        assert_eq!(model_ids(gemini).unwrap(), ["gemini-2.5-pro"]);
        let ollama = br#"{"models":[{"name":"llama3:8b","model":"llama3:8b"}]}"#;
        assert_eq!(model_ids(ollama).unwrap(), ["llama3:8b"]);
        assert_eq!(model_ids(b"<html>"), None);
        assert_eq!(model_ids(br#"{"error":"x"}"#), None);
    }
}
