//! Borrowed views of Chat Completions request bodies: twins of the request wire types,
//! for decoding a caller's body without a `String` per field and without
//! `#[serde(flatten)]` buffering (the canonical request is built from them in
//! `request.rs`).
//!
//! They accept exactly the bodies [`wire::Request`] accepts, field for field with the
//! same types: the structs that flatten unknown keys into `extra` there are read by
//! hand here, unknown keys checked as `Value` would check them ([`Skip`]) or, at the
//! top level, kept as `Value`s; known duplicate keys are refused as derive refuses them.
//! A body they refuse is decoded again with the wire types, which name the failure.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use gateway_protocol::RawJson;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::wire;
use crate::borrow::{Skip, Str, lenient};

/// [`wire::Request`], borrowed.
pub(super) struct RequestIn<'a> {
    pub model: Str<'a>,
    pub messages: Vec<MessageIn<'a>>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptionsIn>,
    pub max_completion_tokens: Option<u64>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Option<StopIn<'a>>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub response_format: Option<wire::ResponseFormat>,
    pub tools: Option<Vec<ToolDefIn<'a>>>,
    pub tool_choice: Option<Value>,
    pub parallel_tool_calls: Option<bool>,
    pub reasoning_effort: Option<Str<'a>>,
    pub user: Option<Str<'a>>,
    pub functions: Option<Vec<FunctionDefIn<'a>>>,
    pub function_call: Option<Value>,
    pub extra: Map<String, Value>,
}

/// [`wire::StreamOptions`] (its other options are checked, not kept).
pub(super) struct StreamOptionsIn {
    pub include_usage: Option<bool>,
}

/// [`wire::Stop`], borrowed.
pub(super) enum StopIn<'a> {
    One(Str<'a>),
    Many(Vec<Str<'a>>),
}

/// [`wire::ToolDef`], borrowed.
pub(super) struct ToolDefIn<'a> {
    pub kind: Str<'a>,
    pub function: Option<FunctionDefIn<'a>>,
}

/// [`wire::FunctionDef`], borrowed.
#[derive(serde::Deserialize)]
pub(super) struct FunctionDefIn<'a> {
    #[serde(borrow)]
    pub name: Str<'a>,
    #[serde(default, borrow)]
    pub description: Option<Str<'a>>,
    #[serde(default)]
    pub parameters: Option<RawJson>,
    #[serde(default)]
    pub strict: Option<bool>,
}

/// [`wire::Message`], borrowed.
#[derive(Default)]
pub(super) struct MessageIn<'a> {
    pub role: Str<'a>,
    pub content: Option<ContentIn<'a>>,
    pub name: Option<Str<'a>>,
    pub tool_calls: Option<Vec<ToolCallIn<'a>>>,
    pub tool_call_id: Option<Str<'a>>,
    pub refusal: Option<Str<'a>>,
    pub reasoning_content: Option<Str<'a>>,
    pub function_call: Option<FunctionCallIn<'a>>,
}

/// [`wire::Content`], borrowed.
pub(super) enum ContentIn<'a> {
    Text(Str<'a>),
    Parts(Vec<PartIn<'a>>),
}

/// [`wire::ContentPart`], borrowed.
#[derive(Default)]
pub(super) struct PartIn<'a> {
    pub kind: Str<'a>,
    pub text: Option<Str<'a>>,
    pub image_url: Option<ImageUrlIn<'a>>,
    pub input_audio: Option<InputAudioIn<'a>>,
    pub file: Option<FileRefIn<'a>>,
    pub refusal: Option<Str<'a>>,
}

/// [`wire::ImageUrl`], borrowed.
#[derive(serde::Deserialize)]
pub(super) struct ImageUrlIn<'a> {
    #[serde(borrow)]
    pub url: Str<'a>,
    #[serde(default, borrow)]
    pub detail: Option<Str<'a>>,
}

/// [`wire::InputAudio`], borrowed.
#[derive(serde::Deserialize)]
pub(super) struct InputAudioIn<'a> {
    #[serde(borrow)]
    pub data: Str<'a>,
    #[serde(borrow)]
    pub format: Str<'a>,
}

/// [`wire::FileRef`], borrowed.
#[derive(serde::Deserialize, Default)]
pub(super) struct FileRefIn<'a> {
    #[serde(default, borrow)]
    pub file_data: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub file_id: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub filename: Option<Str<'a>>,
}

/// [`wire::ToolCall`], borrowed.
#[derive(serde::Deserialize)]
pub(super) struct ToolCallIn<'a> {
    #[serde(default, borrow)]
    pub id: Str<'a>,
    #[serde(rename = "type", default, borrow)]
    pub _kind: Str<'a>,
    #[serde(borrow)]
    pub function: FunctionCallIn<'a>,
}

