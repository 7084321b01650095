//! Responses delta events (nearly all of a stream) read by hand, as the light view
//! ([`super::stream_view::LightEvent`]) would read them; any other event, or anything
//! left to serde, gives `None`. The values that change from event to event (the
//! delta, `sequence_number`, ids and other strings) are recorded as holes for the
//! decoder's [`Template`](crate::json_text::Template).

use std::borrow::Cow;

use crate::json_text::{Fields, Hole, Holes, Scan};

/// The label of the hole holding the delta.
pub(super) const DELTA: u8 = 1;

/// The delta events the decoder reads without the full decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeltaEvent {
    /// `response.output_text.delta` and `response.refusal.delta`.
    Text,
    /// `response.function_call_arguments.delta`.
    Arguments,
    /// `response.reasoning_summary_text.delta`.
    Summary,
    /// `response.reasoning_text.delta`.
    Reasoning,
}

impl DeltaEvent {
    /// The delta event of type `kind`, if it is one.
    pub(super) fn of(kind: &str) -> Option<DeltaEvent> {
        Some(match kind {
            "response.output_text.delta" | "response.refusal.delta" => DeltaEvent::Text,
            "response.function_call_arguments.delta" => DeltaEvent::Arguments,
            "response.reasoning_summary_text.delta" => DeltaEvent::Summary,
            "response.reasoning_text.delta" => DeltaEvent::Reasoning,
            _ => return None,
        })
    }
}

/// A delta event: which one, and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PlainDelta {
    pub(super) event: DeltaEvent,
    pub(super) output_index: Option<usize>,
    pub(super) content_index: Option<usize>,
}

/// Reads a delta event (its `type` in the JSON, a string `delta`, no nested object):
/// the event and its delta, or `None` for anything else.
pub(super) fn scan<'a>(data: &'a str, holes: &mut Holes) -> Option<(PlainDelta, Cow<'a, str>)> {
    let mut s = Scan::new(data);
    let mut kind = None;
    let mut delta = None;
    let (mut output_index, mut content_index) = (None, None);
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key {
            "type" => {
                seen.first(0)?;
                kind = Some(s.str()?);
            }
            "sequence_number" => {
                seen.first(1)?;
                s.u64_hole(holes, Hole::IGNORED)?;
            }
            "output_index" | "content_index" | "summary_index" => {
                let (bit, slot) = match key {
                    "output_index" => (2, Some(&mut output_index)),
                    "content_index" => (3, Some(&mut content_index)),
                    _ => (4, None),
                };
                seen.first(bit)?;
                let value = s.opt(|s| usize::try_from(s.u64()?).ok())?;
                if let Some(slot) = slot {
                    *slot = value;
                }
            }
            "delta" => {
                seen.first(5)?;
                delta = s.opt(|s| s.str_hole(holes, DELTA))?;
            }
            "item_id" | "text" | "refusal" | "name" | "arguments" | "code" | "message"
            | "param" => {
                let bit = 6 + [
                    "item_id",
                    "text",
                    "refusal",
                    "name",
                    "arguments",
                    "code",
                    "message",
                ]
                .iter()
                .position(|k| *k == key)
                .unwrap_or(7) as u32;
                seen.first(bit)?;
                s.opt(|s| s.str_hole(holes, Hole::IGNORED))?;
            }
            "logprobs" => {
                seen.first(14)?;
                s.opt(|s| s.array(Scan::skip))?;
            }
            // Nested objects take the full decode, unless absent.
            "response" | "item" | "part" | "error" => {
                let bit = match key {
                    "response" => 15,
                    "item" => 16,
                    "part" => 17,
                    _ => 18,
                };
                seen.first(bit)?;
                s.null().then_some(())?;
            }
            _ => s.skip_hole(holes)?,
        }
        Some(())
    })?;
    s.end()?;
    let plain = PlainDelta {
        event: DeltaEvent::of(&kind?)?,
        output_index,
        content_index,
    };
    Some((plain, delta?))
}
