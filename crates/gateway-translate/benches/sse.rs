//! SSE parsing: our `Framer` against the `eventsource-stream` crate that the design
//! names, on the same bytes fed in the same chunks.
//!
//! Input: the OpenAI Chat tool-call stream of `tests/fixtures/openai_chat/tools/`
//! repeated to 1 MiB (a long streamed answer), fed in 256-byte chunks (token-by-token
//! delivery, events split across reads) and in 16 KiB chunks (a busy TLS connection
//! hands over whole records). Both sides hand every event's data to the caller as an
//! owned string; the setup checks that they see the same events and data bytes.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventsource_stream::Eventsource;
use futures_util::{FutureExt, StreamExt, stream};
use gateway_translate::{Framer, Framing};

const FIXTURE: &[u8] = include_bytes!("../tests/fixtures/openai_chat/tools/stream.sse");
const TARGET_BYTES: usize = 1 << 20;

/// The fixture repeated until the input reaches `TARGET_BYTES`.
fn input() -> Vec<u8> {
    let mut out = Vec::with_capacity(TARGET_BYTES + FIXTURE.len());
    while out.len() < TARGET_BYTES {
        out.extend_from_slice(FIXTURE);
    }
    out
}

/// `(events, data bytes)` through our framer.
fn ours(chunks: &[Bytes]) -> (usize, usize) {
    let mut framer = Framer::new(Framing::Sse);
    let mut frames = Vec::new();
    let (mut events, mut bytes) = (0, 0);
    for chunk in chunks {
        framer
            .push(chunk, &mut frames)
            .expect("the fixture's events fit");
        for frame in frames.drain(..) {
            events += 1;
            bytes += black_box(frame.data).len();
        }
    }
    framer.finish(&mut frames);
    for frame in frames.drain(..) {
        events += 1;
        bytes += black_box(frame.data).len();
    }
    (events, bytes)
}

/// `(events, data bytes)` through `eventsource-stream`, driven without a runtime: the
/// source stream is always ready, so every poll completes at once.
fn theirs(chunks: &[Bytes]) -> (usize, usize) {
    let source = stream::iter(chunks.iter().cloned().map(Ok::<Bytes, Infallible>));
    let mut events_stream = source.eventsource();
    let (mut events, mut bytes) = (0, 0);
    while let Some(next) = events_stream
        .next()
        .now_or_never()
        .expect("an in-memory source is always ready")
    {
        let event = next.expect("the fixture is valid SSE");
        events += 1;
        bytes += black_box(event.data).len();
    }
    (events, bytes)
}

fn parse(c: &mut Criterion) {
    let input = input();
    let mut g = c.benchmark_group("sse_parse");
    g.throughput(Throughput::Bytes(input.len() as u64));
    for size in [256, 16 * 1024] {
        let chunks: Vec<Bytes> = input.chunks(size).map(Bytes::copy_from_slice).collect();
        let (events, bytes) = ours(&chunks);
        assert_eq!(
            (events, bytes),
            theirs(&chunks),
            "both parsers must see the same events and data"
        );
        assert!(events > 1000, "{events} events");
        println!(
            "sse_parse input: {} bytes, {size}-byte chunks, {events} events, {bytes} data bytes",
            input.len()
        );
        g.bench_function(format!("framer/{size}"), |b| {
            b.iter(|| ours(black_box(&chunks)))
        });
        g.bench_function(format!("eventsource_stream/{size}"), |b| {
            b.iter(|| theirs(black_box(&chunks)))
        });
    }
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
