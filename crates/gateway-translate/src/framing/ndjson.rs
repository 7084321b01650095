//! Newline-delimited JSON (Ollama's stream framing).

use super::Frame;

/// An incremental NDJSON splitter: every non-blank line is one frame.
#[derive(Debug, Default)]
pub struct NdjsonParser {
    line: Vec<u8>,
}

impl NdjsonParser {
    /// Feeds a chunk; complete lines are appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) {
        let mut rest = chunk;
        while let Some(pos) = memchr::memchr(b'\n', rest) {
            self.line.extend_from_slice(&rest[..pos]);
            self.emit(out);
            rest = &rest[pos + 1..];
        }
        self.line.extend_from_slice(rest);
    }

    /// Ends the input; a last line without a newline is still a frame.
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        self.emit(out);
    }

    fn emit(&mut self, out: &mut Vec<Frame>) {
        let text = super::to_utf8(&self.line);
        let trimmed = text.trim();
        if !trimmed.is_empty() {
            out.push(Frame::data(trimmed));
        }
        self.line.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_chunks_and_skips_blanks() {
        let mut p = NdjsonParser::default();
        let mut out = Vec::new();
        p.push(b"{\"a\":1}\n{\"b\"", &mut out);
        p.push(b":2}\r\n\n{\"c\":3}", &mut out);
        p.finish(&mut out);
        let data: Vec<_> = out.into_iter().map(|f| f.data).collect();
        assert_eq!(data, vec![r#"{"a":1}"#, r#"{"b":2}"#, r#"{"c":3}"#]);
    }
}
