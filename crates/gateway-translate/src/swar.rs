//! Byte scans of JSON text 8 bytes at a time: where a string's plain run ends.
//!
//! Writing a string (`json_writer`) and stepping over one (the Anthropic view's
//! pre-scan, `canonical_json`) both look for the first control character, `"` or `\`.
//! Strings in chat requests are mostly short (keys, ids) and clean, where one word
//! test beats both a byte loop and `memchr2`'s set-up.

use crate::json_writer::ESCAPE;

const ONES: u64 = u64::MAX / 255;
const HIGHS: u64 = ONES << 7;

/// The high bit of each of the 8 bytes that is a control character, `"` or `\`. The
/// lowest marked byte is always a real one (the borrow trick can only mark bytes
/// above a real match), which is all the callers use.
#[inline]
fn escape_marks(word: u64) -> u64 {
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (control | quote | backslash) & HIGHS
}

#[inline]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// A 4-byte load widened with clean bytes (`a`), for strings of 4–7 bytes.
#[inline]
fn half_word_at(bytes: &[u8], at: usize) -> u64 {
    let half = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    u64::from(half) | (ONES * u64::from(b'a')) << 32
}

/// The index of the first byte of `bytes` that must be escaped, or its length.
#[inline]
pub(crate) fn clean_prefix_len(bytes: &[u8]) -> usize {
    let n = bytes.len();
    let mut i = 0;
    while i + 8 <= n {
        let marks = escape_marks(word_at(bytes, i));
        if marks != 0 {
            return i + marks.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    // The tail is checked with one load that overlaps bytes already known clean.
    let tail_clean = if n >= 8 {
        escape_marks(word_at(bytes, n - 8)) == 0
    } else if n >= 4 {
        escape_marks(half_word_at(bytes, 0)) == 0 && escape_marks(half_word_at(bytes, n - 4)) == 0
    } else {
        false
    };
    if tail_clean {
        return n;
    }
    while i < n && ESCAPE[usize::from(bytes[i])] == 0 {
        i += 1;
    }
    i
}

/// The high bit of each of the 8 bytes that is `"` or `\\` (lowest mark exact, as
/// in [`escape_marks`]).
#[inline]
fn quote_marks(word: u64) -> u64 {
    let quote = word ^ (ONES * u64::from(b'"'));
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (quote | backslash) & HIGHS
}

/// The index of the first `"` or `\\` in `bytes`, or `None`. The first 32 bytes are
/// tested a word at a time (most strings end there); a longer run goes to `memchr2`,
/// which is faster once its set-up is paid.
#[inline]
pub(crate) fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 8 <= bytes.len() && i < 32 {
        let marks = quote_marks(word_at(bytes, i));
        if marks != 0 {
            return Some(i + marks.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    memchr::memchr2(b'"', b'\\', &bytes[i..]).map(|k| i + k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_agree_with_a_byte_loop() {
        let bytes: Vec<u8> = (0u8..=255).collect();
        // Past 32 bytes the quote search hands over to memchr2.
        for len in 0..80 {
            for at in 0..len {
                for &b in &[0u8, 0x1f, b'"', b'\\', b'a', 0x7f, 0x80, 0xff] {
                    let mut s = vec![b'x'; len];
                    s[at] = b;
                    let slow = s.iter().position(|&c| ESCAPE[usize::from(c)] != 0);
                    assert_eq!(clean_prefix_len(&s), slow.unwrap_or(len), "{s:?}");
                    let slow = s.iter().position(|&c| c == b'"' || c == b'\\');
                    assert_eq!(find_quote_or_backslash(&s), slow, "{s:?}");
                }
            }
        }
        for start in 0..bytes.len() {
            let s = &bytes[start..];
            let slow = s.iter().position(|&c| ESCAPE[usize::from(c)] != 0);
            assert_eq!(clean_prefix_len(s), slow.unwrap_or(s.len()));
            let slow = s.iter().position(|&c| c == b'"' || c == b'\\');
            assert_eq!(find_quote_or_backslash(s), slow);
        }
    }
}
