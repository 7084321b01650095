//! One client message of the Responses WebSocket transport read into what the
//! gateway does with it, and the server's own events (errors, a warm-up's answer).
//!
//! A `response.create` message is the body of `POST /v1/responses` with a `type`
//! beside it; `stream` and `background` belong to the HTTP transport and are not
//! used (every answer streams back as events). `generate: false` asks for no answer:
//! only an id that the next message continues (a warm-up).

use bytes::Bytes;
use gateway_protocol::{ApiShape, ErrorKind, GatewayError};
use gateway_translate::codec;
use serde_json::{Map, Value, json};

use super::super::memory::{Memory, Warmup};

/// What a message asks for.
#[derive(Debug, PartialEq)]
pub(crate) enum Create {
    /// A response: this body for `POST /v1/responses` (streamed).
    Respond(Bytes),
    /// A warm-up, answered at once with these events.
    Warmup(Vec<String>),
}

/// Whether a text message is `response.processed`: a client's note that it has
/// handled a response (newer Codex releases send it after each one). There is
/// nothing to do: it is taken without an answer, even while a response streams.
pub(crate) fn is_acknowledgement(text: &str) -> bool {
    gateway_translate::fastpath::get_member(text.as_bytes(), "type")
        .ok()
        .flatten()
        .is_some_and(|raw| raw == b"\"response.processed\"")
}

/// Reads a text message. Errors are the caller's (400s naming the field).
pub(crate) fn read(text: &str, memory: &Memory) -> Result<Create, GatewayError> {
    let Ok(Value::Object(mut body)) = serde_json::from_str::<Value>(text) else {
        return Err(GatewayError::new(
            ErrorKind::InvalidRequest,
            "a message is one JSON object: {\"type\": \"response.create\", ...the body of POST /v1/responses}",
        ));
    };
    match body.remove("type") {
        Some(Value::String(t)) if t == "response.create" => {}
        Some(Value::String(t)) => {
            return Err(GatewayError::invalid_request(
                "type",
                format!("unsupported message type `{t}`: this socket takes `response.create`"),
            ));
        }
        _ => {
            return Err(GatewayError::invalid_request(
                "type",
                "the message has no `type`: send {\"type\": \"response.create\", ...}",
            ));
        }
    }
    body.remove("stream");
    body.remove("background");
    let generate = match body.remove("generate") {
        None | Some(Value::Null) | Some(Value::Bool(true)) => true,
        Some(Value::Bool(false)) => false,
        Some(_) => {
            return Err(GatewayError::invalid_request(
                "generate",
                "`generate` must be a boolean",
            ));
        }
    };
    continue_warmup(&mut body, memory)?;
    if !generate {
        return Ok(Create::Warmup(warmup(&body, memory)?));
    }
    body.insert("stream".to_owned(), Value::Bool(true));
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Ok(Create::Respond(Bytes::from(bytes)))
}

/// A message continuing the connection's warm-up takes the warm-up's input in front
/// of its own, and continues what the warm-up continued.
fn continue_warmup(body: &mut Map<String, Value>, memory: &Memory) -> Result<(), GatewayError> {
    let Some(Value::String(id)) = body.get("previous_response_id") else {
        return Ok(());
    };
    let Some(warm) = memory.warmup(id) else {
        return Ok(());
    };
    let mut input = warm.input;
    input.extend(items(body.remove("input"))?);
    body.insert("input".to_owned(), Value::Array(input));
    match warm.previous {
        Some(previous) => body.insert("previous_response_id".to_owned(), Value::String(previous)),
        None => body.remove("previous_response_id"),
    };
    Ok(())
}

/// A warm-up's answer: an id, no output. Its input is kept for the next message.
fn warmup(body: &Map<String, Value>, memory: &Memory) -> Result<Vec<String>, GatewayError> {
    let id = super::super::new_id();
    let previous = match body.get("previous_response_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(GatewayError::invalid_request(
                "previous_response_id",
                "`previous_response_id` must be a string",
            ));
        }
    };
    let input = items(body.get("input").cloned())?;
    memory.warm(Warmup {
        id: id.clone(),
        previous: previous.clone(),
        input,
    });
    let created_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let response = |status: &str| {
        json!({
            "id": id,
            "object": "response",
            "created_at": created_at,
            "status": status,
            "model": body.get("model").cloned().unwrap_or(Value::Null),
            "previous_response_id": previous,
            "output": [],
            "usage": {
                "input_tokens": 0,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 0,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 0
            }
        })
    };
    Ok(vec![
        json!({"type": "response.created", "sequence_number": 0, "response": response("in_progress")})
            .to_string(),
        json!({"type": "response.completed", "sequence_number": 1, "response": response("completed")})
            .to_string(),
    ])
}

