//! The stream decoders' hand-written frame scanners agree with their serde paths:
//! every frame of every fixture stream of a shape (what upstreams send and what the
//! shape's own encoder writes), and mutations of each frame (cut short, a byte
//! replaced, a key repeated, a float added), give the same events and the same
//! result with the scanner as without it, from the same decoder state.

use std::path::{Path, PathBuf};

use gateway_protocol::ApiShape;

use super::StreamDecoder;
use crate::context::ResponseContext;
use crate::framing::{Frame, Framer, Framing};

fn fixture_dir(shape: ApiShape) -> PathBuf {
    let name = match shape {
        ApiShape::OpenAiChat => "openai_chat",
        ApiShape::OpenAiResponses => "openai_responses",
        ApiShape::Anthropic => "anthropic",
        ApiShape::Gemini => "gemini",
        ApiShape::Ollama => "ollama",
        ApiShape::Bedrock => "bedrock",
        ApiShape::Cohere => "cohere",
    };
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Every stream file of the shape's fixtures, framed.
pub(crate) fn fixture_streams(shape: ApiShape) -> Vec<(PathBuf, Vec<Frame>)> {
    let mut streams = Vec::new();
    for case in std::fs::read_dir(fixture_dir(shape))
        .expect("fixtures")
        .flatten()
    {
        for file in std::fs::read_dir(case.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = file.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let framing = match name {
                "stream.sse" | "stream.encoded.sse" => Framing::Sse,
                "stream.ndjson" | "stream.encoded.ndjson" => Framing::Ndjson,
                "stream.json" => Framing::JsonArray,
                "stream.eventstream" => Framing::EventStream,
                _ => continue,
            };
            let bytes = std::fs::read(&path).expect("readable fixture");
            let mut framer = Framer::new(framing);
            let mut frames = Vec::new();
            // A fixture may hold a frame too large on purpose: keep what came before.
            let _ = framer.push(&bytes, &mut frames);
            framer.finish(&mut frames);
            streams.push((path, frames));
        }
    }
    streams
}

/// The frame's data and variants of it that are each a little wrong or unusual.
pub(crate) fn mutations(data: &str) -> Vec<String> {
    let bytes = data.as_bytes();
    let mut out = vec![data.to_owned(), format!(" {data} ")];
    let step = (bytes.len() / 12).max(1);
    for at in (0..bytes.len()).step_by(step) {
        out.push(String::from_utf8_lossy(&bytes[..at]).into_owned());
        for b in [
            b'"', b'[', b'{', b'\\', b'1', b'-', b'.', b'}', b'n', 0x01, b' ',
        ] {
            let mut v = bytes.to_vec();
            v[at] = b;
            out.push(String::from_utf8_lossy(&v).into_owned());
        }
    }
    if let Some(rest) = data.strip_prefix('{') {
        out.push(format!(r#"{{"x_float":1.5,{rest}"#));
        out.push(format!(r#"{{"x_nested":{{"a":[1,{{"b":null}}]}},{rest}"#));
        out.push(format!(r#"{{"x_escaped":"\ud83c\udf89\n",{rest}"#));
        // The first member repeated.
        if let Some(end) = rest.find(",\"") {
            out.push(format!("{{{},{rest}", &rest[..end]));
        }
    }
    out
}

fn outcome(decoder: &mut StreamDecoder, frame: &Frame) -> String {
    let mut events = Vec::new();
    let result = decoder.decode(frame, &mut events);
    format!("{result:?} {events:?}")
}

#[test]
fn scanners_read_every_frame_as_the_serde_paths_do() {
    let ctx = ResponseContext {
        model: "ctx-model".into(),
        id_seed: "seed".into(),
        ..ResponseContext::default()
    };
    for shape in ApiShape::ALL {
        let streams = fixture_streams(shape);
        assert!(!streams.is_empty(), "{shape:?} has stream fixtures");
        let mut checked = 0usize;
        for (path, frames) in streams {
            let mut fast = StreamDecoder::new(shape, &ctx);
            let mut slow = StreamDecoder::new(shape, &ctx).without_scanner();
            for frame in &frames {
                for data in mutations(&frame.data) {
                    for event in [frame.event.clone(), None] {
                        let variant = Frame {
                            event,
                            data: data.clone(),
                        };
                        assert_eq!(
                            outcome(&mut fast.clone(), &variant),
                            outcome(&mut slow.clone(), &variant),
                            "{}: {variant:?}",
                            path.display()
                        );
                        checked += 1;
                    }
                }
                assert_eq!(outcome(&mut fast, frame), outcome(&mut slow, frame));
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            fast.finish(&mut a);
            slow.finish(&mut b);
            assert_eq!(a, b, "{}", path.display());
        }
        assert!(checked > 5000, "{shape:?}: {checked}");
    }
}
