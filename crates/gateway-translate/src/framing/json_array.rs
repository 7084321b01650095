//! A JSON array streamed element by element (Gemini `streamGenerateContent` without
//! `alt=sse`): `[{...},\r\n{...}]`.

use super::{DEFAULT_MAX_FRAME_BYTES, Frame, FrameRef, FrameTooLarge, reserve_within};

/// An incremental splitter that yields each top-level element of a JSON array.
/// It tracks only nesting and string state; elements are validated by the codec.
#[derive(Debug)]
pub struct JsonArrayParser {
    element: Vec<u8>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    started: bool,
    ended: bool,
    limit: usize,
    failed: bool,
}

impl Default for JsonArrayParser {
    fn default() -> Self {
        JsonArrayParser::with_limit(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl JsonArrayParser {
    /// A parser whose elements may be at most `max_frame_bytes` long.
    pub fn with_limit(max_frame_bytes: usize) -> Self {
        JsonArrayParser {
            element: Vec::new(),
            depth: 0,
            in_string: false,
            escaped: false,
            started: false,
            ended: false,
            limit: max_frame_bytes,
            failed: false,
        }
    }

    /// Feeds a chunk; complete elements are appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) -> Result<(), FrameTooLarge> {
        if self.failed {
            return Err(FrameTooLarge { limit: self.limit });
        }
        for &b in chunk {
            if self.ended {
                return Ok(());
            }
            if self.element.len() == self.element.capacity() {
                if let Err(err) = reserve_within(&mut self.element, 1, self.limit) {
                    self.failed = true;
                    return Err(err);
                }
            }
            if !self.started {
                if b == b'[' {
                    self.started = true;
                }
                continue;
            }
            if self.depth == 0 {
                match b {
                    b'{' | b'[' => {
                        self.depth = 1;
                        self.element.push(b);
                    }
                    b']' => self.ended = true,
                    _ => {}
                }
                continue;
            }
            self.element.push(b);
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let bytes = std::mem::take(&mut self.element);
                        out.push(Frame::data(super::to_utf8(&bytes)));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Feeds a chunk; each complete element is passed to `emit` (copied: this framing
    /// is rare, Gemini upstreams are asked for SSE).
    pub fn push_with(
        &mut self,
        chunk: &[u8],
        emit: &mut impl FnMut(FrameRef<'_>),
    ) -> Result<(), FrameTooLarge> {
        let mut frames = Vec::new();
        let pushed = self.push(chunk, &mut frames);
        frames.iter().for_each(|frame| emit(frame.view()));
        pushed
    }

    /// Ends the input, passing an unfinished element (see [`JsonArrayParser::finish`])
    /// to `emit`.
    pub fn finish_with(&mut self, emit: &mut impl FnMut(FrameRef<'_>)) {
        let mut frames = Vec::new();
        self.finish(&mut frames);
        frames.iter().for_each(|frame| emit(frame.view()));
    }

    /// Ends the input. An unfinished element is passed on so the codec reports it as
    /// a truncated payload instead of it vanishing.
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        if !self.element.is_empty() {
            let bytes = std::mem::take(&mut self.element);
            out.push(Frame::data(super::to_utf8(&bytes)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_each_element_whatever_the_chunking() {
        let body = b"[{\"a\":\"x]}\\\"\"},\r\n{\"b\":[1,{\"c\":2}]}\r\n]";
        for split in 0..body.len() {
            let mut p = JsonArrayParser::default();
            let mut out = Vec::new();
            p.push(&body[..split], &mut out).unwrap();
            p.push(&body[split..], &mut out).unwrap();
            p.finish(&mut out);
            let data: Vec<_> = out.into_iter().map(|f| f.data).collect();
            assert_eq!(data, vec![r#"{"a":"x]}\""}"#, r#"{"b":[1,{"c":2}]}"#]);
        }
    }

    #[test]
    fn an_element_without_end_fails_at_the_limit_without_holding_more() {
        let mut p = JsonArrayParser::with_limit(512);
        let mut out = Vec::new();
        p.push(b"[{\"a\":1},{\"b\":\"", &mut out).unwrap();
        let err = loop {
            match p.push(&[b'q'; 10], &mut out) {
                Ok(()) => assert!(p.element.capacity() <= 512, "{}", p.element.capacity()),
                Err(err) => break err,
            }
        };
        assert_eq!(err.limit, 512);
        assert_eq!(p.element.capacity(), 0);
        assert_eq!(out, vec![Frame::data(r#"{"a":1}"#)]);
        assert!(p.push(b"\"}]", &mut out).is_err());
        p.finish(&mut out);
        assert_eq!(out.len(), 1);
    }
}
