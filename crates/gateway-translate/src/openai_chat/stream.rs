//! Chat Completions streams: the [`Decoder`] of upstream `chat.completion.chunk` frames
//! → canonical events (PROTOCOLS §2.5, §8.13); the [`Encoder`] for callers is in
//! `stream_encode.rs`.

use std::collections::BTreeMap;

use std::borrow::Cow;

use gateway_protocol::{Delta, ErrorKind, Family, GatewayError, PartStart, StreamEvent};

use super::stream_scan::{self, PAYLOAD};
use super::stream_view::{ChoiceIn, ChunkIn, DeltaIn, ToolCallDeltaIn, borrowed, function_in};
use super::{error, response, wire};
use crate::borrow::Str;
use crate::context::ResponseContext;
use crate::error::TranslateError;
use crate::framing::FrameRef;
use crate::json;
use crate::json_text::{Holes, Template, slots, take_str};

pub use super::stream_encode::Encoder;

/// What the open canonical part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Reasoning,
    /// A tool call, by its OpenAI `index`.
    Tool(usize),
}

/// Where a tool call (keyed by OpenAI `index`) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Its part is open and fragments stream through.
    Live,
    /// Another call is live: fragments are held until it closes.
    Held,
    /// Its part is closed.
    Done,
}

/// What a plain frame does: one delta for the open part (see
/// [`crate::json_text::Template`]).
#[derive(Debug, Clone, Copy)]
enum Plain {
    Text,
    Reasoning,
    /// Arguments of the tool call with this `index`.
    ToolArguments(usize),
}

impl Plain {
    /// The meaning of a scanned chunk, when it is plain: one choice, no finish, usage
    /// or error, and one text, reasoning or arguments fragment (in a hole).
    fn of(chunk: &ChunkIn<'_>, holes: &Holes) -> Option<Plain> {
        if chunk.error.is_some() || chunk.usage.is_some() || holes.count(PAYLOAD) != 1 {
            return None;
        }
        let [choice] = chunk.choices.as_slice() else {
            return None;
        };
        let d = &choice.delta;
        if choice.index != 0 || choice.finish_reason.is_some() || d.function_call.is_some() {
            return None;
        }
        match (&d.content, &d.refusal, &d.reasoning_content, &d.tool_calls) {
            (Some(_), None, None, None) | (None, Some(_), None, None) => Some(Plain::Text),
            (None, None, Some(_), None) => Some(Plain::Reasoning),
            (None, None, None, Some(calls)) => match calls.as_slice() {
                [call]
                    if call.id.is_none()
                        && call
                            .function
                            .as_ref()
                            .is_some_and(|f| f.name.is_none() && f.arguments.is_some()) =>
                {
                    Some(Plain::ToolArguments(call.index.unwrap_or(0)))
                }
                _ => None,
            },
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct CallState {
    id: String,
    name: String,
    signature: Option<String>,
    args: String,
    phase: Phase,
}

/// Upstream Chat frames → canonical events.
///
/// Tool-call fragments are keyed by `index`. A call streams live; when the next call
/// starts, the live one is closed if its arguments are already complete JSON (OpenAI
/// sends calls one after the other). Otherwise the new call is held (OpenAI-compatible
/// servers may interleave fragments of parallel calls) and emitted whole, in `index`
/// order, when the live call closes. The stop reason is held until `[DONE]` because the usage
/// chunk comes after the finish chunk.
#[derive(Debug, Clone)]
pub struct Decoder {
    ctx: ResponseContext,
    /// Common frames are read by hand (off only in the tests that hold the scanner
    /// to the serde views).
    scan: bool,
    /// The last plain frame, to read the next ones by comparison.
    template: Template<Plain>,
    holes: Holes,
    started: bool,
    done: bool,
    id: String,
    next_index: usize,
    open: Option<(usize, Open)>,
    calls: BTreeMap<usize, CallState>,
    /// Arguments of the live call so far.
    live_args: String,
    finish: Option<String>,
}

impl Decoder {
    /// A decoder for the answer to the request `ctx` describes.
    pub fn new(ctx: &ResponseContext) -> Self {
        Decoder {
            ctx: ctx.clone(),
            scan: true,
            template: Template::default(),
            holes: Holes::default(),
            started: false,
            done: false,
            id: String::new(),
            next_index: 0,
            open: None,
            calls: BTreeMap::new(),
            live_args: String::new(),
            finish: None,
        }
    }

    /// Decodes one frame; events are appended to `out`.
    pub fn decode<'f>(
        &mut self,
        frame: impl Into<FrameRef<'f>>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let frame = frame.into();
        if self.done {
            return Ok(());
        }
        let data = frame.data.trim();
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.end(out);
            return Ok(());
        }
        if !self.scan {
            return self.decode_serde(data, out);
        }
        if self.started {
            let mut values = slots();
            if let Some((plain, labels)) = self.template.read(data, &mut values) {
                let text = take_str(&labels, &mut values, PAYLOAD);
                self.plain(plain, &text, out);
                return Ok(());
            }
        }
        self.holes.clear();
        let Some(chunk) = stream_scan::scan(data, &mut self.holes) else {
            return self.decode_serde(data, out);
        };
        if let Some(plain) = Plain::of(&chunk, &self.holes) {
            self.template.learn(data, &self.holes, plain);
        }
        self.decode_chunk(chunk, out);
        Ok(())
    }

    /// The output bytes of `frame` when it is a text or reasoning delta of the
    /// template's form, measured without building its events; `None` when it needs
    /// [`Self::decode`]. Only a delta that [`Self::decode`] would add to the part
    /// already open (or an empty one) is measured, so skipping its decode changes
    /// nothing the decoder holds.
    pub fn count<'f>(&self, frame: impl Into<FrameRef<'f>>) -> Option<usize> {
        if self.done || !self.scan || !self.started {
            return None;
        }
        // Untrimmed: the template starts and ends with a brace, so a frame with
        // whitespace around it does not match, and is decoded.
        let (plain, len) = self.template.measure(frame.into().data, |_| PAYLOAD)?;
        let kind = match plain {
            Plain::Text => Open::Text,
            Plain::Reasoning => Open::Reasoning,
            Plain::ToolArguments(_) => return None,
        };
        let open = self.open.is_some_and(|(_, open)| open == kind);
        (len == 0 || open).then_some(len)
    }

