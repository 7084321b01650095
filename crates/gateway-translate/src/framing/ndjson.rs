//! Newline-delimited JSON (Ollama's stream framing).

use super::{DEFAULT_MAX_FRAME_BYTES, Frame, FrameRef, FrameTooLarge, reserve_within};

/// An incremental NDJSON splitter: every non-blank line is one frame.
#[derive(Debug)]
pub struct NdjsonParser {
    line: Vec<u8>,
    limit: usize,
    failed: bool,
}

impl Default for NdjsonParser {
    fn default() -> Self {
        NdjsonParser::with_limit(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl NdjsonParser {
    /// A parser whose lines may be at most `max_frame_bytes` long.
    pub fn with_limit(max_frame_bytes: usize) -> Self {
        NdjsonParser {
            line: Vec::new(),
            limit: max_frame_bytes,
            failed: false,
        }
    }

    /// Feeds a chunk; complete lines are appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) -> Result<(), FrameTooLarge> {
        self.push_with(chunk, &mut |frame| out.push(frame.into()))
    }

    /// Feeds a chunk; each complete line is passed to `emit`, borrowed from the chunk
    /// when it lies in it.
    pub fn push_with(
        &mut self,
        chunk: &[u8],
        emit: &mut impl FnMut(FrameRef<'_>),
    ) -> Result<(), FrameTooLarge> {
        if self.failed {
            return Err(FrameTooLarge { limit: self.limit });
        }
        let mut rest = chunk;
        while let Some(pos) = memchr::memchr(b'\n', rest) {
            let head = &rest[..pos];
            if self.line.is_empty() && head.len() <= self.limit {
                emit_line(head, emit);
            } else {
                self.append(head)?;
                emit_line(&self.line, emit);
                self.line.clear();
            }
            rest = &rest[pos + 1..];
        }
        self.append(rest)
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), FrameTooLarge> {
        if let Err(err) = reserve_within(&mut self.line, bytes.len(), self.limit) {
            self.failed = true;
            return Err(err);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// Ends the input; a last line without a newline is still a frame.
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        self.finish_with(&mut |frame| out.push(frame.into()));
    }

    /// Ends the input, passing a last line without a newline to `emit`.
    pub fn finish_with(&mut self, emit: &mut impl FnMut(FrameRef<'_>)) {
        emit_line(&self.line, emit);
        self.line.clear();
    }
}

/// One line, trimmed, as a frame unless blank.
fn emit_line(line: &[u8], emit: &mut impl FnMut(FrameRef<'_>)) {
    let owned;
    let text = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(_) => {
            owned = super::to_utf8(line);
            &owned
        }
    };
    let trimmed = text.trim();
    if !trimmed.is_empty() {
        emit(FrameRef {
            event: None,
            data: trimmed,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_chunks_and_skips_blanks() {
        let mut p = NdjsonParser::default();
        let mut out = Vec::new();
        p.push(b"{\"a\":1}\n{\"b\"", &mut out).unwrap();
        p.push(b":2}\r\n\n{\"c\":3}", &mut out).unwrap();
        p.finish(&mut out);
        let data: Vec<_> = out.into_iter().map(|f| f.data).collect();
        assert_eq!(data, vec![r#"{"a":1}"#, r#"{"b":2}"#, r#"{"c":3}"#]);
    }

    #[test]
    fn a_line_without_end_fails_at_the_limit_without_holding_more() {
        let mut p = NdjsonParser::with_limit(1000);
        let mut out = Vec::new();
        // A line of exactly the limit is fine.
        p.push(&[b'x'; 1000], &mut out).unwrap();
        p.push(b"\n{\"a\":1}", &mut out).unwrap();
        assert_eq!(out.len(), 1);
        let mut pushed = 0;
        let err = loop {
            match p.push(&[b'y'; 7], &mut out) {
                Ok(()) => {
                    assert!(p.line.capacity() <= 1000, "{}", p.line.capacity());
                    pushed += 7;
                }
                Err(err) => break err,
            }
        };
        assert_eq!(err, FrameTooLarge { limit: 1000 });
        assert_eq!(pushed, (1000 - 7) / 7 * 7);
        assert_eq!(p.line.capacity(), 0, "the buffer is dropped");
        // Failed for good: even a complete line is refused.
        assert!(p.push(b"{}\n", &mut out).is_err());
        assert_eq!(out.len(), 1);
    }
}
