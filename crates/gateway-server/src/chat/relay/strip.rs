//! A same-shape OpenAI Chat stream minus the usage chunk the gateway asked for on the
//! caller's behalf: frames pass as the upstream wrote them, each chunk cut after its
//! last complete frame (the rest waits for the next chunk), and only the piece that
//! holds the usage-only chunk is written again without it. Writing every frame again
//! cost a copy and a re-serialisation per event.
//!
//! Frames are found by `\n\n`; a stream that uses CR line ends is written again
//! frame by frame from the first CR on, as before.

use bytes::Bytes;
use gateway_protocol::ApiShape;
use gateway_translate::codec::upstream_framing;
use gateway_translate::framing::{FrameTooLarge, write_sse};
use gateway_translate::{FrameRef, Framer, fastpath};

use super::Tap;

pub(super) struct Strip {
    pub(super) tap: Tap,
    /// What came after the last complete frame, not passed on yet.
    held: Vec<u8>,
    /// A CR was seen: every frame is written again.
    rewrite: bool,
}

impl Strip {
    pub(super) fn new(tap: Tap) -> Strip {
        Strip {
            tap,
            held: Vec::new(),
            rewrite: false,
        }
    }

    /// Reads `chunk`. What goes on unchanged is returned; what goes before it is
    /// written to `out`.
    pub(super) fn push(
        &mut self,
        chunk: Bytes,
        out: &mut Vec<u8>,
    ) -> Result<Option<Bytes>, FrameTooLarge> {
        if !self.rewrite && memchr::memchr(b'\r', &chunk).is_some() {
            // What is held belongs to a frame the framer holds too: it is written
            // when that frame ends.
            self.rewrite = true;
            self.held = Vec::new();
        }
        if self.rewrite {
            out.reserve(chunk.len());
            self.tap
                .push(&chunk, |frame, delta| write_frame(frame, delta, out))?;
            return Ok(None);
        }
        let mut usage_only = false;
        let read = self.tap.push(&chunk, |frame, delta| {
            usage_only |= dropped(frame, delta);
        });
        if let Err(too_large) = read {
            // The bytes go on; the error event follows them.
            out.append(&mut self.held);
            out.extend_from_slice(&chunk);
            return Err(too_large);
        }
        let Some(end) = after_last_blank_line(self.held.last().copied(), &chunk) else {
            self.held.extend_from_slice(&chunk);
            return Ok(None);
        };
        let whole = chunk.slice(..end);
        let passed = if usage_only {
            let mut piece = std::mem::take(&mut self.held);
            piece.extend_from_slice(&whole);
            write_without_usage(&piece, out);
            None
        } else {
            out.append(&mut self.held);
            Some(whole)
        };
        self.held.clear();
        self.held.extend_from_slice(&chunk[end..]);
        Ok(passed)
    }

    /// Ends the stream: the last frame, if it had no blank line after it.
    pub(super) fn finish(&mut self, out: &mut Vec<u8>) {
        if self.rewrite {
            self.tap
                .finish(|frame, delta| write_frame(frame, delta, out));
            return;
        }
        let mut usage_only = false;
        self.tap
            .finish(|frame, delta| usage_only |= dropped(frame, delta));
        let held = std::mem::take(&mut self.held);
        if usage_only {
            write_without_usage(&held, out);
        } else {
            out.extend_from_slice(&held);
        }
    }
}

/// Where the part of `chunk` that ends with a blank line stops (`\n\n`, the first
/// `\n` possibly the last byte before the chunk, `before`).
fn after_last_blank_line(before: Option<u8>, chunk: &[u8]) -> Option<usize> {
    memchr::memrchr_iter(b'\n', chunk)
        .find(|&at| match at {
            0 => before == Some(b'\n'),
            _ => chunk[at - 1] == b'\n',
        })
        .map(|at| at + 1)
}

/// `piece` without its usage-only chunks; every other frame (comments too) as it
/// came. LF line ends only (a CR switches the stream to rewriting).
fn write_without_usage(piece: &[u8], out: &mut Vec<u8>) {
    let mut rest = piece;
    while !rest.is_empty() {
        let end = memchr::memmem::find(rest, b"\n\n").map_or(rest.len(), |at| at + 2);
        let (frame, tail) = rest.split_at(end);
        if !is_usage_only(frame) {
            out.extend_from_slice(frame);
        }
        rest = tail;
    }
}

