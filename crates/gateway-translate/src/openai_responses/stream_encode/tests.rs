//! The hand-written delta events against the serialised ones they replace.

use super::*;

/// `response.output_text.delta` as it was serialised, in the key order of
/// [`wire::Event`].
#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    delta: &'a str,
    logprobs: [u8; 0],
}

/// The other `*.delta` events as they were serialised.
#[derive(Serialize)]
struct IndexedDelta<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_index: Option<usize>,
    delta: &'a str,
}

/// The hand-written delta events are byte for byte the serialised ones.
#[test]
fn written_deltas_are_the_serialised_events() {
    for text in ["plain", "quote \" slash \\ nl \n ctl \u{1} é 🎉", ""] {
        let item_id = format!("msg_{text}");
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let kind = "response.output_text.delta";
        let head = DeltaHead {
            kind,
            sequence_number: 12,
            item_id: &item_id,
            output_index: 3,
            index: Some(("content_index", 4)),
            logprobs: true,
        };
        write_delta(&mut ours, head, text);
        let event = TextDelta {
            kind,
            sequence_number: 12,
            item_id: &item_id,
            output_index: 3,
            content_index: 4,
            delta: text,
            logprobs: [],
        };
        write_event(&mut theirs, kind, &event);
        for (kind, summary_index) in [
            ("response.function_call_arguments.delta", None),
            ("response.reasoning_summary_text.delta", Some(0)),
        ] {
            let head = DeltaHead {
                kind,
                sequence_number: 0,
                item_id: &item_id,
                output_index: 10,
                index: summary_index.map(|i| ("summary_index", i)),
                logprobs: false,
            };
            write_delta(&mut ours, head, text);
            let event = IndexedDelta {
                kind,
                sequence_number: 0,
                item_id: &item_id,
                output_index: 10,
                summary_index,
                delta: text,
            };
            write_event(&mut theirs, kind, &event);
        }
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
    }
}