/// [`wire::FunctionCall`], borrowed.
#[derive(serde::Deserialize)]
pub(super) struct FunctionCallIn<'a> {
    #[serde(borrow)]
    pub name: Str<'a>,
    #[serde(default, borrow, deserialize_with = "lenient")]
    pub arguments: Str<'a>,
}

/// Stores a field's value, refusing a second one as derive does.
fn put<T, E: de::Error>(slot: &mut Option<T>, value: T, field: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(field));
    }
    *slot = Some(value);
    Ok(())
}

/// A struct read from a JSON object by hand: one visitor per type.
struct ObjectVisitor<T>(PhantomData<T>);

impl<T> ObjectVisitor<T> {
    fn new() -> Self {
        ObjectVisitor(PhantomData)
    }
}

impl<'de> Visitor<'de> for ObjectVisitor<RequestIn<'de>> {
    type Value = RequestIn<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a chat completions request")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut model = None;
        let mut messages = None;
        let mut stream = None;
        let mut stream_options = None;
        let mut max_completion_tokens = None;
        let mut max_tokens = None;
        let mut temperature = None;
        let mut top_p = None;
        let mut stop = None;
        let mut seed = None;
        let mut presence_penalty = None;
        let mut frequency_penalty = None;
        let mut response_format = None;
        let mut tools = None;
        let mut tool_choice = None;
        let mut parallel_tool_calls = None;
        let mut reasoning_effort = None;
        let mut user = None;
        let mut functions = None;
        let mut function_call = None;
        let mut extra = Map::new();
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key {
                "model" => put(&mut model, map.next_value()?, "model")?,
                "messages" => put(&mut messages, map.next_value()?, "messages")?,
                "stream" => put(&mut stream, map.next_value()?, "stream")?,
                "stream_options" => {
                    put(&mut stream_options, map.next_value()?, "stream_options")?;
                }
                "max_completion_tokens" => put(
                    &mut max_completion_tokens,
                    map.next_value()?,
                    "max_completion_tokens",
                )?,
                "max_tokens" => put(&mut max_tokens, map.next_value()?, "max_tokens")?,
                "temperature" => put(&mut temperature, map.next_value()?, "temperature")?,
                "top_p" => put(&mut top_p, map.next_value()?, "top_p")?,
                "stop" => put(&mut stop, map.next_value()?, "stop")?,
                "seed" => put(&mut seed, map.next_value()?, "seed")?,
                "presence_penalty" => {
                    put(&mut presence_penalty, map.next_value()?, "presence_penalty")?;
                }
                "frequency_penalty" => {
                    put(
                        &mut frequency_penalty,
                        map.next_value()?,
                        "frequency_penalty",
                    )?;
                }
                "response_format" => {
                    put(&mut response_format, map.next_value()?, "response_format")?;
                }
                "tools" => put(&mut tools, map.next_value()?, "tools")?,
                "tool_choice" => put(&mut tool_choice, map.next_value()?, "tool_choice")?,
                "parallel_tool_calls" => put(
                    &mut parallel_tool_calls,
                    map.next_value()?,
                    "parallel_tool_calls",
                )?,
                "reasoning_effort" => {
                    put(&mut reasoning_effort, map.next_value()?, "reasoning_effort")?;
                }
                "user" => put(&mut user, map.next_value()?, "user")?,
                "functions" => put(&mut functions, map.next_value()?, "functions")?,
                "function_call" => put(&mut function_call, map.next_value()?, "function_call")?,
                _ => {
                    let value: Value = map.next_value()?;
                    extra.insert(key.into_owned(), value);
                }
            }
        }
        Ok(RequestIn {
            model: model.ok_or_else(|| de::Error::missing_field("model"))?,
            messages: messages.ok_or_else(|| de::Error::missing_field("messages"))?,
            stream: stream.flatten(),
            stream_options: stream_options.flatten(),
            max_completion_tokens: max_completion_tokens.flatten(),
            max_tokens: max_tokens.flatten(),
            temperature: temperature.flatten(),
            top_p: top_p.flatten(),
            stop: stop.flatten(),
            seed: seed.flatten(),
            presence_penalty: presence_penalty.flatten(),
            frequency_penalty: frequency_penalty.flatten(),
            response_format: response_format.flatten(),
            tools: tools.flatten(),
            tool_choice: tool_choice.flatten(),
            parallel_tool_calls: parallel_tool_calls.flatten(),
            reasoning_effort: reasoning_effort.flatten(),
            user: user.flatten(),
            functions: functions.flatten(),
            function_call: function_call.flatten(),
            extra,
        })
    }
}

