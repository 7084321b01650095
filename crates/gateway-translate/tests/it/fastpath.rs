//! The same-shape fast path over every shape's fixtures: the model edit changes only
//! the model, forced usage can be stripped again, and usage read on the side equals
//! what the full codecs decode.

use crate::support;

use gateway_protocol::{ApiShape, StreamEvent};
use gateway_translate::codec::{self, StreamDecoder};
use gateway_translate::framing::{Frame, Framing, write_sse};
use gateway_translate::usage_tap::{UsageTap, response_usage};
use gateway_translate::{ResponseContext, fastpath};

const SHAPES: [(ApiShape, &str); 5] = [
    (ApiShape::OpenAiChat, "openai_chat"),
    (ApiShape::OpenAiResponses, "openai_responses"),
    (ApiShape::Anthropic, "anthropic"),
    (ApiShape::Gemini, "gemini"),
    (ApiShape::Ollama, "ollama"),
];

fn stream_file(shape: ApiShape) -> &'static str {
    if shape == ApiShape::Ollama {
        "stream.ndjson"
    } else {
        "stream.sse"
    }
}

#[test]
fn model_edit_changes_only_the_model() {
    let mut checked = 0;
    for (shape, dir) in SHAPES {
        if shape == ApiShape::Gemini {
            continue; // the model is in the URL
        }
        for case in support::cases(dir) {
            let Some(body) = support::read_opt(&case.join("request.json")) else {
                continue;
            };
            let edited = fastpath::set_model(&body, "routed-model").expect("edits");
            let before = codec::decode_request(shape, &body).expect("fixture decodes");
            let after = codec::decode_request(shape, &edited).expect("edited body decodes");
            assert_eq!(after.model, "routed-model", "{}", case.display());
            let mut expected = before;
            expected.model = "routed-model".into();
            assert_eq!(
                after,
                expected,
                "{}: more than the model changed",
                case.display()
            );
            // Bytes outside the model's value are untouched.
            let old = fastpath::get_member(&body, "model")
                .expect("scans")
                .expect("has model");
            let start = old.as_ptr() as usize - body.as_ptr() as usize;
            assert_eq!(&edited[..start], &body[..start]);
            assert_eq!(
                &edited[start + "\"routed-model\"".len()..],
                &body[start + old.len()..]
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} fixtures");
}

#[test]
fn forced_usage_is_stripped_for_callers_that_did_not_ask() {
    let body = br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;
    let forced = fastpath::force_include_usage(body).expect("edits");
    assert!(!forced.caller_asked);
    let sent = codec::decode_request(ApiShape::OpenAiChat, &forced.body).expect("decodes");
    assert!(sent.include_usage, "the upstream is asked for usage");

    // The upstream stream carries the usage chunk; relaying it frame by frame without
    // that chunk leaves a stream with no usage while the tap still reads it.
    let upstream = std::fs::read(support::fixture("openai_chat/text/stream.sse")).expect("fixture");
    let mut tap = UsageTap::new(ApiShape::OpenAiChat);
    let mut relayed = Vec::new();
    let mut dropped = 0;
    for frame in support::frames(Framing::Sse, &upstream) {
        tap.observe(&frame);
        if fastpath::is_usage_only_chunk(frame.data.as_bytes()) {
            dropped += 1;
            continue;
        }
        write_sse(&mut relayed, frame.event.as_deref(), frame.data.as_bytes());
    }
    assert_eq!(dropped, 1);
    let relayed = String::from_utf8(relayed).expect("utf-8");
    assert!(!relayed.contains("\"prompt_tokens\""), "{relayed}");
    assert!(relayed.ends_with("data: [DONE]\n\n"));
    assert_eq!(tap.usage().map(|u| u.total_tokens()), Some(12));
}

#[test]
fn usage_read_on_the_side_matches_the_codecs() {
    let ctx = ResponseContext {
        id_seed: "seed".into(),
        ..ResponseContext::default()
    };
    let mut checked = 0;
    for (shape, dir) in SHAPES {
        for case in support::cases(dir) {
            if let Some(body) = support::read_opt(&case.join("response.json")) {
                if let Ok(resp) = codec::decode_response(shape, &body, &ctx) {
                    assert_eq!(
                        response_usage(shape, &body).unwrap_or_default(),
                        resp.usage,
                        "{}",
                        case.display()
                    );
                    checked += 1;
                }
            }
            let Some(stream) = support::read_opt(&case.join(stream_file(shape))) else {
                continue;
            };
            let framing = codec::upstream_framing(shape);
            let frames: Vec<Frame> = support::frames(framing, &stream);
            let mut decoder = StreamDecoder::new(shape, &ctx);
            let mut events = Vec::new();
            let mut tap = UsageTap::new(shape);
            for frame in &frames {
                tap.observe(frame);
                if decoder.decode(frame, &mut events).is_err() {
                    break;
                }
            }
            decoder.finish(&mut events);
            let decoded = events.iter().rev().find_map(|e| match e {
                StreamEvent::Usage(u) => Some(*u),
                _ => None,
            });
            if let Some(usage) = decoded {
                assert_eq!(tap.usage(), Some(usage), "{} stream", case.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 80, "only {checked} fixtures compared");
}
