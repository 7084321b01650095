//! The walk behind [`super::canonical_prefix`]: one pass over the value's text that
//! writes it without whitespace and with each object's keys in `Value`'s order.
//!
//! It works on bytes: the pieces it copies (string literals, numbers, punctuation)
//! begin and end at ASCII bytes, so the output is whole characters, checked once at
//! the end instead of at every slice. Short pieces are copied without a `memcpy` call
//! ([`push_run`]), and keys are compared as big-endian words when they fit in one.

use crate::json_writer::RAW_VALUE_TOKEN;
use crate::swar::{load_short, push_run, short_clean_prefix_len};

/// How deep the walk follows nested values (serde_json's limit is 128, from the
/// body's root).
const MAX_NESTING: usize = 32;

/// [`super::canonical_prefix`].
pub(super) fn canonical_prefix(text: &str, capacity: usize) -> Option<(String, usize)> {
    let mut w = Canon::new(text, Vec::with_capacity(capacity), Vec::with_capacity(16));
    w.value()?;
    // Whole characters only were copied, so this check cannot fail.
    Some((String::from_utf8(w.out).ok()?, w.i))
}

/// Appends the canonical text of the value at the start of `text` to `out` and
/// returns where the value ends; `None` (with `out` left part-written) for a value
/// the walk does not cover. `members` is scratch space, empty between calls.
pub(super) fn write_prefix(
    text: &str,
    out: &mut Vec<u8>,
    members: &mut Vec<Member>,
) -> Option<usize> {
    // The buffers are moved in and back, so the walk is the one `canonical_prefix`
    // runs (owned buffers: no indirection on every push).
    let mut w = Canon::new(text, std::mem::take(out), std::mem::take(members));
    let done = w.value();
    *out = w.out;
    *members = w.members;
    // A refused object leaves its open members behind.
    members.clear();
    done.map(|()| w.i)
}

/// One object member already written: its key's place in `raw` and the range of
/// `"key":value` in `out`.
pub(crate) struct Member {
    key: (usize, usize),
    written: (usize, usize),
}

/// The walk: `raw` read from `i`, appended to `out`; `members` is one stack shared by
/// all open objects, so an object costs no allocation of its own.
struct Canon<'a> {
    raw: &'a [u8],
    i: usize,
    out: Vec<u8>,
    members: Vec<Member>,
    /// Open objects and arrays.
    depth: usize,
}

