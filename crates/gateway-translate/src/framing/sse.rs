//! Server-sent events, parsed line by line with LF, CRLF and lone-CR line endings.
//!
//! An event whose lines all lie in the chunk being pushed (nearly every event, with
//! the usual 4–16 KiB reads) is handed on borrowed from the chunk: nothing is copied
//! or allocated for it. Lines and events that span chunks are gathered in buffers
//! kept from event to event.

use super::{
    DEFAULT_MAX_FRAME_BYTES, Frame, FrameRef, FrameTooLarge, capped_growth, reserve_within,
};

/// An incremental SSE parser (WHATWG event-stream rules, minus `id`/`retry`, which no
/// LLM API uses for meaning). One event — its unfinished line and the data lines
/// gathered so far — holds at most the parser's limit.
#[derive(Debug)]
pub struct SseParser {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous chunk ended in CR: a leading LF in the next chunk is its pair.
    after_cr: bool,
    /// The event name gathered so far (valid when `has_event`).
    event: String,
    has_event: bool,
    /// The data gathered so far (valid when `has_data`).
    data: String,
    has_data: bool,
    limit: usize,
    failed: bool,
}

/// Fields of the current event read from lines inside the chunk being pushed, not
/// copied yet. They are newer than the buffered ones, and `data` is only set while
/// the buffer holds none.
#[derive(Default)]
struct Pending<'c> {
    event: Option<&'c str>,
    data: Option<&'c str>,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::with_limit(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl SseParser {
    /// A parser whose events may hold at most `max_frame_bytes`.
    pub fn with_limit(max_frame_bytes: usize) -> Self {
        SseParser {
            line: Vec::new(),
            after_cr: false,
            event: String::new(),
            has_event: false,
            data: String::new(),
            has_data: false,
            limit: max_frame_bytes,
            failed: false,
        }
    }

    /// Feeds a chunk; complete events are appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) -> Result<(), FrameTooLarge> {
        self.push_with(chunk, &mut |frame| out.push(frame.into()))
    }

    /// Feeds a chunk; each complete event is passed to `emit`, borrowed.
    pub fn push_with(
        &mut self,
        chunk: &[u8],
        emit: &mut impl FnMut(FrameRef<'_>),
    ) -> Result<(), FrameTooLarge> {
        if self.failed {
            return Err(FrameTooLarge { limit: self.limit });
        }
        let result = self.push_lines(chunk, emit);
        if result.is_err() {
            self.fail();
        }
        result
    }

    fn push_lines(
        &mut self,
        chunk: &[u8],
        emit: &mut impl FnMut(FrameRef<'_>),
    ) -> Result<(), FrameTooLarge> {
        let mut rest = chunk;
        let text = valid_prefix(chunk);
        let mut pending = Pending::default();
        // (An empty chunk leaves a pending CR pending.)
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if let Some((&b'\n', tail)) = rest.split_first() {
                rest = tail;
            }
        }
        loop {
            let pos = match rest.first() {
                // The blank line that ends an event, found without a search.
                Some(b'\n' | b'\r') => 0,
                Some(_) => match memchr::memchr2(b'\n', b'\r', rest) {
                    Some(pos) => pos,
                    None => break,
                },
                None => break,
            };
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
                self.take_line(head, text, &mut pending, emit)?;
            } else {
                // A line begun in an earlier chunk, completed in the buffer.
                self.keep(&mut pending)?;
                self.append(head)?;
                let line = std::mem::take(&mut self.line);
                let mut from_buffer = Pending::default();
                let taken = self
                    .take_line(&line, "", &mut from_buffer, emit)
                    .and_then(|()| self.keep(&mut from_buffer));
                self.line = line;
                self.line.clear();
                taken?;
            }
            rest = after;
        }
        self.keep(&mut pending)?;
        self.append(rest)
    }

    /// Adds to the unfinished line; the event's data so far counts against the limit.
    fn append(&mut self, bytes: &[u8]) -> Result<(), FrameTooLarge> {
        let room = self.limit.saturating_sub(self.data.len());
        reserve_within(&mut self.line, bytes.len(), room)
            .map_err(|_| FrameTooLarge { limit: self.limit })?;
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// Copies the borrowed fields into the buffers (before their line or chunk goes).
    fn keep(&mut self, pending: &mut Pending<'_>) -> Result<(), FrameTooLarge> {
        if let Some(event) = pending.event.take() {
            self.event.clear();
            self.event.push_str(event);
            self.has_event = true;
        }
        if let Some(data) = pending.data.take() {
            self.reserve_data(data.len())?;
            self.data.push_str(data);
            self.has_data = true;
        }
        Ok(())
    }

    /// Room for `extra` more data bytes, the buffer never growing past the limit.
    fn reserve_data(&mut self, extra: usize) -> Result<(), FrameTooLarge> {
        let needed = self.data.len() + extra;
        if needed > self.limit {
            return Err(FrameTooLarge { limit: self.limit });
        }
        if needed > self.data.capacity() {
            let target = capped_growth(self.data.capacity(), needed, self.limit);
            self.data.reserve_exact(target - self.data.len());
        }
        Ok(())
    }

    /// Drops everything held and refuses further input.
    fn fail(&mut self) {
        self.failed = true;
        self.line = Vec::new();
        self.data = String::new();
        self.event = String::new();
        self.has_data = false;
        self.has_event = false;
    }

    /// Ends the input. An event whose blank line never came is still delivered, since
    /// some servers close right after the last `data:` line.
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        self.finish_with(&mut |frame| out.push(frame.into()));
    }

    /// Ends the input, passing the last event (see [`SseParser::finish`]) to `emit`.
    pub fn finish_with(&mut self, emit: &mut impl FnMut(FrameRef<'_>)) {
        if self.failed {
            return;
        }
        let line = std::mem::take(&mut self.line);
        let mut pending = Pending::default();
        if !line.is_empty() {
            // The line was within the limit when it was buffered.
            let _ = self.take_line(&line, "", &mut pending, emit);
        }
        self.dispatch(&mut pending, emit);
    }

    /// Reads one line; `within` is the text of the chunk it lies in, if it does.
    fn take_line<'l>(
        &mut self,
        line: &'l [u8],
        within: &'l str,
        pending: &mut Pending<'l>,
        emit: &mut impl FnMut(FrameRef<'_>),
    ) -> Result<(), FrameTooLarge> {
        if line.is_empty() {
            self.dispatch(pending, emit);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        // Nearly every line is a `data:` line: known without a search for the colon.
        let (field, value) = match line.strip_prefix(b"data:") {
            Some(v) => (&b"data"[..], v.strip_prefix(b" ").unwrap_or(v)),
            None => match memchr::memchr(b':', line) {
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
                }
                None => (line, &b""[..]),
            },
        };
        match field {
            b"data" => {
                let first = !self.has_data && pending.data.is_none();
                if first && value.len() > self.limit {
                    return Err(FrameTooLarge { limit: self.limit });
                }
                if let (true, Some(text)) = (first, text_of(value, within)) {
                    pending.data = Some(text);
                    return Ok(());
                }
                self.keep_data(pending)?;
                let joint = usize::from(self.has_data);
                self.reserve_data(joint + value.len())?;
                if self.has_data {
                    self.data.push('\n');
                }
                super::push_utf8(&mut self.data, value);
                self.has_data = true;
                // Invalid UTF-8 grows as it is replaced.
                if self.data.len() > self.limit {
                    return Err(FrameTooLarge { limit: self.limit });
                }
            }
            b"event" if value.len() > self.limit => {
                return Err(FrameTooLarge { limit: self.limit });
            }
            b"event" => match text_of(value, within) {
                Some(name) => pending.event = Some(name),
                None => {
                    pending.event = None;
                    self.event.clear();
                    super::push_utf8(&mut self.event, value);
                    self.has_event = true;
                }
            },
            _ => {}
        }
        Ok(())
    }

    /// Moves borrowed data into the buffer, ahead of a line appended to it.
    fn keep_data(&mut self, pending: &mut Pending<'_>) -> Result<(), FrameTooLarge> {
        let mut data_only = Pending {
            event: None,
            data: pending.data.take(),
        };
        self.keep(&mut data_only)
    }

    /// The blank line: the event gathered so far, if it has data, goes to `emit`.
    fn dispatch(&mut self, pending: &mut Pending<'_>, emit: &mut impl FnMut(FrameRef<'_>)) {
        let buffered_event = self.has_event.then_some(self.event.as_str());
        let event = pending.event.or(buffered_event);
        let data = match pending.data {
            Some(data) => Some(data),
            None => self.has_data.then_some(self.data.as_str()),
        };
        if let Some(data) = data {
            emit(FrameRef { event, data });
        }
        *pending = Pending::default();
        self.data.clear();
        self.has_data = false;
        self.has_event = false;
    }
}

