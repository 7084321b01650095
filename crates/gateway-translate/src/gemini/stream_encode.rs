//! The Gemini stream encoder: canonical events → `streamGenerateContent` chunks for a
//! Gemini caller (§6.4, §8.13 "→ Gemini client").
//!
//! The encoder writes one chunk per text delta, one `functionCall` part per tool call
//! (argument fragments are buffered and parsed), thoughts only when the caller asked
//! for them, and a last chunk with `finishReason` and `usageMetadata`. Output is SSE
//! with CRLF line ends, or one JSON array (`[…,\r\n…]`) when `ctx.json_array`.

use std::collections::BTreeMap;

use gateway_protocol::{Delta, ErrorKind, Family, GatewayError, PartStart, StreamEvent, Usage};
use serde_json::Value;

use super::convert::{finish_reason, usage_to_wire};
use super::wire::{self, EnumValue};
use super::wire_response::{Candidate, Response};
use crate::context::ResponseContext;
use crate::ids::split_signature;

#[derive(Debug)]
enum EncPart {
    Text,
    Tool {
        id: String,
        name: String,
        signature: Option<String>,
        args: String,
    },
    Reasoning {
        source: Option<Family>,
        signature: Option<String>,
    },
    Other,
}

/// Canonical events → the bytes a Gemini caller reads.
#[derive(Debug)]
pub struct Encoder {
    ctx: ResponseContext,
    id: String,
    /// The end of every content chunk after its parts:
    /// `]},"index":0}],"modelVersion":…,"responseId":…}`.
    tail: Vec<u8>,
    parts: BTreeMap<usize, EncPart>,
    usage: Option<Usage>,
    wrote: bool,
    done: bool,
}

impl Encoder {
    /// An encoder for one answer.
    pub fn new(ctx: &ResponseContext) -> Self {
        let mut enc = Encoder {
            ctx: ctx.clone(),
            id: ctx.id_seed.clone(),
            tail: Vec::new(),
            parts: BTreeMap::new(),
            usage: None,
            wrote: false,
            done: false,
        };
        enc.set_tail();
        enc
    }

    fn set_tail(&mut self) {
        self.tail.clear();
        self.tail
            .extend_from_slice(br#"]},"index":0}],"modelVersion":"#);
        write_json(&mut self.tail, self.ctx.model.as_str());
        self.tail.extend_from_slice(br#","responseId":"#);
        write_json(&mut self.tail, self.id.as_str());
        self.tail.push(b'}');
    }

    /// Encodes one event, appending any bytes to `out`.
    pub fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::MessageStart { id, .. } => {
                if !id.is_empty() {
                    self.id = id.clone();
                    self.set_tail();
                }
            }
            StreamEvent::PartStart { index, part } => {
                let p = match part {
                    PartStart::Text => EncPart::Text,
                    PartStart::ToolCall {
                        id,
                        name,
                        signature,
                    } => EncPart::Tool {
                        id: id.clone(),
                        name: name.clone(),
                        signature: signature.clone(),
                        args: String::new(),
                    },
                    PartStart::Reasoning { source, .. } => EncPart::Reasoning {
                        source: *source,
                        signature: None,
                    },
                    PartStart::RedactedReasoning { .. } => EncPart::Other,
                };
                self.parts.insert(*index, p);
            }
            StreamEvent::Delta { index, delta } => self.delta(*index, delta, out),
            StreamEvent::PartStop { index } => {
                if let Some(p) = self.parts.remove(index) {
                    self.stop_part(p, out);
                }
            }
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::MessageStop { stop_reason, .. } => {
                let parts = vec![wire::WirePart {
                    text: Some(String::new()),
                    ..Default::default()
                }];
                let usage = self.usage.unwrap_or_default();
                let chunk = self.chunk(parts, Some(finish_reason(*stop_reason)), Some(&usage));
                self.write(&crate::json::encode(&chunk), out);
                self.close_array(out);
            }
            StreamEvent::Error(err) => self.error(err, out),
        }
    }

    fn delta(&mut self, index: usize, delta: &Delta, out: &mut Vec<u8>) {
        match (delta, self.parts.get_mut(&index)) {
            (Delta::Text(t), _) => self.text_chunk(t, false, out),
            (Delta::ToolArguments(a), Some(EncPart::Tool { args, .. })) => args.push_str(a),
            (Delta::Reasoning(t), _) if self.ctx.include_thoughts && !t.is_empty() => {
                self.text_chunk(t, true, out)
            }
            (Delta::Signature(s), Some(EncPart::Reasoning { source, signature }))
                if *source == Some(Family::Gemini) =>
            {
                *signature = Some(s.clone());
            }
            _ => {}
        }
    }