pub(super) fn skip_ws(b: &[u8], i: &mut usize) {
    while matches!(b.get(*i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        *i += 1;
    }
}

/// `a < b` in byte order (`Value`'s key order). Keys of up to 8 bytes compare as one
/// big-endian word each, zero-padded: a key's text holds no zero byte (a control
/// character cannot stand unescaped in a string), so padding sorts a prefix first.
#[inline]
fn key_less(a: &[u8], b: &[u8]) -> bool {
    if a.len() <= 8 && b.len() <= 8 {
        return load_short(a).swap_bytes() < load_short(b).swap_bytes();
    }
    a < b
}

impl<'a> Canon<'a> {
    fn new(text: &'a str, out: Vec<u8>, members: Vec<Member>) -> Self {
        Canon {
            raw: text.as_bytes(),
            i: 0,
            out,
            members,
            depth: 0,
        }
    }

    /// Reads a string without escapes at `i`: the range of its literal, quotes
    /// included.
    #[inline]
    fn string_literal(&mut self) -> Option<(usize, usize)> {
        let b = self.raw;
        if b.get(self.i) != Some(&b'"') {
            return None;
        }
        let end = self.i + 1 + short_clean_prefix_len(&b[self.i + 1..]);
        if b.get(end) != Some(&b'"') {
            return None;
        }
        let start = self.i;
        self.i = end + 1;
        Some((start, end + 1))
    }

    fn value(&mut self) -> Option<()> {
        let b = self.raw;
        skip_ws(b, &mut self.i);
        match *b.get(self.i)? {
            b'{' => self.nested(Self::object),
            b'[' => self.nested(Self::array),
            b'"' => {
                let (from, to) = self.string_literal()?;
                push_run(&mut self.out, &b[from..], to - from);
                Some(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.integer(),
            _ => None,
        }
    }

    fn literal(&mut self, lit: &'static [u8]) -> Option<()> {
        if !self.raw[self.i..].starts_with(lit) {
            return None;
        }
        self.out.extend_from_slice(lit);
        self.i += lit.len();
        Some(())
    }

    /// An integer of up to 18 digits, never `-0` (anything else is left to `Value`).
    fn integer(&mut self) -> Option<()> {
        let b = self.raw;
        let start = self.i;
        if b[self.i] == b'-' {
            self.i += 1;
        }
        let digits_from = self.i;
        while matches!(b.get(self.i), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        let digits = self.i - digits_from;
        if digits == 0
            || digits > 18
            || matches!(b.get(self.i), Some(b'.' | b'e' | b'E'))
            || (b[digits_from] == b'0' && (digits > 1 || digits_from > start))
        {
            return None;
        }
        push_run(&mut self.out, &b[start..], self.i - start);
        Some(())
    }

    /// `read` one level deeper, refused past [`MAX_NESTING`].
    fn nested(&mut self, read: fn(&mut Self) -> Option<()>) -> Option<()> {
        if self.depth == MAX_NESTING {
            return None;
        }
        self.depth += 1;
        read(self)?;
        self.depth -= 1;
        Some(())
    }

    fn array(&mut self) -> Option<()> {
        let b = self.raw;
        self.i += 1;
        self.out.push(b'[');
        skip_ws(b, &mut self.i);
        if b.get(self.i) == Some(&b']') {
            self.i += 1;
            self.out.push(b']');
            return Some(());
        }
        loop {
            self.value()?;
            skip_ws(b, &mut self.i);
            match b.get(self.i)? {
                b',' => self.out.push(b','),
                b']' => {
                    self.i += 1;
                    self.out.push(b']');
                    return Some(());
                }
                _ => return None,
            }
            self.i += 1;
        }
    }

    fn object(&mut self) -> Option<()> {
        let b = self.raw;
        self.i += 1;
        let start = self.out.len();
        self.out.push(b'{');
        skip_ws(b, &mut self.i);
        if b.get(self.i) == Some(&b'}') {
            self.i += 1;
            self.out.push(b'}');
            return Some(());
        }
        let base = self.members.len();
        let mut sorted = true;
        loop {
            skip_ws(b, &mut self.i);
            let (from, to) = self.string_literal()?;
            let key = (from + 1, to - 1);
            // `Value` reads an object under serde_json's raw-value key as raw text.
            if &b[key.0..key.1] == RAW_VALUE_TOKEN.as_bytes() {
                return None;
            }
            skip_ws(b, &mut self.i);
            if b.get(self.i) != Some(&b':') {
                return None;
            }
            self.i += 1;
            let written_from = self.out.len();
            push_run(&mut self.out, &b[from..], to - from);
            self.out.push(b':');
            self.value()?;
            if let Some(prev) = self.members[base..].last() {
                sorted &= key_less(&b[prev.key.0..prev.key.1], &b[key.0..key.1]);
            }
            self.members.push(Member {
                key,
                written: (written_from, self.out.len()),
            });
            skip_ws(b, &mut self.i);
            match b.get(self.i)? {
                b',' => {
                    self.i += 1;
                    self.out.push(b',');
                }
                b'}' => {
                    self.i += 1;
                    break;
                }
                _ => return None,
            }
        }
        if !sorted {
            self.reorder(start, base)?;
        }
        self.members.truncate(base);
        self.out.push(b'}');
        Some(())
    }

    /// Rewrites the object written from `start` (its members from `base` on) with
    /// its members sorted by key: the sorted copy is appended, then moved down over
    /// the unsorted one. `None` for a duplicate key (`Value` keeps the last).
    #[cold]
    fn reorder(&mut self, start: usize, base: usize) -> Option<()> {
        let raw = self.raw;
        let key = |m: &Member| &raw[m.key.0..m.key.1];
        let members = &mut self.members[base..];
        members.sort_unstable_by(|a, c| key(a).cmp(key(c)));
        if members.windows(2).any(|w| key(&w[0]) == key(&w[1])) {
            return None;
        }
        let end = self.out.len();
        self.out.reserve(end - start);
        for (n, m) in members.iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            self.out.extend_from_within(m.written.0..m.written.1);
        }
        self.out.drain(start + 1..end);
        Some(())
    }
}
