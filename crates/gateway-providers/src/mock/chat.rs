//! Mock chat answers: echo, lorem-ipsum text, a call of the request's first tool, or
//! a scripted agent turn.

use std::time::Duration;

use gateway_protocol::{
    ApiShape, ChatRequest, ChatResponse, Delta, GatewayError, Part, StopReason, StreamEvent,
    ToolCall, Usage,
};
use gateway_translate::codec::{self, StreamEncoder};
use gateway_translate::{ResponseContext, assemble, estimate};
use serde_json::{Map, Value};

use super::agent::{self, last_user_text};
use super::config::{MockConfig, Scenario};
use super::{MockAnswer, fnv};

/// Unix seconds stamped on mock answers (fixed, so answers are deterministic).
const CREATED: u64 = 1_767_225_600;

const LOREM: [&str; 19] = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
];

/// Answers a chat request in `shape`; model and stream flag come from the body.
pub fn answer(shape: ApiShape, body: &[u8], cfg: &MockConfig) -> MockAnswer {
    answer_inner(shape, None, None, body, cfg)
}

/// Answers a chat request whose model and stream flag travel outside the body
/// (Gemini puts them in the URL). An empty `model` keeps the body's.
pub fn answer_for(
    shape: ApiShape,
    model: &str,
    stream: bool,
    body: &[u8],
    cfg: &MockConfig,
) -> MockAnswer {
    answer_inner(shape, Some(model), Some(stream), body, cfg)
}

fn answer_inner(
    shape: ApiShape,
    model: Option<&str>,
    stream: Option<bool>,
    body: &[u8],
    cfg: &MockConfig,
) -> MockAnswer {
    let mut req = match codec::decode_request(shape, body) {
        Ok(req) => req,
        Err(err) => return MockAnswer::Fail(err.into()),
    };
    if let Some(model) = model.filter(|m| !m.is_empty()) {
        req.model = model.to_owned();
    }
    if let Some(stream) = stream {
        req.stream = stream;
    }
    let mut cfg = cfg.clone();
    cfg.apply_model_name(&req.model);
    if let Some(params) = req.extensions.for_key("mock") {
        if let Err(err) = cfg.apply_params(params) {
            return MockAnswer::Fail(err);
        }
    }
    if let Some(status) = cfg.fail_status {
        return MockAnswer::Fail(injected_failure(status));
    }
    let resp = respond(&req, &cfg, body);
    let ctx = ResponseContext {
        model: req.model.clone(),
        include_usage: req.include_usage,
        created: CREATED,
        id_seed: resp.id.clone(),
        ..ResponseContext::default()
    };
    if !req.stream {
        return MockAnswer::Whole(codec::encode_response(shape, &resp, &ctx));
    }
    MockAnswer::Stream {
        chunks: stream_chunks(shape, &resp, &ctx, cfg.chunks.max(1) as usize),
        delay: Duration::from_millis(cfg.chunk_delay_ms),
        cut_after: cfg.cut_after_chunks.map(|n| n as usize),
    }
}

/// The failure an injected `fail_status` produces, as the upstream would report it.
fn injected_failure(status: u16) -> GatewayError {
    let err = GatewayError::from_upstream(
        status,
        format!("mock upstream: injected failure with status {status}"),
    )
    .with_status(status);
    if matches!(status, 429 | 503 | 529) {
        err.with_retry_after(1)
    } else {
        err
    }
}

