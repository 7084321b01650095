//! A one-pass reader of Responses request bodies into the fast path's view ([`Top`])
//! without serde.
//!
//! It reads with [`Scan`], which answers `None` for anything it does not read exactly
//! as serde_json would (and checks skipped and raw values as strictly as a `Value`);
//! `None` sends the body to the serde read of the same view.
//! `codec/request_scan_agreement.rs` checks both give the same.

use super::request_view::{Arguments, ItemF, MapOnly, PartF, StrOrSeq, ToolF, Top};
use crate::borrow::{RawText, Str};
use crate::canonical_json::Canonical;
use crate::json_text::{Fields, Scan};

/// The body's view, or `None` when serde must read it.
pub(super) fn scan(text: &str) -> Option<Top<'_>> {
    let mut s = Scan::new(text);
    let top = top(&mut s)?;
    s.end()?;
    Some(top)
}

fn opt_str<'a>(s: &mut Scan<'a>) -> Option<Option<Str<'a>>> {
    s.opt(|s| s.str().map(Str))
}

/// A field kept as its text when present, `null` included.
fn present<'a>(s: &mut Scan<'a>) -> Option<Option<RawText<'a>>> {
    s.raw().map(|raw| Some(RawText(raw)))
}

fn array<'a, T>(
    s: &mut Scan<'a>,
    mut item: impl FnMut(&mut Scan<'a>) -> Option<T>,
) -> Option<Vec<T>> {
    let mut out = Vec::new();
    s.array(|s| {
        out.push(item(s)?);
        Some(())
    })?;
    Some(out)
}

/// A string, a list of objects, or any other value (skipped).
fn str_or_seq<'a, T>(
    s: &mut Scan<'a>,
    mut item: impl FnMut(&mut Scan<'a>) -> Option<T>,
) -> Option<StrOrSeq<'a, MapOnly<T>>> {
    match s.peek()? {
        b'"' => s.str().map(StrOrSeq::Str),
        b'[' => array(s, |s| item(s).map(MapOnly)).map(StrOrSeq::Seq),
        _ => s.skip().map(|()| StrOrSeq::Other),
    }
}

fn top<'a>(s: &mut Scan<'a>) -> Option<Top<'a>> {
    let mut seen = Fields::default();
    let mut t = Top::default();
    s.object(|s, key| {
        match key {
            "model" => {
                seen.first(0)?;
                t.model = Some(s.str()?);
            }
            "input" => {
                seen.first(1)?;
                t.input = s.opt(|s| str_or_seq(s, item))?;
            }
            "instructions" => {
                seen.first(2)?;
                t.instructions = s.opt(Scan::str)?;
            }
            "max_output_tokens" => {
                seen.first(3)?;
                t.max_output_tokens = s.opt(Scan::u64)?;
            }
            "temperature" => {
                seen.first(4)?;
                t.temperature = s.opt(Scan::f64)?;
            }
            "top_p" => {
                seen.first(5)?;
                t.top_p = s.opt(Scan::f64)?;
            }
            "tools" => {
                seen.first(6)?;
                t.tools = s.opt(|s| array(s, |s| tool(s).map(MapOnly)))?;
            }
            "tool_choice" => {
                seen.first(7)?;
                t.tool_choice = s.opt(Scan::value)?;
            }
            "parallel_tool_calls" => {
                seen.first(8)?;
                t.parallel_tool_calls = s.opt(Scan::bool)?;
            }
            "text" => {
                seen.first(9)?;
                t.text = s.opt(|s| serde_json::from_str(s.raw()?).ok())?;
            }
            "reasoning" => {
                seen.first(10)?;
                t.reasoning = s.opt(|s| serde_json::from_str(s.raw()?).ok())?;
            }
            "stream" => {
                seen.first(11)?;
                t.stream = s.opt(Scan::bool)?;
            }
            "user" => {
                seen.first(12)?;
                t.user = s.opt(Scan::str)?;
            }
            _ => {
                if t.extra.contains_key(key) {
                    return None;
                }
                let value = s.value()?;
                t.extra.insert(key.to_owned(), value);
            }
        }
        Some(())
    })?;
    Some(t)
}

fn item<'a>(s: &mut Scan<'a>) -> Option<ItemF<'a>> {
    let mut seen = Fields::default();
    let mut i = ItemF {
        kind: None,
        role: None,
        content: None,
        id: None,
        call_id: None,
        name: None,
        arguments: None,
        status: None,
        output: None,
        summary: None,
        encrypted_content: None,
    };
    s.object(|s, key| {
        match key {
            "type" => {
                seen.first(0)?;
                i.kind = opt_str(s)?;
            }
            "role" => {
                seen.first(1)?;
                i.role = opt_str(s)?;
            }
            "content" => {
                seen.first(2)?;
                i.content = s.opt(|s| str_or_seq(s, part))?;
            }
            "id" => {
                seen.first(3)?;
                i.id = present(s)?;
            }
            "call_id" => {
                seen.first(4)?;
                i.call_id = opt_str(s)?;
            }
            "name" => {
                seen.first(5)?;
                i.name = opt_str(s)?;
            }
            "arguments" => {
                seen.first(6)?;
                i.arguments = Some(if s.peek()? == b'"' {
                    Arguments::Read(s.str()?)
                } else {
                    Arguments::Raw(RawText(s.raw()?))
                });
            }
            "status" => {
                seen.first(7)?;
                i.status = present(s)?;
            }
            "output" => {
                seen.first(8)?;
                i.output = s.opt(|s| str_or_seq(s, part))?;
            }
            "summary" => {
                seen.first(9)?;
                i.summary = present(s)?;
            }
            "encrypted_content" => {
                seen.first(10)?;
                i.encrypted_content = present(s)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(i)
}

fn part<'a>(s: &mut Scan<'a>) -> Option<PartF<'a>> {
    let mut seen = Fields::default();
    let mut p = PartF {
        kind: None,
        text: None,
        refusal: None,
    };
    s.object(|s, key| {
        match key {
            "type" => {
                seen.first(0)?;
                p.kind = opt_str(s)?;
            }
            "text" => {
                seen.first(1)?;
                p.text = opt_str(s)?;
            }
            "refusal" => {
                seen.first(2)?;
                p.refusal = opt_str(s)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(p)
}

fn tool<'a>(s: &mut Scan<'a>) -> Option<ToolF<'a>> {
    let mut seen = Fields::default();
    let mut t = ToolF {
        kind: None,
        name: None,
        description: None,
        parameters: None,
        strict: None,
    };
    s.object(|s, key| {
        match key {
            "type" => {
                seen.first(0)?;
                t.kind = opt_str(s)?;
            }
            "name" => {
                seen.first(1)?;
                t.name = opt_str(s)?;
            }
            "description" => {
                seen.first(2)?;
                t.description = opt_str(s)?;
            }
            "parameters" => {
                seen.first(3)?;
                t.parameters = s.opt(Canonical::scan)?;
            }
            "strict" => {
                seen.first(4)?;
                t.strict = s.opt(Scan::bool)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(t)
}
