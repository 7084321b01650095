//! JSON text by hand, for the stream codecs' hot paths: [`Scan`], a strict reader the
//! decoders use for their common frames; [`Template`], which reads the next frames of
//! the same form by comparing bytes; and [`write_str`], a string writer whose bytes
//! are serde_json's.
//!
//! A stream frame is small (~100–250 bytes) and most are one text delta; going
//! through serde costs several thousand instructions per frame, most of it
//! generic machinery. The reader answers `None` ("not sure") for anything it does
//! not read exactly as serde_json would — escaped keys, floats, lone surrogates,
//! deep nesting, duplicate fields (the caller tracks those) — and the decoder then
//! takes its serde path, which gives the same result or the same error. So the
//! reader may refuse valid JSON, but never accepts what serde_json refuses nor reads
//! a value differently.

mod scan;
mod template;
mod unescape;

pub(crate) use scan::{Fields, Scan};
pub(crate) use template::{Hole, Holes, MAX_HOLES, Template, Token, slots, take_str};

/// The position of the first byte from `from` that a JSON string cannot hold as is:
/// `"`, `\` or a control character (below 0x20); eight bytes at a time
/// ([`crate::swar`]). Most keys and short strings end within the first word, which
/// is tested before the loop and its register set-up (a call of its own). This is
/// `swar::short_clean_prefix_len`'s shape over an offset; calling that instead cost
/// 0.3–1.5% more instructions a translation (callgrind, `count`), so it stays apart.
#[inline(never)]
pub(super) fn special_at(bytes: &[u8], from: usize) -> Option<usize> {
    if let Some(chunk) = bytes.get(from..).and_then(<[u8]>::first_chunk::<8>) {
        let marks = crate::swar::escape_marks(u64::from_le_bytes(*chunk));
        if marks != 0 {
            return Some(from + marks.trailing_zeros() as usize / 8);
        }
        return special_after(bytes, from + 8);
    }
    special_after(bytes, from)
}

/// [`special_at`] past its first word.
#[inline(never)]
fn special_after(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = bytes.get(from..)?;
    let clean = crate::swar::clean_prefix_len(rest);
    (clean < rest.len()).then_some(from + clean)
}

/// The text of the one JSON value `text` holds, without the whitespace around it:
/// what `serde_json::from_str::<&RawValue>(text)` reads, checked by [`Scan`] when it
/// can and by serde_json otherwise; `None` when serde_json refuses the text.
pub(crate) fn raw_value(text: &str) -> Option<&str> {
    let mut s = Scan::new(text);
    if let Some(raw) = s.raw() {
        if s.end().is_some() {
            return Some(raw);
        }
    }
    serde_json::from_str::<&serde_json::value::RawValue>(text)
        .ok()
        .map(serde_json::value::RawValue::get)
}

/// Writes a JSON string literal, byte for byte what `serde_json::to_writer` writes
/// for a `&str`: the request encoders' writer, under the stream encoders' name.
pub(crate) use crate::json_writer::escape_into as write_str;

/// Writes `n` in decimal.
pub(crate) fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    // Indexes and counters are mostly one digit.
    if n < 10 {
        out.push(b'0' + n as u8);
        return;
    }
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}
#[cfg(test)]
mod tests {
    use super::scan::Scan;
    use super::*;

