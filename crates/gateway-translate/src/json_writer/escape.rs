//! Strings and keys as serde_json writes them, a word at a time.
//!
//! Most strings of a request are short and clean (roles, ids, names, keys): up to 16
//! bytes are loaded as one or two words, checked, and stored with their quotes in one
//! fixed-size copy. Longer text is checked a word at a time and its clean runs copied
//! whole, a short run (JSON in JSON has an escape every few bytes) without a `memcpy`
//! call ([`push_run`]).

use crate::swar::{clean_prefix_len, escape_marks, load_short, push_run, word_at};

/// Bytes a JSON string must escape: control characters, `"` and `\`. 0 means none.
const fn escape_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
}

/// What follows the backslash for each byte a string must escape (`u` for `\u00XX`),
/// 0 for the rest.
pub(crate) static ESCAPE: [u8; 256] = escape_table();

/// Writes `s` as a quoted JSON string, escaped as serde_json escapes it.
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &str) {
    if !short(out, s.as_bytes(), b'"', 2) {
        long(out, s.as_bytes());
    }
}

/// Writes a struct field's name and the colon after it.
#[inline]
pub(super) fn write_key(out: &mut Vec<u8>, key: &str) {
    if !short(out, key.as_bytes(), b':', 3) {
        long(out, key.as_bytes());
        out.push(b':');
    }
}

/// `"text"`, then `colon` when `extra` is 3, when `text` is at most 16 clean bytes;
/// false (nothing written) otherwise.
#[inline]
fn short(out: &mut Vec<u8>, text: &[u8], colon: u8, extra: usize) -> bool {
    let n = text.len();
    if n > 16 {
        return false;
    }
    let mut buf = [0u8; 24];
    if n >= 8 {
        // Two words, overlapping when `n` < 16, cover the text.
        let (head, tail) = (word_at(text, 0), word_at(text, n - 8));
        if escape_marks(head) | escape_marks(tail) != 0 {
            return false;
        }
        buf[1..9].copy_from_slice(&head.to_le_bytes());
        buf[n - 7..n + 1].copy_from_slice(&tail.to_le_bytes());
    } else {
        // Zero-padded; the padding's marks (zero is a control byte) are cut off.
        let word = load_short(text);
        if escape_marks(word) & ((1u64 << (8 * n)) - 1) != 0 {
            return false;
        }
        buf[1..9].copy_from_slice(&word.to_le_bytes());
    }
    buf[0] = b'"';
    buf[n + 1] = b'"';
    buf[n + 2] = colon;
    let at = out.len();
    out.extend_from_slice(&buf);
    out.truncate(at + n + extra);
    true
}

/// `"text"` for any text: clean runs found a word at a time and copied whole, the
/// bytes between them escaped.
fn long(out: &mut Vec<u8>, text: &[u8]) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    let mut rest = text;
    loop {
        let clean = clean_prefix_len(rest);
        push_run(out, rest, clean);
        let Some(&byte) = rest.get(clean) else {
            break;
        };
        let escape = ESCAPE[usize::from(byte)];
        if escape == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', escape]);
        }
        rest = &rest[clean + 1..];
    }
    out.push(b'"');
}
