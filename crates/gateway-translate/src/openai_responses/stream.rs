//! Responses SSE streams: the [`Decoder`] reads an upstream's events into canonical
//! [`StreamEvent`]s (with the borrowed views of `stream_view.rs` for delta events); the
//! [`Encoder`] (in `stream_encode.rs`) writes them for a caller.
//!
//! Parts start at `output_item.added` (function calls, reasoning) or
//! `content_part.added` (message text), grow with the `*.delta` events and stop at
//! `content_part.done` / `output_item.done`. Usage and the stop reason come from the
//! terminal `response.completed` / `response.incomplete`; `response.failed` and
//! `error` become [`StreamEvent::Error`].

use std::collections::BTreeSet;

use gateway_protocol::{Delta, ErrorKind, Family, GatewayError, PartStart, StreamEvent};

pub use super::stream_encode::Encoder;

use super::response::{stop_reason, tool_call, usage_from_wire};
use super::stream_scan::{self, DELTA, DeltaEvent, PlainDelta};
use super::stream_view::{LightEvent, may_be_delta};
use super::{error, wire};
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::framing::FrameRef;
use crate::json;
use crate::json_text::{Holes, Template, slots, take_str};

/// Reads a Responses upstream's SSE events.
#[derive(Debug, Clone)]
pub struct Decoder {
    ctx: ResponseContext,
    /// Delta events are read by hand (off only in the tests that hold the scanner to
    /// the serde views).
    scan: bool,
    /// The last delta event, to read the next ones by comparison.
    template: Template<PlainDelta>,
    holes: Holes,
    started: bool,
    finished: bool,
    response_id: String,
    next_index: usize,
    open: Option<Open>,
    /// Output indexes whose content was already emitted.
    seen: BTreeSet<usize>,
    calls: usize,
}

#[derive(Debug, Clone)]
struct Open {
    index: usize,
    output_index: usize,
    kind: OpenKind,
    /// Whether any delta was emitted (a `*.done` fills in the text otherwise).
    emitted: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum OpenKind {
    Text { content_index: usize },
    Tool,
    Reasoning { summaries: usize },
}

impl Decoder {
    /// A decoder for the answer to a request described by `ctx`.
    pub fn new(ctx: &ResponseContext) -> Self {
        Decoder {
            ctx: ctx.clone(),
            scan: true,
            template: Template::default(),
            holes: Holes::default(),
            started: false,
            finished: false,
            response_id: String::new(),
            next_index: 0,
            open: None,
            seen: BTreeSet::new(),
            calls: 0,
        }
    }

