//! A one-pass reader of Chat Completions request bodies into the borrowed view
//! ([`RequestIn`]) without serde: serde_json costs ~80 instructions a string and more
//! per key, most of a 2 KB body's decode.
//!
//! It reads with [`Scan`], which answers `None` for anything it does not read exactly
//! as serde_json would; it also answers `None` for what the view reads but this
//! reader does not (the array form of a struct, `arguments` that are not a string, a
//! duplicate field, floats with an exponent). The caller then decodes with serde,
//! which gives the same view or names the failure. `codec/request_scan_agreement.rs`
//! checks the two agree on every fixture and mutations of each.

use gateway_protocol::RawJson;
use serde_json::Map;

use super::request_view::{
    ContentIn, FileRefIn, FunctionCallIn, FunctionDefIn, ImageUrlIn, InputAudioIn, MessageIn,
    PartIn, RequestIn, StopIn, StreamOptionsIn, ToolCallIn, ToolDefIn,
};
use crate::borrow::Str;
use crate::canonical_json::written_raw;
use crate::json_text::{Fields, Scan};

/// The body as the view, or `None` when serde must read it.
pub(super) fn scan(text: &str) -> Option<RequestIn<'_>> {
    let mut s = Scan::new(text);
    let req = request(&mut s)?;
    s.end()?;
    Some(req)
}

fn string<'a>(s: &mut Scan<'a>) -> Option<Str<'a>> {
    s.str().map(Str)
}

fn opt_str<'a>(s: &mut Scan<'a>) -> Option<Option<Str<'a>>> {
    s.opt(string)
}

/// A `RawJson` (the text as it came; [`Scan::raw`] has checked it, so serde_json
/// need not parse it again).
pub(crate) fn raw_json(s: &mut Scan<'_>) -> Option<RawJson> {
    Some(RawJson::from_raw(written_raw(s.raw()?.to_owned())))
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

fn request<'a>(s: &mut Scan<'a>) -> Option<RequestIn<'a>> {
    let mut seen = Fields::default();
    let mut model = None;
    let mut messages = None;
    let mut r = RequestIn {
        model: Str::default(),
        messages: Vec::new(),
        stream: None,
        stream_options: None,
        max_completion_tokens: None,
        max_tokens: None,
        temperature: None,
        top_p: None,
        stop: None,
        seed: None,
        presence_penalty: None,
        frequency_penalty: None,
        response_format: None,
        tools: None,
        tool_choice: None,
        parallel_tool_calls: None,
        reasoning_effort: None,
        user: None,
        functions: None,
        function_call: None,
        extra: Map::new(),
    };
    s.object(|s, key| {
        match key {
            "model" => {
                seen.first(0)?;
                model = Some(string(s)?);
            }
            "messages" => {
                seen.first(1)?;
                messages = Some(array(s, message)?);
            }
            "stream" => {
                seen.first(2)?;
                r.stream = s.opt(Scan::bool)?;
            }
            "stream_options" => {
                seen.first(3)?;
                r.stream_options = s.opt(stream_options)?;
            }
            "max_completion_tokens" => {
                seen.first(4)?;
                r.max_completion_tokens = s.opt(Scan::u64)?;
            }
            "max_tokens" => {
                seen.first(5)?;
                r.max_tokens = s.opt(Scan::u64)?;
            }
            "temperature" => {
                seen.first(6)?;
                r.temperature = s.opt(Scan::f64)?;
            }
            "top_p" => {
                seen.first(7)?;
                r.top_p = s.opt(Scan::f64)?;
            }
            "stop" => {
                seen.first(8)?;
                r.stop = s.opt(stop)?;
            }
            "seed" => {
                seen.first(9)?;
                r.seed = s.opt(Scan::i64)?;
            }
            "presence_penalty" => {
                seen.first(10)?;
                r.presence_penalty = s.opt(Scan::f64)?;
            }
            "frequency_penalty" => {
                seen.first(11)?;
                r.frequency_penalty = s.opt(Scan::f64)?;
            }
            "response_format" => {
                seen.first(12)?;
                r.response_format = s.opt(|s| serde_json::from_str(s.raw()?).ok())?;
            }
            "tools" => {
                seen.first(13)?;
                r.tools = s.opt(|s| array(s, tool_def))?;
            }
            "tool_choice" => {
                seen.first(14)?;
                r.tool_choice = s.opt(Scan::value)?;
            }
            "parallel_tool_calls" => {
                seen.first(15)?;
                r.parallel_tool_calls = s.opt(Scan::bool)?;
            }
            "reasoning_effort" => {
                seen.first(16)?;
                r.reasoning_effort = opt_str(s)?;
            }
            "user" => {
                seen.first(17)?;
                r.user = opt_str(s)?;
            }
            "functions" => {
                seen.first(18)?;
                r.functions = s.opt(|s| array(s, function_def))?;
            }
            "function_call" => {
                seen.first(19)?;
                r.function_call = s.opt(Scan::value)?;
            }
            _ => {
                let v = s.value()?;
                r.extra.insert(key.to_owned(), v);
            }
        }
        Some(())
    })?;
    r.model = model?;
    r.messages = messages?;
    Some(r)
}

