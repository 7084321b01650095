//! Property tests over the stream fixtures of every shape pair: the caller's bytes do
//! not depend on how the upstream's bytes were chunked.

use crate::support;

use gateway_protocol::ApiShape;
use gateway_translate::ResponseContext;
use gateway_translate::codec::Transcoder;
use proptest::prelude::*;

const PAIRS_FROM: [(ApiShape, &str, &str); 5] = [
    (ApiShape::OpenAiChat, "openai_chat", "stream.sse"),
    (ApiShape::OpenAiResponses, "openai_responses", "stream.sse"),
    (ApiShape::Anthropic, "anthropic", "stream.sse"),
    (ApiShape::Gemini, "gemini", "stream.sse"),
    (ApiShape::Ollama, "ollama", "stream.ndjson"),
];
const CALLERS: [ApiShape; 4] = [
    ApiShape::OpenAiChat,
    ApiShape::OpenAiResponses,
    ApiShape::Anthropic,
    ApiShape::Gemini,
];
const CASES: [&str; 4] = ["text", "tools", "reasoning", "multi_turn"];

fn transcode(upstream: ApiShape, caller: ApiShape, bytes: &[u8], sizes: &[usize]) -> Vec<u8> {
    let ctx = ResponseContext {
        created: 1_760_000_000,
        id_seed: "seed".into(),
        include_usage: true,
        ..ResponseContext::default()
    };
    let mut t = Transcoder::new(upstream, caller, &ctx);
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        t.push(&rest[..n], &mut out);
        rest = &rest[n..];
        i += 1;
    }
    t.finish(&mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_chunking_gives_the_same_caller_bytes(
        sizes in proptest::collection::vec(1usize..40, 1..8),
        case in 0..CASES.len(),
    ) {
        for (upstream, dir, file) in PAIRS_FROM {
            let bytes = std::fs::read(support::fixture(format!("{dir}/{}/{file}", CASES[case])))
                .expect("stream fixture");
            for caller in CALLERS {
                let whole = transcode(upstream, caller, &bytes, &[usize::MAX]);
                let chunked = transcode(upstream, caller, &bytes, &sizes);
                prop_assert_eq!(&whole, &chunked, "{} -> {}", upstream, caller);
            }
        }
    }
}
