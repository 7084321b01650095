//! A one-pass reader of Messages request bodies into the fast path's view ([`Body`])
//! without serde, which spent ~40 k instructions on the 2 KB bench body.
//!
//! It reads with [`Scan`], which answers `None` for anything it does not read exactly
//! as serde_json would, and is stricter than the view's serde read: raw values
//! (`input`, `input_schema`, `cache_control`, …) and skipped members are checked as a
//! `Value` would check them (no lone surrogates, no out-of-range numbers, bounded
//! nesting), which is what `safe_to_skip` guards on the serde path. `None` sends
//! the body to that path; `codec/request_scan_agreement.rs` checks both give the same.

use std::borrow::Cow;

use super::request_view::{Block, Body, Content, FastTool, Msg, Present, System, SystemBlock};
use super::wire;
use crate::borrow::RawText;
use crate::canonical_json::Canonical;
use crate::json_text::{Fields, Scan};

/// The body's view, or `None` when serde must read it.
pub(super) fn scan(text: &str) -> Option<Body<'_>> {
    let mut s = Scan::new(text);
    let body = body(&mut s)?;
    s.end()?;
    Some(body)
}

fn string(s: &mut Scan<'_>) -> Option<String> {
    s.str().map(Cow::into_owned)
}

fn opt_string(s: &mut Scan<'_>) -> Option<Option<String>> {
    s.opt(string)
}

fn opt_raw<'a>(s: &mut Scan<'a>) -> Option<Option<RawText<'a>>> {
    s.opt(|s| s.raw().map(RawText))
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

fn body<'a>(s: &mut Scan<'a>) -> Option<Body<'a>> {
    let mut seen = Fields::default();
    let mut b = Body::default();
    s.object(|s, key| {
        match key {
            "model" => {
                seen.first(0)?;
                b.model = opt_string(s)?;
            }
            "max_tokens" => {
                seen.first(1)?;
                b.max_tokens = s.opt(Scan::u64)?;
            }
            "messages" => {
                seen.first(2)?;
                b.messages = s.opt(|s| array(s, message))?;
            }
            "system" => {
                seen.first(3)?;
                b.system = s.opt(system)?;
            }
            "stop_sequences" => {
                seen.first(4)?;
                b.stop_sequences = s.opt(|s| array(s, string))?;
            }
            "temperature" => {
                seen.first(5)?;
                b.temperature = s.opt(Scan::f64)?;
            }
            "top_p" => {
                seen.first(6)?;
                b.top_p = s.opt(Scan::f64)?;
            }
            "top_k" => {
                seen.first(7)?;
                b.top_k = s.opt(Scan::u64)?;
            }
            "stream" => {
                seen.first(8)?;
                b.stream = s.opt(Scan::bool)?;
            }
            "metadata" => {
                seen.first(9)?;
                b.metadata = s.opt(|s| serde_json::from_str::<wire::Metadata>(s.raw()?).ok())?;
            }
            "tools" => {
                seen.first(10)?;
                b.tools = s.opt(|s| array(s, tool))?;
            }
            "tool_choice" => {
                seen.first(11)?;
                b.tool_choice = opt_raw(s)?;
            }
            "thinking" => {
                seen.first(12)?;
                b.thinking = opt_raw(s)?;
            }
            "output_config" => {
                seen.first(13)?;
                b.output_config = opt_raw(s)?;
            }
            "patchbay" => {
                seen.first(14)?;
                b.patchbay = opt_raw(s)?;
            }
            _ => {
                let value = s.value()?;
                b.unknown.push((Cow::Borrowed(key), value));
            }
        }
        Some(())
    })?;
    Some(b)
}

