//! Gemini streaming (`streamGenerateContent`, §6.4): the [`Decoder`] of upstream chunks;
//! the [`Encoder`] for callers is in `stream_encode.rs`.
//!
//! Every frame is a full response chunk carrying only new parts. The decoder appends
//! text to the open text part and thought text to the open reasoning part (a change of
//! kind closes the open part), turns each `functionCall` into a complete part, and ends
//! on the first `finishReason` (later frames are ignored). Because a Gemini part can
//! stay open across chunks and the canonical grammar allows `Usage` only between
//! parts, the running usage is reported once, just before `MessageStop`.

use std::borrow::Cow;

use gateway_protocol::{
    Delta, ErrorKind, Family, GatewayError, PartStart, StopReason, StreamEvent, Usage,
};
use serde_json::Value;

use super::convert::{SKIP_SIGNATURE, stop_reason, usage_from_wire};
use super::stream_scan::{self, TEXT, usage_field};
use super::stream_view::{ChunkView, PartView};
use super::wire_response::{ErrorBody, Response, UsageMetadata};
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::framing::FrameRef;
use crate::ids::synthesize_call_id;
use crate::json_text::{Holes, MAX_HOLES, Template, Token, slots, take_str};

pub use super::stream_encode::Encoder;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenKind {
    Text,
    Reasoning { signed: bool },
}

/// What a plain chunk does once the stream started: one text part (a thought or
/// not), and new usage counts when it has them (see [`Template`]).
#[derive(Debug, Clone, Copy)]
struct Plain {
    thought: Option<bool>,
    usage: bool,
}

impl Plain {
    fn of(chunk: &ChunkView<'_>, holes: &Holes) -> Option<Plain> {
        let candidate = chunk.candidate.as_ref()?;
        let [part] = candidate.parts.as_slice() else {
            return None;
        };
        let plain = holes.count(TEXT) == 1
            && chunk.prompt_feedback.is_none()
            && candidate.finish_reason.is_none()
            && part.text.is_some()
            && part.thought_signature.is_none()
            && part.function_call.is_none();
        plain.then_some(Plain {
            thought: part.thought,
            usage: chunk.usage_metadata.is_some(),
        })
    }
}

/// Upstream Gemini chunks → canonical events.
#[derive(Debug, Clone)]
pub struct Decoder {
    ctx: ResponseContext,
    /// Common chunks are read by hand (off only in the tests that hold the scanner to
    /// the serde views).
    scan: bool,
    /// The last plain chunk, to read the next ones by comparison.
    template: Template<Plain>,
    holes: Holes,
    started: bool,
    done: bool,
    open: Option<(usize, OpenKind)>,
    next_index: usize,
    seed: String,
    calls: usize,
    usage: Option<Usage>,
}

impl Decoder {
    /// A decoder for one answer.
    pub fn new(ctx: &ResponseContext) -> Self {
        Decoder {
            ctx: ctx.clone(),
            scan: true,
            template: Template::default(),
            holes: Holes::default(),
            started: false,
            done: false,
            open: None,
            next_index: 0,
            seed: String::new(),
            calls: 0,
            usage: None,
        }
    }

