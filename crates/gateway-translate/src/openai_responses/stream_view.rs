//! Borrowed views of Responses stream events, for the stream decoder's fast path on
//! delta events: the same fields and types as [`super::wire::Event`], nested objects only
//! noted as present (such events take the full decode through the wire types).

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};

/// A stream event read without building its nested objects: the same fields, with the
/// same types accepted, as [`super::wire::Event`]; nested objects are only noted as present
/// (such events take the full decode).
#[derive(Deserialize)]
pub(super) struct LightEvent<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: LightStr<'a>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) sequence_number: u64,
    #[serde(default)]
    pub(super) response: Option<Present>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) item_id: Option<AnyStr>,
    #[serde(default)]
    pub(super) output_index: Option<usize>,
    #[serde(default)]
    pub(super) content_index: Option<usize>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) summary_index: Option<usize>,
    #[serde(default)]
    pub(super) item: Option<Present>,
    #[serde(default)]
    pub(super) part: Option<Present>,
    #[serde(default, borrow)]
    pub(super) delta: Option<LightStr<'a>>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) text: Option<AnyStr>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) refusal: Option<AnyStr>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) name: Option<AnyStr>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) arguments: Option<AnyStr>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) logprobs: Option<AnySeq>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) code: Option<AnyStr>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) message: Option<AnyStr>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) param: Option<AnyStr>,
    #[serde(default)]
    pub(super) error: Option<Present>,
}

impl LightEvent<'_> {
    /// Whether a nested object is present (the full decode must check and read it).
    pub(super) fn heavy(&self) -> bool {
        self.response.is_some()
            || self.item.is_some()
            || self.part.is_some()
            || self.error.is_some()
    }
}

/// Any JSON value, skipped; its presence is what counts.
pub(super) struct Present;

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present)
    }
}

/// A JSON array of anything, skipped (what `Vec<Value>` accepts).
pub(super) struct AnySeq;

impl<'de> Deserialize<'de> for AnySeq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnySeq;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnySeq, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(AnySeq)
            }
        }
        d.deserialize_seq(V)
    }
}

/// False when `data` visibly starts with a `type` that is not a delta event (such
/// events skip the light read and go straight to the full decode).
pub(super) fn may_be_delta(data: &str) -> bool {
    match data.strip_prefix("{\"type\":\"") {
        Some(rest) => rest
            .split_once('"')
            .is_none_or(|(kind, _)| kind.contains('\\') || kind.ends_with(".delta")),
        None => true,
    }
}

/// A string, borrowed from the frame when it has no escapes.
pub(super) struct LightStr<'a>(pub(super) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for LightStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = LightStr<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<LightStr<'a>, E> {
                Ok(LightStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<LightStr<'a>, E> {
                Ok(LightStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<LightStr<'a>, E> {
                Ok(LightStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// A string, checked and skipped (what `String` accepts).
pub(super) struct AnyStr;

impl<'de> Deserialize<'de> for AnyStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AnyStr;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, _: &str) -> Result<AnyStr, E> {
                Ok(AnyStr)
            }
        }
        d.deserialize_str(V)
    }
}
