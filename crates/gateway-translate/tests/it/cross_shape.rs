//! The cross-shape matrix: every caller shape × every upstream shape, for every common
//! fixture case, non-streaming and streaming.
//!
//! For each (case, caller, upstream):
//! - the caller's request is decoded, encoded for the upstream (snapshot), and decoded
//!   again: the conversation, tools and settings that both shapes can express must
//!   survive;
//! - the upstream's response is decoded and encoded for the caller (snapshot); the
//!   caller's own decoder must read back the same text, tool calls, stop reason and
//!   usage;
//! - the upstream's stream is transcoded to the caller's grammar as it arrives
//!   (snapshot); the caller's own stream decoder must read back the same answer as the
//!   non-streamed one.
//!
//! Snapshots live in `tests/fixtures/cross/<case>/`; `BLESS=1` rewrites them.

use crate::support;

use gateway_protocol::{
    ApiShape, ChatRequest, ChatResponse, MediaSource, Part, RawJson, ResponseFormat, Role,
    StopReason, StreamEvent,
};
use gateway_translate::assemble::Aggregator;
use gateway_translate::codec::{self, StreamDecoder, Transcoder};
use gateway_translate::framing::Framing;
use gateway_translate::{EncodeOptions, ResponseContext, turns};
use serde_json::Value;

const CALLERS: [ApiShape; 5] = [
    ApiShape::OpenAiChat,
    ApiShape::OpenAiResponses,
    ApiShape::Anthropic,
    ApiShape::Gemini,
    ApiShape::Ollama,
];
const UPSTREAMS: [ApiShape; 6] = [
    ApiShape::OpenAiChat,
    ApiShape::Anthropic,
    ApiShape::Gemini,
    ApiShape::Ollama,
    ApiShape::Bedrock,
    ApiShape::Cohere,
];
const CASES: [&str; 11] = [
    "text",
    "system",
    "multi_turn",
    "image",
    "tools",
    "tool_results",
    "reasoning",
    "json_schema",
    "max_tokens",
    "stop_sequence",
    "content_filter",
];

fn dir(shape: ApiShape) -> &'static str {
    match shape {
        ApiShape::OpenAiChat => "openai_chat",
        ApiShape::OpenAiResponses => "openai_responses",
        ApiShape::Anthropic => "anthropic",
        ApiShape::Gemini => "gemini",
        ApiShape::Ollama => "ollama",
        ApiShape::Bedrock => "bedrock",
        ApiShape::Cohere => "cohere",
    }
}