    /// Decodes one frame (an SSE `data:` payload or a JSON-array element).
    pub fn decode<'f>(
        &mut self,
        frame: impl Into<FrameRef<'f>>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let frame = frame.into();
        let data = frame.data.trim();
        if self.done || data.is_empty() {
            return Ok(());
        }
        if self.scan {
            if self.started {
                let mut values = slots();
                if let Some((plain, labels)) = self.template.read(data, &mut values) {
                    self.plain(plain, &labels, &mut values, out);
                    return Ok(());
                }
            }
            self.holes.clear();
            if let Some(chunk) = stream_scan::scan(data, &mut self.holes) {
                if let Some(plain) = Plain::of(&chunk, &self.holes) {
                    self.template.learn(data, &self.holes, plain);
                }
                self.chunk(chunk, out);
                return Ok(());
            }
        }
        match serde_json::from_str::<ChunkView<'_>>(data) {
            Ok(chunk) => {
                self.chunk(chunk, out);
                Ok(())
            }
            Err(_) => self.decode_reference(data, out),
        }
    }

    /// The decoder without its scanner: every chunk through the serde views.
    #[cfg(test)]
    pub(crate) fn without_scanner(mut self) -> Self {
        self.scan = false;
        self
    }

    /// What [`Self::chunk`] does with a plain chunk once the stream started.
    fn plain(
        &mut self,
        plain: Plain,
        labels: &[u8; MAX_HOLES],
        values: &mut [Token<'_>; MAX_HOLES],
        out: &mut Vec<StreamEvent>,
    ) {
        if plain.usage {
            let mut usage = UsageMetadata::default();
            for (&label, value) in labels.iter().zip(values.iter()) {
                let field = label.checked_sub(stream_scan::usage_label(0));
                if let (Some(field), Token::U64(n)) = (field, value) {
                    if let Some(slot) = usage_field(&mut usage, usize::from(field)) {
                        *slot = Some(*n);
                    }
                }
            }
            self.usage = Some(usage_from_wire(&usage));
        }
        let part = PartView {
            text: Some(take_str(labels, values, TEXT)),
            thought: plain.thought,
            ..PartView::default()
        };
        self.part(part, out);
    }

    /// The reference path, for chunks the borrowed views leave to it (errors,
    /// duplicate keys, malformed input): the same results and errors as always.
    #[cold]
    fn decode_reference(
        &mut self,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let value: Value = crate::json::decode_upstream("stream event", data.as_bytes())?;
        if let Some(err) = value.get("error") {
            let body: ErrorBody = serde_json::from_value(err.clone()).unwrap_or_default();
            out.push(StreamEvent::Error(super::error::from_body(0, &body)));
            self.done = true;
            return Ok(());
        }
        let chunk: Response = serde_json::from_value(value)
            .map_err(|e| TranslateError::upstream("stream event", e.to_string()))?;
        self.chunk(ChunkView::from_response(chunk), out);
        Ok(())
    }

    fn chunk(&mut self, chunk: ChunkView<'_>, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            self.seed = chunk
                .response_id
                .as_deref()
                .map_or_else(|| self.ctx.id_seed.clone(), str::to_owned);
            out.push(StreamEvent::MessageStart {
                id: self.seed.clone(),
                model: chunk
                    .model_version
                    .as_deref()
                    .filter(|m| !m.is_empty())
                    .map_or_else(|| self.ctx.model.clone(), str::to_owned),
            });
        }
        if let Some(u) = &chunk.usage_metadata {
            self.usage = Some(usage_from_wire(u));
        }
        let Some(candidate) = chunk.candidate else {
            if chunk
                .prompt_feedback
                .as_ref()
                .is_some_and(|f| f.block_reason.is_some())
            {
                self.stop(StopReason::ContentFilter, out);
            }
            return;
        };
        for p in candidate.parts {
            self.part(p, out);
        }
        if let Some(reason) = &candidate.finish_reason {
            let mut reason = stop_reason(reason);
            if reason == StopReason::EndTurn && self.calls > 0 {
                reason = StopReason::ToolUse;
            }
            self.stop(reason, out);
        }
    }

    /// Ends the input: a stream without `finishReason` was cut off.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.done {
            self.done = true;
            out.push(StreamEvent::Error(GatewayError::new(
                ErrorKind::Upstream,
                "upstream stream ended before it finished",
            )));
        }
    }

    fn part(&mut self, p: PartView<'_>, out: &mut Vec<StreamEvent>) {
        let sig = p
            .thought_signature
            .filter(|s| s.as_ref() != SKIP_SIGNATURE && !s.is_empty())
            .map(Cow::into_owned);
        if let Some(text) = p.text {
            if p.thought == Some(true) {
                let index = match self.open {
                    Some((i, OpenKind::Reasoning { signed: false })) => i,
                    _ => self.open_part(OpenKind::Reasoning { signed: false }, out),
                };
                if !text.is_empty() {
                    out.push(delta(index, Delta::Reasoning(text.into_owned())));
                }
                if let Some(s) = sig {
                    self.sign(index, s, out);
                }
                return;
            }
            let mut pending = sig;
            if let (Some((i, OpenKind::Reasoning { signed: false })), Some(s)) =
                (self.open, pending.as_ref())
            {
                self.sign(i, s.clone(), out);
                pending = None;
            }
            if !text.is_empty() {
                let index = match self.open {
                    Some((i, OpenKind::Text)) => i,
                    _ => self.open_part(OpenKind::Text, out),
                };
                out.push(delta(index, Delta::Text(text.into_owned())));
            }
            if let Some(s) = pending {
                let index = self.open_part(OpenKind::Reasoning { signed: false }, out);
                self.sign(index, s, out);
            }
            return;
        }
        if let Some(call) = &p.function_call {
            self.close(out);
            let index = self.next_index;
            self.next_index += 1;
            let id = call
                .id
                .clone()
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| synthesize_call_id(&self.seed, self.calls));
            self.calls += 1;
            let args = call
                .args
                .as_ref()
                .map_or_else(|| "{}".to_owned(), Value::to_string);
            out.push(StreamEvent::PartStart {
                index,
                part: PartStart::ToolCall {
                    id,
                    name: self.ctx.tool_names.caller_name(&call.name).to_owned(),
                    signature: sig,
                },
            });
            out.push(delta(index, Delta::ToolArguments(args)));
            out.push(StreamEvent::PartStop { index });
        }
        // Media and code-execution parts have no canonical stream form: skipped.
    }

    fn sign(&mut self, index: usize, sig: String, out: &mut Vec<StreamEvent>) {
        out.push(delta(index, Delta::Signature(sig)));
        self.open = Some((index, OpenKind::Reasoning { signed: true }));
    }

    fn open_part(&mut self, kind: OpenKind, out: &mut Vec<StreamEvent>) -> usize {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        let part = match kind {
            OpenKind::Text => PartStart::Text,
            OpenKind::Reasoning { .. } => PartStart::Reasoning {
                id: None,
                source: Some(Family::Gemini),
            },
        };
        out.push(StreamEvent::PartStart { index, part });
        self.open = Some((index, kind));
        index
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(StreamEvent::PartStop { index });
        }
    }

    fn stop(&mut self, reason: StopReason, out: &mut Vec<StreamEvent>) {
        self.close(out);
        if let Some(u) = self.usage {
            out.push(StreamEvent::Usage(u));
        }
        out.push(StreamEvent::MessageStop {
            stop_reason: reason,
            stop_sequence: None,
        });
        self.done = true;
    }
}

