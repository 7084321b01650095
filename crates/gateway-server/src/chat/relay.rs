//! The streamed answer: upstream chunks relayed or transcoded as they arrive, one
//! caller frame per upstream chunk, nothing held back.
//!
//! The relay is a pull-driven stream owned by the response body: when the caller
//! disconnects, hyper drops the body, which drops the upstream stream and so cancels
//! the upstream request.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use gateway_protocol::{ApiShape, GatewayError, StreamEvent, Usage};
use gateway_providers::BodyStream;
use gateway_translate::codec::{StreamEncoder, Transcoder, upstream_framing};
use gateway_translate::framing::write_sse;
use gateway_translate::usage_tap::UsageTap;
use gateway_translate::{Frame, Framer, ResponseContext, fastpath};
use http_body::Frame as BodyFrame;

use super::Prepared;
use crate::accounting::Ticket;

/// How upstream bytes become caller bytes.
enum Mode {
    /// Same shape: the bytes as they are (framed on the side to read the usage).
    Pass { tap: Tap },
    /// Same shape (OpenAI Chat), minus the usage chunk the gateway forced on.
    StripUsage { tap: Tap },
    /// Another shape: through the codecs.
    Transcode(Box<Transcoder>),
}

/// Frames of a same-shape stream and the usage they report.
struct Tap {
    framer: Framer,
    frames: Vec<Frame>,
    usage: UsageTap,
}

impl Tap {
    fn new(shape: ApiShape) -> Tap {
        Tap {
            framer: Framer::new(upstream_framing(shape)),
            frames: Vec::new(),
            usage: UsageTap::new(shape),
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        // A frame past the limit is not read for usage (the relay ends such streams next).
        let _ = self.framer.push(chunk, &mut self.frames);
        self.observe();
    }

    fn finish(&mut self) {
        self.framer.finish(&mut self.frames);
        self.observe();
    }

    fn observe(&mut self) {
        for frame in &self.frames {
            self.usage.observe(frame);
        }
    }
}

/// One streamed answer in flight.
pub(crate) struct Relay {
    mode: Mode,
    caller: ApiShape,
    ctx: ResponseContext,
    first: Option<Bytes>,
    upstream: Option<BodyStream>,
    out: Vec<u8>,
    ticket: Option<Ticket>,
}

impl Relay {
    pub(crate) fn new(
        caller: ApiShape,
        upstream_shape: ApiShape,
        prepared: &Prepared,
        ctx: ResponseContext,
        first: Option<Bytes>,
        upstream: BodyStream,
        ticket: Ticket,
    ) -> Relay {
        let mode = if !prepared.same_shape {
            Mode::Transcode(Box::new(Transcoder::new(upstream_shape, caller, &ctx)))
        } else if prepared.strip_usage {
            Mode::StripUsage {
                tap: Tap::new(upstream_shape),
            }
        } else {
            Mode::Pass {
                tap: Tap::new(upstream_shape),
            }
        };
        Relay {
            mode,
            caller,
            ctx,
            first,
            upstream: Some(upstream),
            out: Vec::new(),
            ticket: Some(ticket),
        }
    }

    /// The relay as a response body stream.
    pub(crate) fn into_body(
        self,
    ) -> impl Stream<Item = Result<BodyFrame<Bytes>, Infallible>> + Send + 'static {
        futures_util::stream::unfold(self, |mut relay| async move {
            let bytes = relay.next_bytes().await?;
            Some((Ok(BodyFrame::data(bytes)), relay))
        })
    }

    /// The next non-empty piece for the caller; `None` when the answer is over.
    async fn next_bytes(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.first.take() {
                self.push(&chunk);
            } else {
                let upstream = self.upstream.as_mut()?;
                match upstream.next().await {
                    Some(Ok(chunk)) => self.push(&chunk),
                    Some(Err(err)) => {
                        self.upstream = None;
                        self.fail(err);
                    }
                    None => {
                        self.upstream = None;
                        self.finish();
                    }
                }
            }
            if !self.out.is_empty() {
                self.log_out();
                return Some(Bytes::from(std::mem::take(&mut self.out)));
            }
            self.upstream.as_ref()?;
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        match &mut self.mode {
            Mode::Pass { tap } => {
                tap.push(chunk);
                tap.frames.clear();
                self.out.extend_from_slice(chunk);
            }
            Mode::StripUsage { tap } => {
                tap.push(chunk);
                write_frames(&mut tap.frames, &mut self.out);
            }
            Mode::Transcode(t) => t.push(chunk, &mut self.out),
        }
    }

    fn finish(&mut self) {
        match &mut self.mode {
            Mode::Pass { tap } => {
                tap.finish();
                tap.frames.clear();
            }
            Mode::StripUsage { tap } => {
                tap.finish();
                write_frames(&mut tap.frames, &mut self.out);
            }
            Mode::Transcode(t) => t.finish(&mut self.out),
        }
        self.log_out();
        if let Some(ticket) = self.ticket.take() {
            ticket.succeed(self.usage());
        }
    }

    /// What is about to go to the caller, for the body log (while the ticket is open).
    fn log_out(&mut self) {
        if let Some(ticket) = self.ticket.as_mut() {
            ticket.streamed_bytes(&self.out);
        }
    }

    /// The upstream broke off: the caller gets an error in its own stream grammar.
    fn fail(&mut self, err: GatewayError) {
        tracing::debug!(error = %err.message, "upstream stream broke off");
        let usage = self.usage();
        let ticket = self.ticket.take();
        match &mut self.mode {
            Mode::Transcode(t) => t.fail(err.clone(), &mut self.out),
            Mode::Pass { .. } | Mode::StripUsage { .. } => {
                let mut encoder = StreamEncoder::new(self.caller, &self.ctx);
                encoder.encode(&StreamEvent::Error(err.clone()), &mut self.out);
            }
        }
        if let Some(mut ticket) = ticket {
            ticket.streamed_bytes(&self.out);
            ticket.stream_failed(&err, usage);
        }
    }

    /// The usage the stream reported so far.
    fn usage(&self) -> Option<Usage> {
        match &self.mode {
            Mode::Pass { tap } | Mode::StripUsage { tap } => tap.usage.usage(),
            Mode::Transcode(t) => t.usage(),
        }
    }
}

impl Drop for Relay {
    /// Dropped before the end: the caller went away (the upstream request is cancelled
    /// with the body stream).
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            ticket.cancelled(self.usage());
        }
    }
}

/// Writes OpenAI Chat frames back as SSE, leaving out usage-only chunks.
fn write_frames(frames: &mut Vec<Frame>, out: &mut Vec<u8>) {
    for frame in frames.drain(..) {
        if fastpath::is_usage_only_chunk(frame.data.as_bytes()) {
            continue;
        }
        write_sse(out, frame.event.as_deref(), frame.data.as_bytes());
    }
}