/// The canonical answer.
fn respond(req: &ChatRequest, cfg: &MockConfig, body: &[u8]) -> ChatResponse {
    let (parts, stop_reason, output_tokens) = match (cfg.scenario, req.tools.first()) {
        (Scenario::Tools, Some(tool)) => {
            let arguments = arguments_for(tool.parameters.as_ref().map(|p| p.to_value()));
            let tokens = (tool.name.len() + arguments.len()).div_ceil(4) as u64;
            let call = ToolCall {
                id: format!("call_mock_{:08x}", fnv(body, 1) as u32),
                name: tool.name.clone(),
                arguments,
                signature: None,
            };
            (vec![Part::ToolCall(call)], StopReason::ToolUse, tokens)
        }
        (Scenario::Agent, _) => {
            let (parts, stop_reason) = agent::turn(req, body);
            let tokens = parts
                .iter()
                .map(|p| match p {
                    Part::Text { text, .. } => text.split_whitespace().count(),
                    Part::ToolCall(c) => (c.name.len() + c.arguments.len()).div_ceil(4),
                    _ => 0,
                })
                .sum::<usize>() as u64;
            (parts, stop_reason, tokens)
        }
        (Scenario::Echo, _) => {
            let text = last_user_text(req);
            let tokens = text.split_whitespace().count() as u64;
            (vec![Part::text(text)], StopReason::EndTurn, tokens)
        }
        (Scenario::Text | Scenario::Tools, _) => {
            let n = cfg.tokens as usize;
            let text = (0..n)
                .map(|i| LOREM[i % LOREM.len()])
                .collect::<Vec<_>>()
                .join(" ");
            (vec![Part::text(text)], StopReason::EndTurn, n as u64)
        }
    };
    ChatResponse {
        id: format!("mock-{:016x}", fnv(body, 0)),
        model: req.model.clone(),
        created: Some(CREATED),
        parts,
        stop_reason,
        stop_sequence: None,
        usage: Usage {
            input_tokens: estimate::input_tokens(req),
            output_tokens,
            ..Usage::default()
        },
    }
}

/// Arguments satisfying a schema's required properties: strings `"example"`,
/// numbers `1`, booleans `true`, arrays `[]`, objects built the same way.
fn arguments_for(schema: Option<Value>) -> String {
    let value = schema.map_or(Value::Object(Map::new()), |s| example_of(&s, 0));
    let value = if value.is_object() {
        value
    } else {
        Value::Object(Map::new())
    };
    serde_json::to_string(&value).unwrap_or_else(|_| "{}".to_owned())
}

pub(super) fn example_of(schema: &Value, depth: usize) -> Value {
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => match schema.get("enum").and_then(|e| e.get(0)) {
            Some(first) => return first.clone(),
            None => "string",
        },
    };
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    match kind {
        "string" => Value::from("example"),
        "number" | "integer" => Value::from(1),
        "boolean" => Value::Bool(true),
        "array" => Value::Array(Vec::new()),
        "object" if depth < 8 => {
            let mut out = Map::new();
            let props = schema.get("properties");
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let sub = props.and_then(|p| p.get(name)).unwrap_or(&Value::Null);
                out.insert(name.to_owned(), example_of(sub, depth + 1));
            }
            Value::Object(out)
        }
        "object" => Value::Object(Map::new()),
        _ => Value::Null,
    }
}

/// Encodes `resp` as stream chunks: text split into `pieces` deltas; each chunk ends
/// with one delta, the last chunk carries the closing events.
fn stream_chunks(
    shape: ApiShape,
    resp: &ChatResponse,
    ctx: &ResponseContext,
    pieces: usize,
) -> Vec<Vec<u8>> {
    let mut encoder = StreamEncoder::new(shape, ctx);
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    for event in assemble::events_of(resp) {
        match event {
            StreamEvent::Delta {
                index,
                delta: Delta::Text(text),
            } => {
                for piece in split_text(&text, pieces) {
                    let event = StreamEvent::Delta {
                        index,
                        delta: Delta::Text(piece),
                    };
                    encoder.encode(&event, &mut current);
                    chunks.push(std::mem::take(&mut current));
                }
            }
            event @ StreamEvent::Delta { .. } => {
                encoder.encode(&event, &mut current);
                chunks.push(std::mem::take(&mut current));
            }
            event => encoder.encode(&event, &mut current),
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Splits `text` into at most `pieces` parts at word boundaries; the parts
/// concatenate to `text`. Empty text is one empty part.
fn split_text(text: &str, pieces: usize) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(char::is_whitespace).collect();
    if words.is_empty() {
        return vec![String::new()];
    }
    let pieces = pieces.clamp(1, words.len());
    (0..pieces)
        .map(|k| {
            let (a, b) = (k * words.len() / pieces, (k + 1) * words.len() / pieces);
            words[a..b].concat()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_text_keeps_every_byte() {
        let text = "lorem ipsum dolor sit amet";
        for n in 1..8 {
            let parts = split_text(text, n);
            assert_eq!(parts.concat(), text);
            assert_eq!(parts.len(), n.min(5));
        }
    }

    #[test]
    fn arguments_fill_required_properties() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "optional": {"type": "string"}
            },
            "required": ["city", "days", "metric", "unit"]
        });
        assert_eq!(
            arguments_for(Some(schema)),
            r#"{"city":"example","days":1,"metric":true,"unit":"c"}"#
        );
    }
}
