//! Borrowed views of streamed Gemini chunks, for the stream decoder's fast path.
//!
//! A chunk is parsed straight from its text into these views: strings borrow from the
//! frame when they hold no escapes, unused fields are checked but not kept. The views
//! accept exactly what the reference path (parse into a `serde_json::Value`, then into
//! [`Response`]) accepts, or less: anything unusual (duplicate or alias-duplicate
//! keys, structs written as arrays, a top-level `error`) is refused here, and the
//! decoder then runs the reference path, which gives the same answer and the same
//! errors as before. Skipped values go through [`Checked`], which parses them as
//! `Value` would (nesting limit, number range, string escapes) without keeping them.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::wire::{self, Blob, EnumValue, FileData, FunctionCall, FunctionResponse};
use super::wire_response::{PromptFeedback, Response, UsageMetadata};
use crate::borrow::Str;

/// serde_json's marker key for raw values; `Value` treats an object whose first key is
/// this specially, so the fast path leaves such input to the reference path.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

fn refuse<E: de::Error>() -> E {
    E::custom("left to the reference decoder")
}

/// Reads the next key, refusing the raw-value marker.
fn next_key<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Cow<'de, str>>, A::Error> {
    match map.next_key::<Str<'de>>()? {
        Some(Str(k)) if k == RAW_VALUE_TOKEN => Err(refuse()),
        Some(Str(k)) => Ok(Some(k)),
        None => Ok(None),
    }
}

/// Marks field `bit` as seen; a second sighting (or its alias) is refused.
fn seen<E: de::Error>(mask: &mut u32, bit: u32) -> Result<(), E> {
    if *mask & (1 << bit) != 0 {
        return Err(refuse());
    }
    *mask |= 1 << bit;
    Ok(())
}

/// Any JSON value, parsed as `serde_json::Value` would parse it, then dropped.
pub(crate) struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_none<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Checked, D::Error> {
        Checked::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while next_key(&mut map)?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

/// Parses a value as `Value` and checks it converts to `T` (as the reference path does).
fn value_as<'de, T: DeserializeOwned, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<T>, A::Error> {
    match map.next_value::<Option<Value>>()? {
        None => Ok(None),
        Some(v) => serde_json::from_value(v).map(Some).map_err(|_| refuse()),
    }
}

/// One streamed chunk: what the decoder reads of a `GenerateContentResponse`.
#[derive(Debug, Default)]
pub(crate) struct ChunkView<'a> {
    /// The first candidate (the others are checked and dropped).
    pub candidate: Option<CandidateView<'a>>,
    /// `promptFeedback`.
    pub prompt_feedback: Option<PromptFeedback>,
    /// `usageMetadata`.
    pub usage_metadata: Option<UsageMetadata>,
    /// `modelVersion`.
    pub model_version: Option<Cow<'a, str>>,
    /// `responseId`.
    pub response_id: Option<Cow<'a, str>>,
}

/// One candidate.
#[derive(Debug, Default)]
pub(crate) struct CandidateView<'a> {
    /// The content's parts (empty without content).
    pub parts: Vec<PartView<'a>>,
    /// `finishReason`.
    pub finish_reason: Option<EnumValue>,
}

/// The fields of a part the decoder reads.
#[derive(Debug, Default)]
pub(crate) struct PartView<'a> {
    /// `text`.
    pub text: Option<Cow<'a, str>>,
    /// `thought`.
    pub thought: Option<bool>,
    /// `thoughtSignature`.
    pub thought_signature: Option<Cow<'a, str>>,
    /// `functionCall`.
    pub function_call: Option<FunctionCall>,
}

