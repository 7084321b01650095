//! The rest of a JSON string from its first escape: tool arguments and results are
//! JSON in JSON, whose runs of plain text between escapes are a few bytes long.
//!
//! One pass reads it: the plain text up to the next `"`, `\` or control character is
//! found a word at a time ([`crate::swar`]) and copied without a `memcpy` call when
//! short ([`push_run`]), and each escape is decoded through a table. What it accepts
//! and reads is what the byte-at-a-time reader it replaced did, and serde_json's: the
//! tests in `json_text` compare them.

use crate::swar::{clean_prefix_len, push_run};

/// Where a string's text goes: the unescaped bytes ([`Vec<u8>`]), their count
/// ([`Count`]) or nowhere ([`Check`]).
pub(super) trait Sink {
    /// Plain text: the first `len` bytes of `text`.
    fn run(&mut self, text: &[u8], len: usize);
    /// What an escape stands for.
    fn char(&mut self, c: char);
}

impl Sink for Vec<u8> {
    #[inline]
    fn run(&mut self, text: &[u8], len: usize) {
        push_run(self, text, len);
    }
    #[inline]
    fn char(&mut self, c: char) {
        match u8::try_from(c) {
            Ok(b) if b.is_ascii() => self.push(b),
            _ => self.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}

/// Counts the unescaped bytes.
pub(super) struct Count(pub(super) usize);

impl Sink for Count {
    #[inline]
    fn run(&mut self, _: &[u8], len: usize) {
        self.0 += len;
    }
    #[inline]
    fn char(&mut self, c: char) {
        self.0 += c.len_utf8();
    }
}

/// Checks the string and drops its text.
pub(super) struct Check;

impl Sink for Check {
    #[inline]
    fn run(&mut self, _: &[u8], _: usize) {}
    #[inline]
    fn char(&mut self, _: char) {}
}

/// The character of each one-letter escape (`\n` → newline), 0 for the rest (`\u`
/// and invalid escapes).
const SHORT: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'/' as usize] = b'/';
    t[b'b' as usize] = 0x08;
    t[b'f' as usize] = 0x0c;
    t[b'n' as usize] = b'\n';
    t[b'r' as usize] = b'\r';
    t[b't' as usize] = b'\t';
    t
};

/// Reads a string from `at`, a byte inside it that is not plain text (the text
/// before it is the caller's), into `out`; answers the index of the closing `"`.
/// `None` for a control character, an invalid or lone-surrogate escape, or a string
/// that does not end.
#[inline]
pub(super) fn rest<S: Sink>(bytes: &[u8], mut at: usize, out: &mut S) -> Option<usize> {
    loop {
        match *bytes.get(at)? {
            b'"' => return Some(at),
            b'\\' => at = escape(bytes, at, out)?,
            _ => return None,
        }
        at = plain(bytes, at, out);
    }
}

/// Copies the plain text from `at` to `out`; answers where it stops.
#[inline]
fn plain<S: Sink>(bytes: &[u8], at: usize, out: &mut S) -> usize {
    let rest = &bytes[at..];
    let clean = clean_prefix_len(rest);
    out.run(rest, clean);
    at + clean
}

/// Decodes the escape whose backslash is at `at`; answers the index after it.
#[inline]
fn escape<S: Sink>(bytes: &[u8], at: usize, out: &mut S) -> Option<usize> {
    let letter = *bytes.get(at + 1)?;
    let short = SHORT[usize::from(letter)];
    if short != 0 {
        out.char(char::from(short));
        return Some(at + 2);
    }
    if letter != b'u' {
        return None;
    }
    let (c, len) = unicode(bytes.get(at + 2..)?)?;
    out.char(c);
    Some(at + 2 + len)
}

/// The character of a `\u` escape from its hex digits, and how many bytes it took
/// after the `u`. Surrogates must come in pairs (serde refuses lone ones).
#[cold]
fn unicode(rest: &[u8]) -> Option<(char, usize)> {
    let unit = hex4(rest.get(..4)?)?;
    match unit {
        0xD800..=0xDBFF => {
            if rest.get(4..6)? != b"\\u" {
                return None;
            }
            let low = hex4(rest.get(6..10)?)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return None;
            }
            let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            Some((char::from_u32(c)?, 10))
        }
        0xDC00..=0xDFFF => None,
        _ => Some((char::from_u32(unit)?, 4)),
    }
}

fn hex4(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |n, &d| {
        let v = (d as char).to_digit(16)?;
        Some(n * 16 + v)
    })
}
