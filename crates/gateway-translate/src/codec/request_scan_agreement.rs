//! The request decoders' hand readers agree with their serde paths: every JSON file
//! of the fixtures (and the bench bodies), and mutations of each (cut short, a byte
//! replaced, a member repeated, unusual numbers and strings added), give the same
//! canonical request, or the same refusal, whenever the hand reader reads them.

use std::path::Path;

use gateway_protocol::ApiShape;

/// Shapes whose request decoder has a hand reader, and its test hook.
type Both = fn(&str) -> Option<(String, String)>;

fn readers() -> [(ApiShape, Both); 3] {
    [
        (
            ApiShape::OpenAiChat,
            crate::openai_chat::request::decode_both,
        ),
        (ApiShape::Anthropic, crate::anthropic::request::decode_both),
        (
            ApiShape::OpenAiResponses,
            crate::openai_responses::request::decode_both,
        ),
    ]
}

/// Every `.json` file under the fixtures, and the bench bodies.
fn bodies() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![root.join("tests/fixtures"), root.join("benches/data")];
    let mut out = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    out.push(text);
                }
            }
        }
    }
    out
}

/// Members that test the reader's number, string and duplicate rules, spliced in
/// after the opening brace of a body or of its first message-like object.
const ODD_MEMBERS: [&str; 22] = [
    r#""temperature":0.7,"#,
    r#""temperature":1,"#,
    r#""temperature":-0,"#,
    r#""temperature":-0.0,"#,
    r#""temperature":1e2,"#,
    r#""temperature":0.1234567890123456,"#,
    r#""temperature":123456789012345,"#,
    r#""top_p":null,"#,
    r#""seed":-5,"#,
    r#""seed":-0,"#,
    r#""seed":9223372036854775808,"#,
    r#""seed":-9223372036854775808,"#,
    r#""seed":1.0,"#,
    r#""stop":["a","b\n"],"#,
    r#""stop":"\ud83c\udf89","#,
    r#""max_tokens":12,"#,
    r#""max_output_tokens":7,"#,
    r#""x_float":[1.5],"#,
    r#""x_obj":{"a":[1,{"b":null}],"c":"d"},"#,
    r#""text":"x\u0000y","#,
    r#""content":null,"#,
    r#""role":"user","#,
];

fn mutations(body: &str) -> Vec<String> {
    let bytes = body.as_bytes();
    let mut out = vec![body.to_owned(), format!(" {body}\n")];
    let step = (bytes.len() / 16).max(1);
    for at in (0..bytes.len()).step_by(step) {
        out.push(String::from_utf8_lossy(&bytes[..at]).into_owned());
        for b in [b'"', b'[', b'{', b'\\', b'1', b'-', b'.', b'}', b'n', 0x01] {
            let mut v = bytes.to_vec();
            v[at] = b;
            out.push(String::from_utf8_lossy(&v).into_owned());
        }
    }
    for (i, _) in body.match_indices('{').take(4) {
        let (head, tail) = body.split_at(i + 1);
        for member in ODD_MEMBERS {
            out.push(format!("{head}{member}{tail}"));
        }
        // The object's first member repeated.
        if let Some(end) = tail.find(",\"") {
            out.push(format!("{head}{},{tail}", &tail[..end]));
        }
    }
    out
}

#[test]
fn hand_readers_decode_requests_as_the_serde_paths_do() {
    let bodies = bodies();
    assert!(bodies.len() > 50, "{}", bodies.len());
    for (shape, both) in readers() {
        let (mut checked, mut read) = (0usize, 0usize);
        for body in &bodies {
            for text in mutations(body) {
                checked += 1;
                if let Some((scanned, serde)) = both(&text) {
                    read += 1;
                    assert_eq!(scanned, serde, "{shape:?}: {text}");
                }
            }
        }
        assert!(read > 500, "{shape:?}: read {read} of {checked}");
    }
}