fn stream_options(s: &mut Scan<'_>) -> Option<StreamOptionsIn> {
    let mut seen = Fields::default();
    let mut include_usage = None;
    s.object(|s, key| {
        if key == "include_usage" {
            seen.first(0)?;
            include_usage = s.opt(Scan::bool)?;
            Some(())
        } else {
            s.skip()
        }
    })?;
    Some(StreamOptionsIn { include_usage })
}

fn stop<'a>(s: &mut Scan<'a>) -> Option<StopIn<'a>> {
    if s.peek()? == b'[' {
        array(s, string).map(StopIn::Many)
    } else {
        string(s).map(StopIn::One)
    }
}

fn tool_def<'a>(s: &mut Scan<'a>) -> Option<ToolDefIn<'a>> {
    let mut seen = Fields::default();
    let mut kind = None;
    let mut function = None;
    s.object(|s, key| {
        match key {
            "type" => {
                seen.first(0)?;
                kind = Some(string(s)?);
            }
            "function" => {
                seen.first(1)?;
                function = s.opt(function_def)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(ToolDefIn {
        kind: kind?,
        function,
    })
}

fn function_def<'a>(s: &mut Scan<'a>) -> Option<FunctionDefIn<'a>> {
    let mut seen = Fields::default();
    let mut name = None;
    let mut description = None;
    let mut parameters = None;
    let mut strict = None;
    s.object(|s, key| {
        match key {
            "name" => {
                seen.first(0)?;
                name = Some(string(s)?);
            }
            "description" => {
                seen.first(1)?;
                description = opt_str(s)?;
            }
            "parameters" => {
                seen.first(2)?;
                parameters = s.opt(raw_json)?;
            }
            "strict" => {
                seen.first(3)?;
                strict = s.opt(Scan::bool)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(FunctionDefIn {
        name: name?,
        description,
        parameters,
        strict,
    })
}

fn message<'a>(s: &mut Scan<'a>) -> Option<MessageIn<'a>> {
    let mut seen = Fields::default();
    let mut role = None;
    let mut m = MessageIn::default();
    s.object(|s, key| {
        match key {
            "role" => {
                seen.first(0)?;
                role = Some(string(s)?);
            }
            "content" => {
                seen.first(1)?;
                m.content = s.opt(content)?;
            }
            "name" => {
                seen.first(2)?;
                m.name = opt_str(s)?;
            }
            "tool_calls" => {
                seen.first(3)?;
                m.tool_calls = s.opt(|s| array(s, tool_call))?;
            }
            "tool_call_id" => {
                seen.first(4)?;
                m.tool_call_id = opt_str(s)?;
            }
            "refusal" => {
                seen.first(5)?;
                m.refusal = opt_str(s)?;
            }
            "reasoning_content" => {
                seen.first(6)?;
                m.reasoning_content = opt_str(s)?;
            }
            "function_call" => {
                seen.first(7)?;
                m.function_call = s.opt(function_call)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    m.role = role?;
    Some(m)
}

fn content<'a>(s: &mut Scan<'a>) -> Option<ContentIn<'a>> {
    if s.peek()? == b'[' {
        array(s, part).map(ContentIn::Parts)
    } else {
        string(s).map(ContentIn::Text)
    }
}

fn part<'a>(s: &mut Scan<'a>) -> Option<PartIn<'a>> {
    let mut seen = Fields::default();
    let mut kind = None;
    let mut p = PartIn::default();
    s.object(|s, key| {
        match key {
            "type" => {
                seen.first(0)?;
                kind = Some(string(s)?);
            }
            "text" => {
                seen.first(1)?;
                p.text = opt_str(s)?;
            }
            "image_url" => {
                seen.first(2)?;
                p.image_url = s.opt(image_url)?;
            }
            "input_audio" => {
                seen.first(3)?;
                p.input_audio = s.opt(input_audio)?;
            }
            "file" => {
                seen.first(4)?;
                p.file = s.opt(file)?;
            }
            "refusal" => {
                seen.first(5)?;
                p.refusal = opt_str(s)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    p.kind = kind?;
    Some(p)
}

fn image_url<'a>(s: &mut Scan<'a>) -> Option<ImageUrlIn<'a>> {
    let mut seen = Fields::default();
    let mut url = None;
    let mut detail = None;
    s.object(|s, key| {
        match key {
            "url" => {
                seen.first(0)?;
                url = Some(string(s)?);
            }
            "detail" => {
                seen.first(1)?;
                detail = opt_str(s)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(ImageUrlIn { url: url?, detail })
}

fn input_audio<'a>(s: &mut Scan<'a>) -> Option<InputAudioIn<'a>> {
    let mut seen = Fields::default();
    let mut data = None;
    let mut format = None;
    s.object(|s, key| {
        match key {
            "data" => {
                seen.first(0)?;
                data = Some(string(s)?);
            }
            "format" => {
                seen.first(1)?;
                format = Some(string(s)?);
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(InputAudioIn {
        data: data?,
        format: format?,
    })
}

fn file<'a>(s: &mut Scan<'a>) -> Option<FileRefIn<'a>> {
    let mut seen = Fields::default();
    let mut f = FileRefIn::default();
    s.object(|s, key| {
        match key {
            "file_data" => {
                seen.first(0)?;
                f.file_data = opt_str(s)?;
            }
            "file_id" => {
                seen.first(1)?;
                f.file_id = opt_str(s)?;
            }
            "filename" => {
                seen.first(2)?;
                f.filename = opt_str(s)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(f)
}

fn tool_call<'a>(s: &mut Scan<'a>) -> Option<ToolCallIn<'a>> {
    let mut seen = Fields::default();
    let mut id = Str::default();
    let mut kind = Str::default();
    let mut function = None;
    s.object(|s, key| {
        match key {
            "id" => {
                seen.first(0)?;
                id = string(s)?;
            }
            "type" => {
                seen.first(1)?;
                kind = string(s)?;
            }
            "function" => {
                seen.first(2)?;
                function = Some(function_call(s)?);
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(ToolCallIn {
        id,
        _kind: kind,
        function: function?,
    })
}

/// A function call whose `arguments` is a string or `null` (other values are written
/// out as JSON text by the serde path).
fn function_call<'a>(s: &mut Scan<'a>) -> Option<FunctionCallIn<'a>> {
    let mut seen = Fields::default();
    let mut name = None;
    let mut arguments = Str::default();
    s.object(|s, key| {
        match key {
            "name" => {
                seen.first(0)?;
                name = Some(string(s)?);
            }
            "arguments" => {
                seen.first(1)?;
                arguments = opt_str(s)?.unwrap_or_default();
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(FunctionCallIn {
        name: name?,
        arguments,
    })
}
