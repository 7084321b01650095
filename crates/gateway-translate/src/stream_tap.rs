//! [`StreamTap`]: what a same-shape stream, relayed as bytes, tells its accounting —
//! the usage the upstream reported, the output counted from the content, the first
//! error — read on the side, frame by frame.
//!
//! Nearly every frame of a stream is a content delta of one form. Those are measured
//! through the decoder's template ([`StreamDecoder::count`]): the text's length, found
//! without building an event or copying the text. Only the other frames are decoded
//! (the first ones, the finish, the usage, errors, tool calls, anything the template
//! does not match). A delta is measured only when skipping its decode leaves the
//! decoder as decoding it would, so the tally is the one a full decode gives, frame
//! for frame; a test holds that over every fixture stream and mutations of them.

use gateway_protocol::{ApiShape, StreamEvent};

use crate::codec::StreamDecoder;
use crate::context::ResponseContext;
use crate::estimate::StreamTally;
use crate::framing::FrameRef;

/// Reads the frames of one same-shape stream for its [`StreamTally`].
#[derive(Debug, Clone)]
pub struct StreamTap {
    decoder: StreamDecoder,
    /// The events of one decoded frame, reused.
    events: Vec<StreamEvent>,
    tally: StreamTally,
    /// Deltas are measured (off only in the test that compares with the full decode).
    measure: bool,
}

impl StreamTap {
    /// A tap for a stream of `shape` answering the request `ctx` describes.
    pub fn new(shape: ApiShape, ctx: &ResponseContext) -> Self {
        StreamTap {
            decoder: StreamDecoder::new(shape, ctx),
            events: Vec::new(),
            tally: StreamTally::default(),
            measure: true,
        }
    }

    /// The tap decoding every frame, as it did before deltas were measured.
    #[cfg(test)]
    fn decoding_every_frame(mut self) -> Self {
        self.measure = false;
        self
    }

    /// Reads one frame. True when it was a content delta, measured without decoding:
    /// such a frame carries no usage, no error and no finish (in OpenAI Chat, it is a
    /// chunk of one choice, so never the usage-only chunk).
    pub fn observe(&mut self, frame: FrameRef<'_>) -> bool {
        if self.measure {
            if let Some(bytes) = self.decoder.count(frame) {
                self.tally.add_output(bytes);
                return true;
            }
        }
        // A frame that does not decode is still relayed; it is just not counted.
        let _ = self.decoder.decode(frame, &mut self.events);
        self.drain();
        false
    }

    /// Reads the stream's end: one cut off before it finished ends in an error.
    pub fn finish(&mut self) {
        self.decoder.finish(&mut self.events);
        self.drain();
    }

    /// What the frames read so far reported and carried.
    pub fn tally(&self) -> &StreamTally {
        &self.tally
    }

    fn drain(&mut self) {
        for event in self.events.drain(..) {
            self.tally.observe(&event);
        }
    }
}

#[cfg(test)]
mod agreement;
