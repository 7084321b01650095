//! A fixed-iteration driver for instruction counting: the same request translations
//! as `translate.rs`, run `N` times each without criterion's adaptive timing, so
//! `valgrind --tool=callgrind` (or `perf stat -e instructions:u`) gives a figure that
//! does not move with machine load.
//!
//! ```text
//! cargo bench -p gateway-translate --bench count --no-run
//! valgrind --tool=callgrind target/release/deps/count-* chat_to_anthropic 1000
//! ```
//!
//! Pair names are those of `translate.rs` (`request/…`); subtract a run with `N = 0`
//! to cancel start-up. `tap_chat` and `tap_anthropic` read a 100-delta stream of that
//! shape as the same-shape relay does (`StreamTap`: deltas measured), `decode_chat` and
//! `decode_anthropic` decode every frame of it into a `StreamTally`, as the relay
//! did before.
#![allow(missing_docs)]

/// The gateway's allocator (`patchbay`'s global one): translation allocates per
/// string, so the allocator is part of what a translation costs as shipped. The
/// system allocator's figures are in docs/BENCHMARKS.md beside these.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;

use gateway_protocol::{ApiShape, Delta, PartStart, StopReason, StreamEvent, Usage};
use gateway_translate::codec::{StreamDecoder, StreamEncoder};
use gateway_translate::estimate::StreamTally;
use gateway_translate::stream_tap::StreamTap;
use gateway_translate::{EncodeOptions, FrameRef, Framer, ResponseContext, codec, fastpath};

const CHAT: &[u8] = include_bytes!("data/chat_request.json");
const ANTHROPIC: &[u8] = include_bytes!("data/anthropic_request.json");
const RESPONSES: &[u8] = include_bytes!("data/responses_request.json");

fn translate(from: ApiShape, to: ApiShape, body: &[u8]) -> Vec<u8> {
    let req = codec::decode_request(from, body).expect("reference body decodes");
    codec::encode_request(to, &req, &EncodeOptions::default()).expect("reference body encodes")
}

const PAIRS: [&str; 10] = [
    "chat_to_anthropic",
    "chat_to_gemini",
    "anthropic_to_chat",
    "responses_to_chat",
    "same_shape_set_model",
    "same_shape_force_usage",
    "tap_chat",
    "tap_anthropic",
    "decode_chat",
    "decode_anthropic",
];

/// A 100-delta text answer with its usage, as an upstream of `shape` streams it.
fn reference_stream(shape: ApiShape, ctx: &ResponseContext) -> Vec<u8> {
    let mut events = vec![
        StreamEvent::MessageStart {
            id: "msg_count".into(),
            model: "count-model".into(),
        },
        StreamEvent::PartStart {
            index: 0,
            part: PartStart::Text,
        },
    ];
    events.extend((0..100).map(|i| StreamEvent::Delta {
        index: 0,
        delta: Delta::Text(format!(" word{i}")),
    }));
    events.push(StreamEvent::PartStop { index: 0 });
    events.push(StreamEvent::Usage(Usage {
        input_tokens: 20,
        output_tokens: 100,
        ..Usage::default()
    }));
    events.push(StreamEvent::MessageStop {
        stop_reason: StopReason::EndTurn,
        stop_sequence: None,
    });
    let mut encoder = StreamEncoder::new(shape, ctx);
    let mut out = Vec::new();
    for event in &events {
        encoder.encode(event, &mut out);
    }
    out
}

/// Reads `bytes` as the same-shape relay's side does (`measure`: deltas measured by
/// a `StreamTap`; otherwise every frame decoded); the output tokens counted.
fn read_stream(shape: ApiShape, ctx: &ResponseContext, bytes: &[u8], measure: bool) -> u64 {
    let mut framer = Framer::new(codec::upstream_framing(shape));
    if measure {
        let mut tap = StreamTap::new(shape, ctx);
        framer
            .push_with(bytes, |frame| {
                tap.observe(frame);
            })
            .expect("frames fit");
        framer.finish_with(|frame| {
            tap.observe(frame);
        });
        tap.finish();
        return tap.tally().output_tokens();
    }
    let mut decoder = StreamDecoder::new(shape, ctx);
    let (mut events, mut tally) = (Vec::new(), StreamTally::default());
    let mut observe = |frame: FrameRef<'_>| {
        let _ = decoder.decode(frame, &mut events);
        events.drain(..).for_each(|e| tally.observe(&e));
    };
    framer.push_with(bytes, &mut observe).expect("frames fit");
    framer.finish_with(&mut observe);
    decoder.finish(&mut events);
    events.drain(..).for_each(|e| tally.observe(&e));
    tally.output_tokens()
}

/// Runs `name` `n` times; returns the bytes produced (streams: the output tokens counted).
fn run(name: &str, n: usize) -> usize {
    let pair = match name {
        "chat_to_anthropic" => Some((ApiShape::OpenAiChat, ApiShape::Anthropic, CHAT)),
        "chat_to_gemini" => Some((ApiShape::OpenAiChat, ApiShape::Gemini, CHAT)),
        "anthropic_to_chat" => Some((ApiShape::Anthropic, ApiShape::OpenAiChat, ANTHROPIC)),
        "responses_to_chat" => Some((ApiShape::OpenAiResponses, ApiShape::OpenAiChat, RESPONSES)),
        _ => None,
    };
    let stream = match name {
        "tap_chat" | "decode_chat" => Some(ApiShape::OpenAiChat),
        "tap_anthropic" | "decode_anthropic" => Some(ApiShape::Anthropic),
        _ => None,
    };
    if let Some(shape) = stream {
        let ctx = ResponseContext {
            model: "count-model".into(),
            include_usage: true,
            created: 1_760_000_000,
            ..ResponseContext::default()
        };
        let bytes = reference_stream(shape, &ctx);
        let measure = name.starts_with("tap_");
        let mut total = 0;
        for _ in 0..n {
            total += read_stream(shape, &ctx, black_box(&bytes), measure);
        }
        return total as usize;
    }
    let mut total = 0;
    for _ in 0..n {
        total += match (pair, name) {
            (Some((from, to, body)), _) => translate(from, to, black_box(body)).len(),
            (None, "same_shape_set_model") => fastpath::set_model(black_box(CHAT), "gpt-4.1")
                .expect("edits")
                .len(),
            (None, "same_shape_force_usage") => fastpath::force_include_usage(black_box(CHAT))
                .expect("edits")
                .body
                .len(),
            (None, other) => panic!("unknown pair {other}; one of {PAIRS:?}"),
        };
    }
    total
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let Some(name) = args.next() else {
        // `cargo test --all-targets` runs this without arguments: each pair once.
        for name in PAIRS {
            run(name, 1);
        }
        return;
    };
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    println!("{name} x{n}: {}", run(&name, n));
}