fn caller_request(case: &str, caller: ApiShape) -> ChatRequest {
    let path = support::fixture(format!("{}/{case}/request.json", dir(caller)));
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut req =
        codec::decode_request(caller, &body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if caller == ApiShape::Gemini {
        req.model = format!("m-{case}");
    }
    req
}

fn context(req: &ChatRequest, upstream: ApiShape) -> ResponseContext {
    let mut ctx = ResponseContext::for_request(req, upstream);
    ctx.created = 1_760_000_000;
    ctx.id_seed = "seed".into();
    ctx
}

/// What must survive any translation of a request, in a comparable form.
#[derive(Debug, PartialEq)]
struct RequestEssence {
    system: String,
    turns: Vec<(Role, Vec<String>)>,
    tools: Vec<(String, Option<Value>)>,
    stop: Vec<String>,
    schema: Option<Value>,
    reasoning: bool,
}

fn request_essence(req: &ChatRequest) -> RequestEssence {
    let system = req
        .system
        .iter()
        .filter_map(Part::as_text)
        .collect::<Vec<_>>()
        .join("\n");
    // Ids differ between shapes (synthesised, sanitised): compare by call order.
    let mut call_ids: Vec<String> = Vec::new();
    let mut ordinal = |id: &str| match call_ids.iter().position(|c| c == id) {
        Some(i) => i,
        None => {
            call_ids.push(id.to_owned());
            call_ids.len() - 1
        }
    };
    let turns = turns::alternate(&req.messages)
        .into_iter()
        .map(|m| {
            let parts = m
                .parts
                .iter()
                .filter_map(|p| match p {
                    Part::Text { text, .. } => Some(format!("text:{text}")),
                    Part::Image(img) => Some(match &img.source {
                        MediaSource::Base64 { media_type, data } => {
                            format!("image:{media_type}:{}", data.len())
                        }
                        other => format!("image:{other:?}"),
                    }),
                    Part::ToolCall(c) => {
                        let id = gateway_translate::ids::split_signature(&c.id).0.to_owned();
                        Some(format!(
                            "call#{}:{}:{}",
                            ordinal(&id),
                            c.name,
                            serde_json::from_str::<Value>(&c.arguments).unwrap_or(Value::Null)
                        ))
                    }
                    Part::ToolResult(r) => {
                        let id = gateway_translate::ids::split_signature(&r.call_id)
                            .0
                            .to_owned();
                        let text: String = r.content.iter().filter_map(Part::as_text).collect();
                        Some(format!("result#{}:{text}", ordinal(&id)))
                    }
                    // Reasoning in history is family-specific and dropped across families.
                    Part::Reasoning(_) | Part::Document(_) => None,
                })
                .collect();
            (m.role, parts)
        })
        .collect();
    RequestEssence {
        system,
        turns,
        tools: req
            .tools
            .iter()
            .map(|t| (t.name.clone(), t.parameters.as_ref().map(RawJson::to_value)))
            .collect(),
        stop: req.sampling.stop.clone(),
        schema: match &req.response_format {
            Some(ResponseFormat::JsonSchema { schema, .. }) => Some(schema.clone()),
            _ => None,
        },
        reasoning: req.reasoning.as_ref().is_some_and(|r| r.enabled()),
    }
}

/// The stop reason as a caller of `shape` can tell it.
fn project_stop(stop: StopReason, shape: ApiShape) -> StopReason {
    match (shape, stop) {
        (ApiShape::Anthropic, StopReason::Other) => StopReason::EndTurn,
        (ApiShape::Anthropic, s) => s,
        // Ollama knows `stop` and `length` only: a blocked answer is an empty `stop`.
        (ApiShape::Ollama, StopReason::ContentFilter) => StopReason::EndTurn,
        (_, StopReason::StopSequence | StopReason::PauseTurn | StopReason::Other) => {
            StopReason::EndTurn
        }
        (_, StopReason::ContextExceeded) => StopReason::MaxTokens,
        (_, s) => s,
    }
}

/// What must survive any translation of an answer.
#[derive(Debug, PartialEq)]
struct ResponseEssence {
    text: String,
    calls: Vec<(String, Value)>,
    stop: StopReason,
    input_tokens: u64,
    output_tokens: u64,
}

fn response_essence(resp: &ChatResponse, shape: ApiShape) -> ResponseEssence {
    ResponseEssence {
        text: resp.parts.iter().filter_map(Part::as_text).collect(),
        calls: resp
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::ToolCall(c) => Some((
                    c.name.clone(),
                    serde_json::from_str(&c.arguments).unwrap_or(Value::Null),
                )),
                _ => None,
            })
            .collect(),
        stop: match (shape, resp.stop_reason, &resp.stop_sequence) {
            // §8.1: Anthropic names the sequence that matched; an upstream that does
            // not say which (Cohere) reads as `end_turn`.
            (ApiShape::Anthropic, StopReason::StopSequence, None) => StopReason::EndTurn,
            _ => project_stop(resp.stop_reason, shape),
        },
        input_tokens: resp.usage.input_tokens,
        output_tokens: resp.usage.output_tokens,
    }
}

fn aggregate(events: &[StreamEvent]) -> ChatResponse {
    let mut agg = Aggregator::default();
    for e in events {
        agg.push(e);
    }
    agg.finish()
        .unwrap_or_else(|e| panic!("stream ended in error: {e:?}"))
}

