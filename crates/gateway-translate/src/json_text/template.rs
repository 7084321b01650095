//! [`Template`]: the last plain frame of a stream, kept to read the next frames of
//! the same form by comparing bytes instead of parsing them.
//!
//! An upstream writes its delta frames from one template: the same keys in the same
//! order, the same ids, and only a few values changing (the text, a counter, a
//! timestamp). Once a frame has been read by [`Scan`](super::Scan) and the decoder
//! found it plain (its meaning fixed but for those values), the frame is kept with
//! the positions of its changing values, its *holes*. A later frame is read through
//! the template when it has the same bytes outside the holes and, in each hole, one
//! value token of the same kind (a string, or an unsigned integer read as `u64`).
//!
//! Why that reads the frame as a full parse would: a JSON parse is one left-to-right
//! pass over tokens. The template's text parsed, with each hole a whole value token in
//! a value position; replacing a value token by another of the same kind changes
//! neither the structure around it, nor the keys (no hole is a key), nor whether the
//! typed reader of that position accepts it (any string is a string; `u64` is checked
//! again). So the new frame parses to the same values as the template, except the
//! holes' values, which are read from it. Anything else — an added key, a changed
//! id, whitespace, an escape in a key — fails the comparison and takes the parse.

use std::borrow::Cow;

use super::scan::Scan;

/// The most holes a template keeps; a frame with more is not kept.
pub(crate) const MAX_HOLES: usize = 8;

/// What a hole holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HoleKind {
    /// A string.
    Str,
    /// An unsigned integer, read as a `u64`.
    U64,
}

/// One changing value of a plain frame: its byte range and kind, and a label saying
/// what the decoder does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hole {
    start: usize,
    end: usize,
    kind: HoleKind,
    /// What the value means to the decoder ([`Hole::IGNORED`], or the decoder's own).
    pub(crate) label: u8,
}

impl Hole {
    /// The label of a value the decoder does not read.
    pub(crate) const IGNORED: u8 = 0;

    pub(super) fn new(start: usize, end: usize, kind: HoleKind, label: u8) -> Self {
        Hole {
            start,
            end,
            kind,
            label,
        }
    }
}

/// The holes one scan recorded, in order (at most [`MAX_HOLES`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Holes {
    list: Vec<Hole>,
    overflow: bool,
}

impl Holes {
    /// Forgets the holes of the previous frame.
    pub(crate) fn clear(&mut self) {
        self.list.clear();
        self.overflow = false;
    }

    pub(super) fn push(&mut self, hole: Hole) {
        if self.list.len() < MAX_HOLES {
            self.list.push(hole);
        } else {
            self.overflow = true;
        }
    }

    /// How many holes carry `label`.
    pub(crate) fn count(&self, label: u8) -> usize {
        self.list.iter().filter(|h| h.label == label).count()
    }
}

/// A value read from a hole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// A string (borrowed from the frame when it has no escapes).
    Str(Cow<'a, str>),
    /// An unsigned integer.
    U64(u64),
}

/// The last plain frame of a stream and what it meant (`M`, the decoder's own summary
/// of a plain frame).
#[derive(Debug, Clone)]
pub(crate) struct Template<M> {
    text: String,
    holes: Holes,
    meaning: Option<M>,
}

impl<M> Default for Template<M> {
    fn default() -> Self {
        Template {
            text: String::new(),
            holes: Holes::default(),
            meaning: None,
        }
    }
}

impl<M: Copy> Template<M> {
    /// Keeps `text`, read by a scan that recorded `holes`, as the template of frames
    /// that mean `meaning`.
    pub(crate) fn learn(&mut self, text: &str, holes: &Holes, meaning: M) {
        if holes.overflow {
            self.meaning = None;
            return;
        }
        self.text.clear();
        self.text.push_str(text);
        self.holes.clone_from(holes);
        self.meaning = Some(meaning);
    }

