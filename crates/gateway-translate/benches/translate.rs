//! Criterion benches for the codecs: cross-shape request translation, the same-shape
//! model edit, stream transcoding for every cross-shape pair, and the same-shape
//! relay's side reading of a stream (`stream/tap_*`), in events per second.
//!
//! Inputs are the reference bodies in `benches/data/` and streams produced by the
//! shape encoders themselves (1,000 text deltas plus a tool call), so every shape is
//! measured on the same content.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

/// The gateway's allocator (`patchbay`'s global one): translation allocates per
/// string, so the allocator is part of what a translation costs as shipped. The
/// system allocator's figures are in docs/BENCHMARKS.md beside these.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gateway_protocol::{ApiShape, Delta, PartStart, StopReason, StreamEvent, Usage};
use gateway_translate::codec::{self, StreamEncoder, Transcoder};
use gateway_translate::estimate::StreamTally;
use gateway_translate::stream_tap::StreamTap;
use gateway_translate::{EncodeOptions, FrameRef, Framer, ResponseContext, fastpath};

const CHAT: &[u8] = include_bytes!("data/chat_request.json");
const ANTHROPIC: &[u8] = include_bytes!("data/anthropic_request.json");
const RESPONSES: &[u8] = include_bytes!("data/responses_request.json");

fn translate(from: ApiShape, to: ApiShape, body: &[u8]) -> Vec<u8> {
    let req = codec::decode_request(from, body).expect("reference body decodes");
    codec::encode_request(to, &req, &EncodeOptions::default()).expect("reference body encodes")
}

fn requests(c: &mut Criterion) {
    let mut g = c.benchmark_group("request");
    let pairs = [
        (
            "chat_to_anthropic",
            ApiShape::OpenAiChat,
            ApiShape::Anthropic,
            CHAT,
        ),
        (
            "chat_to_gemini",
            ApiShape::OpenAiChat,
            ApiShape::Gemini,
            CHAT,
        ),
        (
            "anthropic_to_chat",
            ApiShape::Anthropic,
            ApiShape::OpenAiChat,
            ANTHROPIC,
        ),
        (
            "responses_to_chat",
            ApiShape::OpenAiResponses,
            ApiShape::OpenAiChat,
            RESPONSES,
        ),
    ];
    for (name, from, to, body) in pairs {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| b.iter(|| translate(from, to, black_box(body))));
    }
    g.throughput(Throughput::Bytes(CHAT.len() as u64));
    g.bench_function("same_shape_set_model", |b| {
        b.iter(|| fastpath::set_model(black_box(CHAT), black_box("gpt-4.1")).expect("edits"))
    });
    g.bench_function("same_shape_force_usage", |b| {
        b.iter(|| fastpath::force_include_usage(black_box(CHAT)).expect("edits"))
    });
    g.finish();
}

/// A canonical answer of `deltas` text deltas and one tool call.
fn reference_events(deltas: usize) -> Vec<StreamEvent> {
    let mut ev = vec![
        StreamEvent::MessageStart {
            id: "msg_bench".into(),
            model: "bench-model".into(),
        },
        StreamEvent::PartStart {
            index: 0,
            part: PartStart::Text,
        },
    ];
    for i in 0..deltas {
        ev.push(StreamEvent::Delta {
            index: 0,
            delta: Delta::Text(format!("token{i} ")),
        });
    }
    ev.push(StreamEvent::PartStop { index: 0 });
    ev.push(StreamEvent::PartStart {
        index: 1,
        part: PartStart::ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            signature: None,
        },
    });
    for frag in ["{\"city\":", "\"Oslo\"}"] {
        ev.push(StreamEvent::Delta {
            index: 1,
            delta: Delta::ToolArguments(frag.into()),
        });
    }
    ev.push(StreamEvent::PartStop { index: 1 });
    ev.push(StreamEvent::Usage(Usage {
        input_tokens: 100,
        output_tokens: deltas as u64,
        ..Usage::default()
    }));
    ev.push(StreamEvent::MessageStop {
        stop_reason: StopReason::ToolUse,
        stop_sequence: None,
    });
    ev
}