impl<'de> Deserialize<'de> for RequestIn<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectVisitor::<RequestIn<'de>>::new())
    }
}

impl<'de> Visitor<'de> for ObjectVisitor<StreamOptionsIn> {
    type Value = StreamOptionsIn;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("stream options")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut include_usage = None;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key {
                "include_usage" => put(&mut include_usage, map.next_value()?, "include_usage")?,
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(StreamOptionsIn {
            include_usage: include_usage.flatten(),
        })
    }
}

impl<'de> Deserialize<'de> for StreamOptionsIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectVisitor::<StreamOptionsIn>::new())
    }
}

impl<'de> Visitor<'de> for ObjectVisitor<StopIn<'de>> {
    type Value = StopIn<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(StopIn::One(Str(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(StopIn::One(Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(StopIn::One(Str(Cow::Owned(v))))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut many = Vec::new();
        while let Some(s) = seq.next_element::<Str<'de>>()? {
            many.push(s);
        }
        Ok(StopIn::Many(many))
    }
}

impl<'de> Deserialize<'de> for StopIn<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjectVisitor::<StopIn<'de>>::new())
    }
}

impl<'de> Visitor<'de> for ObjectVisitor<ToolDefIn<'de>> {
    type Value = ToolDefIn<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tool definition")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kind = None;
        let mut function = None;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key {
                "type" => put(&mut kind, map.next_value()?, "type")?,
                "function" => put(&mut function, map.next_value()?, "function")?,
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(ToolDefIn {
            kind: kind.ok_or_else(|| de::Error::missing_field("type"))?,
            function: function.flatten(),
        })
    }
}

impl<'de> Deserialize<'de> for ToolDefIn<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectVisitor::<ToolDefIn<'de>>::new())
    }
}

impl<'de> Visitor<'de> for ObjectVisitor<MessageIn<'de>> {
    type Value = MessageIn<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut role = None;
        let mut content = None;
        let mut name = None;
        let mut tool_calls = None;
        let mut tool_call_id = None;
        let mut refusal = None;
        let mut reasoning_content = None;
        let mut function_call = None;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key {
                "role" => put(&mut role, map.next_value()?, "role")?,
                "content" => put(&mut content, map.next_value()?, "content")?,
                "name" => put(&mut name, map.next_value()?, "name")?,
                "tool_calls" => put(&mut tool_calls, map.next_value()?, "tool_calls")?,
                "tool_call_id" => put(&mut tool_call_id, map.next_value()?, "tool_call_id")?,
                "refusal" => put(&mut refusal, map.next_value()?, "refusal")?,
                "reasoning_content" => {
                    put(
                        &mut reasoning_content,
                        map.next_value()?,
                        "reasoning_content",
                    )?;
                }
                "function_call" => put(&mut function_call, map.next_value()?, "function_call")?,
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(MessageIn {
            role: role.ok_or_else(|| de::Error::missing_field("role"))?,
            content: content.flatten(),
            name: name.flatten(),
            tool_calls: tool_calls.flatten(),
            tool_call_id: tool_call_id.flatten(),
            refusal: refusal.flatten(),
            reasoning_content: reasoning_content.flatten(),
            function_call: function_call.flatten(),
        })
    }
}

impl<'de> Deserialize<'de> for MessageIn<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectVisitor::<MessageIn<'de>>::new())
    }
}

impl<'de> Visitor<'de> for ObjectVisitor<ContentIn<'de>> {
    type Value = ContentIn<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an array of content parts")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(ContentIn::Text(Str(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(ContentIn::Text(Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(ContentIn::Text(Str(Cow::Owned(v))))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut parts = Vec::new();
        while let Some(p) = seq.next_element::<PartIn<'de>>()? {
            parts.push(p);
        }
        Ok(ContentIn::Parts(parts))
    }
}

impl<'de> Deserialize<'de> for ContentIn<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjectVisitor::<ContentIn<'de>>::new())
    }
}