/// `input` as a list of items (a string is one user message).
fn items(input: Option<Value>) -> Result<Vec<Value>, GatewayError> {
    match input {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(Value::String(text)) => Ok(vec![json!({
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}]
        })]),
        Some(_) => Err(GatewayError::invalid_request(
            "input",
            "`input` must be a string or a list of items",
        )),
    }
}

/// An error as an event: `{"type": "error", "status": N, "error": {...}}`, the
/// envelope of the same error over HTTP with its status beside it (what OpenAI's
/// socket sends, and what Codex reads as that HTTP error).
pub(crate) fn error_event(err: &GatewayError) -> String {
    let (status, body) = codec::encode_error(ApiShape::OpenAiResponses, err);
    answer_error_event(status, &body)
}

/// An HTTP error answer of the gateway (`status`, its envelope `body`) as an event.
pub(crate) fn answer_error_event(status: u16, body: &[u8]) -> String {
    let error = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut envelope)) if envelope.get("error").is_some_and(Value::is_object) => {
            envelope.remove("error").unwrap_or(Value::Null)
        }
        _ => json!({
            "type": "server_error",
            "message": String::from_utf8_lossy(body),
        }),
    };
    json!({"type": "error", "status": status, "error": error}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn respond(text: &str, memory: &Memory) -> Value {
        match read(text, memory).unwrap() {
            Create::Respond(body) => serde_json::from_slice(&body).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_create_message_is_the_post_body_streamed() {
        let body = respond(
            r#"{"type":"response.create","model":"m","input":"hi","stream":false,"background":true,"store":false}"#,
            &Memory::default(),
        );
        assert_eq!(
            body,
            json!({"model": "m", "input": "hi", "stream": true, "store": false})
        );
    }

    #[test]
    fn other_messages_are_400s_naming_the_field() {
        let memory = Memory::default();
        for (text, param) in [
            ("not json", ""),
            ("[1]", ""),
            (r#"{"model":"m"}"#, "type"),
            (r#"{"type":"session.update"}"#, "type"),
            (r#"{"type":"response.create","generate":"no"}"#, "generate"),
            (
                r#"{"type":"response.create","generate":false,"input":7}"#,
                "input",
            ),
        ] {
            let err = read(text, &memory).unwrap_err();
            assert_eq!(err.status, 400, "{text}");
            assert_eq!(err.param.as_deref().unwrap_or(""), param, "{text}");
            let event: Value = serde_json::from_str(&error_event(&err)).unwrap();
            assert_eq!(event["type"], "error");
            assert_eq!(event["status"], 400);
            assert_eq!(event["error"]["type"], "invalid_request_error", "{event}");
        }
    }

    #[test]
    fn response_processed_is_an_acknowledgement_and_nothing_else_is() {
        assert!(is_acknowledgement(
            r#"{"type":"response.processed","response_id":"resp_1"}"#
        ));
        assert!(!is_acknowledgement(r#"{"type":"response.create"}"#));
        assert!(!is_acknowledgement("response.processed"));
    }

    #[test]
    fn a_warmup_answers_an_id_and_the_next_message_builds_on_its_input() {
        let memory = Memory::default();
        let Create::Warmup(events) = read(
            r#"{"type":"response.create","generate":false,"model":"m","previous_response_id":"resp_old","input":"first"}"#,
            &memory,
        )
        .unwrap() else {
            panic!("not a warm-up")
        };
        let completed: Value = serde_json::from_str(&events[1]).unwrap();
        assert_eq!(completed["type"], "response.completed");
        assert_eq!(completed["response"]["output"], json!([]));
        let id = completed["response"]["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("resp_"), "{id}");
        let body = respond(
            &json!({"type": "response.create", "model": "m", "previous_response_id": id,
                    "input": [{"role": "user", "content": "second"}]})
            .to_string(),
            &memory,
        );
        assert_eq!(body["previous_response_id"], "resp_old");
        let input = body["input"].as_array().unwrap();
        assert_eq!(input.len(), 2);
        assert_eq!(input[0]["content"][0]["text"], "first");
        assert_eq!(input[1]["content"], "second");
    }

    #[test]
    fn an_http_error_answer_keeps_its_envelope_and_status() {
        let event = answer_error_event(
            401,
            br#"{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        );
        let event: Value = serde_json::from_str(&event).unwrap();
        assert_eq!(event["status"], 401);
        assert_eq!(event["error"]["code"], "invalid_api_key");
        let event: Value = serde_json::from_str(&answer_error_event(502, b"gone")).unwrap();
        assert_eq!(event["error"]["message"], "gone");
    }
}