fn context() -> ResponseContext {
    ResponseContext {
        model: "bench-model".into(),
        include_usage: true,
        created: 1_760_000_000,
        id_seed: "bench".into(),
        ..ResponseContext::default()
    }
}

/// The stream an upstream of `shape` would send for the reference answer.
fn upstream_stream(shape: ApiShape, events: &[StreamEvent]) -> Vec<u8> {
    let mut enc = StreamEncoder::new(shape, &context());
    let mut out = Vec::new();
    for e in events {
        enc.encode(e, &mut out);
    }
    out
}

/// The bench name of a shape.
fn short_name(shape: ApiShape) -> &'static str {
    match shape {
        ApiShape::OpenAiChat => "chat",
        ApiShape::OpenAiResponses => "responses",
        ApiShape::Anthropic => "anthropic",
        ApiShape::Gemini => "gemini",
        ApiShape::Ollama => "ollama",
        ApiShape::Bedrock => "bedrock",
        ApiShape::Cohere => "cohere",
    }
}

/// Every cross-shape stream the gateway transcodes: any upstream shape to any caller
/// shape (Ollama callers are left out, as before; Bedrock and Cohere are upstream
/// shapes only).
fn stream_pairs() -> impl Iterator<Item = (ApiShape, ApiShape)> {
    ApiShape::ALL.into_iter().flat_map(|from| {
        ApiShape::ALL
            .into_iter()
            .filter(move |&to| {
                to != from && !matches!(to, ApiShape::Ollama | ApiShape::Bedrock | ApiShape::Cohere)
            })
            .map(move |to| (from, to))
    })
}

fn streams(c: &mut Criterion) {
    const DELTAS: usize = 1000;
    let events = reference_events(DELTAS);
    let mut g = c.benchmark_group("stream");
    g.throughput(Throughput::Elements(events.len() as u64));
    let ctx = context();
    for (from, to) in stream_pairs() {
        let name = format!("{}_to_{}", short_name(from), short_name(to));
        let bytes = upstream_stream(from, &events);
        let transcode = |bytes: &[u8]| {
            let mut t = Transcoder::new(from, to, &ctx);
            let mut out = Vec::with_capacity(bytes.len() * 2);
            for chunk in bytes.chunks(4096) {
                t.push(chunk, &mut out);
            }
            t.finish(&mut out);
            (t, out)
        };
        g.bench_function(&name, |b| {
            let (t, _) = transcode(&bytes);
            assert!(
                t.is_ended() && t.error().is_none() && t.usage().is_some(),
                "{name}: the reference stream transcodes cleanly"
            );
            b.iter(|| transcode(black_box(&bytes)).1)
        });
    }
    for shape in ApiShape::ALL {
        let bytes = upstream_stream(shape, &events);
        let name = format!("tap_{}", short_name(shape));
        g.bench_function(&name, |b| {
            let (tally, _) = tap(shape, &ctx, &bytes);
            assert!(tally.usage().is_some() && tally.error().is_none(), "{name}");
            b.iter(|| tap(shape, &ctx, black_box(&bytes)).1)
        });
    }
    g.finish();
}

/// What the same-shape relay reads on the side of the bytes it passes through
/// (gateway-server `chat/relay.rs`): a [`StreamTap`] tallying the usage and output for
/// accounting. Returns the tally and the number of frames.
#[inline(never)]
fn tap(shape: ApiShape, ctx: &ResponseContext, bytes: &[u8]) -> (StreamTally, usize) {
    let mut framer = Framer::new(codec::upstream_framing(shape));
    let mut reader = StreamTap::new(shape, ctx);
    let mut seen = 0;
    let mut observe = |frame: FrameRef<'_>| {
        reader.observe(frame);
        seen += 1;
    };
    for chunk in bytes.chunks(4096) {
        framer.push_with(chunk, &mut observe).expect("frames fit");
    }
    framer.finish_with(&mut observe);
    reader.finish();
    (reader.tally().clone(), seen)
}

criterion_group!(benches, requests, streams);
criterion_main!(benches);