    /// Strings of every byte class the writer and reader treat apart.
    fn samples() -> Vec<String> {
        let mut out: Vec<String> = [
            "",
            "plain ascii text",
            "quote \" backslash \\ slash /",
            "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} \u{7f}",
            "é ü 漢字 🎉 \u{2028}",
            "ends with a quote\"",
            "\\",
            "exactly8",
            "seven77",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for n in 0..40 {
            let mut s = "x".repeat(n);
            s.push(char::from(n as u8 % 0x20));
            s.push_str("é\"");
            out.push(s);
        }
        out
    }

    #[test]
    fn write_str_writes_what_serde_json_writes() {
        for s in samples() {
            let mut ours = Vec::new();
            write_str(&mut ours, &s);
            assert_eq!(ours, serde_json::to_vec(&s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn write_u64_writes_decimal() {
        for n in [0, 7, 10, 1_760_000_000, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    /// What serde_json reads for a `String`, or `None` when it refuses.
    fn serde_str(text: &str) -> Option<String> {
        serde_json::from_str::<String>(text).ok()
    }

    fn scan_str(text: &str) -> Option<String> {
        let mut s = Scan::new(text);
        let v = s.str()?;
        s.end()?;
        Some(v.into_owned())
    }

    #[test]
    fn strings_read_as_serde_reads_them_or_not_at_all() {
        let mut texts: Vec<String> = samples()
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        texts.extend(
            [
                r#""\u00e9\u00E9\u0000""#,
                r#""\ud83c\udf89""#,
                r#""\ud83c""#,
                r#""\udf89""#,
                r#""\ud83c\u0041""#,
                r#""\x""#,
                r#""\u12""#,
                r#""\u12g4""#,
                "\"raw\ttab\"",
                "\"unterminated",
                r#""a" "#,
                r#""a"x"#,
                r#"  "a""#,
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        let mut read = 0;
        for text in &texts {
            let ours = scan_str(text);
            // Measuring accepts the same strings and counts what reading returns.
            let mut s = Scan::new(text);
            let measured = s.str_len().filter(|_| s.end().is_some());
            assert_eq!(measured, ours.as_ref().map(String::len), "{text}");
            if ours.is_some() {
                read += 1;
                assert_eq!(ours, serde_str(text), "{text}");
            }
        }
        assert!(read > 40, "{read}");
    }

    #[test]
    fn escaped_strings_read_alike_at_every_run_length_and_end() {
        // Runs of every length between escapes, with and without 16 bytes of text
        // after the string (where a short run is copied with a fixed-size load).
        let mut strings = Vec::new();
        for gap in 0..24 {
            let x = "x".repeat(gap);
            strings.push(format!("{x}\"{}\\n", "y".repeat(gap % 7)));
            strings.push(format!("\"{x}\u{1}é\u{1F389}\t"));
            strings.push(format!(
                "{{\"{x}\":\"{}\",\"n\":[1,{gap}]}}",
                "v".repeat(gap % 9)
            ));
        }
        for s in &strings {
            let text = serde_json::to_string(s).unwrap();
            for tail in ["", " ", "                    "] {
                let doc = format!("{text}{tail}");
                assert_eq!(scan_str(&doc).as_deref(), Some(s.as_str()), "{doc}");
                let mut scan = Scan::new(&doc);
                assert_eq!(scan.str_len(), Some(s.len()), "{doc}");
                let mut scan = Scan::new(&doc);
                assert!(scan.skip_str().and_then(|()| scan.end()).is_some(), "{doc}");
            }
        }
        // `\u` forms serde_json does not write, read the same way.
        for (text, want) in [
            (r#""\u0041\u00e9\u6F22\ud83c\udf89\/""#, "Aé漢🎉/"),
            (r#""a\u0022b\u005cc""#, "a\"b\\c"),
        ] {
            assert_eq!(scan_str(text).as_deref(), Some(want));
            assert_eq!(serde_str(text).as_deref(), Some(want));
        }
    }

    #[test]
    fn raw_value_reads_what_serde_json_reads() {
        use serde_json::value::RawValue;
        for text in [
            r#"{"a":1}"#,
            r#"  {"a": [1, "x", {"b": null}]}  "#,
            r#"{"rating":4.6}"#,
            r#"{"\u0061":1}"#,
            r#""s""#,
            "1e3",
            "[1,2",
            "",
            "  ",
            r#"{"a":1}x"#,
            r#"{"a":1,}"#,
        ] {
            let serde = serde_json::from_str::<&RawValue>(text)
                .ok()
                .map(RawValue::get);
            assert_eq!(raw_value(text), serde, "{text}");
        }
    }

    #[test]
    fn skipped_values_are_valid_json() {
        let cases = [
            (r#"{"a":[1,-2,"x",true,false,null,{"b":{}}],"c":[]}"#, true),
            (r#"{"a":1.5}"#, false),
            (r#"{"a":1e3}"#, false),
            (r#"{"a":01}"#, false),
            (r#"{"a":-}"#, false),
            (r#"{"a":[1,]}"#, false),
            (r#"{"a":1,}"#, false),
            (r#"{"a" 1}"#, false),
            (r#"{"a":tru}"#, false),
            (r#"{"a":nul}"#, false),
            (r#"{"\u0061":1}"#, false),
            (r#"{"$serde_json::private::RawValue":1}"#, false),
            (r#"{"a":1234567890123456789}"#, false),
        ];
        for (text, readable) in cases {
            let mut s = Scan::new(text);
            let ours = s.skip().and_then(|()| s.end()).is_some();
            assert_eq!(ours, readable, "{text}");
            if ours {
                assert!(serde_json::from_str::<serde_json::Value>(text).is_ok());
            }
        }
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert!(Scan::new(&deep).skip().is_none());
    }

    #[test]
    fn integers_read_as_u64() {
        for (text, want) in [
            ("0", Some(0)),
            ("42", Some(42)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("01", None),
            ("-1", None),
            ("1.0", None),
            ("1e2", None),
            ("", None),
        ] {
            let mut s = Scan::new(text);
            let n = s.u64();
            let ours = n.filter(|_| s.end().is_some());
            assert_eq!(ours, want, "{text}");
            if let Some(n) = ours {
                assert_eq!(serde_json::from_str::<u64>(text).ok(), Some(n));
            }
        }
    }
}
