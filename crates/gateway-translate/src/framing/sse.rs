//! Server-sent events, parsed line by line with LF, CRLF and lone-CR line endings.

use super::Frame;

/// An incremental SSE parser (WHATWG event-stream rules, minus `id`/`retry`, which no
/// LLM API uses for meaning).
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous chunk ended in CR: a leading LF in the next chunk is its pair.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    /// Feeds a chunk; complete events are appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) {
        let mut rest = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some((&b'\n', tail)) = rest.split_first() {
                rest = tail;
            }
        }
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', rest) {
            let (head, tail) = rest.split_at(pos);
            let line_end = tail[0];
            let mut after = &tail[1..];
            if line_end == b'\r' {
                match after.first() {
                    Some(b'\n') => after = &after[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            if self.line.is_empty() {
                self.take_line(head, out);
            } else {
                self.line.extend_from_slice(head);
                let line = std::mem::take(&mut self.line);
                self.take_line(&line, out);
                self.line = line;
                self.line.clear();
            }
            rest = after;
        }
        self.line.extend_from_slice(rest);
    }

    /// Ends the input. An event whose blank line never came is still delivered, since
    /// some servers close right after the last `data:` line.
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.take_line(&line, out);
        }
        self.dispatch(out);
    }

    fn take_line(&mut self, line: &[u8], out: &mut Vec<Frame>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                super::push_utf8(&mut self.data, value);
                self.has_data = true;
            }
            b"event" => self.event = Some(super::to_utf8(value)),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Frame>) {
        if self.has_data {
            out.push(Frame {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            });
            self.has_data = false;
        } else {
            self.event = None;
        }
    }
}

/// Writes one SSE event (`event:` line when named, one `data:` line per payload line,
/// blank line) to `out`.
pub fn write_sse(out: &mut Vec<u8>, event: Option<&str>, data: &[u8]) {
    if let Some(name) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    for line in data.split(|&b| b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<Frame> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, &mut out);
        }
        p.finish(&mut out);
        out
    }

    #[test]
    fn lf_crlf_and_cr_give_the_same_events() {
        let lf = b"event: a\ndata: 1\n\n: comment\ndata: 2\ndata: 3\n\n";
        let crlf = b"event: a\r\ndata: 1\r\n\r\n: comment\r\ndata: 2\r\ndata: 3\r\n\r\n";
        let cr = b"event: a\rdata: 1\r\r: comment\rdata: 2\rdata: 3\r\r";
        let want = vec![
            Frame {
                event: Some("a".into()),
                data: "1".into(),
            },
            Frame::data("2\n3"),
        ];
        assert_eq!(parse_all(&[lf]), want);
        assert_eq!(parse_all(&[crlf]), want);
        assert_eq!(parse_all(&[cr]), want);
    }

    #[test]
    fn crlf_split_between_chunks_is_one_line_end() {
        assert_eq!(
            parse_all(&[b"data: x\r", b"\n\r", b"\ndata: y\r\n\r\n"]),
            vec![Frame::data("x"), Frame::data("y")]
        );
    }

    #[test]
    fn value_without_space_and_event_without_data() {
        assert_eq!(
            parse_all(&[b"event: ping\n\ndata:{}\n\n"]),
            vec![Frame::data("{}")]
        );
    }

    #[test]
    fn unterminated_last_event_is_delivered_at_finish() {
        assert_eq!(parse_all(&[b"data: [DONE]"]), vec![Frame::data("[DONE]")]);
    }

    #[test]
    fn writer_round_trips_through_parser() {
        let mut bytes = Vec::new();
        write_sse(&mut bytes, Some("message_stop"), br#"{"a":1}"#);
        write_sse(&mut bytes, None, b"two\nlines");
        assert_eq!(
            parse_all(&[&bytes]),
            vec![
                Frame {
                    event: Some("message_stop".into()),
                    data: r#"{"a":1}"#.into()
                },
                Frame::data("two\nlines")
            ]
        );
    }
}
