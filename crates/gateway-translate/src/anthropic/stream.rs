//! Anthropic Messages streams (PROTOCOLS §5.4, §9.9): the [`Decoder`] of upstream
//! frames; the [`Encoder`] for callers is in `stream_encode.rs`.
//!
//! The decoder holds the stop reason of `message_delta` (usage there is cumulative and
//! overwrites) and emits `Usage` then `MessageStop` at `message_stop`. Server-tool
//! blocks are skipped and the following parts renumbered.

use gateway_protocol::{
    Delta, ErrorKind, Family, GatewayError, PartStart, StopReason, StreamEvent,
};
use std::borrow::Cow;

use serde_json::Value;

use super::error as anthropic_error;
use super::response::{stop_from_wire, usage_from_wire};
use super::stream_scan::{DeltaKind, PlainDelta, scan_delta};
use super::stream_view::{BlockIn, FastBlock, FastEvent};
use super::wire;
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::framing::FrameRef;
use crate::ids;
use crate::json_text::{Holes, Template, slots, take_str};
use crate::names::ToolNameMap;

pub use super::stream_encode::Encoder;

/// Upstream Anthropic SSE frames → canonical events.
#[derive(Debug, Clone)]
pub struct Decoder {
    /// `content_block_delta` frames are read by hand (off only in the tests that hold
    /// the scanner to the serde path).
    scan: bool,
    /// The last delta frame, to read the next ones by comparison.
    template: Template<PlainDelta>,
    holes: Holes,
    tool_names: ToolNameMap,
    seed: String,
    model: String,
    started: bool,
    done: bool,
    /// The upstream block being read and its canonical index (`None`: skipped block).
    current: Option<(u64, Option<usize>)>,
    next_index: usize,
    usage: wire::Usage,
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
    saw_tool: bool,
}

impl Decoder {
    /// A decoder for one answer.
    pub fn new(ctx: &ResponseContext) -> Self {
        Decoder {
            scan: true,
            template: Template::default(),
            holes: Holes::default(),
            tool_names: ctx.tool_names.clone(),
            seed: ctx.id_seed.clone(),
            model: ctx.model.clone(),
            started: false,
            done: false,
            current: None,
            next_index: 0,
            usage: wire::Usage::default(),
            stop_reason: None,
            stop_sequence: None,
            saw_tool: false,
        }
    }

