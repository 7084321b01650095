//! AWS event stream framing (`application/vnd.amazon.eventstream`): the binary
//! messages of Bedrock's `ConverseStream` and `InvokeModelWithResponseStream`.
//!
//! A message is, big-endian throughout:
//!
//! ```text
//! total length (u32) | headers length (u32) | prelude CRC-32 (of the 8 bytes before)
//! headers | payload | message CRC-32 (of every byte before it)
//! ```
//!
//! and a header is `name length (u8) | name | value type (u8) | value`, the value's
//! form given by its type (booleans carry no bytes; byte, short, int, long and
//! timestamp are fixed-size integers; byte arrays and strings have a u16 length; a
//! UUID is 16 bytes). [`Decoder`] is incremental: fed chunks cut anywhere, it yields
//! whole [`Message`]s, checks both CRCs and every length, and stays failed after its
//! first error (a binary stream cannot be resynchronised). [`encode`] writes one
//! message (the Bedrock-shaped mock and the tests use it).
//!
//! [`EventStreamParser`] is the [`Framer`](super::Framer) face of the decoder: a
//! message becomes a [`Frame`] whose `event` says what it is and whose `data` is the
//! payload (see [`EventStreamParser`] for the naming), so stream codecs see frames
//! as they do for SSE.

use super::{DEFAULT_MAX_FRAME_BYTES, Frame, FrameRef, FrameTooLarge};

/// Prelude (two lengths and their CRC) plus the trailing message CRC: the size of a
/// message with no headers and no payload.
pub const MIN_MESSAGE_BYTES: usize = 16;

/// The most header bytes one message may carry (the event stream specification's
/// limit: 128 KiB).
pub const MAX_HEADERS_BYTES: usize = 128 * 1024;

/// One header value, by its wire type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// Type 0 (true) and 1 (false): no value bytes.
    Bool(bool),
    /// Type 2: one signed byte.
    Byte(i8),
    /// Type 3: a signed 16-bit integer.
    Short(i16),
    /// Type 4: a signed 32-bit integer.
    Int(i32),
    /// Type 5: a signed 64-bit integer.
    Long(i64),
    /// Type 6: bytes with a u16 length.
    Bytes(Vec<u8>),
    /// Type 7: UTF-8 text with a u16 length.
    String(String),
    /// Type 8: milliseconds since the Unix epoch, signed 64-bit.
    Timestamp(i64),
    /// Type 9: 16 bytes.
    Uuid([u8; 16]),
}

impl HeaderValue {
    /// The wire type code.
    pub fn type_code(&self) -> u8 {
        match self {
            HeaderValue::Bool(true) => 0,
            HeaderValue::Bool(false) => 1,
            HeaderValue::Byte(_) => 2,
            HeaderValue::Short(_) => 3,
            HeaderValue::Int(_) => 4,
            HeaderValue::Long(_) => 5,
            HeaderValue::Bytes(_) => 6,
            HeaderValue::String(_) => 7,
            HeaderValue::Timestamp(_) => 8,
            HeaderValue::Uuid(_) => 9,
        }
    }
}

/// One named header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name (`:event-type`, `:content-type`, ...), at most 255 bytes.
    pub name: String,
    /// The typed value.
    pub value: HeaderValue,
}

impl Header {
    /// A string-valued header, the kind AWS's stream headers are.
    pub fn string(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header {
            name: name.into(),
            value: HeaderValue::String(value.into()),
        }
    }
}

/// One decoded message: its headers in wire order and its payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The headers, in the order they were sent.
    pub headers: Vec<Header>,
    /// The payload bytes (JSON for Bedrock).
    pub payload: Vec<u8>,
}

impl Message {
    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| &h.value)
    }

    /// The value of a string header called `name`.
    pub fn string_header(&self, name: &str) -> Option<&str> {
        match self.header(name) {
            Some(HeaderValue::String(s)) => Some(s),
            _ => None,
        }
    }
}