    /// Reads `data` through the template: its meaning and the labels of its holes,
    /// with each hole's value written to `values` in order; `None` when `data` does
    /// not have the template's form.
    pub(crate) fn read<'a>(
        &self,
        data: &'a str,
        values: &mut [Token<'a>; MAX_HOLES],
    ) -> Option<(M, [u8; MAX_HOLES])> {
        let mut labels = [Hole::IGNORED; MAX_HOLES];
        let mut slots = values.iter_mut().zip(&mut labels);
        let meaning = self.walk(data, |hole, scan| {
            let (slot, label) = slots.next()?;
            *slot = match hole.kind {
                HoleKind::Str => Token::Str(scan.str()?),
                HoleKind::U64 => Token::U64(scan.u64()?),
            };
            *label = hole.label;
            Some(())
        })?;
        Some((meaning, labels))
    }

    /// Reads `data` through the template as [`Template::read`] does (the same frames
    /// accepted), for its meaning and the unescaped length of the first string hole
    /// labelled `label` (0 when there is none), without copying any value.
    pub(crate) fn measure(&self, data: &str, label: impl FnOnce(M) -> u8) -> Option<(M, usize)> {
        let meaning = self.meaning?;
        let label = label(meaning);
        let text = self.text.as_bytes();
        let payload = self
            .holes
            .list
            .iter()
            .find(|h| h.kind == HoleKind::Str && h.label == label);
        // Upstreams repeat everything but the text (ids, timestamps, fingerprints):
        // the same bytes before and after that one string are one comparison each.
        // The template's own values in the other holes are values it read, so this
        // accepts a subset of what the walk below accepts, and reads it the same.
        if let Some(hole) = payload {
            let bytes = data.as_bytes();
            if bytes.get(..hole.start) == Some(&text[..hole.start]) {
                let mut scan = Scan::at(data, hole.start);
                if let Some(len) = scan.str_len() {
                    if bytes.get(scan.pos()..) == Some(&text[hole.end..]) {
                        return Some((meaning, len));
                    }
                }
            }
        }
        let mut len = None;
        let meaning = self.walk(data, |hole, scan| {
            match hole.kind {
                HoleKind::Str if hole.label == label && len.is_none() => {
                    len = Some(scan.str_len()?);
                }
                HoleKind::Str => {
                    scan.str_len()?;
                }
                HoleKind::U64 => {
                    scan.u64()?;
                }
            }
            Some(())
        })?;
        Some((meaning, len.unwrap_or(0)))
    }

    /// Compares `data` with the template outside its holes; `value` reads each hole's
    /// value from the scan placed at its start. The template's meaning when all match.
    #[inline]
    fn walk<'a>(
        &self,
        data: &'a str,
        mut value: impl FnMut(&Hole, &mut Scan<'a>) -> Option<()>,
    ) -> Option<M> {
        let meaning = self.meaning?;
        let (text, bytes) = (self.text.as_bytes(), data.as_bytes());
        let (mut from, mut at) = (0, 0);
        for hole in &self.holes.list {
            let literal = &text[from..hole.start];
            if bytes.get(at..at + literal.len())? != literal {
                return None;
            }
            let mut scan = Scan::at(data, at + literal.len());
            value(hole, &mut scan)?;
            at = scan.pos();
            from = hole.end;
        }
        (bytes.get(at..)? == &text[from..]).then_some(meaning)
    }
}

/// The string of the first hole labelled `label`, taken out of `values` (empty when
/// there is none).
pub(crate) fn take_str<'a>(
    labels: &[u8; MAX_HOLES],
    values: &mut [Token<'a>; MAX_HOLES],
    label: u8,
) -> Cow<'a, str> {
    let slot = labels.iter().position(|&l| l == label);
    match slot.map(|i| std::mem::replace(&mut values[i], Token::U64(0))) {
        Some(Token::Str(s)) => s,
        _ => Cow::Borrowed(""),
    }
}