/// The longest valid UTF-8 start of `chunk`. A chunk is validated once, which costs
/// less than validating its lines one by one; a line past the valid start (a
/// character split between chunks, invalid bytes) is validated on its own.
fn valid_prefix(chunk: &[u8]) -> &str {
    match std::str::from_utf8(chunk) {
        Ok(text) => text,
        Err(err) => std::str::from_utf8(&chunk[..err.valid_up_to()]).unwrap_or_default(),
    }
}

/// `value` as text: its place in `within` when it lies there (a slice of the same
/// memory, so the same bytes), else validated on its own.
fn text_of<'l>(value: &'l [u8], within: &'l str) -> Option<&'l str> {
    let start = (value.as_ptr() as usize).wrapping_sub(within.as_ptr() as usize);
    let end = start.checked_add(value.len())?;
    match within.get(start..end) {
        Some(text) if text.as_ptr() == value.as_ptr() => Some(text),
        _ => std::str::from_utf8(value).ok(),
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
    // One `data:` line per line of the data (nearly always one).
    let mut rest = data;
    out.reserve(data.len() + 8);
    loop {
        let (line, more) = match memchr::memchr(b'\n', rest) {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
        match more {
            Some(next) => rest = next,
            None => break,
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_of_the_data_is_a_data_line() {
        for data in ["", "one", "a\nb", "a\n", "\n", "x\n\ny\nz"] {
            let mut written = Vec::new();
            write_sse(&mut written, None, data.as_bytes());
            let mut want = String::new();
            for line in data.split('\n') {
                want.push_str("data: ");
                want.push_str(line);
                want.push('\n');
            }
            want.push('\n');
            assert_eq!(String::from_utf8(written).unwrap(), want, "{data:?}");
        }
    }

    fn parse_all(chunks: &[&[u8]]) -> Vec<Frame> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, &mut out).unwrap();
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

    /// Borrowed lines, buffered lines and the mix of both give the same events: every
    /// split of a stream into two or three chunks gives the events of the whole.
    #[test]
    fn every_split_gives_the_events_of_the_whole() {
        let stream: &[u8] = b"event: a\r\ndata: 1\r\n\r\n: note\ndata: x\ndata: y\n\n\
            event: bad\xff\rdata: caf\xc3\xa9 \xfe\r\revent: dropped\n\n\
            data:{\"k\":\"v\"}\nevent: late\n\nevent: b\nevent: c\ndata: last";
        let whole = parse_all(&[stream]);
        assert_eq!(whole.len(), 5, "{whole:?}");
        assert_eq!(whole[2].event.as_deref(), Some("bad\u{fffd}"));
        assert_eq!(whole[4].event.as_deref(), Some("c"));
        for i in 0..=stream.len() {
            assert_eq!(
                parse_all(&[&stream[..i], &stream[i..]]),
                whole,
                "split at {i}"
            );
            for j in i..=stream.len() {
                let three = [&stream[..i], &stream[i..j], &stream[j..]];
                assert_eq!(parse_all(&three), whole, "split at {i} and {j}");
            }
        }
    }

    /// `data:` lines are told without a search for the colon; fields that only start
    /// like one, and `data` without a colon, are read as before.
    #[test]
    fn data_lines_are_told_from_fields_that_start_alike() {
        let stream = b"data\n\ndata:\n\ndata:x\ndatax: y\ndata :z\ndata:  w\n\n";
        assert_eq!(
            parse_all(&[stream]),
            vec![Frame::data(""), Frame::data(""), Frame::data("x\n w")]
        );
    }

    #[test]
    fn an_empty_chunk_between_cr_and_lf_keeps_them_one_line_end() {
        assert_eq!(
            parse_all(&[b"event: a\r", b"", b"\ndata: 1\n\n"]),
            vec![Frame {
                event: Some("a".into()),
                data: "1".into()
            }]
        );
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

    #[test]
    fn a_line_without_end_fails_at_the_limit_without_holding_more() {
        let mut p = SseParser::with_limit(4096);
        let mut out = Vec::new();
        p.push(b"data: {}\n\ndata: ", &mut out).unwrap();
        let mut pushed = 0usize;
        let err = loop {
            match p.push(&[b'x'; 100], &mut out) {
                Ok(()) => {
                    assert!(p.line.capacity() <= 4096, "{}", p.line.capacity());
                    pushed += 100;
                }
                Err(err) => break err,
            }
        };
        assert_eq!(err, FrameTooLarge { limit: 4096 });
        // "data: " and the x's fill the line up to the limit, no further.
        assert!((4096 - 6 - 100..=4096 - 6).contains(&pushed), "{pushed}");
        assert_eq!((p.line.capacity(), p.data.capacity()), (0, 0));
        // The events completed before are delivered; nothing after.
        assert_eq!(out, vec![Frame::data("{}")]);
        assert!(p.push(b"\n\ndata: 1\n\n", &mut out).is_err());
        p.finish(&mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn many_data_lines_count_as_one_event() {
        let mut p = SseParser::with_limit(1000);
        let mut out = Vec::new();
        let line = format!("data: {}\n", "y".repeat(90));
        let mut lines = 0;
        let err = loop {
            match p.push(line.as_bytes(), &mut out) {
                Ok(()) => {
                    assert!(p.data.capacity() <= 1000, "{}", p.data.capacity());
                    lines += 1;
                }
                Err(err) => break err,
            }
        };
        assert_eq!(err.limit, 1000);
        // Eleven lines of 90 bytes joined by newlines fill it exactly; a twelfth does not.
        assert_eq!(lines, 11);
        assert!(out.is_empty());
    }

    #[test]
    fn a_line_of_exactly_the_limit_passes_and_one_byte_more_fails() {
        // The limit counts the bytes held: the unfinished line, `data: ` included.
        let parse = |data: &str| {
            let mut p = SseParser::with_limit(64);
            let mut out = Vec::new();
            for piece in format!("data: {data}\n\n").as_bytes().chunks(5) {
                p.push(piece, &mut out)?;
            }
            Ok::<_, FrameTooLarge>(out)
        };
        let data = "z".repeat(64 - 6);
        assert_eq!(parse(&data), Ok(vec![Frame::data(data.clone())]));
        assert_eq!(parse(&format!("{data}z")), Err(FrameTooLarge { limit: 64 }));
    }
}