fn delta(index: usize, delta: Delta) -> StreamEvent {
    StreamEvent::Delta { index, delta }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The borrowed fast path and the reference path agree, results and errors alike.
    #[test]
    fn fast_path_matches_reference_path() {
        let frames = [
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hi \"there\"\n"}]},"index":0}],"modelVersion":"gemini-x","responseId":"r1"}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"a","thought":true,"thoughtSignature":"c2ln"},{"text":"b","thought_signature":"skip_thought_signature_validator"}]},"safetyRatings":[{"category":"X","probability":"LOW"}]}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4,"totalTokenCount":7,"promptTokensDetails":[{"modality":"TEXT","tokenCount":3}]}}"#,
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"b":1,"a":[1.5,"x"]}}},{"function_call":{"id":"c1","name":"g"},"thoughtSignature":"s"}]},"finishReason":"STOP"},{"content":null}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":2,"index":0}],"usage_metadata":{"prompt_token_count":1,"thoughts_token_count":2}}"#,
            r#"{"candidates":[],"promptFeedback":{"blockReason":"SAFETY"}}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}]}}],"candidates":[{"content":{"parts":[{"text":"y"}]}}]}"#,
            r#"{"modelVersion":"a","model_version":"b"}"#,
            r#"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}"#,
            r#"{"error":null}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":7}]}}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png"}}]}}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}}]}"#,
            r#"{"candidates":[["x"]]}"#,
            r#"{"candidates":null}"#,
            r#"{"x":1e400}"#,
            r#"{"x":"\ud800"}"#,
            r#"{"x":{"$serde_json::private::RawValue":1}}"#,
            r#"{"te\u0078t":1,"responseId":"i\u00e9"}"#,
            r#"[]"#,
            r#"null"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}]}}]} x"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}]}}"#,
        ];
        let deep = format!(r#"{{"x":{}{}}}"#, "[".repeat(200), "]".repeat(200));
        let ctx = ResponseContext {
            model: "m".into(),
            id_seed: "seed".into(),
            ..Default::default()
        };
        for data in frames.iter().copied().chain([deep.as_str()]) {
            let mut fast = Decoder::new(&ctx);
            let mut reference = Decoder::new(&ctx);
            let mut a = Vec::new();
            let mut b = Vec::new();
            let ra = fast.decode(&crate::Frame::data(data), &mut a);
            let rb = reference.decode_reference(data, &mut b);
            assert_eq!(format!("{ra:?}"), format!("{rb:?}"), "{data}");
            assert_eq!(a, b, "{data}");
        }
    }
}
