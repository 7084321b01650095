//! A streamed answer read on the side into its canonical whole, to be kept when the
//! stream ends with its stop. The relay hands it each upstream chunk as it passes;
//! it frames and decodes them with the upstream shape's codec (the relay's own
//! reading is for accounting and may skip content) and folds the events.
//!
//! Given up (nothing kept) on an error event, unreadable data, or an answer past the
//! cache's entry bound, so recording never holds more than that bound.

use std::sync::Arc;

use gateway_protocol::{ApiShape, StreamEvent};
use gateway_translate::assemble::Aggregator;
use gateway_translate::codec::{StreamDecoder, upstream_framing};
use gateway_translate::{Framer, ResponseContext};

use super::{Key, ResponseCache, Stored};

/// Upstream bytes carry more than the answer they spell (framing, JSON, repeated
/// ids): recording stops past this many times the entry bound.
const WIRE_OVERHEAD: u64 = 4;

/// One stream being recorded.
pub(crate) struct Recorder {
    cache: Arc<ResponseCache>,
    key: Key,
    provider: String,
    model: String,
    framer: Framer,
    decoder: StreamDecoder,
    events: Vec<StreamEvent>,
    answer: Aggregator,
    stopped: bool,
    given_up: bool,
    seen: u64,
}

impl Recorder {
    /// Records the `upstream`-shaped stream of `provider`'s `model` for `key`.
    pub(crate) fn new(
        cache: Arc<ResponseCache>,
        key: Key,
        upstream: ApiShape,
        ctx: &ResponseContext,
        provider: &str,
        model: &str,
    ) -> Recorder {
        Recorder {
            cache,
            key,
            provider: provider.to_owned(),
            model: model.to_owned(),
            framer: Framer::new(upstream_framing(upstream)),
            decoder: StreamDecoder::new(upstream, ctx),
            events: Vec::new(),
            answer: Aggregator::default(),
            stopped: false,
            given_up: false,
            seen: 0,
        }
    }

    /// Reads one upstream chunk.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        if self.given_up {
            return;
        }
        self.seen += chunk.len() as u64;
        if self.seen > self.cache.max_entry_bytes.saturating_mul(WIRE_OVERHEAD) {
            self.give_up();
            return;
        }
        let Recorder {
            framer,
            decoder,
            events,
            given_up,
            ..
        } = self;
        let framed = framer.push_with(chunk, |frame| {
            if decoder.decode(frame, events).is_err() {
                *given_up = true;
            }
        });
        if framed.is_err() {
            self.given_up = true;
        }
        self.fold();
    }

    /// The upstream stream ended normally: the answer is kept when it was whole.
    pub(crate) fn finish(mut self) {
        if self.given_up {
            return;
        }
        let Recorder {
            framer,
            decoder,
            events,
            given_up,
            ..
        } = &mut self;
        framer.finish_with(|frame| {
            if decoder.decode(frame, events).is_err() {
                *given_up = true;
            }
        });
        decoder.finish(events);
        self.fold();
        if self.given_up || !self.stopped {
            return;
        }
        let Recorder {
            cache,
            key,
            provider,
            model,
            answer,
            ..
        } = self;
        if let Ok(response) = answer.finish() {
            cache.put(
                key,
                Stored {
                    provider,
                    model,
                    response,
                },
            );
        }
    }

    fn fold(&mut self) {
        for event in self.events.drain(..) {
            match &event {
                StreamEvent::Error(_) => self.given_up = true,
                StreamEvent::MessageStop { .. } => self.stopped = true,
                _ => {}
            }
            self.answer.push(&event);
        }
        if self.given_up {
            self.give_up();
        }
    }

    fn give_up(&mut self) {
        self.given_up = true;
        self.answer = Aggregator::default();
        self.events = Vec::new();
    }
}
