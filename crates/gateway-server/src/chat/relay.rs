//! The streamed answer: upstream chunks relayed or transcoded as they arrive, one
//! caller frame per upstream chunk, nothing held back.
//!
//! The relay is a pull-driven stream owned by the response body: when the caller
//! disconnects, hyper drops the body, which drops the upstream stream and so cancels
//! the upstream request.
//!
//! However the stream ends — complete, broken off, an upstream event too large, the
//! caller gone — its ticket is closed with what the upstream reported and the output
//! the caller was sent (counted from the content of the events relayed), so a stream
//! is never charged less than what was relayed.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use gateway_protocol::{ApiShape, GatewayError, StreamEvent};
use gateway_providers::BodyStream;
use gateway_translate::codec::{StreamEncoder, Transcoder, upstream_framing};
use gateway_translate::estimate::StreamTally;
use gateway_translate::framing::FrameTooLarge;
use gateway_translate::stream_tap::StreamTap;
use gateway_translate::{FrameRef, Framer, ResponseContext, TranslateError};
use http_body::Frame as BodyFrame;

use super::Prepared;
use crate::accounting::{Streamed, Ticket};
use crate::cache::record::Recorder;
use strip::Strip;

mod strip;

/// How upstream bytes become caller bytes.
enum Mode {
    /// Same shape: the bytes as they are (framed on the side to read the usage).
    Pass { tap: Tap },
    /// Same shape (OpenAI Chat), minus the usage chunk the gateway forced on.
    StripUsage(Strip),
    /// Another shape: through the codecs.
    Transcode(Box<Transcoder>),
}

/// Frames of a same-shape stream, read on the side only for their accounting: the
/// usage they report, the output they carry, whether the stream ends in an error.
/// Frames are read borrowed from the chunk, as the framer finds them; content deltas
/// are measured, not decoded (see [`StreamTap`]).
struct Tap {
    framer: Framer,
    reader: StreamTap,
}

impl Tap {
    fn new(shape: ApiShape, ctx: &ResponseContext) -> Tap {
        Tap {
            framer: Framer::new(upstream_framing(shape)),
            reader: StreamTap::new(shape, ctx),
        }
    }

