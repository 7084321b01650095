//! The same-shape fast path: edit a body's top-level members without decoding the rest.
//!
//! When the caller's shape equals the upstream's, the body goes through as bytes: only
//! `model` is replaced (routing) and, for OpenAI Chat streams, usage reporting is
//! forced on. Everything else — unknown fields, key order, number formatting —
//! survives untouched. The scanner walks only the top level and jumps over nested
//! values and strings with `memchr`, so a 2 KB body costs well under a microsecond.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use crate::error::TranslateError;

/// One top-level member of a JSON object: its decoded key and the byte range of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<'a> {
    /// The key, unescaped (borrowed from the body unless it held escapes).
    pub key: Cow<'a, str>,
    /// Where the key's string literal starts (the opening quote).
    pub start: usize,
    /// The value's bytes in the body.
    pub value: Range<usize>,
}

/// Lists the top-level members of a JSON object body.
pub fn top_level_members(body: &[u8]) -> Result<Vec<Member<'_>>, TranslateError> {
    let mut members = Vec::with_capacity(16);
    scan_members(body, |m| {
        members.push(m);
        true
    })?;
    Ok(members)
}

/// Returns `body` with the top-level `model` replaced by `model` (inserted first when
/// absent). Every occurrence of a duplicated key is replaced.
pub fn set_model(body: &[u8], model: &str) -> Result<Vec<u8>, TranslateError> {
    set_member_with(body, "model", model.len() + 2, |out| {
        crate::json_writer::escape_into(out, model)
    })
}

/// [`set_model`], or `None` when the body already names `model` and nothing would
/// change: its one top-level `model` is that string, written without escapes. The
/// usual route sends the model the caller named, and the caller's bytes then go as
/// they are, uncopied.
pub fn set_model_if_changed(body: &[u8], model: &str) -> Result<Option<Vec<u8>>, TranslateError> {
    let plain = !model.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
    if plain {
        let mut spans = 0;
        let mut only = 0..0;
        each_top_level_value(body, "model", |span| {
            spans += 1;
            only = span;
        })?;
        if spans == 1 {
            if is_quoted(&body[only.clone()], model.as_bytes()) {
                return Ok(None);
            }
            // The one member, replaced without a second search.
            let mut out = Vec::with_capacity(body.len() + model.len());
            out.extend_from_slice(&body[..only.start]);
            out.push(b'"');
            out.extend_from_slice(model.as_bytes());
            out.push(b'"');
            out.extend_from_slice(&body[only.end..]);
            return Ok(Some(out));
        }
    }
    set_model(body, model).map(Some)
}

/// Whether `value` is `text` in quotes.
fn is_quoted(value: &[u8], text: &[u8]) -> bool {
    value.len() == text.len() + 2
        && value[0] == b'"'
        && value[value.len() - 1] == b'"'
        && &value[1..value.len() - 1] == text
}

/// Returns `body` with the top-level `key` set to the raw JSON `value` (inserted first
/// when absent).
pub fn set_member(body: &[u8], key: &str, value: &[u8]) -> Result<Vec<u8>, TranslateError> {
    set_member_with(body, key, value.len(), |out| out.extend_from_slice(value))
}

/// [`set_member`] with the value written by `write_value` (about `value_len` bytes)
/// straight into the output.
fn set_member_with(
    body: &[u8],
    key: &str,
    value_len: usize,
    write_value: impl Fn(&mut Vec<u8>),
) -> Result<Vec<u8>, TranslateError> {
    let mut out = Vec::with_capacity(body.len() + value_len + key.len() + 4);
    let mut last = 0;
    let mut found = false;
    each_top_level_value(body, key, |span| {
        out.extend_from_slice(&body[last..span.start]);
        write_value(&mut out);
        last = span.end;
        found = true;
    })?;
    if found {
        out.extend_from_slice(&body[last..]);
        return Ok(out);
    }
    let open = skip_ws(body, 0);
    if body.get(open) != Some(&b'{') {
        return Err(malformed(open, "the body must be a JSON object"));
    }
    let (head, tail) = body.split_at(open + 1);
    out.extend_from_slice(head);
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    write_value(&mut out);
    if has_members_after(tail) {
        out.push(b',');
    }
    out.extend_from_slice(tail);
    Ok(out)
}