/// Why a byte stream is not a valid event stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventStreamError {
    /// The prelude's total length is below the 16 bytes every message has.
    #[error("event stream message declares {total} bytes, fewer than the 16 of an empty one")]
    TooShort {
        /// The declared total length.
        total: u32,
    },
    /// The message is larger than the decoder accepts.
    #[error("event stream message of {total} bytes is larger than the limit of {limit}")]
    TooLarge {
        /// The declared total length.
        total: u32,
        /// The decoder's limit.
        limit: usize,
    },
    /// The headers length does not fit in the message, or passes 128 KiB.
    #[error("event stream headers length {headers} does not fit a message of {total} bytes")]
    BadHeadersLength {
        /// The declared headers length.
        headers: u32,
        /// The declared total length.
        total: u32,
    },
    /// The prelude's CRC does not match its two lengths.
    #[error("event stream prelude CRC mismatch (sent {sent:#010x}, computed {computed:#010x})")]
    PreludeCrc {
        /// The CRC the message carries.
        sent: u32,
        /// The CRC of the bytes received.
        computed: u32,
    },
    /// The message CRC does not match its bytes.
    #[error("event stream message CRC mismatch (sent {sent:#010x}, computed {computed:#010x})")]
    MessageCrc {
        /// The CRC the message carries.
        sent: u32,
        /// The CRC of the bytes received.
        computed: u32,
    },
    /// A header could not be read.
    #[error("event stream header unreadable: {0}")]
    BadHeader(&'static str),
    /// The input ended inside a message.
    #[error("event stream ended {missing} bytes short of the end of a message")]
    Truncated {
        /// How many bytes the message still lacked.
        missing: usize,
    },
}

/// An incremental event stream decoder.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    limit: usize,
    failed: Option<EventStreamError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::with_limit(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl Decoder {
    /// A decoder taking messages of at most `max_message_bytes`.
    pub fn with_limit(max_message_bytes: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            limit: max_message_bytes.max(MIN_MESSAGE_BYTES),
            failed: None,
        }
    }

    /// Feeds a chunk; every message it completes is appended to `out` (those
    /// completed before an error are appended too). After an error the decoder holds
    /// nothing and every later call returns that error.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Message>) -> Result<(), EventStreamError> {
        self.push_with(chunk, |m| out.push(m))
    }

    /// [`Decoder::push`], passing each message to `emit`.
    pub fn push_with(
        &mut self,
        chunk: &[u8],
        mut emit: impl FnMut(Message),
    ) -> Result<(), EventStreamError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let mut rest = chunk;
        loop {
            // Whole messages inside the chunk are read in place.
            if self.buf.is_empty() {
                match self.next_len(rest) {
                    Ok(Some(len)) if len <= rest.len() => {
                        let message = self.guard(decode(&rest[..len]))?;
                        emit(message);
                        rest = &rest[len..];
                        continue;
                    }
                    Ok(_) => {}
                    Err(err) => return Err(self.fail(err)),
                }
            }
            if rest.is_empty() {
                return Ok(());
            }
            // Otherwise buffer: first the prelude, then the rest of the message.
            let want = match self.next_len(&self.buf) {
                Ok(Some(len)) => len,
                Ok(None) => 12,
                Err(err) => return Err(self.fail(err)),
            };
            let take = want.saturating_sub(self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            match self.next_len(&self.buf) {
                Ok(Some(len)) if len == self.buf.len() => {
                    let whole = std::mem::take(&mut self.buf);
                    let message = self.guard(decode(&whole))?;
                    emit(message);
                }
                Ok(_) => {}
                Err(err) => return Err(self.fail(err)),
            }
        }
    }

    /// Ends the input: bytes of an unfinished message are an error.
    pub fn finish(&mut self) -> Result<(), EventStreamError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let missing = match self.next_len(&self.buf) {
            Ok(Some(len)) => len - self.buf.len(),
            _ => 12 - self.buf.len(),
        };
        Err(self.fail(EventStreamError::Truncated { missing }))
    }

    /// The total length of the message `bytes` begins, once its prelude is in and
    /// checked; `None` while fewer than 12 bytes are there.
    fn next_len(&self, bytes: &[u8]) -> Result<Option<usize>, EventStreamError> {
        if bytes.len() < 12 {
            return Ok(None);
        }
        let prelude = check_prelude(bytes, self.limit)?;
        Ok(Some(prelude.total))
    }

    fn guard<T>(&mut self, r: Result<T, EventStreamError>) -> Result<T, EventStreamError> {
        r.map_err(|err| self.fail(err))
    }

    fn fail(&mut self, err: EventStreamError) -> EventStreamError {
        self.buf = Vec::new();
        self.failed = Some(err.clone());
        err
    }
}