    /// Reads the frames of `chunk`, each also passed to `each` with whether it was a
    /// content delta.
    fn push(
        &mut self,
        chunk: &[u8],
        mut each: impl FnMut(FrameRef<'_>, bool),
    ) -> Result<(), FrameTooLarge> {
        let Tap { framer, reader } = self;
        framer.push_with(chunk, |frame| each(frame, reader.observe(frame)))
    }

    /// Reads the last frame, if any (also passed to `each`), and the stream's end.
    fn finish(&mut self, mut each: impl FnMut(FrameRef<'_>, bool)) {
        let Tap { framer, reader } = self;
        framer.finish_with(|frame| each(frame, reader.observe(frame)));
        reader.finish();
    }

    fn tally(&self) -> &StreamTally {
        self.reader.tally()
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
    /// Output was sent (the first token's time is taken once).
    output_sent: bool,
    /// Reads the stream into the response cache, when it keeps this answer.
    recorder: Option<Recorder>,
    /// A Responses answer to store once it is whole.
    keep: Option<Box<crate::responses::Turn>>,
    /// The answer's storing, under way: the stream's last bytes wait for it.
    saving: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The upstream's grammar has a last event (`[DONE]`, `message_stop`,
    /// `response.completed`): once it has passed, the caller's stream may end
    /// before the upstream's body does.
    ends_at_stop: bool,
    /// Where it is stored (only when there is something to store).
    app: Option<std::sync::Arc<crate::app::App>>,
}

impl Relay {
    // The relay's parts, each from another step of the request.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        caller: ApiShape,
        upstream_shape: ApiShape,
        prepared: &Prepared,
        ctx: ResponseContext,
        first: Option<Bytes>,
        upstream: BodyStream,
        mut ticket: Ticket,
        recorder: Option<Recorder>,
        keep: Option<Box<crate::responses::Turn>>,
    ) -> Relay {
        ticket.streaming();
        let keep = keep.filter(|turn| turn.keeps());
        let ends_at_stop = matches!(
            upstream_shape,
            ApiShape::OpenAiChat | ApiShape::Anthropic | ApiShape::OpenAiResponses
        );
        let app = keep.as_ref().map(|_| ticket.app().clone());
        let mode = if !prepared.same_shape {
            let mut t = Box::new(Transcoder::new(upstream_shape, caller, &ctx));
            if keep.is_some() {
                t.keep_answer();
            }
            Mode::Transcode(t)
        } else if prepared.strip_usage {
            Mode::StripUsage(Strip::new(Tap::new(upstream_shape, &ctx)))
        } else {
            Mode::Pass {
                tap: Tap::new(upstream_shape, &ctx),
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
            output_sent: false,
            recorder,
            keep,
            saving: None,
            ends_at_stop,
            app,
        }
    }

    /// The next non-empty piece for the caller; `None` when the answer is over.
    fn poll_bytes(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        loop {
            let passed = if let Some(chunk) = self.first.take() {
                self.relay(chunk)
            } else if let Some(saving) = self.saving.as_mut() {
                ready!(saving.as_mut().poll(cx));
                self.saving = None;
                None
            } else {
                let Some(upstream) = self.upstream.as_mut() else {
                    return Poll::Ready(None);
                };
                match upstream.poll_next_unpin(cx) {
                    Poll::Ready(Some(Ok(chunk))) => self.relay(chunk),
                    Poll::Ready(Some(Err(err))) => {
                        self.fail(err);
                        None
                    }
                    Poll::Ready(None) => {
                        self.finish();
                        None
                    }
                    // The answer is whole but the upstream's body has not ended yet (its
                    // last chunk, or hyper's word that it is over, is a wake-up away):
                    // the caller's stream ends now, in the same write as its last
                    // event, and the rest of the upstream's body is read on the side.
                    Poll::Pending if self.answer_complete() => {
                        if let Some(upstream) = self.upstream.take() {
                            drain(upstream);
                        }
                        self.finish();
                        None
                    }
                    Poll::Pending => return Poll::Pending,
                }
            };
            // A stored turn's answer is kept once whole, before the bytes that end it
            // go out (a transcoded answer passes none through: they are all in `out`).
            if passed.is_none() && self.keep_answer() {
                continue;
            }
            let bytes = match passed {
                // Passed through as it came: no copy.
                Some(chunk) if self.out.is_empty() => chunk,
                Some(chunk) => {
                    let mut out = std::mem::take(&mut self.out);
                    out.extend_from_slice(&chunk);
                    Bytes::from(out)
                }
                None => Bytes::from(std::mem::take(&mut self.out)),
            };
            if !bytes.is_empty() {
                if !self.output_sent && self.streamed().output_tokens > 0 {
                    self.output_sent = true;
                    if let Some(ticket) = self.ticket.as_mut() {
                        ticket.first_token();
                    }
                }
                if let Some(ticket) = self.ticket.as_mut() {
                    ticket.streamed_bytes(&bytes);
                }
                return Poll::Ready(Some(bytes));
            }
            if self.upstream.is_none() && self.saving.is_none() {
                return Poll::Ready(None);
            }
        }
    }

    /// Relays one upstream chunk: what passes through unchanged is handed back,
    /// what is written goes to `out`. A chunk the stream cannot go on after (an
    /// event too large, unreadable data) ends it.
    fn relay(&mut self, chunk: Bytes) -> Option<Bytes> {
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.push(&chunk);
        }
        let too_large = |e: FrameTooLarge| GatewayError::from(TranslateError::from(e));
        let result = match &mut self.mode {
            Mode::Pass { tap } => match tap.push(&chunk, |_, _| {}) {
                Ok(()) => return Some(chunk),
                Err(e) => {
                    // The bytes go on; the error event follows them.
                    self.out.extend_from_slice(&chunk);
                    Err(too_large(e))
                }
            },
            Mode::StripUsage(strip) => match strip.push(chunk, &mut self.out) {
                Ok(passed) => return passed,
                Err(e) => Err(too_large(e)),
            },
            Mode::Transcode(t) => {
                clock(t, self.caller, self.ticket.as_ref());
                t.push(&chunk, &mut self.out);
                t.error().map_or(Ok(()), |err| Err(err.clone()))
            }
        };
        if let Err(err) = result {
            self.fail(err);
        }
        None
    }

    fn finish(&mut self) {
        self.upstream = None;
        let failed = match &mut self.mode {
            Mode::Pass { tap } => {
                tap.finish(|_, _| {});
                tap.tally().error().cloned()
            }
            Mode::StripUsage(strip) => {
                strip.finish(&mut self.out);
                strip.tap.tally().error().cloned()
            }
            Mode::Transcode(t) => {
                clock(t, self.caller, self.ticket.as_ref());
                t.finish(&mut self.out);
                t.error().cloned()
            }
        };
        self.log_out();
        // Only a stream that ended as it should is kept.
        if let Some(recorder) = self.recorder.take() {
            if failed.is_none() {
                recorder.finish();
            }
        }
        let streamed = self.streamed();
        if let Some(ticket) = self.ticket.take() {
            // An error in the stream (the upstream's own, or its end before the
            // answer's) makes it a failed one, charged at least what was relayed.
            match failed {
                Some(err) => ticket.stream_failed(&err, streamed),
                None => ticket.stream_ended(streamed),
            }
        }
    }

    /// Whether everything the caller is to get has been relayed: the transcoder has
    /// ended the caller's stream, or a same-shape stream's last event has passed.
    fn answer_complete(&self) -> bool {
        match &self.mode {
            Mode::Transcode(t) => t.is_ended(),
            Mode::Pass { tap } => self.ends_at_stop && tap.tally().stopped(),
            Mode::StripUsage(strip) => self.ends_at_stop && strip.tap.tally().stopped(),
        }
    }

    /// Starts keeping the answer of a stored turn once the transcoder has reached its
    /// stop without an error (at most once: the answer is taken). True when it
    /// started: the caller bytes written since, which carry the last event, wait until
    /// it is kept, so a caller that has that event finds the response on its next
    /// call, over HTTP or a socket.
    fn keep_answer(&mut self) -> bool {
        let row = match (&mut self.mode, &self.keep) {
            (Mode::Transcode(t), Some(keep)) => t.take_answer().and_then(|resp| {
                let object =
                    gateway_translate::codec::encode_response(self.caller, &resp, &self.ctx);
                keep.kept_of(&resp, &object)
            }),
            _ => None,
        };
        // Checked for every transcoded chunk: the app is cloned only for the one row.
        let Some(row) = row else {
            return false;
        };
        let Some(app) = self.app.clone() else {
            return false;
        };
        self.saving = Some(Box::pin(async move {
            crate::responses::save(&app, row).await;
        }));
        true
    }

    /// What is about to go to the caller, for the body log (while the ticket is open).
    fn log_out(&mut self) {
        if let Some(ticket) = self.ticket.as_mut() {
            ticket.streamed_bytes(&self.out);
        }
    }

    /// The stream cannot go on (the upstream broke off, or sent what cannot be
    /// relayed): the upstream request is dropped, and the caller gets an error in its
    /// own stream grammar.
    fn fail(&mut self, err: GatewayError) {
        tracing::debug!(error = %err.message, "upstream stream broke off");
        self.upstream = None;
        self.recorder = None;
        match &mut self.mode {
            // A no-op when the transcoder already ended the stream with this error.
            Mode::Transcode(t) => t.fail(err.clone(), &mut self.out),
            Mode::Pass { .. } => {
                // The bytes passed through may stop mid-event: a blank line ends it,
                // so the error is an event of its own (SSE readers skip blank lines).
                self.out.extend_from_slice(b"\n\n");
                self.encode_error(&err);
            }
            Mode::StripUsage { .. } => self.encode_error(&err),
        }
        let streamed = self.streamed();
        if let Some(mut ticket) = self.ticket.take() {
            ticket.streamed_bytes(&self.out);
            ticket.stream_failed(&err, streamed);
        }
    }

    fn encode_error(&mut self, err: &GatewayError) {
        let mut encoder = StreamEncoder::new(self.caller, &self.ctx);
        encoder.encode(&StreamEvent::Error(err.clone()), &mut self.out);
    }

    /// What the stream reported and delivered so far.
    fn streamed(&self) -> Streamed {
        let (reported, output_tokens) = match &self.mode {
            Mode::Pass { tap } => (tap.tally().usage(), tap.tally().output_tokens()),
            Mode::StripUsage(strip) => {
                let tally = strip.tap.tally();
                (tally.usage(), tally.output_tokens())
            }
            Mode::Transcode(t) => (t.usage(), t.output_tokens()),
        };
        Streamed {
            reported,
            output_tokens,
        }
    }
}

/// The relay is the response body stream, polled where it lies: a chunk moves no
/// relay state (an `unfold` moved the whole relay in and out of a new future for
/// every chunk).
impl Stream for Relay {
    type Item = Result<BodyFrame<Bytes>, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .poll_bytes(cx)
            .map(|bytes| bytes.map(|b| Ok(BodyFrame::data(b))))
    }
}

impl Drop for Relay {
    /// Dropped before the end: the caller went away (the upstream request is cancelled
    /// with the body stream).
    fn drop(&mut self) {
        let streamed = self.streamed();
        if let Some(ticket) = self.ticket.take() {
            ticket.cancelled(streamed);
        }
    }
}

/// How long, and how many bytes, the rest of an upstream body is read after the
/// caller's stream ended at its last event; past either the body is dropped and its
/// connection closed rather than kept.
const DRAIN_FOR: std::time::Duration = std::time::Duration::from_secs(5);
const DRAIN_BYTES: usize = 64 << 10;

/// Reads the rest of `upstream` on a task of its own, so that a connection whose
/// body ends as it should goes back to the pool.
fn drain(mut upstream: BodyStream) {
    tokio::spawn(async move {
        let mut left = DRAIN_BYTES;
        let _ = tokio::time::timeout(DRAIN_FOR, async {
            while let Some(Ok(chunk)) = upstream.next().await {
                match left.checked_sub(chunk.len()) {
                    Some(rest) => left = rest,
                    None => break,
                }
            }
        })
        .await;
    });
}

/// Ollama callers' streams end with durations: the transcoder is told the time.
fn clock(t: &mut Transcoder, caller: ApiShape, ticket: Option<&Ticket>) {
    if let (ApiShape::Ollama, Some(ticket)) = (caller, ticket) {
        t.set_clock(ticket.elapsed_ns());
    }
}