    /// Decodes one frame. Pings and unknown event types are ignored.
    pub fn decode<'f>(
        &mut self,
        frame: impl Into<FrameRef<'f>>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let frame = frame.into();
        if self.done {
            return Ok(());
        }
        if self.scan {
            let data = frame.data;
            let mut values = slots();
            if let Some((delta, labels)) = self.template.read(data, &mut values) {
                let text = take_str(&labels, &mut values, delta.kind as u8);
                self.on_delta(delta, text, out);
                return Ok(());
            }
            self.holes.clear();
            if let Some((delta, text)) = scan_delta(data, &mut self.holes) {
                self.template.learn(data, &self.holes, delta);
                self.on_delta(delta, text, out);
                return Ok(());
            }
        }
        // Typed, borrowed decoding for well-formed frames; anything unusual (odd types,
        // duplicate keys, errors) takes the lenient `Value` walk below, unchanged.
        if frame.data.trim_start().starts_with('{') {
            if let Ok(ev) = serde_json::from_str::<FastEvent<'_>>(frame.data) {
                if self.decode_fast(ev, frame, out) {
                    return Ok(());
                }
            }
        }
        self.decode_slow(frame, out)
    }

    /// The output bytes of `frame` when it is a content delta of the template's form,
    /// measured without building its event; `None` when it needs [`Self::decode`].
    /// A delta changes nothing the decoder holds, so skipping its decode is safe.
    pub fn count<'f>(&self, frame: impl Into<FrameRef<'f>>) -> Option<usize> {
        if self.done || !self.scan {
            return None;
        }
        let (delta, len) = self
            .template
            .measure(frame.into().data, |delta| delta.kind as u8)?;
        // What `on_delta` would emit: nothing outside the open block, and a
        // signature is not output.
        let counted = matches!(self.current, Some((open, Some(_))) if open == delta.index)
            && delta.kind != DeltaKind::Signature;
        Some(if counted { len } else { 0 })
    }

    /// The typed path; returns false (having done nothing) when the frame needs the
    /// lenient path.
    fn decode_fast(
        &mut self,
        ev: FastEvent<'_>,
        frame: FrameRef<'_>,
        out: &mut Vec<StreamEvent>,
    ) -> bool {
        let kind = ev.kind.or(frame.event).unwrap_or("");
        match kind {
            "content_block_delta" => {
                let Some(delta) = ev.delta else {
                    return false;
                };
                let (kind, text) = match delta.kind {
                    Some("text_delta") => (DeltaKind::Text, delta.text),
                    Some("input_json_delta") => (DeltaKind::InputJson, delta.partial_json),
                    Some("thinking_delta") => (DeltaKind::Thinking, delta.thinking),
                    Some("signature_delta") => (DeltaKind::Signature, delta.signature),
                    _ => return true,
                };
                let index = ev.index.unwrap_or(0);
                self.on_delta(PlainDelta { index, kind }, text.unwrap_or_default(), out);
            }
            "content_block_start" => {
                let Some(Ok(block)) = ev
                    .content_block
                    .map(|raw| serde_json::from_str::<FastBlock<'_>>(raw.get()))
                else {
                    return false;
                };
                let input = match (block.kind, block.input) {
                    (Some("tool_use"), Some(raw)) => match serde_json::from_str::<Value>(raw.get())
                    {
                        Ok(v) => Some(v),
                        Err(_) => return false,
                    },
                    _ => None,
                };
                self.ensure_started(out);
                self.close(out);
                let index = ev.index.unwrap_or(0);
                let view = BlockIn {
                    kind: block.kind,
                    text: block.text.as_deref().unwrap_or(""),
                    thinking: block.thinking.as_deref().unwrap_or(""),
                    data: block.data.as_deref().unwrap_or(""),
                    id: block.id.as_deref().unwrap_or(""),
                    name: block.name.as_deref().unwrap_or(""),
                    input: input.as_ref(),
                };
                let canonical = self.start_block(&view, out);
                self.current = Some((index, canonical));
            }
            "content_block_stop" => {
                let index = ev.index.unwrap_or(0);
                if self.current.is_some_and(|(open, _)| open == index) {
                    self.close(out);
                }
            }
            "message_start" => {
                let Some(raw) = ev.message else {
                    return false;
                };
                let Ok(msg) = serde_json::from_str::<wire::Message>(raw.get()) else {
                    return false;
                };
                self.on_message_start(msg, out);
            }
            "message_delta" => {
                let usage = match ev.usage {
                    None => None,
                    Some(raw) => match serde_json::from_str::<wire::Usage>(raw.get()) {
                        Ok(u) if raw.get() != "null" => Some(u),
                        _ => return false,
                    },
                };
                if let Some(d) = ev.delta {
                    if let Some(r) = d.stop_reason {
                        self.stop_reason = Some(r.into_owned());
                    }
                    if let Some(s) = d.stop_sequence {
                        self.stop_sequence = Some(s.into_owned());
                    }
                }
                if let Some(u) = usage {
                    self.merge_usage(&u);
                }
            }
            "message_stop" => self.on_message_stop(out),
            "error" => return false,
            _ => {}
        }
        true
    }

    /// A `content_block_delta` of the open block becomes a delta of its part.
    fn on_delta(&mut self, delta: PlainDelta, text: Cow<'_, str>, out: &mut Vec<StreamEvent>) {
        let Some((open, Some(canonical))) = self.current else {
            return;
        };
        if open != delta.index {
            return;
        }
        if text.is_empty() && delta.kind != DeltaKind::Signature {
            return;
        }
        let text = text.into_owned();
        let delta = match delta.kind {
            DeltaKind::Text => Delta::Text(text),
            DeltaKind::InputJson => Delta::ToolArguments(text),
            DeltaKind::Thinking => Delta::Reasoning(text),
            DeltaKind::Signature => Delta::Signature(text),
        };
        out.push(StreamEvent::Delta {
            index: canonical,
            delta,
        });
    }

    fn on_message_start(&mut self, msg: wire::Message, out: &mut Vec<StreamEvent>) {
        self.merge_usage(&msg.usage);
        if !self.started {
            self.started = true;
            let model = if msg.model.is_empty() {
                self.model.clone()
            } else {
                msg.model
            };
            out.push(StreamEvent::MessageStart { id: msg.id, model });
        }
    }

    fn on_message_stop(&mut self, out: &mut Vec<StreamEvent>) {
        self.ensure_started(out);
        self.close(out);
        let mut stop_reason = stop_from_wire(self.stop_reason.as_deref());
        if stop_reason == StopReason::EndTurn && self.saw_tool {
            stop_reason = StopReason::ToolUse;
        }
        out.push(StreamEvent::Usage(usage_from_wire(&self.usage)));
        out.push(StreamEvent::MessageStop {
            stop_reason,
            stop_sequence: self.stop_sequence.take(),
        });
        self.done = true;
    }

    /// The lenient path: every field read from a `Value`, wrong types read as absent.
    fn decode_slow(
        &mut self,
        frame: FrameRef<'_>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let v: Value = serde_json::from_str(frame.data)
            .map_err(|e| TranslateError::upstream("stream event", e.to_string()))?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(frame.event)
            .unwrap_or("");
        match kind {
            "message_start" => {
                let msg = v.get("message").cloned().unwrap_or(Value::Null);
                let msg: wire::Message = serde_json::from_value(msg)
                    .map_err(|e| TranslateError::upstream("stream event", e.to_string()))?;
                self.on_message_start(msg, out);
            }
            "content_block_start" => {
                self.ensure_started(out);
                self.close(out);
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let block = v.get("content_block").cloned().unwrap_or(Value::Null);
                let str_of = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or("");
                let view = BlockIn {
                    kind: block.get("type").and_then(Value::as_str),
                    text: str_of("text"),
                    thinking: str_of("thinking"),
                    data: str_of("data"),
                    id: str_of("id"),
                    name: str_of("name"),
                    input: block.get("input"),
                };
                let canonical = self.start_block(&view, out);
                self.current = Some((index, canonical));
            }
            "content_block_delta" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let Some((open, Some(canonical))) = self.current else {
                    return Ok(());
                };
                if open != index {
                    return Ok(());
                }
                let delta = v.get("delta").cloned().unwrap_or(Value::Null);
                let text = |key: &str| {
                    delta
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                let d = match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => Delta::Text(text("text")),
                    Some("input_json_delta") => Delta::ToolArguments(text("partial_json")),
                    Some("thinking_delta") => Delta::Reasoning(text("thinking")),
                    Some("signature_delta") => Delta::Signature(text("signature")),
                    _ => return Ok(()),
                };
                if !matches!(&d, Delta::Text(s) | Delta::ToolArguments(s) | Delta::Reasoning(s) if s.is_empty())
                {
                    out.push(StreamEvent::Delta {
                        index: canonical,
                        delta: d,
                    });
                }
            }
            "content_block_stop" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                if self.current.is_some_and(|(open, _)| open == index) {
                    self.close(out);
                }
            }
            "message_delta" => {
                if let Some(d) = v.get("delta") {
                    if let Some(r) = d.get("stop_reason").and_then(Value::as_str) {
                        self.stop_reason = Some(r.to_owned());
                    }
                    if let Some(s) = d.get("stop_sequence").and_then(Value::as_str) {
                        self.stop_sequence = Some(s.to_owned());
                    }
                }
                if let Some(u) = v.get("usage") {
                    let u: wire::Usage = serde_json::from_value(u.clone())
                        .map_err(|e| TranslateError::upstream("stream event", e.to_string()))?;
                    self.merge_usage(&u);
                }
            }
            "message_stop" => self.on_message_stop(out),
            "error" => {
                let kind = v
                    .pointer("/error/type")
                    .and_then(Value::as_str)
                    .unwrap_or("api_error");
                let message = v
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let err = anthropic_error::from_parts(
                    anthropic_error::status_for_type(kind),
                    kind,
                    message,
                );
                out.push(StreamEvent::Error(err));
                self.done = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// The decoder without its scanner: every frame through the serde views.
    #[cfg(test)]
    pub(crate) fn without_scanner(mut self) -> Self {
        self.scan = false;
        self
    }

    /// Ends the input: a stream cut before `message_stop` ends in an error.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.done {
            self.done = true;
            out.push(StreamEvent::Error(GatewayError::new(
                ErrorKind::Upstream,
                "upstream stream ended before it finished",
            )));
        }
    }

    fn ensure_started(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::MessageStart {
                id: String::new(),
                model: self.model.clone(),
            });
        }
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((_, Some(index))) = self.current.take() {
            out.push(StreamEvent::PartStop { index });
        }
    }

    fn merge_usage(&mut self, u: &wire::Usage) {
        let m = &mut self.usage;
        m.input_tokens = u.input_tokens.or(m.input_tokens);
        m.cache_creation_input_tokens = u
            .cache_creation_input_tokens
            .or(m.cache_creation_input_tokens);
        m.cache_read_input_tokens = u.cache_read_input_tokens.or(m.cache_read_input_tokens);
        m.output_tokens = u.output_tokens.or(m.output_tokens);
        m.output_tokens_details = u
            .output_tokens_details
            .clone()
            .or(m.output_tokens_details.take());
    }

    /// Emits the start of a block; `None` for kinds with no canonical form.
    fn start_block(&mut self, block: &BlockIn<'_>, out: &mut Vec<StreamEvent>) -> Option<usize> {
        let index = self.next_index;
        let (part, first) = match block.kind {
            Some("text") => (PartStart::Text, Some(Delta::Text(block.text.to_owned()))),
            Some("thinking") => (
                PartStart::Reasoning {
                    id: None,
                    source: Some(Family::Anthropic),
                },
                Some(Delta::Reasoning(block.thinking.to_owned())),
            ),
            Some("redacted_thinking") => (
                PartStart::RedactedReasoning {
                    data: block.data.to_owned(),
                    source: Some(Family::Anthropic),
                },
                None,
            ),
            Some("tool_use") => {
                self.saw_tool = true;
                let (plain, signature) = ids::split_signature(block.id);
                let id = if plain.is_empty() {
                    ids::synthesize_call_id(&self.seed, index)
                } else {
                    plain.to_owned()
                };
                let name = self.tool_names.caller_name(block.name).to_owned();
                let input = match block.input {
                    Some(Value::Object(m)) if !m.is_empty() => {
                        Some(Delta::ToolArguments(Value::Object(m.clone()).to_string()))
                    }
                    _ => None,
                };
                (
                    PartStart::ToolCall {
                        id,
                        name,
                        signature,
                    },
                    input,
                )
            }
            _ => return None,
        };
        self.next_index += 1;
        out.push(StreamEvent::PartStart { index, part });
        if let Some(d) = first {
            if !matches!(&d, Delta::Text(s) | Delta::Reasoning(s) if s.is_empty()) {
                out.push(StreamEvent::Delta { index, delta: d });
            }
        }
        Some(index)
    }
}