    /// Decodes one SSE frame into zero or more events.
    pub fn decode<'f>(
        &mut self,
        frame: impl Into<FrameRef<'f>>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let frame = frame.into();
        let data = frame.data.trim();
        if self.finished || data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        if self.scan {
            let mut values = slots();
            if let Some((delta, labels)) = self.template.read(data, &mut values) {
                let text = take_str(&labels, &mut values, DELTA);
                self.on_delta(delta, Some(&text), out);
                return Ok(());
            }
            self.holes.clear();
            if let Some((delta, text)) = stream_scan::scan(data, &mut self.holes) {
                self.template.learn(data, &self.holes, delta);
                self.on_delta(delta, Some(&text), out);
                return Ok(());
            }
        }
        // Delta events (nearly all of a stream) are read borrowed, without building the
        // full event; anything else, or anything the light read does not accept, takes
        // the full decode (which gives the same errors as before).
        if may_be_delta(data) {
            if let Ok(light) = serde_json::from_str::<LightEvent<'_>>(data) {
                if !light.heavy() {
                    let kind = if light.kind.0.is_empty() {
                        frame.event.unwrap_or_default()
                    } else {
                        &light.kind.0
                    };
                    if self.light_delta(kind, &light, out) {
                        return Ok(());
                    }
                }
            }
        }
        let mut ev: wire::Event = json::decode_upstream("stream event", data.as_bytes())?;
        if ev.kind.is_empty() {
            ev.kind = frame.event.unwrap_or_default().to_owned();
        }
        let kind = std::mem::take(&mut ev.kind);
        match kind.as_str() {
            "response.created" | "response.in_progress" | "response.queued" => {
                self.start(ev.response.as_deref(), out)
            }
            "response.output_item.added" => {
                self.start(None, out);
                self.item_added(ev, out);
            }
            "response.content_part.added" => {
                self.start(None, out);
                let output_index = ev.output_index.unwrap_or(0);
                let content_index = ev.content_index.unwrap_or(0);
                self.open_text(output_index, content_index, out);
                if let Some(text) = part_text(ev.part.as_ref()).filter(|t| !t.is_empty()) {
                    self.delta(Delta::Text(text), out);
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                self.start(None, out);
                self.open_text(
                    ev.output_index.unwrap_or(0),
                    ev.content_index.unwrap_or(0),
                    out,
                );
                if let Some(d) = ev.delta.filter(|d| !d.is_empty()) {
                    self.delta(Delta::Text(d), out);
                }
            }
            "response.output_text.done" | "response.refusal.done" => {
                if let Some(text) = ev.text.or(ev.refusal) {
                    self.fill(
                        |k| matches!(k, OpenKind::Text { .. }),
                        Delta::Text(text),
                        out,
                    );
                }
            }
            "response.content_part.done" => {
                if let Some(text) = part_text(ev.part.as_ref()) {
                    self.fill(
                        |k| matches!(k, OpenKind::Text { .. }),
                        Delta::Text(text),
                        out,
                    );
                }
                if self
                    .open
                    .as_ref()
                    .is_some_and(|o| matches!(o.kind, OpenKind::Text { .. }))
                {
                    self.close(out);
                }
            }
            "response.function_call_arguments.delta" => {
                if let Some(d) = ev.delta.filter(|d| !d.is_empty()) {
                    if self.open_is(|k| *k == OpenKind::Tool) {
                        self.delta(Delta::ToolArguments(d), out);
                    }
                }
            }
            "response.function_call_arguments.done" => {
                if let Some(args) = ev.arguments {
                    self.fill(|k| *k == OpenKind::Tool, Delta::ToolArguments(args), out);
                }
            }
            "response.reasoning_summary_part.added" => {
                let mut separate = false;
                if let Some(Open {
                    kind: OpenKind::Reasoning { summaries },
                    ..
                }) = self.open.as_mut()
                {
                    *summaries += 1;
                    separate = *summaries > 1;
                }
                if separate {
                    self.delta(Delta::Reasoning("\n\n".to_owned()), out);
                }
            }
            "response.reasoning_summary_text.delta" => {
                if let Some(d) = ev.delta.filter(|d| !d.is_empty()) {
                    if self.open_is(|k| matches!(k, OpenKind::Reasoning { .. })) {
                        self.delta(Delta::Reasoning(d), out);
                    }
                }
            }
            "response.reasoning_text.delta" => {
                // Raw reasoning is used only when there is no summary (as in `response::decode`).
                if let Some(d) = ev.delta.filter(|d| !d.is_empty()) {
                    if self.open_is(|k| *k == OpenKind::Reasoning { summaries: 0 }) {
                        self.delta(Delta::Reasoning(d), out);
                    }
                }
            }
            "response.output_item.done" => {
                self.start(None, out);
                self.item_done(ev, out);
            }
            "response.completed" | "response.incomplete" => {
                self.start(ev.response.as_deref(), out);
                self.close(out);
                let snapshot = ev.response.map(|r| *r).unwrap_or_default();
                if self.next_index == 0 {
                    // Nothing was streamed: take the content from the snapshot.
                    for (i, item) in snapshot.output.iter().enumerate() {
                        self.whole_item(i, item.clone(), out);
                    }
                }
                if let Some(u) = snapshot.usage {
                    out.push(StreamEvent::Usage(usage_from_wire(u)));
                }
                let status = if snapshot.status.is_empty() {
                    kind.trim_start_matches("response.")
                } else {
                    snapshot.status.as_str()
                };
                let reason = snapshot
                    .incomplete_details
                    .as_ref()
                    .and_then(|d| d.reason.as_deref());
                out.push(StreamEvent::MessageStop {
                    stop_reason: stop_reason(status, reason, self.calls > 0),
                    stop_sequence: None,
                });
                self.finished = true;
            }
            "response.failed" => {
                let failure = ev.response.and_then(|r| r.error).unwrap_or_default();
                let message = if failure.message.is_empty() {
                    "the upstream response failed"
                } else {
                    failure.message.as_str()
                };
                out.push(StreamEvent::Error(error::from_stream(
                    failure.code.as_deref(),
                    message,
                    None,
                )));
                self.finished = true;
            }
            "error" => {
                let nested = ev.error.unwrap_or_default();
                let code = ev.code.or(nested.code);
                let message = ev.message.unwrap_or(nested.message);
                out.push(StreamEvent::Error(error::from_stream(
                    code.as_deref(),
                    &message,
                    ev.param,
                )));
                self.finished = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// Handles a delta event read by the light path; `false` when `kind` is not one.
    fn light_delta(&mut self, kind: &str, ev: &LightEvent<'_>, out: &mut Vec<StreamEvent>) -> bool {
        let Some(event) = DeltaEvent::of(kind) else {
            return false;
        };
        let delta = PlainDelta {
            event,
            output_index: ev.output_index,
            content_index: ev.content_index,
        };
        self.on_delta(delta, ev.delta.as_ref().map(|d| &*d.0), out);
        true
    }

    /// A delta event, read by the scanner or the light view.
    fn on_delta(&mut self, ev: PlainDelta, delta: Option<&str>, out: &mut Vec<StreamEvent>) {
        let delta = delta.filter(|d| !d.is_empty());
        match ev.event {
            DeltaEvent::Text => {
                self.start(None, out);
                self.open_text(
                    ev.output_index.unwrap_or(0),
                    ev.content_index.unwrap_or(0),
                    out,
                );
                if let Some(d) = delta {
                    self.delta(Delta::Text(d.to_owned()), out);
                }
            }
            DeltaEvent::Arguments => {
                if let Some(d) = delta {
                    if self.open_is(|k| *k == OpenKind::Tool) {
                        self.delta(Delta::ToolArguments(d.to_owned()), out);
                    }
                }
            }
            DeltaEvent::Summary => {
                if let Some(d) = delta {
                    if self.open_is(|k| matches!(k, OpenKind::Reasoning { .. })) {
                        self.delta(Delta::Reasoning(d.to_owned()), out);
                    }
                }
            }
            DeltaEvent::Reasoning => {
                if let Some(d) = delta {
                    if self.open_is(|k| *k == OpenKind::Reasoning { summaries: 0 }) {
                        self.delta(Delta::Reasoning(d.to_owned()), out);
                    }
                }
            }
        }
    }

    /// The decoder without its scanner: every event through the serde views.
    #[cfg(test)]
    pub(crate) fn without_scanner(mut self) -> Self {
        self.scan = false;
        self
    }

    /// Called at end of input: a stream without a terminal event was cut off.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.finished {
            self.finished = true;
            out.push(StreamEvent::Error(GatewayError::new(
                ErrorKind::Upstream,
                "upstream stream ended before it finished",
            )));
        }
    }

    fn start(&mut self, snapshot: Option<&wire::Response>, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let (id, model) = match snapshot {
            Some(r) => (r.id.clone(), r.model.clone()),
            None => (String::new(), String::new()),
        };
        self.response_id = id.clone();
        out.push(StreamEvent::MessageStart {
            id,
            model: if model.is_empty() {
                self.ctx.model.clone()
            } else {
                model
            },
        });
    }

    fn seed(&self) -> String {
        if self.response_id.is_empty() {
            self.ctx.id_seed.clone()
        } else {
            self.response_id.clone()
        }
    }

    fn item_added(&mut self, ev: wire::Event, out: &mut Vec<StreamEvent>) {
        let output_index = ev.output_index.unwrap_or(0);
        match ev.item {
            Some(wire::Item::FunctionCall(f)) => {
                let args = f.arguments.clone();
                let call = tool_call(f, &self.seed(), self.calls, &self.ctx);
                self.calls += 1;
                self.open_part(
                    output_index,
                    OpenKind::Tool,
                    PartStart::ToolCall {
                        id: call.id,
                        name: call.name,
                        signature: call.signature,
                    },
                    out,
                );
                if !args.is_empty() {
                    self.delta(Delta::ToolArguments(args), out);
                }
            }
            Some(wire::Item::Reasoning(r)) => self.open_part(
                output_index,
                OpenKind::Reasoning { summaries: 0 },
                PartStart::Reasoning {
                    id: (!r.id.is_empty()).then_some(r.id),
                    source: Some(Family::OpenAi),
                },
                out,
            ),
            _ => {}
        }
    }

    fn item_done(&mut self, ev: wire::Event, out: &mut Vec<StreamEvent>) {
        let output_index = ev.output_index.unwrap_or(0);
        let Some(item) = ev.item else {
            return;
        };
        if !self.seen.contains(&output_index) {
            // `output_item.added` never came: emit the whole item now.
            self.whole_item(output_index, item, out);
            return;
        }
        match item {
            wire::Item::FunctionCall(f) => self.fill(
                |k| *k == OpenKind::Tool,
                Delta::ToolArguments(f.arguments),
                out,
            ),
            wire::Item::Reasoning(r) => {
                let is_reasoning = |k: &OpenKind| matches!(k, OpenKind::Reasoning { .. });
                let text = super::messages::reasoning_from_item(r.clone()).text;
                self.fill(is_reasoning, Delta::Reasoning(text), out);
                if let Some(enc) = r.encrypted_content.filter(|e| !e.is_empty()) {
                    if self.open_is(is_reasoning) {
                        self.delta(Delta::Signature(enc), out);
                    }
                }
            }
            _ => {}
        }
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.output_index == output_index)
        {
            self.close(out);
        }
    }