/// The two lengths of a checked prelude.
struct Prelude {
    total: usize,
    headers: usize,
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(word)
}

/// Reads and checks the 12-byte prelude at the start of `bytes` (at least 12 long).
fn check_prelude(bytes: &[u8], limit: usize) -> Result<Prelude, EventStreamError> {
    let total = be32(bytes, 0);
    let headers = be32(bytes, 4);
    let sent = be32(bytes, 8);
    let computed = crc32fast::hash(&bytes[..8]);
    if sent != computed {
        return Err(EventStreamError::PreludeCrc { sent, computed });
    }
    let total_len = usize::try_from(total).unwrap_or(usize::MAX);
    if total_len < MIN_MESSAGE_BYTES {
        return Err(EventStreamError::TooShort { total });
    }
    if total_len > limit {
        return Err(EventStreamError::TooLarge { total, limit });
    }
    let headers_len = usize::try_from(headers).unwrap_or(usize::MAX);
    if headers_len > MAX_HEADERS_BYTES || headers_len > total_len - MIN_MESSAGE_BYTES {
        return Err(EventStreamError::BadHeadersLength { headers, total });
    }
    Ok(Prelude {
        total: total_len,
        headers: headers_len,
    })
}

/// Decodes exactly one whole message (`bytes` is the message, nothing more).
pub fn decode(bytes: &[u8]) -> Result<Message, EventStreamError> {
    if bytes.len() < 12 {
        return Err(EventStreamError::Truncated {
            missing: 12 - bytes.len(),
        });
    }
    let prelude = check_prelude(bytes, usize::MAX)?;
    if bytes.len() < prelude.total {
        return Err(EventStreamError::Truncated {
            missing: prelude.total - bytes.len(),
        });
    }
    let end = prelude.total - 4;
    let sent = be32(bytes, end);
    let computed = crc32fast::hash(&bytes[..end]);
    if sent != computed {
        return Err(EventStreamError::MessageCrc { sent, computed });
    }
    let headers_end = 12 + prelude.headers;
    Ok(Message {
        headers: decode_headers(&bytes[12..headers_end])?,
        payload: bytes[headers_end..end].to_vec(),
    })
}