/// The raw bytes of the top-level `key`, if present.
pub fn get_member<'a>(body: &'a [u8], key: &str) -> Result<Option<&'a [u8]>, TranslateError> {
    let mut first = None;
    each_top_level_value(body, key, |span| {
        first.get_or_insert(span);
    })?;
    Ok(first.map(|r| &body[r]))
}

/// The member names the request path looks up on every request, quoted, each with
/// its searcher built once.
static KNOWN_KEYS: LazyLock<[(&str, memchr::memmem::Finder<'static>); 6]> = LazyLock::new(|| {
    [
        "model",
        "stream",
        "stream_options",
        "patchbay",
        "usage",
        "choices",
    ]
    .map(|key| {
        (
            key,
            memchr::memmem::Finder::new(format!("\"{key}\"").as_bytes()).into_owned(),
        )
    })
});

fn known_finder(key: &str) -> Option<&'static memchr::memmem::Finder<'static>> {
    KNOWN_KEYS.iter().find(|(k, _)| *k == key).map(|(_, f)| f)
}

/// Calls `found` with the value span of every top-level member named `key`, in order.
///
/// Instead of walking the whole body, each literal occurrence of `"key":` is checked
/// for being a top-level member from whichever side is shorter: from the start, by
/// walking top-level members up to it; from the end, by checking that only top-level
/// members and the closing brace follow its value. A request's `model` sits near one
/// end (the Python SDK writes it last, most others first), so the work is a `memmem`
/// plus a few members. A literal search would miss a key spelled with escapes
/// (`"mod\u0065l"`), which a JSON parser upstream would still read as `model`; so when
/// any member name in the body contains a backslash, the full walk decides instead.
fn each_top_level_value(
    body: &[u8],
    key: &str,
    mut found: impl FnMut(Range<usize>),
) -> Result<(), TranslateError> {
    if key.bytes().any(|b| b == b'\\' || b == b'"') || has_escaped_member_name(body) {
        return scan_members(body, |m| {
            if m.key == key {
                found(m.value);
            }
            true
        })
        .map(|_| ());
    }
    // `"key"`: the searcher built once for the keys the gateway asks for on every
    // request (building one costs more than most searches), else on the spot.
    let quoted;
    let built;
    let finder = match known_finder(key) {
        Some(finder) => finder,
        None => {
            quoted = format!("\"{key}\"");
            built = memchr::memmem::Finder::new(quoted.as_bytes());
            &built
        }
    };
    let needle = finder.needle();
    for p in finder.find_iter(body) {
        let after = skip_ws(body, p + needle.len());
        if body.get(after) != Some(&b':') || preceded_by_escape(body, p) {
            continue;
        }
        let value_start = skip_ws(body, after + 1);
        let Ok(value_end) = skip_value(body, value_start) else {
            continue;
        };
        let top = if p < body.len() / 2 {
            member_starts_at(body, p)?
        } else {
            only_members_follow(body, value_end)
        };
        if top {
            found(value_start..value_end);
        }
    }
    Ok(())
}

/// Whether some string followed by `:` (a member name, at any depth) contains a
/// backslash. Backslashes only occur inside strings, so each one found leads to the
/// end of its string, which is checked for a following `:`.
fn has_escaped_member_name(body: &[u8]) -> bool {
    let mut from = 0;
    while let Some(k) = memchr::memchr(b'\\', &body[from..]) {
        let mut j = from + k;
        // Find the closing quote of the string this backslash is in.
        let end = loop {
            j += 2;
            let rest = body.get(j..).unwrap_or_default();
            match crate::swar::find_quote_or_backslash(rest) {
                Some(n) if rest[n] == b'"' => break Some(j + n + 1),
                Some(n) => j += n,
                None => break None,
            }
        };
        let Some(end) = end else {
            return false;
        };
        if body.get(skip_ws(body, end)) == Some(&b':') {
            return true;
        }
        from = end;
    }
    false
}

