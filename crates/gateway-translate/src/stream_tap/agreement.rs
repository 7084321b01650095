//! The tap that measures content deltas gives the tally of the tap that decodes every
//! frame, after every frame and at the end: over every fixture stream of every shape,
//! and variants of each (a frame mutated as in `codec::scan_agreement`, its texts
//! replaced by escaped or empty ones, or another frame of the stream spliced in),
//! each followed by the rest of the stream.

use gateway_protocol::ApiShape;

use super::StreamTap;
use crate::codec::scan_agreement::{fixture_streams, mutations};
use crate::context::ResponseContext;
use crate::framing::Frame;

/// Texts a delta may carry that change its length once unescaped, or empty it.
const TEXTS: [&str; 5] = [
    r#""""#,
    r#""x""#,
    r#""a\"b\\n\u00e9\ud83c\udf89 é/\/""#,
    r#""\ud800""#,
    "\"raw\u{1}control\"",
];

/// Members whose string value is the output a delta carries, in some shape.
const TEXT_KEYS: [&str; 7] = [
    "\"content\":",
    "\"reasoning_content\":",
    "\"refusal\":",
    "\"text\":",
    "\"thinking\":",
    "\"partial_json\":",
    "\"arguments\":",
];

/// `data` with the string value of one text member replaced by each of [`TEXTS`].
fn texts_replaced(data: &str) -> Vec<String> {
    let mut out = Vec::new();
    for key in TEXT_KEYS {
        for (at, _) in data.match_indices(key) {
            let start = at + key.len();
            let Some(end) = string_end(data, start) else {
                continue;
            };
            for text in TEXTS {
                out.push(format!("{}{text}{}", &data[..start], &data[end..]));
            }
        }
    }
    out
}