fn stream_fixture(shape: ApiShape, case: &str) -> Vec<u8> {
    let name = match shape {
        ApiShape::Ollama => "stream.ndjson",
        ApiShape::Bedrock => "stream.eventstream",
        _ => "stream.sse",
    };
    let path = support::fixture(format!("{}/{case}/{name}", dir(shape)));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn decode_stream(shape: ApiShape, bytes: &[u8], ctx: &ResponseContext) -> Vec<StreamEvent> {
    let framing = codec::upstream_framing(shape);
    let mut decoder = StreamDecoder::new(shape, ctx);
    let mut events = Vec::new();
    for frame in support::frames(framing, bytes) {
        decoder
            .decode(&frame, &mut events)
            .unwrap_or_else(|e| panic!("{shape} stream does not decode: {e}"));
    }
    decoder.finish(&mut events);
    events
}

fn run_pair(case: &str, caller: ApiShape, upstream: ApiShape) {
    let label = format!("{case}: {caller} caller, {upstream} upstream");
    let snap = |suffix: &str| {
        support::fixture(format!(
            "cross/{case}/{}.to.{}.{suffix}",
            dir(caller),
            dir(upstream)
        ))
    };

    // Request: caller → upstream.
    let req = caller_request(case, caller);
    let sent = codec::encode_request(upstream, &req, &EncodeOptions::default())
        .unwrap_or_else(|e| panic!("{label}: request does not translate: {e}"));
    support::check_snapshot(&snap("request.json"), &support::pretty_json(&sent));
    let mut seen = codec::decode_request(upstream, &sent)
        .unwrap_or_else(|e| panic!("{label}: translated request does not decode: {e}"));
    seen.model.clone_from(&req.model);
    assert_eq!(
        request_essence(&seen),
        request_essence(&req),
        "{label}: request lost meaning"
    );

    // Response: upstream → caller.
    let ctx = context(&req, upstream);
    let body = std::fs::read(support::fixture(format!(
        "{}/{case}/response.json",
        dir(upstream)
    )))
    .expect("response fixture");
    let resp = codec::decode_response(upstream, &body, &ctx)
        .unwrap_or_else(|e| panic!("{label}: upstream response does not decode: {e}"));
    let out = codec::encode_response(caller, &resp, &ctx);
    support::check_snapshot(&snap("response.json"), &support::pretty_json(&out));
    let caller_ctx = context(&req, caller);
    let back = codec::decode_response(caller, &out, &caller_ctx)
        .unwrap_or_else(|e| panic!("{label}: caller cannot read its response: {e}"));
    assert_eq!(
        response_essence(&back, caller),
        response_essence(&resp, caller),
        "{label}: response lost meaning"
    );

    // Stream: upstream → caller, transcoded chunk by chunk.
    let upstream_bytes = stream_fixture(upstream, case);
    let caller_bytes = transcode(upstream, caller, &ctx, &upstream_bytes);
    support::check_snapshot(&snap("stream.txt"), &String::from_utf8_lossy(&caller_bytes));
    let streamed = aggregate(&decode_stream(upstream, &upstream_bytes, &ctx));
    assert_eq!(
        response_essence(&streamed, caller),
        response_essence(&resp, caller),
        "{label}: upstream stream and response fixtures disagree"
    );
    let received = aggregate(&decode_stream_as_caller(caller, &caller_bytes, &caller_ctx));
    let mut want = response_essence(&streamed, caller);
    if caller == ApiShape::OpenAiChat && !ctx.include_usage {
        // §9.11: an OpenAI caller that did not ask for usage gets none in the stream...
        assert!(
            !String::from_utf8_lossy(&caller_bytes).contains("\"usage\""),
            "{label}: usage sent to a caller that did not ask"
        );
        want.input_tokens = 0;
        want.output_tokens = 0;
        // ...and exactly the upstream's usage when it asks.
        let mut asking = ctx.clone();
        asking.include_usage = true;
        let with_usage = transcode(upstream, caller, &asking, &upstream_bytes);
        let got = aggregate(&decode_stream_as_caller(caller, &with_usage, &asking));
        assert_eq!(got.usage, streamed.usage, "{label}: usage chunk differs");
    }
    assert_eq!(
        response_essence(&received, caller),
        want,
        "{label}: stream lost meaning"
    );
}

fn transcode(
    upstream: ApiShape,
    caller: ApiShape,
    ctx: &ResponseContext,
    upstream_bytes: &[u8],
) -> Vec<u8> {
    let mut transcoder = Transcoder::new(upstream, caller, ctx);
    let mut caller_bytes = Vec::new();
    for chunk in upstream_bytes.chunks(17) {
        transcoder.push(chunk, &mut caller_bytes);
    }
    transcoder.finish(&mut caller_bytes);
    caller_bytes
}

fn decode_stream_as_caller(
    caller: ApiShape,
    bytes: &[u8],
    ctx: &ResponseContext,
) -> Vec<StreamEvent> {
    let framing = if caller == ApiShape::Ollama {
        Framing::Ndjson
    } else {
        Framing::Sse
    };
    let mut decoder = StreamDecoder::new(caller, ctx);
    let mut events = Vec::new();
    for frame in support::frames(framing, bytes) {
        decoder
            .decode(&frame, &mut events)
            .unwrap_or_else(|e| panic!("{caller} caller cannot read its stream: {e}"));
    }
    decoder.finish(&mut events);
    events
}

#[test]
fn every_caller_over_every_upstream() {
    let mut failures = Vec::new();
    for case in CASES {
        for caller in CALLERS {
            for upstream in UPSTREAMS {
                let result = std::panic::catch_unwind(|| run_pair(case, caller, upstream));
                if let Err(panic) = result {
                    let msg = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    failures.push(msg);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} pairs failed:\n{}",
        failures.len(),
        CASES.len() * CALLERS.len() * UPSTREAMS.len(),
        failures.join("\n\n")
    );
}