    /// Emits a complete item (start, content, stop) seen only in a `done` event or a
    /// terminal snapshot.
    fn whole_item(&mut self, output_index: usize, item: wire::Item, out: &mut Vec<StreamEvent>) {
        match item {
            wire::Item::Message(m) => {
                for (ci, c) in m.content.into_iter().enumerate() {
                    let text = match c {
                        wire::ContentPart::OutputText(t) => t.text,
                        wire::ContentPart::Refusal(r) => r.refusal,
                        _ => continue,
                    };
                    self.open_text(output_index, ci, out);
                    self.fill(|_| true, Delta::Text(text), out);
                    self.close(out);
                }
            }
            wire::Item::FunctionCall(f) => {
                let args = f.arguments.clone();
                let ev = wire::Event {
                    output_index: Some(output_index),
                    item: Some(wire::Item::FunctionCall(f)),
                    ..wire::Event::default()
                };
                self.item_added(ev, out);
                self.fill(|_| true, Delta::ToolArguments(args), out);
                self.close(out);
            }
            wire::Item::Reasoning(r) => {
                let encrypted = r.encrypted_content.clone();
                let text = super::messages::reasoning_from_item(r.clone()).text;
                let ev = wire::Event {
                    output_index: Some(output_index),
                    item: Some(wire::Item::Reasoning(r)),
                    ..wire::Event::default()
                };
                self.item_added(ev, out);
                self.fill(|_| true, Delta::Reasoning(text), out);
                if let Some(enc) = encrypted.filter(|e| !e.is_empty()) {
                    self.delta(Delta::Signature(enc), out);
                }
                self.close(out);
            }
            _ => {}
        }
    }