/// Whether the quote at `p` is escaped (an odd run of backslashes precedes it).
fn preceded_by_escape(body: &[u8], p: usize) -> bool {
    body[..p].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// Whether a top-level member's key starts at `p`, walking members from the start.
fn member_starts_at(body: &[u8], p: usize) -> Result<bool, TranslateError> {
    let mut found = false;
    scan_members(body, |m| {
        if m.start == p {
            found = true;
        }
        m.start < p
    })?;
    Ok(found)
}

/// Whether the bytes after a value at `i` are `(, member)* }` and then only
/// whitespace: true exactly when the value belongs to a top-level member.
fn only_members_follow(body: &[u8], mut i: usize) -> bool {
    loop {
        i = skip_ws(body, i);
        match body.get(i) {
            Some(b'}') => return skip_ws(body, i + 1) == body.len(),
            Some(b',') => {}
            _ => return false,
        }
        i = skip_ws(body, i + 1);
        if body.get(i) != Some(&b'"') {
            return false;
        }
        let Ok(key_end) = skip_string(body, i) else {
            return false;
        };
        i = skip_ws(body, key_end);
        if body.get(i) != Some(&b':') {
            return false;
        }
        match skip_value(body, skip_ws(body, i + 1)) {
            Ok(end) => i = end,
            Err(_) => return false,
        }
    }
}

/// An OpenAI Chat body prepared for a same-shape streaming upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForcedUsage {
    /// The body to send, with `stream_options.include_usage: true`.
    pub body: Vec<u8>,
    /// Whether the caller itself asked for the usage chunk; when not, the gateway
    /// drops it from the stream it relays (see [`is_usage_only_chunk`]).
    pub caller_asked: bool,
}

/// Forces `stream_options.include_usage: true` on an OpenAI Chat body, keeping any
/// other `stream_options` members. Non-streaming bodies are returned unchanged
/// (OpenAI rejects `stream_options` without `stream: true`).
pub fn force_include_usage(body: &[u8]) -> Result<ForcedUsage, TranslateError> {
    let streaming = get_member(body, "stream")?.is_some_and(|v| v == b"true");
    let existing = get_member(body, "stream_options")?;
    if !streaming {
        return Ok(ForcedUsage {
            body: body.to_vec(),
            caller_asked: false,
        });
    }
    let mut options = match existing {
        Some(raw) if raw != b"null" => {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(raw)
                .map_err(|e| TranslateError::invalid("stream_options", e.to_string()))?
        }
        _ => serde_json::Map::new(),
    };
    let caller_asked = options
        .get("include_usage")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    if caller_asked {
        return Ok(ForcedUsage {
            body: body.to_vec(),
            caller_asked,
        });
    }
    options.insert("include_usage".into(), serde_json::Value::Bool(true));
    let raw = serde_json::to_vec(&options).unwrap_or_else(|_| b"{}".to_vec());
    Ok(ForcedUsage {
        body: set_member(body, "stream_options", &raw)?,
        caller_asked,
    })
}

/// True for the OpenAI Chat chunk that only carries usage (`"choices": []`), which a
/// caller that did not ask for usage must not see.
pub fn is_usage_only_chunk(data: &[u8]) -> bool {
    // Most chunks carry a choice and so have no empty array anywhere: a `]` search
    // rules them out without walking the object.
    has_empty_array(data) && matches!(get_member(data, "choices"), Ok(Some(v)) if is_empty_array(v))
}

/// Whether `data` has a `[` and `]` with nothing but whitespace between them.
fn has_empty_array(data: &[u8]) -> bool {
    memchr::memchr_iter(b']', data).any(|at| {
        data[..at]
            .iter()
            .rev()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'[')
    })
}

fn is_empty_array(v: &[u8]) -> bool {
    v.first() == Some(&b'[')
        && v[1..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b']')
}

fn has_members_after(tail: &[u8]) -> bool {
    tail.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b != b'}')
}

fn malformed(at: usize, what: &str) -> TranslateError {
    TranslateError::invalid(".", format!("malformed JSON at byte {at}: {what}"))
}

