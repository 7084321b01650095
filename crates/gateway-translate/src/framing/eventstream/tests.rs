//! The event stream codec against published bytes, every chunking, and broken input.

use super::*;

/// `{"foo": "bar"}` with no headers, and with `content-type: application/json`: the
/// exact bytes (lengths and both CRCs) the `event_stream` Elixir package documents
/// for its encoder, an encoding written independently of this one.
const PAYLOAD: &[u8] = br#"{"foo": "bar"}"#;

fn published_plain() -> Vec<u8> {
    let mut v = vec![0, 0, 0, 30, 0, 0, 0, 0, 186, 242, 246, 138];
    v.extend_from_slice(PAYLOAD);
    v.extend_from_slice(&[174, 114, 88, 228]);
    v
}

fn published_with_header() -> Vec<u8> {
    let mut v = vec![0, 0, 0, 62, 0, 0, 0, 32, 64, 93, 249, 70, 12];
    v.extend_from_slice(b"content-type");
    v.extend_from_slice(&[7, 0, 16]);
    v.extend_from_slice(b"application/json");
    v.extend_from_slice(PAYLOAD);
    v.extend_from_slice(&[111, 162, 191, 59]);
    v
}

#[test]
fn encodes_the_published_bytes() {
    let mut out = Vec::new();
    encode(&[], PAYLOAD, &mut out);
    assert_eq!(out, published_plain());
    let mut out = Vec::new();
    encode(
        &[Header::string("content-type", "application/json")],
        PAYLOAD,
        &mut out,
    );
    assert_eq!(out, published_with_header());
}

#[test]
fn decodes_the_published_bytes() {
    let m = decode(&published_with_header()).unwrap();
    assert_eq!(m.payload, PAYLOAD);
    assert_eq!(m.string_header("content-type"), Some("application/json"));
    assert_eq!(decode(&published_plain()).unwrap().headers, []);
}

fn every_type() -> Vec<Header> {
    let h = |name: &str, value| Header {
        name: name.to_owned(),
        value,
    };
    vec![
        h("t", HeaderValue::Bool(true)),
        h("f", HeaderValue::Bool(false)),
        h("byte", HeaderValue::Byte(-3)),
        h("short", HeaderValue::Short(-300)),
        h("int", HeaderValue::Int(70_000)),
        h("long", HeaderValue::Long(-5_000_000_000)),
        h("bytes", HeaderValue::Bytes(vec![0, 1, 255])),
        h(":event-type", HeaderValue::String("messageStart".into())),
        h("ts", HeaderValue::Timestamp(1_700_000_000_123)),
        h("id", HeaderValue::Uuid([7; 16])),
    ]
}

#[test]
fn every_header_type_round_trips_through_any_chunking() {
    let mut bytes = Vec::new();
    encode(&every_type(), b"{\"a\":1}", &mut bytes);
    encode(&[], b"", &mut bytes);
    encode(&[Header::string(":event-type", "x")], b"second", &mut bytes);
    for size in 1..=bytes.len() {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for chunk in bytes.chunks(size) {
            d.push(chunk, &mut out).unwrap();
        }
        d.finish().unwrap();
        assert_eq!(out.len(), 3, "chunk {size}");
        assert_eq!(out[0].headers, every_type());
        assert_eq!(out[0].payload, b"{\"a\":1}");
        assert_eq!(out[1], Message::default());
        assert_eq!(out[2].payload, b"second");
    }
}

#[test]
fn a_flipped_bit_is_a_crc_error_and_the_decoder_stays_failed() {
    let good = published_with_header();
    let mut bad = good.clone();
    bad[20] ^= 1;
    let mut d = Decoder::default();
    let err = d.push(&bad, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, EventStreamError::MessageCrc { .. }), "{err}");
    assert_eq!(d.push(&good, &mut Vec::new()), Err(err));

    let mut bad = good.clone();
    bad[3] ^= 1;
    let err = Decoder::default().push(&bad, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, EventStreamError::PreludeCrc { .. }), "{err}");
}

/// A prelude with a valid CRC over the given lengths.
fn prelude(total: u32, headers: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&headers.to_be_bytes());
    let crc = crc32fast::hash(&v);
    v.extend_from_slice(&crc.to_be_bytes());
    v
}