/// Fresh slots for [`Template::read`].
pub(crate) fn slots<'a>() -> [Token<'a>; MAX_HOLES] {
    [const { Token::U64(0) }; MAX_HOLES]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A template learned from `{"n":7,"t":"a","k":"v"}` with holes at `7` and `"a"`.
    fn learned() -> Template<&'static str> {
        let text = r#"{"n":7,"t":"a","k":"v"}"#;
        let mut holes = Holes::default();
        let mut scan = Scan::new(text);
        scan.object(|s, key| match key {
            "n" => s.u64_hole(&mut holes, 2).map(drop),
            "t" => s.str_hole(&mut holes, 1).map(drop),
            _ => s.skip(),
        })
        .expect("the template text scans");
        let mut template = Template::default();
        template.learn(text, &holes, "plain");
        template
    }

    fn read(template: &Template<&'static str>, data: &str) -> Option<(u64, String)> {
        let mut values = slots();
        let (meaning, labels) = template.read(data, &mut values)?;
        assert_eq!(meaning, "plain");
        let n = match values[0] {
            Token::U64(n) => n,
            Token::Str(_) => panic!("hole 0 holds the number"),
        };
        Some((n, take_str(&labels, &mut values, 1).into_owned()))
    }

    #[test]
    fn frames_of_the_template_form_are_read_and_others_refused() {
        let t = learned();
        assert_eq!(
            read(&t, r#"{"n":7,"t":"a","k":"v"}"#),
            Some((7, "a".into()))
        );
        assert_eq!(
            read(&t, r#"{"n":12345,"t":"longer \"text\"\n","k":"v"}"#),
            Some((12345, "longer \"text\"\n".into()))
        );
        // Whitespace before a value changes nothing a parse reads.
        assert_eq!(
            read(&t, r#"{"n": 8,"t": "b","k":"v"}"#),
            Some((8, "b".into()))
        );
        for other in [
            r#"{"n":7,"t":"a","k":"w"}"#,
            r#"{"n":7,"t":"a","k":"v"} "#,
            r#"{"n":7,"t":"a","k":"v"}x"#,
            r#"{"n":7,"t":"a","k":"v","x":1}"#,
            r#"{"n":"7","t":"a","k":"v"}"#,
            r#"{"n":7.5,"t":"a","k":"v"}"#,
            r#"{"n":07,"t":"a","k":"v"}"#,
            r#"{"n":-7,"t":"a","k":"v"}"#,
            r#"{"n":7,"t":null,"k":"v"}"#,
            r#"{"n":7,"t":"a" ,"k":"v"}"#,
            r#"{"n":7,"t":"a\x","k":"v"}"#,
            r#"{"n":7,"t":"\ud800","k":"v"}"#,
            r#"{"n":7,"t":"a","#,
            "",
        ] {
            assert_eq!(read(&t, other), None, "{other}");
        }
    }

    #[test]
    fn measuring_accepts_what_reading_accepts_and_counts_the_text_it_reads() {
        let t = learned();
        for data in [
            r#"{"n":7,"t":"a","k":"v"}"#,
            r#"{"n":12345,"t":"longer \"text\"\n","k":"v"}"#,
            r#"{"n": 8,"t": "\u00e9\ud83c\udf89 é\/","k":"v"}"#,
            r#"{"n":7,"t":"","k":"v"}"#,
            r#"{"n":7,"t":"a","k":"w"}"#,
            r#"{"n":7.5,"t":"a","k":"v"}"#,
            r#"{"n":7,"t":"a\x","k":"v"}"#,
            r#"{"n":7,"t":"\ud800","k":"v"}"#,
            "{\"n\":7,\"t\":\"a\u{1}\",\"k\":\"v\"}",
            r#"{"n":7,"t":"a","#,
        ] {
            let read = read(&t, data).map(|(_, text)| text.len());
            let measured = t.measure(data, |_| 1).map(|(meaning, len)| {
                assert_eq!(meaning, "plain");
                len
            });
            assert_eq!(measured, read, "{data}");
            // A label no hole carries measures nothing.
            let other = t.measure(data, |_| 9).map(|(_, len)| len);
            assert_eq!(other, read.map(|_| 0), "{data}");
        }
    }

    #[test]
    fn a_frame_with_too_many_holes_is_not_kept() {
        let text = format!("[{}1]", "1,".repeat(MAX_HOLES));
        let mut holes = Holes::default();
        Scan::new(&text)
            .array(|s| s.u64_hole(&mut holes, 1).map(drop))
            .expect("scans");
        let mut template = Template::default();
        template.learn(&text, &holes, ());
        assert!(template.read(&text, &mut slots()).is_none());
    }
}