impl<'de> Visitor<'de> for ObjectVisitor<PartIn<'de>> {
    type Value = PartIn<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a content part")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kind = None;
        let mut text = None;
        let mut image_url = None;
        let mut input_audio = None;
        let mut file = None;
        let mut refusal = None;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key {
                "type" => put(&mut kind, map.next_value()?, "type")?,
                "text" => put(&mut text, map.next_value()?, "text")?,
                "image_url" => put(&mut image_url, map.next_value()?, "image_url")?,
                "input_audio" => put(&mut input_audio, map.next_value()?, "input_audio")?,
                "file" => put(&mut file, map.next_value()?, "file")?,
                "refusal" => put(&mut refusal, map.next_value()?, "refusal")?,
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(PartIn {
            kind: kind.ok_or_else(|| de::Error::missing_field("type"))?,
            text: text.flatten(),
            image_url: image_url.flatten(),
            input_audio: input_audio.flatten(),
            file: file.flatten(),
            refusal: refusal.flatten(),
        })
    }
}

impl<'de> Deserialize<'de> for PartIn<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectVisitor::<PartIn<'de>>::new())
    }
}

fn b(s: &str) -> Str<'_> {
    Str(Cow::Borrowed(s))
}

fn ob(s: &Option<String>) -> Option<Str<'_>> {
    s.as_deref().map(b)
}

fn function_def(f: &wire::FunctionDef) -> FunctionDefIn<'_> {
    FunctionDefIn {
        name: b(&f.name),
        description: ob(&f.description),
        parameters: f.parameters.clone(),
        strict: f.strict,
    }
}

fn function_call(f: &wire::FunctionCall) -> FunctionCallIn<'_> {
    FunctionCallIn {
        name: b(&f.name),
        arguments: b(&f.arguments),
    }
}

impl<'a> RequestIn<'a> {
    /// The same request, pointing into a body decoded with the owned wire types.
    pub fn from_wire(w: &'a wire::Request) -> Self {
        RequestIn {
            model: b(&w.model),
            messages: w
                .messages
                .iter()
                .map(|m| MessageIn {
                    role: b(&m.role),
                    content: m.content.as_ref().map(|c| match c {
                        wire::Content::Text(t) => ContentIn::Text(b(t)),
                        wire::Content::Parts(parts) => ContentIn::Parts(
                            parts
                                .iter()
                                .map(|p| PartIn {
                                    kind: b(&p.kind),
                                    text: ob(&p.text),
                                    image_url: p.image_url.as_ref().map(|i| ImageUrlIn {
                                        url: b(&i.url),
                                        detail: ob(&i.detail),
                                    }),
                                    input_audio: p.input_audio.as_ref().map(|a| InputAudioIn {
                                        data: b(&a.data),
                                        format: b(&a.format),
                                    }),
                                    file: p.file.as_ref().map(|f| FileRefIn {
                                        file_data: ob(&f.file_data),
                                        file_id: ob(&f.file_id),
                                        filename: ob(&f.filename),
                                    }),
                                    refusal: ob(&p.refusal),
                                })
                                .collect(),
                        ),
                    }),
                    name: ob(&m.name),
                    tool_calls: m.tool_calls.as_ref().map(|calls| {
                        calls
                            .iter()
                            .map(|c| ToolCallIn {
                                id: b(&c.id),
                                _kind: b(&c.kind),
                                function: function_call(&c.function),
                            })
                            .collect()
                    }),
                    tool_call_id: ob(&m.tool_call_id),
                    refusal: ob(&m.refusal),
                    reasoning_content: ob(&m.reasoning_content),
                    function_call: m.function_call.as_ref().map(function_call),
                })
                .collect(),
            stream: w.stream,
            stream_options: w.stream_options.as_ref().map(|o| StreamOptionsIn {
                include_usage: o.include_usage,
            }),
            max_completion_tokens: w.max_completion_tokens,
            max_tokens: w.max_tokens,
            temperature: w.temperature,
            top_p: w.top_p,
            stop: w.stop.as_ref().map(|s| match s {
                wire::Stop::One(one) => StopIn::One(b(one)),
                wire::Stop::Many(many) => StopIn::Many(many.iter().map(|s| b(s)).collect()),
            }),
            seed: w.seed,
            presence_penalty: w.presence_penalty,
            frequency_penalty: w.frequency_penalty,
            response_format: w.response_format.clone(),
            tools: w.tools.as_ref().map(|tools| {
                tools
                    .iter()
                    .map(|t| ToolDefIn {
                        kind: b(&t.kind),
                        function: t.function.as_ref().map(function_def),
                    })
                    .collect()
            }),
            tool_choice: w.tool_choice.clone(),
            parallel_tool_calls: w.parallel_tool_calls,
            reasoning_effort: ob(&w.reasoning_effort),
            user: ob(&w.user),
            functions: w
                .functions
                .as_ref()
                .map(|f| f.iter().map(function_def).collect()),
            function_call: w.function_call.clone(),
            extra: w.extra.clone(),
        }
    }
}