    fn stop_part(&mut self, part: EncPart, out: &mut Vec<u8>) {
        match part {
            EncPart::Tool {
                id,
                name,
                signature,
                args,
            } => {
                let parsed: Result<Value, _> = if args.trim().is_empty() {
                    Ok(Value::Object(serde_json::Map::new()))
                } else {
                    serde_json::from_str(&args)
                };
                let Some(args) = parsed.ok().filter(Value::is_object) else {
                    let err = GatewayError::new(
                        ErrorKind::Upstream,
                        format!(
                            "the upstream sent arguments for tool `{name}` that are not a JSON object"
                        ),
                    );
                    self.error(&err, out);
                    return;
                };
                let (plain, carried) = split_signature(&id);
                let part = wire::WirePart {
                    function_call: Some(wire::FunctionCall {
                        id: Some(plain.to_owned()),
                        name,
                        args: Some(args),
                    }),
                    thought_signature: signature.or(carried),
                    ..Default::default()
                };
                self.open_chunk(out);
                write_json(out, &part);
                self.close_chunk(out);
            }
            EncPart::Reasoning {
                signature: Some(sig),
                ..
            } => {
                self.open_chunk(out);
                out.extend_from_slice(br#"{"text":"","thoughtSignature":"#);
                write_json(out, sig.as_str());
                out.push(b'}');
                self.close_chunk(out);
            }
            _ => {}
        }
    }

    fn error(&mut self, err: &GatewayError, out: &mut Vec<u8>) {
        let status = if err.status == 529 { 503 } else { err.status };
        let body = serde_json::json!({ "error": super::error::body(err, status) });
        self.write(&crate::json::encode(&body), out);
        self.close_array(out);
    }

    /// A chunk with one text part (a thought when `thought`), written in place.
    fn text_chunk(&mut self, text: &str, thought: bool, out: &mut Vec<u8>) {
        self.open_chunk(out);
        out.extend_from_slice(br#"{"text":"#);
        crate::json_text::write_str(out, text);
        out.extend_from_slice(if thought { b",\"thought\":true}" } else { b"}" });
        self.close_chunk(out);
    }

    /// Writes the frame start and a content chunk up to its parts.
    fn open_chunk(&mut self, out: &mut Vec<u8>) {
        if self.ctx.json_array {
            out.extend_from_slice(if self.wrote { b",\r\n" } else { b"[" });
        } else {
            out.extend_from_slice(b"data: ");
        }
        out.extend_from_slice(br#"{"candidates":[{"content":{"role":"model","parts":["#);
    }

    /// Ends what [`Self::open_chunk`] began.
    fn close_chunk(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.tail);
        if !self.ctx.json_array {
            out.extend_from_slice(b"\r\n\r\n");
        }
        self.wrote = true;
    }

    fn chunk(
        &self,
        parts: Vec<wire::WirePart>,
        finish: Option<&str>,
        usage: Option<&Usage>,
    ) -> Response {
        Response {
            candidates: vec![Candidate {
                content: Some(wire::Content {
                    role: Some("model".into()),
                    parts,
                }),
                finish_reason: finish.map(EnumValue::name),
                index: Some(0),
            }],
            prompt_feedback: None,
            usage_metadata: usage.map(usage_to_wire),
            model_version: Some(self.ctx.model.clone()),
            response_id: Some(self.id.clone()),
        }
    }

    fn write(&mut self, json: &[u8], out: &mut Vec<u8>) {
        if self.ctx.json_array {
            out.extend_from_slice(if self.wrote { b",\r\n" } else { b"[" });
            out.extend_from_slice(json);
        } else {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(json);
            out.extend_from_slice(b"\r\n\r\n");
        }
        self.wrote = true;
    }

    fn close_array(&mut self, out: &mut Vec<u8>) {
        if self.ctx.json_array {
            if !self.wrote {
                out.push(b'[');
            }
            out.push(b']');
        }
        self.done = true;
    }
}

/// Serialises a wire value in place (writing to a `Vec` cannot fail).
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}