/// Walks the top-level object, calling `visit` per member until it returns false.
/// Returns the offset of the opening brace.
fn scan_members<'a>(
    body: &'a [u8],
    mut visit: impl FnMut(Member<'a>) -> bool,
) -> Result<usize, TranslateError> {
    let mut i = skip_ws(body, 0);
    if body.get(i) != Some(&b'{') {
        return Err(malformed(i, "the body must be a JSON object"));
    }
    let open = i;
    i = skip_ws(body, i + 1);
    if body.get(i) == Some(&b'}') {
        return Ok(open);
    }
    loop {
        if body.get(i) != Some(&b'"') {
            return Err(malformed(i, "expected a member name"));
        }
        let key_start = i;
        let key_end = skip_string(body, i)?;
        let raw_key = &body[key_start + 1..key_end - 1];
        let key = if memchr::memchr(b'\\', raw_key).is_some() {
            Cow::Owned(
                serde_json::from_slice::<String>(&body[key_start..key_end])
                    .map_err(|_| malformed(key_start, "bad escape in a member name"))?,
            )
        } else {
            String::from_utf8_lossy(raw_key)
        };
        i = skip_ws(body, key_end);
        if body.get(i) != Some(&b':') {
            return Err(malformed(i, "expected `:`"));
        }
        let value_start = skip_ws(body, i + 1);
        let value_end = skip_value(body, value_start)?;
        let keep_going = visit(Member {
            key,
            start: key_start,
            value: value_start..value_end,
        });
        if !keep_going {
            return Ok(open);
        }
        i = skip_ws(body, value_end);
        match body.get(i) {
            Some(b',') => i = skip_ws(body, i + 1),
            Some(b'}') => return Ok(open),
            _ => return Err(malformed(i, "expected `,` or `}`")),
        }
    }
}

/// Byte classes for [`skip_container`]: 0 for bytes that never matter there.
const STRUCTURAL: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = 1;
    t[b'{' as usize] = 2;
    t[b'[' as usize] = 2;
    t[b'}' as usize] = 3;
    t[b']' as usize] = 3;
    t
};

/// `i` points at `{` or `[`; returns the offset after the matching close. One table
/// lookup per byte outside strings; strings are jumped over with `memchr`.
fn skip_container(body: &[u8], i: usize) -> Result<usize, TranslateError> {
    let mut depth = 0usize;
    let mut j = i;
    while j < body.len() {
        match STRUCTURAL[usize::from(body[j])] {
            0 => j += 1,
            1 => j = skip_string(body, j)?,
            2 => {
                depth += 1;
                j += 1;
            }
            _ => {
                depth -= 1;
                j += 1;
                if depth == 0 {
                    return Ok(j);
                }
            }
        }
    }
    Err(malformed(i, "unterminated object or array"))
}

