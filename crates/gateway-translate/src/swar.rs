//! Byte scans of JSON text 8 bytes at a time: where a string's plain run ends.
//!
//! Writing a string (`json_writer`) and stepping over one (the Anthropic view's
//! pre-scan, `canonical_json`) both look for the first control character, `"` or `\`.
//! Strings in chat requests are mostly short (keys, ids) and clean, where one word
//! test beats both a byte loop and `memchr2`'s set-up.
//!
//! The short runs found that way are copied the same way ([`push_run`]): one
//! fixed-size load and store cut back to the run's length, instead of a `memcpy`
//! call that costs more than the run (JSON in JSON has an escape every few bytes).

use crate::json_writer::ESCAPE;

const ONES: u64 = u64::MAX / 255;
const HIGHS: u64 = ONES << 7;

/// The high bit of each of the 8 bytes that is a control character, `"` or `\`. The
/// lowest marked byte is always a real one (the borrow trick can only mark bytes
/// above a real match), which is all the callers use.
#[inline]
pub(crate) fn escape_marks(word: u64) -> u64 {
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (control | quote | backslash) & HIGHS
}

/// The 8 bytes from `at`.
#[inline]
pub(crate) fn word_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// The bytes of `bytes` (at most 8) as a word, zero above them: two overlapping
/// 4-byte loads, or up to three single bytes.
#[inline]
pub(crate) fn load_short(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    debug_assert!(n <= 8);
    if n >= 4 {
        let head = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
        let tail = u32::from_le_bytes(bytes[n - 4..].try_into().expect("4 bytes"));
        u64::from(head) | u64::from(tail) << (8 * (n - 4))
    } else if n > 0 {
        u64::from(bytes[0])
            | u64::from(bytes[n / 2]) << (8 * (n / 2))
            | u64::from(bytes[n - 1]) << (8 * (n - 1))
    } else {
        0
    }
}

/// A 4-byte load widened with clean bytes (`a`), for strings of 4–7 bytes.
#[inline]
fn half_word_at(bytes: &[u8], at: usize) -> u64 {
    let half = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    u64::from(half) | (ONES * u64::from(b'a')) << 32
}

/// Appends the first `len` bytes of `src` to `out`. Up to 16 bytes go as one
/// fixed-size copy (a store or two) cut back to `len`, cheaper than a `memcpy` call
/// for the short runs between escapes: straight from `src` when it holds 16 bytes
/// (the text goes on past the run), else through the words of the run itself.
/// Longer runs are copied as usual.
#[inline(always)]
pub(crate) fn push_run(out: &mut Vec<u8>, src: &[u8], len: usize) {
    if len > 16 {
        out.extend_from_slice(&src[..len]);
        return;
    }
    let at = out.len();
    if let Some(chunk) = src.first_chunk::<16>() {
        out.extend_from_slice(chunk);
    } else {
        let run = &src[..len];
        let mut buf = [0u8; 16];
        if len >= 8 {
            buf[..8].copy_from_slice(&word_at(run, 0).to_le_bytes());
            buf[len - 8..len].copy_from_slice(&word_at(run, len - 8).to_le_bytes());
        } else {
            buf[..8].copy_from_slice(&load_short(run).to_le_bytes());
        }
        out.extend_from_slice(&buf);
    }
    out.truncate(at + len);
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

/// [`clean_prefix_len`] for text that is mostly short strings (keys, JSON values):
/// the first word is tested before the loop and its register set-up, which is a
/// call of its own.
#[inline(never)]
pub(crate) fn short_clean_prefix_len(bytes: &[u8]) -> usize {
    if let Some(chunk) = bytes.first_chunk::<8>() {
        let marks = escape_marks(u64::from_le_bytes(*chunk));
        if marks != 0 {
            return marks.trailing_zeros() as usize / 8;
        }
        return 8 + long_clean_prefix_len(&bytes[8..]);
    }
    long_clean_prefix_len(bytes)
}

/// [`clean_prefix_len`], not inlined: [`short_clean_prefix_len`]'s loop.
#[inline(never)]
fn long_clean_prefix_len(bytes: &[u8]) -> usize {
    clean_prefix_len(bytes)
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
    fn runs_copy_as_slices_do() {
        let src: Vec<u8> = (1u8..=64).collect();
        for len in 0..40 {
            // Sources ending at the run and going on past it by up to 20 bytes.
            for end in len..(len + 20).min(src.len()) {
                let mut out = vec![0xee; 3];
                push_run(&mut out, &src[..end], len);
                let mut want = vec![0xee; 3];
                want.extend_from_slice(&src[..len]);
                assert_eq!(out, want, "{len} of {end}");
            }
        }
        for n in 0..=8 {
            let mut word = [0u8; 8];
            word[..n].copy_from_slice(&src[..n]);
            assert_eq!(load_short(&src[..n]), u64::from_le_bytes(word), "{n}");
        }
    }

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
                    assert_eq!(short_clean_prefix_len(&s), slow.unwrap_or(len), "{s:?}");
                    let slow = s.iter().position(|&c| c == b'"' || c == b'\\');
                    assert_eq!(find_quote_or_backslash(&s), slow, "{s:?}");
                }
            }
        }
        for start in 0..bytes.len() {
            let s = &bytes[start..];
            let slow = s.iter().position(|&c| ESCAPE[usize::from(c)] != 0);
            assert_eq!(clean_prefix_len(s), slow.unwrap_or(s.len()));
            assert_eq!(short_clean_prefix_len(s), slow.unwrap_or(s.len()));
            let slow = s.iter().position(|&c| c == b'"' || c == b'\\');
            assert_eq!(find_quote_or_backslash(s), slow);
        }
    }
}
