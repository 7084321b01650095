//! A JSON array streamed element by element (Gemini `streamGenerateContent` without
//! `alt=sse`): `[{...},\r\n{...}]`.

use super::Frame;

/// An incremental splitter that yields each top-level element of a JSON array.
/// It tracks only nesting and string state; elements are validated by the codec.
#[derive(Debug, Default)]
pub struct JsonArrayParser {
    element: Vec<u8>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    started: bool,
    ended: bool,
}

impl JsonArrayParser {
    /// Feeds a chunk; complete elements are appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) {
        for &b in chunk {
            if self.ended {
                return;
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
            p.push(&body[..split], &mut out);
            p.push(&body[split..], &mut out);
            p.finish(&mut out);
            let data: Vec<_> = out.into_iter().map(|f| f.data).collect();
            assert_eq!(data, vec![r#"{"a":"x]}\""}"#, r#"{"b":[1,{"c":2}]}"#]);
        }
    }
}