/// Whether the one frame in `raw` is a usage-only chunk.
fn is_usage_only(raw: &[u8]) -> bool {
    let mut framer = Framer::new(upstream_framing(ApiShape::OpenAiChat));
    let mut found = false;
    // The tap's framer took this frame under the same limit.
    let _ = framer.push_with(raw, |frame| found |= dropped(frame, false));
    framer.finish_with(|frame| found |= dropped(frame, false));
    found
}

/// Whether `frame` is the usage-only chunk to leave out (a content delta, with its
/// one choice, never is).
fn dropped(frame: FrameRef<'_>, delta: bool) -> bool {
    !delta && fastpath::is_usage_only_chunk(frame.data.as_bytes())
}

/// Writes an OpenAI Chat frame back as SSE, unless it is to be left out.
fn write_frame(frame: FrameRef<'_>, delta: bool, out: &mut Vec<u8>) {
    if !dropped(frame, delta) {
        write_sse(out, frame.event, frame.data.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_translate::ResponseContext;

    const STREAM: &str = concat!(
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        ": a comment\n\n",
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n",
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    );
    const USAGE: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\": [ ],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}\n\n";
    const DONE: &str = "data: [DONE]\n\n";

    fn strip() -> Strip {
        Strip::new(Tap::new(ApiShape::OpenAiChat, &ResponseContext::default()))
    }

    /// What the caller gets for `input` cut into `chunks`.
    fn relayed(chunks: &[&[u8]]) -> Vec<u8> {
        let mut s = strip();
        let mut got = Vec::new();
        for chunk in chunks {
            let mut out = Vec::new();
            let passed = s.push(Bytes::copy_from_slice(chunk), &mut out).unwrap();
            got.extend_from_slice(&out);
            if let Some(passed) = passed {
                got.extend_from_slice(&passed);
            }
        }
        let mut out = Vec::new();
        s.finish(&mut out);
        got.extend_from_slice(&out);
        got
    }

    #[test]
    fn the_usage_chunk_is_cut_out_wherever_the_chunks_split() {
        let input = format!("{STREAM}{USAGE}{DONE}");
        let want = format!("{STREAM}{DONE}");
        let bytes = input.as_bytes();
        assert_eq!(relayed(&[bytes]), want.as_bytes());
        for at in 1..bytes.len() {
            assert_eq!(
                String::from_utf8(relayed(&[&bytes[..at], &bytes[at..]])).unwrap(),
                want,
                "split at {at}"
            );
        }
        // One byte at a time.
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(relayed(&singles), want.as_bytes());
    }

    #[test]
    fn whole_frames_pass_as_the_same_bytes() {
        let mut s = strip();
        let chunk = Bytes::from(STREAM);
        let mut out = Vec::new();
        let passed = s.push(chunk.clone(), &mut out).unwrap().unwrap();
        assert!(out.is_empty());
        assert_eq!(passed.as_ptr(), chunk.as_ptr(), "no copy");
        assert_eq!(passed.len(), chunk.len());
        // The tap still read them: one output token's worth of content.
        assert!(s.tap.tally().output_tokens() > 0);
    }

    #[test]
    fn a_last_frame_without_its_blank_line_still_goes_out() {
        let input = format!("{STREAM}data: [DONE]");
        assert_eq!(relayed(&[input.as_bytes()]), input.as_bytes());
        let usage_last = format!("{STREAM}{}", USAGE.trim_end());
        assert_eq!(relayed(&[usage_last.as_bytes()]), STREAM.as_bytes());
    }

    #[test]
    fn crlf_streams_are_written_frame_by_frame() {
        let input = format!("{STREAM}{USAGE}{DONE}").replace('\n', "\r\n");
        let got = String::from_utf8(relayed(&[input.as_bytes()])).unwrap();
        assert!(!got.contains("usage"), "{got}");
        assert!(
            got.contains("Hello") && got.ends_with("data: [DONE]\n\n"),
            "{got}"
        );
    }
}