    fn open_is(&self, pred: impl Fn(&OpenKind) -> bool) -> bool {
        self.open.as_ref().is_some_and(|o| pred(&o.kind))
    }

    /// Makes sure a text part for this message part is open.
    fn open_text(&mut self, output_index: usize, content_index: usize, out: &mut Vec<StreamEvent>) {
        let kind = OpenKind::Text { content_index };
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.output_index == output_index && o.kind == kind)
        {
            return;
        }
        self.open_part(output_index, kind, PartStart::Text, out);
    }

    fn open_part(
        &mut self,
        output_index: usize,
        kind: OpenKind,
        start: PartStart,
        out: &mut Vec<StreamEvent>,
    ) {
        self.close(out);
        let index = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        self.seen.insert(output_index);
        out.push(StreamEvent::PartStart { index, part: start });
        self.open = Some(Open {
            index,
            output_index,
            kind,
            emitted: false,
        });
    }

    fn delta(&mut self, delta: Delta, out: &mut Vec<StreamEvent>) {
        if let Some(open) = self.open.as_mut() {
            open.emitted = true;
            out.push(StreamEvent::Delta {
                index: open.index,
                delta,
            });
        }
    }

    /// Emits the full content of a `*.done` event when no delta came before it.
    fn fill(&mut self, pred: impl Fn(&OpenKind) -> bool, delta: Delta, out: &mut Vec<StreamEvent>) {
        let empty = match &delta {
            Delta::Text(s)
            | Delta::ToolArguments(s)
            | Delta::Reasoning(s)
            | Delta::Signature(s) => s.is_empty(),
        };
        if !empty
            && self
                .open
                .as_ref()
                .is_some_and(|o| !o.emitted && pred(&o.kind))
        {
            self.delta(delta, out);
        }
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(open) = self.open.take() {
            out.push(StreamEvent::PartStop { index: open.index });
        }
    }
}

/// The `text` of a content part value.
fn part_text(part: Option<&serde_json::Value>) -> Option<String> {
    let part = part?;
    part.get("text")
        .or_else(|| part.get("refusal"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}