    /// What [`Self::decode_chunk`] does with a plain chunk once the stream started.
    fn plain(&mut self, plain: Plain, text: &str, out: &mut Vec<StreamEvent>) {
        match plain {
            Plain::Text if !text.is_empty() => {
                self.content(Open::Text, Delta::Text(text.to_owned()), out)
            }
            Plain::Reasoning if !text.is_empty() => {
                self.content(Open::Reasoning, Delta::Reasoning(text.to_owned()), out)
            }
            Plain::ToolArguments(key) => self.tool(key, None, None, Some(text), out),
            Plain::Text | Plain::Reasoning => {}
        }
    }

    /// The decoder without its scanner: every frame through the serde views.
    #[cfg(test)]
    pub(crate) fn without_scanner(mut self) -> Self {
        self.scan = false;
        self
    }

    /// The frame through the serde views (what the scanner leaves).
    fn decode_serde(
        &mut self,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let chunk = match serde_json::from_str::<ChunkIn<'_>>(data) {
            Ok(chunk) => chunk,
            // The full wire type names the failure exactly as before.
            Err(_) => return self.decode_wire(data, out),
        };
        self.decode_chunk(chunk, out);
        Ok(())
    }

    /// Slow path: the frame through the owned wire type (for its error message).
    #[cold]
    fn decode_wire(
        &mut self,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let chunk: wire::Chunk = json::decode_upstream("stream event", data.as_bytes())?;
        let borrowed = ChunkIn {
            id: Str(Cow::Borrowed(&chunk.id)),
            _object: Str::default(),
            _created: 0,
            model: Str(Cow::Borrowed(&chunk.model)),
            choices: chunk
                .choices
                .iter()
                .map(|c| ChoiceIn {
                    index: c.index,
                    delta: DeltaIn {
                        _role: None,
                        content: c.delta.content.as_deref().map(borrowed),
                        refusal: c.delta.refusal.as_deref().map(borrowed),
                        reasoning_content: c.delta.reasoning_content.as_deref().map(borrowed),
                        tool_calls: c.delta.tool_calls.as_ref().map(|calls| {
                            calls
                                .iter()
                                .map(|t| ToolCallDeltaIn {
                                    index: t.index,
                                    id: t.id.as_deref().map(borrowed),
                                    _kind: None,
                                    function: t.function.as_ref().map(function_in),
                                })
                                .collect()
                        }),
                        function_call: c.delta.function_call.as_ref().map(function_in),
                    },
                    _logprobs: None,
                    finish_reason: c.finish_reason.as_deref().map(borrowed),
                })
                .collect(),
            usage: chunk.usage.clone(),
            error: chunk.error.clone(),
        };
        self.decode_chunk(borrowed, out);
        Ok(())
    }

    fn decode_chunk(&mut self, chunk: ChunkIn<'_>, out: &mut Vec<StreamEvent>) {
        if let Some(e) = &chunk.error {
            out.push(StreamEvent::Error(error::from_object(
                error::stream_status(e),
                e,
            )));
            self.done = true;
            return;
        }
        self.start(&chunk.id, &chunk.model, out);
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            let d = &choice.delta;
            if let Some(r) = d.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
                self.content(Open::Reasoning, Delta::Reasoning(r.to_owned()), out);
            }
            for t in [d.content.as_deref(), d.refusal.as_deref()]
                .into_iter()
                .flatten()
            {
                if !t.is_empty() {
                    self.content(Open::Text, Delta::Text(t.to_owned()), out);
                }
            }
            for (pos, tc) in d.tool_calls.iter().flatten().enumerate() {
                let f = tc.function.as_ref();
                self.tool(
                    tc.index.unwrap_or(pos),
                    tc.id.as_deref(),
                    f.and_then(|f| f.name.as_deref()),
                    f.and_then(|f| f.arguments.as_deref()),
                    out,
                );
            }
            if let Some(f) = &d.function_call {
                self.tool(0, None, f.name.as_deref(), f.arguments.as_deref(), out);
            }
            if let Some(reason) = &choice.finish_reason {
                self.finish = Some(reason.to_string());
                self.close(out);
            }
        }
        if let Some(Some(u)) = &chunk.usage {
            out.push(StreamEvent::Usage(response::usage_from(u)));
        }
    }

    /// Ends the input: a stream that finished without `[DONE]` is closed; one cut off
    /// before its finish chunk ends in an error.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        if self.finish.is_some() {
            self.end(out);
        } else {
            self.done = true;
            out.push(StreamEvent::Error(GatewayError::new(
                ErrorKind::Upstream,
                "upstream stream ended before it finished",
            )));
        }
    }

    fn start(&mut self, id: &str, model: &str, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = id.to_owned();
        out.push(StreamEvent::MessageStart {
            id: id.to_owned(),
            model: if model.is_empty() {
                self.ctx.model.clone()
            } else {
                model.to_owned()
            },
        });
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        self.start("", "", out);
        self.close(out);
        out.push(StreamEvent::MessageStop {
            stop_reason: response::stop_reason(self.finish.as_deref(), !self.calls.is_empty()),
            stop_sequence: None,
        });
        self.done = true;
    }

    fn begin(&mut self, kind: Open, part: PartStart, out: &mut Vec<StreamEvent>) -> usize {
        let index = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        self.open = Some((index, kind));
        out.push(StreamEvent::PartStart { index, part });
        index
    }

    /// Closes the open part, then emits every held tool call whole.
    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((index, kind)) = self.open.take() {
            out.push(StreamEvent::PartStop { index });
            if let Open::Tool(key) = kind {
                if let Some(c) = self.calls.get_mut(&key) {
                    c.phase = Phase::Done;
                }
            }
        }
        let held: Vec<usize> = self
            .calls
            .iter()
            .filter(|(_, c)| c.phase == Phase::Held)
            .map(|(k, _)| *k)
            .collect();
        for key in held {
            let Some(c) = self.calls.get_mut(&key) else {
                continue;
            };
            c.phase = Phase::Done;
            let c = c.clone();
            let index = self.begin(
                Open::Tool(key),
                PartStart::ToolCall {
                    id: c.id,
                    name: c.name,
                    signature: c.signature,
                },
                out,
            );
            if !c.args.is_empty() {
                out.push(StreamEvent::Delta {
                    index,
                    delta: Delta::ToolArguments(c.args),
                });
            }
            self.open = None;
            out.push(StreamEvent::PartStop { index });
        }
    }

    fn content(&mut self, kind: Open, delta: Delta, out: &mut Vec<StreamEvent>) {
        let index = match self.open {
            Some((index, open)) if open == kind => index,
            _ => {
                self.close(out);
                let part = match kind {
                    Open::Reasoning => PartStart::Reasoning {
                        id: None,
                        source: Some(Family::OpenAi),
                    },
                    _ => PartStart::Text,
                };
                self.begin(kind, part, out)
            }
        };
        out.push(StreamEvent::Delta { index, delta });
    }

    fn tool(
        &mut self,
        key: usize,
        id: Option<&str>,
        name: Option<&str>,
        args: Option<&str>,
        out: &mut Vec<StreamEvent>,
    ) {
        let args = args.unwrap_or("");
        if let Some(c) = self.calls.get_mut(&key) {
            match c.phase {
                Phase::Live => {
                    self.live_args.push_str(args);
                    if let (false, Some((index, _))) = (args.is_empty(), self.open) {
                        out.push(StreamEvent::Delta {
                            index,
                            delta: Delta::ToolArguments(args.to_owned()),
                        });
                    }
                }
                Phase::Held => {
                    c.args.push_str(args);
                    if c.name.is_empty() {
                        if let Some(n) = name {
                            c.name = self.ctx.tool_names.caller_name(n).to_owned();
                        }
                    }
                }
                // A fragment for a closed call cannot be placed any more.
                Phase::Done => {}
            }
            return;
        }
        let seed = if self.id.is_empty() {
            self.ctx.id_seed.as_str()
        } else {
            self.id.as_str()
        };
        let call = response::call(
            id.unwrap_or(""),
            name.unwrap_or(""),
            String::new(),
            seed,
            key,
            &self.ctx,
        );
        let live_tool = matches!(self.open, Some((_, Open::Tool(_))))
            && serde_json::from_str::<serde::de::IgnoredAny>(&self.live_args).is_err();
        let mut state = CallState {
            id: call.id,
            name: call.name,
            signature: call.signature,
            args: String::new(),
            phase: Phase::Held,
        };
        if live_tool {
            state.args.push_str(args);
            self.calls.insert(key, state);
            return;
        }
        self.close(out);
        state.phase = Phase::Live;
        self.live_args = args.to_owned();
        let part = PartStart::ToolCall {
            id: state.id.clone(),
            name: state.name.clone(),
            signature: state.signature.clone(),
        };
        self.calls.insert(key, state);
        let index = self.begin(Open::Tool(key), part, out);
        if !args.is_empty() {
            out.push(StreamEvent::Delta {
                index,
                delta: Delta::ToolArguments(args.to_owned()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(data: &str, wire_path: bool) -> String {
        let mut d = Decoder::new(&ResponseContext::default());
        let mut out = Vec::new();
        let r = if wire_path {
            d.decode_wire(data.trim(), &mut out)
        } else {
            d.decode(&crate::Frame::data(data), &mut out)
        };
        format!("{r:?} {out:?}")
    }

    /// Every `data:` line of every fixture (and variants of each): the borrowed chunk
    /// gives exactly the events (or the error) the owned wire chunk gives.
    #[test]
    fn borrowed_chunks_match_the_wire_types() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut stack = vec![root];
        let mut lines: Vec<String> = vec![
            r#"{"id":"a","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":{"a":[1,2.5]}}}]},"logprobs":{"x":[1e400]}}]}"#.to_owned(),
            r#"{"id":"a","choices":[{"index":0,"delta":{"content":"a\"b","function_call":{"arguments":true}},"finish_reason":"stop"}],"usage":null}"#.to_owned(),
            r#"{"id":"a","id":"b"}"#.to_owned(),
            r#"{"error":{"message":"m","code":429}}"#.to_owned(),
            r#"["a"]"#.to_owned(),
        ];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    lines.extend(
                        text.lines()
                            .filter_map(|l| l.strip_prefix("data:"))
                            .map(|l| l.trim().to_owned()),
                    );
                }
            }
        }
        let mut inputs = 0usize;
        for line in lines {
            if line == "[DONE]" {
                continue;
            }
            let bytes = line.as_bytes();
            let step = (bytes.len() / 8).max(1);
            let mut variants = vec![line.clone()];
            for n in (0..bytes.len()).step_by(step) {
                variants.push(String::from_utf8_lossy(&bytes[..n]).into_owned());
                for b in [b'"', b'['] {
                    let mut v = bytes.to_vec();
                    v[n] = b;
                    variants.push(String::from_utf8_lossy(&v).into_owned());
                }
            }
            for v in variants {
                if v.trim().is_empty() || v.trim() == "[DONE]" {
                    continue;
                }
                assert_eq!(run(&v, false), run(&v, true), "{v}");
                inputs += 1;
            }
        }
        assert!(inputs > 1000, "{inputs}");
    }
}
