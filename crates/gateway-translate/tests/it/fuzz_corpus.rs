//! Replays the fixture corpus through the fuzz entry points (`gateway_translate::fuzzing`)
//! on the stable toolchain: every fixture, every truncation of it, and byte flips, and
//! the corpora the AFL++ campaigns grew (`fuzz/corpus/*_decoders/`) — no decoder may
//! panic.

use crate::support;

use gateway_protocol::ApiShape;
use gateway_translate::fuzzing;

const SHAPES: [(ApiShape, &str); 7] = [
    (ApiShape::OpenAiChat, "openai_chat"),
    (ApiShape::OpenAiResponses, "openai_responses"),
    (ApiShape::Anthropic, "anthropic"),
    (ApiShape::Gemini, "gemini"),
    (ApiShape::Ollama, "ollama"),
    (ApiShape::Bedrock, "bedrock"),
    (ApiShape::Cohere, "cohere"),
];

/// Every fixture file of a shape, recursively.
fn files(shape_dir: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![support::fixture(shape_dir)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Prefixes at a spread of lengths (all of them for short inputs).
fn truncations(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let step = (bytes.len() / 24).max(1);
    (0..bytes.len()).step_by(step).map(move |n| &bytes[..n])
}

/// The input with one byte replaced at a spread of positions.
fn flips(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let step = (bytes.len() / 12).max(1);
    (0..bytes.len()).step_by(step).flat_map(move |i| {
        [b'"', 0xff].into_iter().map(move |b| {
            let mut v = bytes.to_vec();
            v[i] = b;
            v
        })
    })
}

#[test]
fn no_decoder_panics_on_the_fixture_corpus() {
    let mut inputs = 0usize;
    for (shape, dir) in SHAPES {
        for path in files(dir) {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let variants: Vec<Vec<u8>> = std::iter::once(bytes.clone())
                .chain(truncations(&bytes).map(<[u8]>::to_vec))
                .chain(flips(&bytes))
                .collect();
            for v in &variants {
                fuzzing::request_as(shape, v);
                fuzzing::response_as(shape, v);
                for chunk in [3, 4096] {
                    fuzzing::stream_as(shape, v, chunk);
                }
                inputs += 1;
            }
        }
    }
    assert!(inputs > 1000, "corpus too small: {inputs} inputs");
}

#[test]
fn selector_entry_points_accept_anything() {
    for data in [
        &b""[..],
        b"\x00",
        b"\x03\x01",
        b"\xff\xff{",
        b"\x02\x05data: {\n\n",
    ] {
        fuzzing::request(data);
        fuzzing::response(data);
        fuzzing::stream(data);
    }
}

/// The committed corpus a campaign grew for `target` (`fuzz/corpus/<target>/`,
/// minimized with afl-cmin; see fuzz/README.md).
fn grown_corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn no_decoder_panics_on_the_grown_corpora() {
    type Target = fn(&[u8]);
    let targets: [(&str, Target); 3] = [
        ("request_decoders", fuzzing::request),
        ("response_decoders", fuzzing::response),
        ("stream_decoders", fuzzing::stream),
    ];
    for (target, run) in targets {
        let inputs = grown_corpus(target);
        assert!(inputs.len() >= 50, "{target}: {} inputs", inputs.len());
        for input in &inputs {
            run(input);
        }
    }
}