/// The end (one past the closing quote) of the JSON string starting at `start`.
fn string_end(data: &str, start: usize) -> Option<usize> {
    let bytes = data.as_bytes();
    if bytes.get(start) != Some(&b'"') {
        return None;
    }
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Streams in orders the fixtures do not have, where a delta of the template's form
/// comes while another part is open: its decode would change what is open.
fn unusual_orders(shape: ApiShape) -> Vec<Vec<Frame>> {
    let chat = |delta: &str| {
        format!(
            r#"{{"id":"s","object":"chat.completion.chunk","created":1,"model":"m","choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":null}}]}}"#
        )
    };
    let anthropic = |index: u32, kind: &str, member: &str, text: &str| {
        format!(
            r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"{kind}","{member}":"{text}"}}}}"#
        )
    };
    let streams: Vec<Vec<(Option<&str>, String)>> = match shape {
        ApiShape::OpenAiChat => vec![vec![
            (None, chat(r#"{"role":"assistant","content":""}"#)),
            (None, chat(r#"{"content":"Hi"}"#)),
            (
                None,
                chat(
                    r#"{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}"#,
                ),
            ),
            (None, chat(r#"{"content":"there"}"#)),
            (
                None,
                chat(r#"{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}"#),
            ),
            (None, chat(r#"{"reasoning_content":"hm"}"#)),
            (None, chat(r#"{"content":"x"}"#)),
            (None, chat(r#"{"reasoning_content":"hm2"}"#)),
            (None, chat(r#"{"reasoning_content":"hm3"}"#)),
            (None, chat(r#"{"content":""}"#)),
            (
                None,
                r#"{"id":"s","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#.to_owned(),
            ),
            (None, "[DONE]".to_owned()),
        ]],
        ApiShape::Anthropic => {
            let start = |index: u32, block: &str| {
                format!(
                    r#"{{"type":"content_block_start","index":{index},"content_block":{block}}}"#
                )
            };
            let stop = |index: u32| format!(r#"{{"type":"content_block_stop","index":{index}}}"#);
            vec![vec![
                (
                    Some("message_start"),
                    r#"{"type":"message_start","message":{"id":"msg_s","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}"#.to_owned(),
                ),
                (Some("content_block_start"), start(0, r#"{"type":"text","text":""}"#)),
                (Some("content_block_delta"), anthropic(0, "text_delta", "text", "a")),
                (Some("content_block_stop"), stop(0)),
                (Some("content_block_delta"), anthropic(0, "text_delta", "text", "b")),
                (
                    Some("content_block_start"),
                    start(1, r#"{"type":"thinking","thinking":""}"#),
                ),
                (Some("content_block_delta"), anthropic(1, "thinking_delta", "thinking", "t")),
                (Some("content_block_delta"), anthropic(1, "signature_delta", "signature", "s1")),
                (Some("content_block_delta"), anthropic(1, "signature_delta", "signature", "s2")),
                (Some("content_block_stop"), stop(1)),
                (Some("content_block_start"), start(2, r#"{"type":"text","text":""}"#)),
                (Some("content_block_delta"), anthropic(2, "text_delta", "text", "c")),
                (Some("content_block_delta"), anthropic(1, "thinking_delta", "thinking", "late")),
                (Some("content_block_delta"), anthropic(2, "text_delta", "text", "d")),
                (Some("content_block_stop"), stop(2)),
                (
                    Some("message_delta"),
                    r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}}"#.to_owned(),
                ),
                (Some("message_stop"), r#"{"type":"message_stop"}"#.to_owned()),
            ]]
        }
        _ => Vec::new(),
    };
    streams
        .into_iter()
        .map(|frames| {
            frames
                .into_iter()
                .map(|(event, data)| Frame {
                    event: event.map(str::to_owned),
                    data,
                })
                .collect()
        })
        .collect()
}

/// Feeds `frames` to both taps, comparing their tallies after each frame and at the
/// end; how many frames the measuring tap measured.
fn agree<'a>(
    mut fast: StreamTap,
    mut slow: StreamTap,
    frames: impl IntoIterator<Item = &'a Frame>,
    what: &dyn Fn() -> String,
) -> usize {
    let mut measured = 0;
    for frame in frames {
        measured += usize::from(fast.observe(frame.into()));
        assert!(!slow.observe(frame.into()));
        assert_eq!(fast.tally(), slow.tally(), "{}: after {frame:?}", what());
    }
    fast.finish();
    slow.finish();
    assert_eq!(fast.tally(), slow.tally(), "{}: at the end", what());
    measured
}

#[test]
fn measuring_deltas_gives_the_tally_of_decoding_every_frame() {
    let ctx = ResponseContext {
        model: "ctx-model".into(),
        id_seed: "seed".into(),
        ..ResponseContext::default()
    };
    for shape in ApiShape::ALL {
        let (mut measured, mut variants) = (0usize, 0usize);
        let mut streams = fixture_streams(shape);
        for (n, frames) in unusual_orders(shape).into_iter().enumerate() {
            streams.push((format!("unusual order {n}").into(), frames));
        }
        for (path, frames) in streams {
            let fresh = || {
                (
                    StreamTap::new(shape, &ctx),
                    StreamTap::new(shape, &ctx).decoding_every_frame(),
                )
            };
            let (fast, slow) = fresh();
            measured += agree(fast, slow, &frames, &|| path.display().to_string());
            for (i, frame) in frames.iter().enumerate() {
                // Both taps just before frame `i`.
                let (mut fast, mut slow) = fresh();
                for before in &frames[..i] {
                    fast.observe(before.into());
                    slow.observe(before.into());
                }
                let mut datas = mutations(&frame.data);
                datas.extend(texts_replaced(&frame.data));
                let mut replacements: Vec<Frame> = datas
                    .into_iter()
                    .map(|data| Frame {
                        event: frame.event.clone(),
                        data,
                    })
                    .collect();
                // Another frame of the stream (or this one again) spliced in.
                replacements.extend(frames.iter().cloned());
                for replacement in &replacements {
                    let rest = std::iter::once(replacement).chain(&frames[i..]);
                    let what =
                        || format!("{}, frame {i} replaced by {replacement:?}", path.display());
                    measured += agree(fast.clone(), slow.clone(), rest, &what);
                    variants += 1;
                }
            }
        }
        assert!(variants > 2000, "{shape:?}: {variants} variants");
        // The measuring path is exercised where it exists.
        if matches!(shape, ApiShape::OpenAiChat | ApiShape::Anthropic) {
            assert!(measured > 1000, "{shape:?}: {measured} measured");
        } else {
            assert_eq!(measured, 0, "{shape:?}");
        }
    }
}