#[test]
fn impossible_lengths_are_refused_before_anything_is_buffered() {
    let cases = [
        (prelude(15, 0), "fewer than the 16"),
        (prelude(40, 30), "does not fit"),
        (prelude(200_000, 140_000), "does not fit"),
        (prelude(1 << 30, 0), "larger than the limit"),
    ];
    for (bytes, words) in cases {
        let mut d = Decoder::with_limit(1 << 20);
        let err = d.push(&bytes, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains(words), "{err}");
    }
}

#[test]
fn a_stream_cut_inside_a_message_is_truncated_at_finish() {
    let bytes = published_plain();
    let mut d = Decoder::default();
    d.push(&bytes[..20], &mut Vec::new()).unwrap();
    assert_eq!(
        d.finish(),
        Err(EventStreamError::Truncated {
            missing: bytes.len() - 20
        })
    );
    let mut d = Decoder::default();
    d.push(&bytes[..5], &mut Vec::new()).unwrap();
    assert_eq!(d.finish(), Err(EventStreamError::Truncated { missing: 7 }));
}

#[test]
fn headers_that_run_past_their_section_are_refused() {
    // A string header whose declared length passes the headers section.
    let headers = [1, b'a', 7, 0, 9, b'x'];
    let mut bytes = prelude(16 + 6, 6);
    bytes.extend_from_slice(&headers);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_be_bytes());
    let err = decode(&bytes).unwrap_err();
    assert!(matches!(err, EventStreamError::BadHeader(_)), "{err}");
}

#[test]
fn the_framer_names_events_exceptions_and_errors() {
    let mut bytes = Vec::new();
    let event = [
        Header::string(":event-type", "contentBlockDelta"),
        Header::string(":content-type", "application/json"),
        Header::string(":message-type", "event"),
    ];
    encode(&event, br#"{"contentBlockIndex":0}"#, &mut bytes);
    let exception = [
        Header::string(":exception-type", "throttlingException"),
        Header::string(":content-type", "application/json"),
        Header::string(":message-type", "exception"),
    ];
    encode(&exception, br#"{"message":"slow down"}"#, &mut bytes);
    let error = [
        Header::string(":error-code", "InternalFailure"),
        Header::string(":error-message", "it broke"),
        Header::string(":message-type", "error"),
    ];
    encode(&error, b"", &mut bytes);
    let mut p = EventStreamParser::default();
    let mut frames = Vec::new();
    for chunk in bytes.chunks(7) {
        p.push(chunk, &mut frames).unwrap();
    }
    p.finish(&mut frames);
    let seen: Vec<(Option<&str>, &str)> = frames
        .iter()
        .map(|f| (f.event.as_deref(), f.data.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (Some("contentBlockDelta"), r#"{"contentBlockIndex":0}"#),
            (
                Some("exception:throttlingException"),
                r#"{"message":"slow down"}"#
            ),
            (Some("error:InternalFailure"), "it broke"),
        ]
    );
}

#[test]
fn the_framer_reports_a_broken_stream_once_and_then_nothing() {
    let mut bytes = published_plain();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    bytes.extend_from_slice(&published_plain());
    let mut p = EventStreamParser::default();
    let mut frames = Vec::new();
    p.push(&bytes, &mut frames).unwrap();
    p.push(&published_plain(), &mut frames).unwrap();
    p.finish(&mut frames);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].event.as_deref(), Some(CORRUPT_EVENT));
    assert!(frames[0].data.contains("CRC"), "{:?}", frames[0]);

    // Cut short: reported at finish.
    let mut p = EventStreamParser::default();
    let mut frames = Vec::new();
    p.push(&published_plain()[..25], &mut frames).unwrap();
    p.finish(&mut frames);
    assert_eq!(frames[0].event.as_deref(), Some(CORRUPT_EVENT));
    assert!(frames[0].data.contains("short"), "{:?}", frames[0]);
}

#[test]
fn a_message_over_the_limit_fails_like_the_other_framers() {
    let mut bytes = Vec::new();
    encode(&[], &[b'x'; 100], &mut bytes);
    let mut p = EventStreamParser::with_limit(64);
    assert_eq!(
        p.push(&bytes, &mut Vec::new()),
        Err(FrameTooLarge { limit: 64 })
    );
}