fn decode_headers(mut bytes: &[u8]) -> Result<Vec<Header>, EventStreamError> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], EventStreamError> {
        if bytes.len() < n {
            return Err(EventStreamError::BadHeader(
                "a header runs past the headers",
            ));
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Ok(head)
    }
    fn fixed<const N: usize>(bytes: &mut &[u8]) -> Result<[u8; N], EventStreamError> {
        let mut out = [0u8; N];
        out.copy_from_slice(take(bytes, N)?);
        Ok(out)
    }
    let mut headers = Vec::new();
    while !bytes.is_empty() {
        let name_len = usize::from(take(&mut bytes, 1)?[0]);
        if name_len == 0 {
            return Err(EventStreamError::BadHeader("a header name is empty"));
        }
        let name = std::str::from_utf8(take(&mut bytes, name_len)?)
            .map_err(|_| EventStreamError::BadHeader("a header name is not UTF-8"))?
            .to_owned();
        let value = match take(&mut bytes, 1)?[0] {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(fixed(&mut bytes)?)),
            3 => HeaderValue::Short(i16::from_be_bytes(fixed(&mut bytes)?)),
            4 => HeaderValue::Int(i32::from_be_bytes(fixed(&mut bytes)?)),
            5 => HeaderValue::Long(i64::from_be_bytes(fixed(&mut bytes)?)),
            6 => {
                let len = usize::from(u16::from_be_bytes(fixed(&mut bytes)?));
                HeaderValue::Bytes(take(&mut bytes, len)?.to_vec())
            }
            7 => {
                let len = usize::from(u16::from_be_bytes(fixed(&mut bytes)?));
                let raw = take(&mut bytes, len)?;
                HeaderValue::String(
                    std::str::from_utf8(raw)
                        .map_err(|_| EventStreamError::BadHeader("a string header is not UTF-8"))?
                        .to_owned(),
                )
            }
            8 => HeaderValue::Timestamp(i64::from_be_bytes(fixed(&mut bytes)?)),
            9 => HeaderValue::Uuid(fixed(&mut bytes)?),
            _ => return Err(EventStreamError::BadHeader("unknown header value type")),
        };
        headers.push(Header { name, value });
    }
    Ok(headers)
}

/// Writes one message: prelude, headers, payload and both CRCs. Headers longer than
/// the format allows (a name over 255 bytes, a value over 65,535) are cut to fit.
pub fn encode(headers: &[Header], payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 12]);
    for header in headers {
        let name = &header.name.as_bytes()[..header.name.len().min(255)];
        out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(name);
        out.push(header.value.type_code());
        match &header.value {
            HeaderValue::Bool(_) => {}
            HeaderValue::Byte(v) => out.extend_from_slice(&v.to_be_bytes()),
            HeaderValue::Short(v) => out.extend_from_slice(&v.to_be_bytes()),
            HeaderValue::Int(v) => out.extend_from_slice(&v.to_be_bytes()),
            HeaderValue::Long(v) | HeaderValue::Timestamp(v) => {
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Bytes(v) => put_short_bytes(v, out),
            HeaderValue::String(v) => put_short_bytes(v.as_bytes(), out),
            HeaderValue::Uuid(v) => out.extend_from_slice(v),
        }
    }
    let headers_len = out.len() - start - 12;
    out.extend_from_slice(payload);
    let total = out.len() - start + 4;
    let total32 = u32::try_from(total).unwrap_or(u32::MAX);
    let headers32 = u32::try_from(headers_len).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&total32.to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&headers32.to_be_bytes());
    let prelude_crc = crc32fast::hash(&out[start..start + 8]);
    out[start + 8..start + 12].copy_from_slice(&prelude_crc.to_be_bytes());
    let message_crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&message_crc.to_be_bytes());
}

