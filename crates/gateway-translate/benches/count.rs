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
//! to cancel start-up.
#![allow(missing_docs)]

use std::hint::black_box;

use gateway_protocol::ApiShape;
use gateway_translate::{EncodeOptions, codec, fastpath};

const CHAT: &[u8] = include_bytes!("data/chat_request.json");
const ANTHROPIC: &[u8] = include_bytes!("data/anthropic_request.json");
const RESPONSES: &[u8] = include_bytes!("data/responses_request.json");

fn translate(from: ApiShape, to: ApiShape, body: &[u8]) -> Vec<u8> {
    let req = codec::decode_request(from, body).expect("reference body decodes");
    codec::encode_request(to, &req, &EncodeOptions::default()).expect("reference body encodes")
}

const PAIRS: [&str; 6] = [
    "chat_to_anthropic",
    "chat_to_gemini",
    "anthropic_to_chat",
    "responses_to_chat",
    "same_shape_set_model",
    "same_shape_force_usage",
];

/// Runs `name` `n` times; returns the bytes produced.
fn run(name: &str, n: usize) -> usize {
    let pair = match name {
        "chat_to_anthropic" => Some((ApiShape::OpenAiChat, ApiShape::Anthropic, CHAT)),
        "chat_to_gemini" => Some((ApiShape::OpenAiChat, ApiShape::Gemini, CHAT)),
        "anthropic_to_chat" => Some((ApiShape::Anthropic, ApiShape::OpenAiChat, ANTHROPIC)),
        "responses_to_chat" => Some((ApiShape::OpenAiResponses, ApiShape::OpenAiChat, RESPONSES)),
        _ => None,
    };
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
    println!("{name} x{n}: {} bytes", run(&name, n));
}
