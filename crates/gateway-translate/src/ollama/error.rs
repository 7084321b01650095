//! Ollama's error envelope `{"error":"<message>"}` (PROTOCOLS §7.1).

use gateway_protocol::{ErrorKind, GatewayError};
use serde_json::Value;

use crate::json;

/// The status and body of `err` in Ollama's envelope. Ollama has no `type`, `code`
/// or `param` fields, so only the message is written.
pub fn encode(err: &GatewayError) -> (u16, Vec<u8>) {
    let body = serde_json::json!({ "error": err.message });
    (err.status, json::encode(&body))
}

/// An upstream Ollama error (`status` + body) as a [`GatewayError`]. Never fails: a
/// body that is not Ollama's envelope gives a message made from the status.
pub fn decode(status: u16, body: &[u8]) -> GatewayError {
    match serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned())
    {
        Some(err) => from_error_value(status, &err),
        None => GatewayError::from_upstream(
            status,
            format!("Ollama upstream answered HTTP {status} without a readable error"),
        ),
    }
}

/// A [`GatewayError`] for an `error` value (a string, or an object with a `message`
/// as OpenAI-compatible servers send), refined by what Ollama's messages say.
pub(crate) fn from_error_value(status: u16, err: &Value) -> GatewayError {
    let message = match err {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| err.to_string(), str::to_owned),
        other => other.to_string(),
    };
    let lower = message.to_ascii_lowercase();
    let mut e = GatewayError::from_upstream(status, message);
    let refined = if lower.contains("context length") || lower.contains("context window") {
        Some((ErrorKind::ContextLengthExceeded, "context_length_exceeded"))
    } else if lower.contains("model") && lower.contains("not found") {
        Some((ErrorKind::NotFound, "model_not_found"))
    } else {
        None
    };
    if let Some((kind, code)) = refined {
        e.kind = kind;
        e.status = kind.status();
        e.retryable = false;
        e.code = Some(code.to_owned());
    }
    e
}