fn system<'a>(s: &mut Scan<'a>) -> Option<System<'a>> {
    if s.peek()? != b'[' {
        return string(s).map(System::Text);
    }
    array(s, |s| {
        let mut seen = Fields::default();
        let mut text = None;
        let mut cache_control = None;
        s.object(|s, key| {
            match key {
                "text" => {
                    seen.first(0)?;
                    text = Some(string(s)?);
                }
                "cache_control" => {
                    seen.first(1)?;
                    cache_control = opt_raw(s)?;
                }
                _ => s.skip()?,
            }
            Some(())
        })?;
        Some(SystemBlock {
            text: text?,
            cache_control,
        })
    })
    .map(System::Blocks)
}

fn message<'a>(s: &mut Scan<'a>) -> Option<Msg<'a>> {
    let mut seen = Fields::default();
    let mut role = None;
    let mut content = None;
    s.object(|s, key| {
        match key {
            "role" => {
                seen.first(0)?;
                role = Some(s.str()?);
            }
            "content" => {
                seen.first(1)?;
                content = Some(self::content(s)?);
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(Msg {
        role: role?,
        content: content?,
    })
}

fn content<'a>(s: &mut Scan<'a>) -> Option<Content<'a>> {
    if s.peek()? == b'[' {
        array(s, block).map(Content::Blocks)
    } else {
        string(s).map(Content::Text)
    }
}

fn block<'a>(s: &mut Scan<'a>) -> Option<Block<'a>> {
    let mut seen = Fields::default();
    let mut kind = None;
    let mut b = Block {
        kind: Cow::Borrowed(""),
        text: None,
        cache_control: None,
        source: None,
        title: None,
        id: None,
        name: None,
        input: None,
        tool_use_id: None,
        content: None,
        is_error: None,
        thinking: None,
        signature: Present::Absent,
        data: None,
    };
    s.object(|s, key| {
        match key {
            "type" => {
                seen.first(0)?;
                kind = Some(s.str()?);
            }
            "text" => {
                seen.first(1)?;
                b.text = opt_string(s)?;
            }
            "cache_control" => {
                seen.first(2)?;
                b.cache_control = opt_raw(s)?;
            }
            "source" => {
                seen.first(3)?;
                b.source = opt_raw(s)?;
            }
            "title" => {
                seen.first(4)?;
                b.title = opt_string(s)?;
            }
            "id" => {
                seen.first(5)?;
                b.id = s.opt(Scan::str)?;
            }
            "name" => {
                seen.first(6)?;
                b.name = opt_string(s)?;
            }
            "input" => {
                seen.first(7)?;
                b.input = s.opt(Canonical::scan)?;
            }
            "tool_use_id" => {
                seen.first(8)?;
                b.tool_use_id = s.opt(Scan::str)?;
            }
            "content" => {
                seen.first(9)?;
                b.content = s.opt(content)?;
            }
            "is_error" => {
                seen.first(10)?;
                b.is_error = s.opt(Scan::bool)?;
            }
            "thinking" => {
                seen.first(11)?;
                b.thinking = opt_string(s)?;
            }
            "signature" => {
                seen.first(12)?;
                b.signature = Present::Value(string(s)?);
            }
            "data" => {
                seen.first(13)?;
                b.data = opt_string(s)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    b.kind = kind?;
    Some(b)
}

fn tool<'a>(s: &mut Scan<'a>) -> Option<FastTool<'a>> {
    let mut seen = Fields::default();
    let mut t = FastTool {
        name: None,
        description: None,
        input_schema: None,
        strict: None,
        cache_control: None,
        kind: None,
    };
    s.object(|s, key| {
        match key {
            "name" => {
                seen.first(0)?;
                t.name = opt_string(s)?;
            }
            "description" => {
                seen.first(1)?;
                t.description = opt_string(s)?;
            }
            "input_schema" => {
                seen.first(2)?;
                t.input_schema = s.opt(Canonical::scan)?;
            }
            "strict" => {
                seen.first(3)?;
                t.strict = s.opt(Scan::bool)?;
            }
            "cache_control" => {
                seen.first(4)?;
                t.cache_control = opt_raw(s)?;
            }
            "type" => {
                seen.first(5)?;
                t.kind = s.opt(Scan::str)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(t)
}
