//! [`Scan`], the strict reader, and [`Fields`], its duplicate-field check.

use std::borrow::Cow;

use super::special_at;
use super::template::{Hole, HoleKind, Holes};
use super::unescape;

/// How deep [`Scan::skip`] follows nested values before giving up (serde_json's own
/// limit, 128, counts from the root, so anything within this is within it).
const SKIP_DEPTH: usize = 32;

/// serde_json's marker key for raw values; `Value` treats an object whose first key is
/// this specially, so skipped objects holding it are left to the serde path.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// The fields of one object seen so far, to refuse a frame naming one twice (serde
/// refuses a duplicate field; aliases of a field share its bit).
#[derive(Default)]
pub(crate) struct Fields(u64);

impl Fields {
    /// Marks field `bit`; `None` when it was already seen.
    pub(crate) fn first(&mut self, bit: u32) -> Option<()> {
        let flag = 1u64 << bit;
        if self.0 & flag != 0 {
            return None;
        }
        self.0 |= flag;
        Some(())
    }
}

/// A strict reader over one JSON text. Every method reads one token or value and
/// answers `None` when it cannot be sure serde_json reads it the same way; the text
/// is then left to serde.
pub(crate) struct Scan<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scan<'a> {
    /// A reader at the start of `text`.
    pub(crate) fn new(text: &'a str) -> Self {
        Scan { text, pos: 0 }
    }

    /// A reader at byte `pos` of `text`.
    pub(super) fn at(text: &'a str, pos: usize) -> Self {
        Scan { text, pos }
    }

    /// Where the reader is.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// A string, recorded in `holes` under `label`.
    pub(crate) fn str_hole(&mut self, holes: &mut Holes, label: u8) -> Option<Cow<'a, str>> {
        self.peek()?;
        let start = self.pos;
        let value = self.str()?;
        holes.push(Hole::new(start, self.pos, HoleKind::Str, label));
        Some(value)
    }

    /// A `u64`, recorded in `holes` under `label`.
    pub(crate) fn u64_hole(&mut self, holes: &mut Holes, label: u8) -> Option<u64> {
        self.peek()?;
        let start = self.pos;
        let value = self.u64()?;
        holes.push(Hole::new(start, self.pos, HoleKind::U64, label));
        Some(value)
    }

    /// A value nobody reads ([`Scan::skip`]); a string is recorded in `holes` as
    /// [`Hole::IGNORED`], since such values (ids, fingerprints, padding) may change
    /// from frame to frame.
    pub(crate) fn skip_hole(&mut self, holes: &mut Holes) -> Option<()> {
        if self.peek()? == b'"' {
            self.str_hole(holes, Hole::IGNORED).map(drop)
        } else {
            self.skip()
        }
    }

    #[inline]
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    pub(crate) fn peek(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    /// Consumes `b` (after whitespace).
    #[inline]
    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.pos += 1)
    }

    /// Only whitespace is left.
    pub(crate) fn end(mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }

    /// An object: `member(scan, key)` reads each member's value. Keys with escapes are
    /// refused (serde matches field names after unescaping them).
    #[inline]
    pub(crate) fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.key()?;
            self.eat(b':')?;
            member(self, key)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array: `item(scan)` reads each element.
    #[inline]
    pub(crate) fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    #[inline]
    fn key(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        let at = special_at(self.bytes(), start)?;
        if self.bytes()[at] != b'"' {
            return None;
        }
        self.pos = at + 1;
        Some(&self.text[start..at])
    }

    /// A string, borrowed when it has no escapes.
    #[inline]
    pub(crate) fn str(&mut self) -> Option<Cow<'a, str>> {
        self.string(true)
    }

    /// A string whose text is not needed.
    #[inline]
    pub(crate) fn skip_str(&mut self) -> Option<()> {
        self.string(false).map(drop)
    }

    /// A string; with `keep` false its escapes are checked but not decoded.
    #[inline]
    fn string(&mut self, keep: bool) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let bytes = self.bytes();
        let start = self.pos;
        let at = special_at(bytes, start)?;
        if bytes[at] == b'"' {
            self.pos = at + 1;
            return Some(Cow::Borrowed(&self.text[start..at]));
        }
        self.escaped(start, at, keep)
    }

    /// The length in bytes of a string's text once unescaped: what [`Scan::str`]
    /// reads, measured without building it (same strings accepted).
    #[inline]
    pub(crate) fn str_len(&mut self) -> Option<usize> {
        self.eat(b'"')?;
        let bytes = self.bytes();
        let start = self.pos;
        let at = special_at(bytes, start)?;
        if bytes[at] == b'"' {
            self.pos = at + 1;
            return Some(at - start);
        }
        self.escaped_len(start, at)
    }

    /// [`Scan::escaped`], counting the unescaped bytes instead of copying them.
    #[cold]
    fn escaped_len(&mut self, start: usize, at: usize) -> Option<usize> {
        let mut len = unescape::Count(at - start);
        self.pos = unescape::rest(self.bytes(), at, &mut len)? + 1;
        Some(len.0)
    }

    /// The rest of a string from its first special byte `at` ([`unescape`]).
    #[inline(never)]
    fn escaped(&mut self, start: usize, at: usize, keep: bool) -> Option<Cow<'a, str>> {
        let bytes = self.bytes();
        if !keep {
            self.pos = unescape::rest(bytes, at, &mut unescape::Check)? + 1;
            return Some(Cow::Borrowed(""));
        }
        // Room for a short string's text and its escapes' (decoding never lengthens);
        // a longer one grows as it is read.
        let plain = at - start;
        let mut owned = Vec::with_capacity((plain + 64).min(bytes.len() - start));
        crate::swar::push_run(&mut owned, &bytes[start..], plain);
        self.pos = unescape::rest(bytes, at, &mut owned)? + 1;
        // Only whole characters were copied, so this check cannot fail.
        String::from_utf8(owned).ok().map(Cow::Owned)
    }

    /// `null` as `None`, else what `read` reads (serde's rule for an `Option`).
    #[inline]
    pub(crate) fn opt<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
        if self.null() {
            return Some(None);
        }
        read(self).map(Some)
    }

    /// `null`, consumed when it is next; false (nothing consumed) otherwise.
    #[inline]
    pub(crate) fn null(&mut self) -> bool {
        let is_null = self.peek() == Some(b'n') && self.bytes()[self.pos..].starts_with(b"null");
        if is_null {
            self.pos += 4;
        }
        is_null
    }

    /// `true` or `false`.
    pub(crate) fn bool(&mut self) -> Option<bool> {
        self.peek()?;
        let rest = &self.bytes()[self.pos..];
        let (value, len) = if rest.starts_with(b"true") {
            (true, 4)
        } else if rest.starts_with(b"false") {
            (false, 5)
        } else {
            return None;
        };
        self.pos += len;
        Some(value)
    }

    /// An unsigned integer as serde reads a `u64`: no sign, fraction or exponent,
    /// no leading zero, no overflow.
    #[inline]
    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.peek()?;
        let bytes = self.bytes();
        let mut n: u64 = 0;
        let start = self.pos;
        if bytes[start] == b'0' {
            self.pos += 1;
        } else {
            while let Some(&b @ b'0'..=b'9') = bytes.get(self.pos) {
                n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
                self.pos += 1;
            }
            if self.pos == start {
                return None;
            }
        }
        match bytes.get(self.pos) {
            Some(b'0'..=b'9' | b'.' | b'e' | b'E') => None,
            _ => Some(n),
        }
    }

    /// A signed integer as serde reads an `i64`: `-0` (a float to serde_json) and
    /// anything beyond `i64` are refused.
    pub(crate) fn i64(&mut self) -> Option<i64> {
        if self.peek()? != b'-' {
            return i64::try_from(self.u64()?).ok();
        }
        self.pos += 1;
        let n = self.u64()?;
        (n != 0 && n <= i64::MAX as u64).then(|| -(n as i64))
    }

    /// A number as serde_json reads an `f64`, when that is exact by construction: no
    /// exponent and at most 15 digits, so the digits are an exact integer and one
    /// division by an exact power of ten gives the correctly rounded value (what
    /// serde_json computes for such numbers, with or without `float_roundtrip`).
    pub(crate) fn f64(&mut self) -> Option<f64> {
        const POW10: [f64; 16] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
        ];
        self.peek()?;
        let bytes = self.bytes();
        let negative = bytes[self.pos] == b'-';
        let mut at = self.pos + usize::from(negative);
        let int_start = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let int_digits = at - int_start;
        if int_digits == 0 || (int_digits > 1 && bytes[int_start] == b'0') {
            return None;
        }
        let mut frac_digits = 0;
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
                frac_digits += 1;
            }
            if frac_digits == 0 {
                return None;
            }
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) || int_digits + frac_digits > 15 {
            return None;
        }
        let mantissa = bytes[int_start..at]
            .iter()
            .filter(|b| b.is_ascii_digit())
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        self.pos = at;
        let magnitude = mantissa as f64 / POW10[frac_digits];
        Some(if negative { -magnitude } else { magnitude })
    }

    /// Any value ([`Scan::skip`]), as its text.
    pub(crate) fn raw(&mut self) -> Option<&'a str> {
        self.peek()?;
        let start = self.pos;
        self.skip()?;
        Some(&self.text[start..self.pos])
    }

    /// A `Value`: strings and `null` read here, anything else parsed by serde_json
    /// from its text once [`Scan::skip`] has checked it.
    pub(crate) fn value(&mut self) -> Option<serde_json::Value> {
        use serde_json::Value;
        match self.peek()? {
            b'"' => self.str().map(|v| Value::String(v.into_owned())),
            _ if self.null() => Some(Value::Null),
            _ => serde_json::from_str(self.raw()?).ok(),
        }
    }

    /// A value read by `read` from the text at its first byte; `read` answers the
    /// value and the length of its text. Nothing is consumed when it answers `None`.
    pub(crate) fn prefix<T>(
        &mut self,
        read: impl FnOnce(&'a str) -> Option<(T, usize)>,
    ) -> Option<T> {
        self.peek()?;
        let (value, len) = read(&self.text[self.pos..])?;
        self.pos += len;
        Some(value)
    }

    /// Any value, checked and dropped: strings, `true`/`false`/`null`, integers of
    /// up to 18 digits, and objects and arrays of those. Floats (whose range some
    /// readers check) and deep nesting are refused.
    pub(crate) fn skip(&mut self) -> Option<()> {
        self.skip_within(SKIP_DEPTH)
    }

    fn skip_within(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_str(),
            b'{' => {
                let depth = depth.checked_sub(1)?;
                self.object(|s, key| {
                    if key == RAW_VALUE_TOKEN {
                        return None;
                    }
                    s.skip_within(depth)
                })
            }
            b'[' => {
                let depth = depth.checked_sub(1)?;
                self.array(|s| s.skip_within(depth))
            }
            b'n' => self.null().then_some(()),
            b't' | b'f' => self.bool().map(drop),
            b'-' => {
                self.pos += 1;
                self.small_int()
            }
            _ => self.small_int(),
        }
    }

    /// An integer of at most 18 digits (always within `i64`/`u64`).
    fn small_int(&mut self) -> Option<()> {
        let start = self.pos;
        let digits = self.bytes()[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || digits > 18 || (digits > 1 && self.bytes()[start] == b'0') {
            return None;
        }
        self.pos += digits;
        match self.bytes().get(self.pos) {
            Some(b'.' | b'e' | b'E') => None,
            _ => Some(()),
        }
    }
}