fn skip_ws(body: &[u8], mut i: usize) -> usize {
    while body.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// `i` points at an opening quote; returns the offset after the closing quote.
fn skip_string(body: &[u8], i: usize) -> Result<usize, TranslateError> {
    let mut j = i + 1;
    loop {
        let rest = body.get(j..).unwrap_or_default();
        match crate::swar::find_quote_or_backslash(rest) {
            Some(k) if rest[k] == b'"' => return Ok(j + k + 1),
            Some(k) => j += k + 2,
            None => return Err(malformed(i, "unterminated string")),
        }
    }
}

/// `i` points at a value; returns the offset after it.
fn skip_value(body: &[u8], i: usize) -> Result<usize, TranslateError> {
    match body.get(i) {
        Some(b'"') => skip_string(body, i),
        Some(b'{' | b'[') => skip_container(body, i),
        Some(_) => {
            let mut j = i;
            while body
                .get(j)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
            {
                j += 1;
            }
            if j == i {
                Err(malformed(i, "expected a value"))
            } else {
                Ok(j)
            }
        }
        None => Err(malformed(i, "expected a value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_model_and_keeps_everything_else_byte_for_byte() {
        let body = br#"{ "messages": [{"role":"user","content":"model \"x\" {"}], "model" : "gpt-4o", "x_unknown": {"a": [1, 2e3]} }"#;
        let out = set_model(body, "claude-sonnet-4-6").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{ "messages": [{"role":"user","content":"model \"x\" {"}], "model" : "claude-sonnet-4-6", "x_unknown": {"a": [1, 2e3]} }"#
        );
    }

    #[test]
    fn a_body_that_already_names_the_model_is_left_as_it_is() {
        let body =
            br#"{"messages":[{"role":"user","content":"\"model\":\"x\""}],"model": "gpt-4o"}"#;
        assert_eq!(set_model_if_changed(body, "gpt-4o").unwrap(), None);
        // Anything else is the edit `set_model` makes.
        let cases: [(&[u8], &str); 6] = [
            (body, "gpt-4o-mini"),
            (body, "gpt-4"),
            (br#"{"model":"a","model":"a"}"#, "a"),
            (br#"{"model":"a\"b"}"#, "a\"b"),
            (br#"{"model":"gpt\u002d4o"}"#, "gpt-4o"),
            (br#"{"stream":true}"#, "m"),
        ];
        for (body, model) in cases {
            assert_eq!(
                set_model_if_changed(body, model).unwrap(),
                Some(set_model(body, model).unwrap()),
                "{} -> {model}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(set_model_if_changed(b"[]", "m").is_err());
    }

    #[test]
    fn inserts_model_when_absent() {
        assert_eq!(set_model(b"{}", "m").unwrap(), br#"{"model":"m"}"#);
        assert_eq!(
            set_model(br#"{"a":1}"#, "m").unwrap(),
            br#"{"model":"m","a":1}"#
        );
    }

    #[test]
    fn escaped_key_is_recognised() {
        let out = set_model(br#"{"mod\u0065l":"a"}"#, "b").unwrap();
        assert_eq!(out, br#"{"mod\u0065l":"b"}"#);
    }

    #[test]
    fn non_objects_are_errors() {
        for bad in [&b""[..], b"[]", b"\"model\"", b"  7"] {
            assert!(
                set_model(bad, "m").is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// The fast path does not validate what it does not edit (the upstream does), but
    /// no input makes it panic, and a malformed member walk is an error.
    #[test]
    fn malformed_bodies_never_panic() {
        for bad in [
            &b"{"[..],
            b"{\"a\"",
            b"{\"a\":",
            b"{\"a\":\"x",
            b"{\"a\":[1,2}",
            b"{\"a\":1 \"b\":2}",
            b"{\"model\":",
            b"{\"model\":\"x",
            br#"{"k\","model":1"#,
            br#"\"model":1}"#,
        ] {
            let _ = set_model(bad, "m");
            let _ = force_include_usage(bad);
        }
        assert!(top_level_members(b"{\"a\":1 \"b\":2}").is_err());
    }

    #[test]
    fn nested_and_quoted_models_are_not_top_level() {
        let body = br#"{"messages":[{"content":"say \"model\": 1"}],"meta":{"model":"inner"},"x":{"model":"deep"}}"#;
        let out = set_model(body, "m").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"m","messages":[{"content":"say \"model\": 1"}],"meta":{"model":"inner"},"x":{"model":"deep"}}"#
        );
        let late = br#"{"messages":[{"role":"user","content":"hello there, a long message"}],"tools":[],"model":"a"}"#;
        assert_eq!(get_member(late, "model").unwrap(), Some(&br#""a""#[..]));
    }

    #[test]
    fn an_escaped_duplicate_key_is_replaced_too() {
        // A JSON parser upstream reads both as `model`; both must carry the routed name.
        let body = br#"{"messages":[],"model":"allowed","mod\u0065l":"forbidden"}"#;
        let out = set_model(body, "m").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"messages":[],"model":"m","mod\u0065l":"m"}"#
        );
    }

    #[test]
    fn forces_usage_and_remembers_whether_caller_asked() {
        let f = force_include_usage(br#"{"model":"m","stream":true}"#).unwrap();
        assert!(!f.caller_asked);
        assert_eq!(
            f.body,
            br#"{"stream_options":{"include_usage":true},"model":"m","stream":true}"#
        );
        let f = force_include_usage(
            br#"{"stream":true,"stream_options":{"include_obfuscation":false}}"#,
        )
        .unwrap();
        assert_eq!(
            f.body,
            br#"{"stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true}}"#
        );
        let asked = br#"{"stream":true,"stream_options":{"include_usage":true}}"#;
        let f = force_include_usage(asked).unwrap();
        assert!(f.caller_asked);
        assert_eq!(f.body, asked);
        let plain = br#"{"stream":false}"#;
        assert_eq!(force_include_usage(plain).unwrap().body, plain);
    }

    #[test]
    fn recognises_the_usage_only_chunk() {
        assert!(is_usage_only_chunk(
            br#"{"id":"c","choices":[ ],"usage":{"prompt_tokens":1}}"#
        ));
        assert!(!is_usage_only_chunk(
            br#"{"id":"c","choices":[{"index":0}],"usage":null}"#
        ));
        assert!(!is_usage_only_chunk(b"[DONE]"));
        // An empty array elsewhere, or in the text, is not the usage chunk.
        assert!(!is_usage_only_chunk(
            br#"{"choices":[{"delta":{"content":"[ ]","tool_calls":[]}}]}"#
        ));
        assert!(is_usage_only_chunk(
            b"{\"choices\":[\n\t],\"usage\":{\"prompt_tokens\":1}}"
        ));
    }
}