impl<'de> Deserialize<'de> for ChunkView<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ChunkView<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a response chunk")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ChunkView<'de>, A::Error> {
                let mut out = ChunkView::default();
                let mut mask = 0u32;
                while let Some(key) = next_key(&mut map)? {
                    match key.as_ref() {
                        "candidates" => {
                            seen(&mut mask, 0)?;
                            out.candidate = map.next_value_seed(FirstCandidate)?;
                        }
                        "promptFeedback" | "prompt_feedback" => {
                            seen(&mut mask, 1)?;
                            out.prompt_feedback = value_as(&mut map)?;
                        }
                        "usageMetadata" | "usage_metadata" => {
                            seen(&mut mask, 2)?;
                            out.usage_metadata =
                                map.next_value::<Option<UsageView>>()?.map(|u| u.0);
                        }
                        "modelVersion" | "model_version" => {
                            seen(&mut mask, 3)?;
                            out.model_version = map.next_value::<Option<Str<'de>>>()?.map(|s| s.0);
                        }
                        "responseId" | "response_id" => {
                            seen(&mut mask, 4)?;
                            out.response_id = map.next_value::<Option<Str<'de>>>()?.map(|s| s.0);
                        }
                        // An error envelope: the reference path reports it.
                        "error" => return Err(refuse()),
                        _ => {
                            map.next_value::<Checked>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// `candidates`: keeps the first, checks the rest.
struct FirstCandidate;

impl<'de> DeserializeSeed<'de> for FirstCandidate {
    type Value = Option<CandidateView<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for FirstCandidate {
    type Value = Option<CandidateView<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of candidates")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let first = seq.next_element::<CandidateView<'de>>()?;
        while seq.next_element::<CandidateView<'de>>()?.is_some() {}
        Ok(first)
    }
}

impl<'de> Deserialize<'de> for CandidateView<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CandidateView<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a candidate")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<CandidateView<'de>, A::Error> {
                let mut out = CandidateView::default();
                let mut mask = 0u32;
                while let Some(key) = next_key(&mut map)? {
                    match key.as_ref() {
                        "content" => {
                            seen(&mut mask, 0)?;
                            if let Some(c) = map.next_value::<Option<ContentView<'de>>>()? {
                                out.parts = c.0;
                            }
                        }
                        "finishReason" | "finish_reason" => {
                            seen(&mut mask, 1)?;
                            out.finish_reason = map.next_value()?;
                        }
                        "index" => {
                            seen(&mut mask, 2)?;
                            map.next_value::<Option<u64>>()?;
                        }
                        _ => {
                            map.next_value::<Checked>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// A `Content`'s parts (the role is checked, not kept).
struct ContentView<'a>(Vec<PartView<'a>>);

impl<'de> Deserialize<'de> for ContentView<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ContentView<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a content")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ContentView<'de>, A::Error> {
                let mut parts = Vec::new();
                let mut mask = 0u32;
                while let Some(key) = next_key(&mut map)? {
                    match key.as_ref() {
                        "role" => {
                            seen(&mut mask, 0)?;
                            map.next_value::<Option<Str<'de>>>()?;
                        }
                        "parts" => {
                            seen(&mut mask, 1)?;
                            parts = map.next_value()?;
                        }
                        _ => {
                            map.next_value::<Checked>()?;
                        }
                    }
                }
                Ok(ContentView(parts))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for PartView<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PartView<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a part")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PartView<'de>, A::Error> {
                let mut out = PartView::default();
                let mut mask = 0u32;
                while let Some(key) = next_key(&mut map)? {
                    match key.as_ref() {
                        "text" => {
                            seen(&mut mask, 0)?;
                            out.text = map.next_value::<Option<Str<'de>>>()?.map(|s| s.0);
                        }
                        "thought" => {
                            seen(&mut mask, 1)?;
                            out.thought = map.next_value()?;
                        }
                        "thoughtSignature" | "thought_signature" => {
                            seen(&mut mask, 2)?;
                            out.thought_signature =
                                map.next_value::<Option<Str<'de>>>()?.map(|s| s.0);
                        }
                        "functionCall" | "function_call" => {
                            seen(&mut mask, 3)?;
                            out.function_call = value_as(&mut map)?;
                        }
                        "inlineData" | "inline_data" => {
                            seen(&mut mask, 4)?;
                            value_as::<Blob, _>(&mut map)?;
                        }
                        "fileData" | "file_data" => {
                            seen(&mut mask, 5)?;
                            value_as::<FileData, _>(&mut map)?;
                        }
                        "functionResponse" | "function_response" => {
                            seen(&mut mask, 6)?;
                            value_as::<FunctionResponse, _>(&mut map)?;
                        }
                        "executableCode" | "executable_code" => {
                            seen(&mut mask, 7)?;
                            map.next_value::<Checked>()?;
                        }
                        "codeExecutionResult" | "code_execution_result" => {
                            seen(&mut mask, 8)?;
                            map.next_value::<Checked>()?;
                        }
                        _ => {
                            map.next_value::<Checked>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// `usageMetadata`, read without a tree.
struct UsageView(UsageMetadata);

impl<'de> Deserialize<'de> for UsageView {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UsageView;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("usage metadata")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UsageView, A::Error> {
                let mut u = UsageMetadata::default();
                let mut mask = 0u32;
                while let Some(key) = next_key(&mut map)? {
                    let (bit, slot) = match key.as_ref() {
                        "promptTokenCount" | "prompt_token_count" => (0, &mut u.prompt_token_count),
                        "cachedContentTokenCount" | "cached_content_token_count" => {
                            (1, &mut u.cached_content_token_count)
                        }
                        "candidatesTokenCount" | "candidates_token_count" => {
                            (2, &mut u.candidates_token_count)
                        }
                        "toolUsePromptTokenCount" | "tool_use_prompt_token_count" => {
                            (3, &mut u.tool_use_prompt_token_count)
                        }
                        "thoughtsTokenCount" | "thoughts_token_count" => {
                            (4, &mut u.thoughts_token_count)
                        }
                        "totalTokenCount" | "total_token_count" => (5, &mut u.total_token_count),
                        _ => {
                            map.next_value::<Checked>()?;
                            continue;
                        }
                    };
                    seen(&mut mask, bit)?;
                    *slot = map.next_value()?;
                }
                Ok(UsageView(u))
            }
        }
        d.deserialize_map(V)
    }
}

impl ChunkView<'static> {
    /// The view of a chunk decoded by the reference path.
    pub(crate) fn from_response(r: Response) -> Self {
        let candidate = r.candidates.into_iter().next().map(|c| CandidateView {
            parts: c
                .content
                .map(|c| c.parts.into_iter().map(PartView::from_wire).collect())
                .unwrap_or_default(),
            finish_reason: c.finish_reason,
        });
        ChunkView {
            candidate,
            prompt_feedback: r.prompt_feedback,
            usage_metadata: r.usage_metadata,
            model_version: r.model_version.map(Cow::Owned),
            response_id: r.response_id.map(Cow::Owned),
        }
    }
}

impl PartView<'static> {
    fn from_wire(p: wire::WirePart) -> Self {
        PartView {
            text: p.text.map(Cow::Owned),
            thought: p.thought,
            thought_signature: p.thought_signature.map(Cow::Owned),
            function_call: p.function_call,
        }
    }
}