fn put_short_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    let bytes = &bytes[..bytes.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The `event` of a frame made from an `exception` message: this prefix and the
/// message's `:exception-type` (`exception:throttlingException`). Event types never
/// contain `:`, so the two cannot be confused.
pub const EXCEPTION_PREFIX: &str = "exception:";

/// The `event` of a frame made from an `error` message (`:error-code` after it; the
/// frame's data is the `:error-message` header), or from bytes that are not a valid
/// event stream ([`CORRUPT_EVENT`]).
pub const ERROR_PREFIX: &str = "error:";

/// The `event` of the frame that reports a broken event stream (a CRC mismatch, an
/// impossible length, a message cut off at the end); its data says what broke.
pub const CORRUPT_EVENT: &str = "error:InvalidEventStream";

/// The event stream as frames, for the stream codecs.
///
/// - an `event` message (`:message-type` = `event`, or none) is
///   `Frame { event: <:event-type>, data: <payload> }`;
/// - an `exception` message is `Frame { event: "exception:<:exception-type>", data:
///   <payload> }` (Bedrock's payload is `{"message": ...}`);
/// - an `error` message is `Frame { event: "error:<:error-code>", data:
///   <:error-message> }`;
/// - bytes that are not an event stream end the frames with one
///   [`CORRUPT_EVENT`] frame saying why; nothing follows it.
///
/// A message larger than the limit fails the push with [`FrameTooLarge`], as the
/// other framers do.
#[derive(Debug)]
pub struct EventStreamParser {
    decoder: Decoder,
    limit: usize,
    /// Set once the stream broke: later input is ignored.
    broken: bool,
    messages: Vec<Message>,
}

impl Default for EventStreamParser {
    fn default() -> Self {
        EventStreamParser::with_limit(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl EventStreamParser {
    /// A parser whose messages may be at most `max_frame_bytes` long.
    pub fn with_limit(max_frame_bytes: usize) -> Self {
        EventStreamParser {
            decoder: Decoder::with_limit(max_frame_bytes),
            limit: max_frame_bytes,
            broken: false,
            messages: Vec::new(),
        }
    }

    /// Feeds a chunk; complete messages are appended to `out` as frames.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) -> Result<(), FrameTooLarge> {
        self.push_with(chunk, &mut |frame| out.push(frame.into()))
    }

    /// Feeds a chunk; each complete message is passed to `emit` as a frame.
    pub fn push_with(
        &mut self,
        chunk: &[u8],
        emit: &mut impl FnMut(FrameRef<'_>),
    ) -> Result<(), FrameTooLarge> {
        if self.broken {
            return Ok(());
        }
        let mut messages = std::mem::take(&mut self.messages);
        let pushed = self.decoder.push(chunk, &mut messages);
        for message in messages.drain(..) {
            emit_message(&message, emit);
        }
        self.messages = messages;
        match pushed {
            Ok(()) => Ok(()),
            Err(EventStreamError::TooLarge { .. }) => {
                self.broken = true;
                Err(FrameTooLarge { limit: self.limit })
            }
            Err(err) => {
                self.broken = true;
                emit_corrupt(&err, emit);
                Ok(())
            }
        }
    }

    /// Ends the input: an unfinished message is reported as a [`CORRUPT_EVENT`] frame.
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        self.finish_with(&mut |frame| out.push(frame.into()));
    }

    /// [`EventStreamParser::finish`], passing the frame to `emit`.
    pub fn finish_with(&mut self, emit: &mut impl FnMut(FrameRef<'_>)) {
        if self.broken {
            return;
        }
        if let Err(err) = self.decoder.finish() {
            self.broken = true;
            emit_corrupt(&err, emit);
        }
    }
}

fn emit_corrupt(err: &EventStreamError, emit: &mut impl FnMut(FrameRef<'_>)) {
    let text = err.to_string();
    emit(FrameRef {
        event: Some(CORRUPT_EVENT),
        data: &text,
    });
}

fn emit_message(message: &Message, emit: &mut impl FnMut(FrameRef<'_>)) {
    let payload = super::to_utf8(&message.payload);
    match message.string_header(":message-type") {
        Some("exception") => {
            let kind = message.string_header(":exception-type").unwrap_or("");
            let event = format!("{EXCEPTION_PREFIX}{kind}");
            emit(FrameRef {
                event: Some(&event),
                data: &payload,
            });
        }
        Some("error") => {
            let code = message.string_header(":error-code").unwrap_or("");
            let event = format!("{ERROR_PREFIX}{code}");
            let text = message.string_header(":error-message").unwrap_or(&payload);
            emit(FrameRef {
                event: Some(&event),
                data: text,
            });
        }
        _ => emit(FrameRef {
            event: message.string_header(":event-type"),
            data: &payload,
        }),
    }
}

#[cfg(test)]
mod tests;
