//! One entry point per operation, dispatching on the [`ApiShape`]; and the
//! [`Transcoder`] that turns an upstream byte stream into a caller byte stream.
//!
//! The server holds an `ApiShape` for the caller and one for the upstream (for
//! embeddings, an [`EmbedForm`] for the caller) and calls these; the shape modules stay
//! independent of each other. Chat comes first, then embeddings, token counts and
//! model lists, then the stream codecs.

use gateway_protocol::{
    ApiShape, ChatRequest, ChatResponse, CountTokensResponse, EmbeddingsRequest,
    EmbeddingsResponse, EncodingFormat, GatewayError, ModelInfo, ModelList, StreamEvent, Usage,
};

use crate::context::{EncodeOptions, ResponseContext};
use crate::error::TranslateError;
use crate::estimate::StreamTally;
use crate::framing::{FrameRef, Framer, Framing};
use crate::{
    anthropic, bedrock, cohere, gemini, ollama, openai_chat, openai_embeddings, openai_responses,
};

/// Decodes a caller's chat request. Gemini bodies carry no model or stream flag (they
/// are in the URL): the caller of this function sets `model` and `stream` afterwards.
/// Ollama's `/api/generate` bodies have their own decoder,
/// [`ollama::generate::decode_request`].
pub fn decode_request(shape: ApiShape, body: &[u8]) -> Result<ChatRequest, TranslateError> {
    match shape {
        ApiShape::OpenAiChat => openai_chat::request::decode(body),
        ApiShape::OpenAiResponses => openai_responses::request::decode(body),
        ApiShape::Anthropic => anthropic::request::decode(body),
        ApiShape::Gemini => gemini::request::decode(body),
        ApiShape::Ollama => ollama::request::decode(body),
        ApiShape::Bedrock => bedrock::request::decode(body),
        ApiShape::Cohere => cohere::request::decode(body),
    }
}

/// Encodes a canonical request for an upstream of `shape`.
pub fn encode_request(
    shape: ApiShape,
    req: &ChatRequest,
    opts: &EncodeOptions,
) -> Result<Vec<u8>, TranslateError> {
    match shape {
        ApiShape::OpenAiChat => openai_chat::request::encode(req, opts),
        ApiShape::OpenAiResponses => openai_responses::request::encode(req, opts),
        ApiShape::Anthropic => anthropic::request::encode(req, opts),
        ApiShape::Gemini => gemini::request::encode(req, opts),
        ApiShape::Ollama => ollama::request::encode(req, opts),
        ApiShape::Bedrock => bedrock::request::encode(req, opts),
        ApiShape::Cohere => cohere::request::encode(req, opts),
    }
}

/// Decodes an upstream's successful chat response.
pub fn decode_response(
    shape: ApiShape,
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<ChatResponse, TranslateError> {
    match shape {
        ApiShape::OpenAiChat => openai_chat::response::decode(body, ctx),
        ApiShape::OpenAiResponses => openai_responses::response::decode(body, ctx),
        ApiShape::Anthropic => anthropic::response::decode(body, ctx),
        ApiShape::Gemini => gemini::response::decode(body, ctx),
        ApiShape::Ollama => ollama::response::decode(body, ctx),
        ApiShape::Bedrock => bedrock::response::decode(body, ctx),
        ApiShape::Cohere => cohere::response::decode(body, ctx),
    }
}

/// Encodes a canonical response for a caller of `shape`.
pub fn encode_response(shape: ApiShape, resp: &ChatResponse, ctx: &ResponseContext) -> Vec<u8> {
    match shape {
        ApiShape::OpenAiChat => openai_chat::response::encode(resp, ctx),
        ApiShape::OpenAiResponses => openai_responses::response::encode(resp, ctx),
        ApiShape::Anthropic => anthropic::response::encode(resp, ctx),
        ApiShape::Gemini => gemini::response::encode(resp, ctx),
        ApiShape::Ollama => ollama::response::encode(resp, ctx),
        ApiShape::Bedrock => bedrock::response::encode(resp, ctx),
        ApiShape::Cohere => cohere::response::encode(resp, ctx),
    }
}

/// Renders an error in the envelope of `shape`: the HTTP status and the body.
pub fn encode_error(shape: ApiShape, err: &GatewayError) -> (u16, Vec<u8>) {
    match shape {
        ApiShape::OpenAiChat => openai_chat::error::encode(err),
        ApiShape::OpenAiResponses => openai_responses::error::encode(err),
        ApiShape::Anthropic => anthropic::error::encode(err),
        ApiShape::Gemini => gemini::error::encode(err),
        ApiShape::Ollama => ollama::error::encode(err),
        ApiShape::Bedrock => bedrock::error::encode(err),
        ApiShape::Cohere => cohere::error::encode(err),
    }
}

/// Reads an upstream's error answer (non-2xx status and body).
pub fn decode_error(shape: ApiShape, status: u16, body: &[u8]) -> GatewayError {
    match shape {
        ApiShape::OpenAiChat => openai_chat::error::decode(status, body),
        ApiShape::OpenAiResponses => openai_responses::error::decode(status, body),
        ApiShape::Anthropic => anthropic::error::decode(status, body),
        ApiShape::Gemini => gemini::error::decode(status, body),
        ApiShape::Ollama => ollama::error::decode(status, body),
        ApiShape::Bedrock => bedrock::error::decode(status, body),
        ApiShape::Cohere => cohere::error::decode(status, body),
    }
}

/// The body forms a caller can send an embeddings request in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedForm {
    /// OpenAI `POST /v1/embeddings` (also Azure's deployments path).
    OpenAi,
    /// Gemini `models/{model}:embedContent`: one input.
    GeminiOne,
    /// Gemini `models/{model}:batchEmbedContents`.
    GeminiBatch,
    /// Ollama `POST /api/embed`: `input`, one string or several.
    Ollama,
    /// Ollama's older `POST /api/embeddings`: one `prompt`, one `embedding` back.
    OllamaLegacy,
}

impl EmbedForm {
    /// The caller's shape: the envelope its errors are written in.
    pub fn shape(self) -> ApiShape {
        match self {
            EmbedForm::OpenAi => ApiShape::OpenAiChat,
            EmbedForm::GeminiOne | EmbedForm::GeminiBatch => ApiShape::Gemini,
            EmbedForm::Ollama | EmbedForm::OllamaLegacy => ApiShape::Ollama,
        }
    }
}

/// Decodes a caller's embeddings request in `form`. Gemini bodies carry no model (it
/// is in the URL): the caller of this function sets `model` afterwards.
pub fn decode_embeddings_request(
    form: EmbedForm,
    body: &[u8],
) -> Result<EmbeddingsRequest, TranslateError> {
    match form {
        EmbedForm::OpenAi => openai_embeddings::request::decode(body),
        EmbedForm::GeminiOne => gemini::embeddings::decode_request(body),
        EmbedForm::GeminiBatch => gemini::embeddings::decode_batch_request(body),
        EmbedForm::Ollama => ollama::embeddings::decode_request(body),
        EmbedForm::OllamaLegacy => ollama::embeddings::decode_legacy_request(body),
    }
}

/// Encodes a canonical embeddings request for an upstream of `shape`, with
/// `req.model` as the upstream's model: Gemini gets `batchEmbedContents` (what its SDK
/// sends even for one input), Ollama `/api/embed`, every other shape the OpenAI body
/// (Anthropic and Bedrock Converse have no embeddings API, and Cohere's `/v2/embed` is
/// not served by the `cohere` kind; such a provider is never asked).
pub fn encode_embeddings_request(
    shape: ApiShape,
    req: &EmbeddingsRequest,
) -> Result<Vec<u8>, TranslateError> {
    match shape {
        ApiShape::Gemini => gemini::embeddings::encode_batch_request(req),
        ApiShape::Ollama => ollama::embeddings::encode_request(req),
        ApiShape::OpenAiChat
        | ApiShape::OpenAiResponses
        | ApiShape::Anthropic
        | ApiShape::Bedrock
        | ApiShape::Cohere => openai_embeddings::request::encode(req),
    }
}

/// Decodes an upstream's embeddings answer. `model` is the upstream model the request
/// named (Gemini's answer does not repeat it).
pub fn decode_embeddings_response(
    shape: ApiShape,
    body: &[u8],
    model: &str,
) -> Result<EmbeddingsResponse, TranslateError> {
    match shape {
        ApiShape::Gemini => gemini::embeddings::decode_response(body, model),
        ApiShape::Ollama => ollama::embeddings::decode_response(body),
        ApiShape::OpenAiChat
        | ApiShape::OpenAiResponses
        | ApiShape::Anthropic
        | ApiShape::Bedrock
        | ApiShape::Cohere => openai_embeddings::response::decode(body),
    }
}

/// Encodes an embeddings answer for a caller of `form`. `format` is the request's
/// `encoding_format` (OpenAI callers may ask for base64; Gemini answers are floats).
pub fn encode_embeddings_response(
    form: EmbedForm,
    resp: &EmbeddingsResponse,
    format: EncodingFormat,
) -> Vec<u8> {
    match form {
        EmbedForm::OpenAi => openai_embeddings::response::encode(resp, format),
        EmbedForm::GeminiOne => gemini::embeddings::encode_response(resp),
        EmbedForm::GeminiBatch => gemini::embeddings::encode_batch_response(resp),
        EmbedForm::Ollama => ollama::embeddings::encode_response(resp, &resp.model),
        EmbedForm::OllamaLegacy => ollama::embeddings::encode_legacy_response(resp),
    }
}

/// Decodes a caller's token-count request: the shape's chat body (Anthropic without
/// `max_tokens`; Gemini `contents` or `generateContentRequest`, no model: it is in
/// the URL). OpenAI Chat and Ollama have no such endpoint: their bodies are refused.
pub fn decode_count_tokens_request(
    shape: ApiShape,
    body: &[u8],
) -> Result<ChatRequest, TranslateError> {
    match shape {
        ApiShape::Anthropic => anthropic::count_tokens::decode_request(body),
        ApiShape::Gemini => gemini::count_tokens::decode_request(body),
        ApiShape::OpenAiResponses => openai_responses::request::decode(body),
        ApiShape::OpenAiChat | ApiShape::Ollama | ApiShape::Bedrock | ApiShape::Cohere => {
            Err(TranslateError::invalid(
                ".",
                format!(
                    "the {shape} API has no token-count endpoint; count with Anthropic's \
                 `/v1/messages/count_tokens` or Gemini's `:countTokens`"
                ),
            ))
        }
    }
}

/// Encodes a token-count request for an upstream of `shape`, with `req.model` as the
/// upstream's model (set it as for [`encode_request`]). `None` when the gateway does
/// not ask upstreams of that shape (only Anthropic and Gemini are asked): count
/// locally instead (`estimate::input_tokens`).
pub fn encode_count_tokens_request(
    shape: ApiShape,
    req: &ChatRequest,
    opts: &EncodeOptions,
) -> Option<Result<Vec<u8>, TranslateError>> {
    match shape {
        ApiShape::Anthropic => Some(anthropic::count_tokens::encode_request(req, opts)),
        ApiShape::Gemini => Some(gemini::count_tokens::encode_request(req, &req.model, opts)),
        ApiShape::OpenAiChat
        | ApiShape::OpenAiResponses
        | ApiShape::Ollama
        | ApiShape::Bedrock
        | ApiShape::Cohere => None,
    }
}

/// Decodes an upstream's token-count answer (`{"input_tokens": N}`, `{"totalTokens":
/// N}`, `{"object": "response.input_tokens", …}`).
pub fn decode_count_tokens_response(
    shape: ApiShape,
    body: &[u8],
) -> Result<CountTokensResponse, TranslateError> {
    match shape {
        ApiShape::Anthropic => anthropic::count_tokens::decode_response(body),
        ApiShape::Gemini => gemini::count_tokens::decode_response(body),
        ApiShape::OpenAiResponses => openai_responses::count_tokens::decode(body),
        ApiShape::OpenAiChat | ApiShape::Ollama | ApiShape::Bedrock | ApiShape::Cohere => {
            Err(TranslateError::upstream(
                "token count",
                format!("the {shape} API has no token-count endpoint"),
            ))
        }
    }
}

/// Encodes a token count for a caller of `shape`. Shapes without a token-count
/// endpoint (OpenAI Chat, Ollama) get Anthropic's `{"input_tokens": N}`.
pub fn encode_count_tokens_response(shape: ApiShape, resp: &CountTokensResponse) -> Vec<u8> {
    match shape {
        ApiShape::Gemini => gemini::count_tokens::encode_response(resp),
        ApiShape::OpenAiResponses => openai_responses::count_tokens::encode(resp),
        ApiShape::Anthropic
        | ApiShape::OpenAiChat
        | ApiShape::Ollama
        | ApiShape::Bedrock
        | ApiShape::Cohere => anthropic::count_tokens::encode_response(resp),
    }
}

/// Encodes a model list for a caller of `shape` (both OpenAI shapes share
/// `GET /v1/models`).
pub fn encode_model_list(shape: ApiShape, list: &ModelList) -> Vec<u8> {
    match shape {
        ApiShape::OpenAiChat | ApiShape::OpenAiResponses | ApiShape::Bedrock | ApiShape::Cohere => {
            openai_chat::models::encode_list(list)
        }
        ApiShape::Anthropic => anthropic::models::encode(list),
        ApiShape::Gemini => gemini::models::encode(list),
        ApiShape::Ollama => ollama::models::encode(list),
    }
}

/// One model in `shape`'s single-model form (`GET /v1/models/{id}`, Anthropic's
/// `GET /v1/models/{model_id}`, Gemini's `GET /v1beta/models/{name}`, Ollama's
/// `POST /api/show`).
pub fn encode_model(shape: ApiShape, model: &ModelInfo) -> Vec<u8> {
    match shape {
        ApiShape::Anthropic => anthropic::models::encode_model(model),
        ApiShape::Gemini => gemini::models::encode_model(model),
        ApiShape::Ollama => ollama::models::encode_show(model),
        ApiShape::OpenAiChat | ApiShape::OpenAiResponses | ApiShape::Bedrock | ApiShape::Cohere => {
            openai_chat::models::encode_model(model)
        }
    }
}

/// Decodes an upstream's model list (`GET /v1/models`, `/v1beta/models`, `/api/tags`).
pub fn decode_model_list(shape: ApiShape, body: &[u8]) -> Result<ModelList, TranslateError> {
    match shape {
        // Bedrock lists models in another service (its control plane) and Cohere's
        // list is in a form of its own; such providers are never asked, and the mocks
        // answer in OpenAI's form.
        ApiShape::OpenAiChat | ApiShape::OpenAiResponses | ApiShape::Bedrock | ApiShape::Cohere => {
            openai_chat::models::decode_list(body)
        }
        ApiShape::Anthropic => anthropic::models::decode(body),
        ApiShape::Gemini => gemini::models::decode(body),
        ApiShape::Ollama => ollama::models::decode(body),
    }
}

/// How an upstream of `shape` frames its stream (Gemini upstreams are always asked
/// for `alt=sse`).
pub fn upstream_framing(shape: ApiShape) -> Framing {
    match shape {
        ApiShape::Ollama => Framing::Ndjson,
        ApiShape::Bedrock => Framing::EventStream,
        _ => Framing::Sse,
    }
}

/// A stream decoder for any shape.
#[derive(Debug, Clone)]
pub enum StreamDecoder {
    /// OpenAI Chat.
    OpenAiChat(openai_chat::stream::Decoder),
    /// OpenAI Responses.
    OpenAiResponses(openai_responses::stream::Decoder),
    /// Anthropic.
    Anthropic(anthropic::stream::Decoder),
    /// Gemini.
    Gemini(gemini::stream::Decoder),
    /// Ollama.
    Ollama(ollama::stream::Decoder),
    /// Bedrock Converse.
    Bedrock(bedrock::stream::Decoder),
    /// Cohere v2 Chat.
    Cohere(cohere::stream::Decoder),
}

impl StreamDecoder {
    /// A decoder for frames of `shape`.
    pub fn new(shape: ApiShape, ctx: &ResponseContext) -> Self {
        match shape {
            ApiShape::OpenAiChat => Self::OpenAiChat(openai_chat::stream::Decoder::new(ctx)),
            ApiShape::OpenAiResponses => {
                Self::OpenAiResponses(openai_responses::stream::Decoder::new(ctx))
            }
            ApiShape::Anthropic => Self::Anthropic(anthropic::stream::Decoder::new(ctx)),
            ApiShape::Gemini => Self::Gemini(gemini::stream::Decoder::new(ctx)),
            ApiShape::Ollama => Self::Ollama(ollama::stream::Decoder::new(ctx)),
            ApiShape::Bedrock => Self::Bedrock(bedrock::stream::Decoder::new(ctx)),
            ApiShape::Cohere => Self::Cohere(cohere::stream::Decoder::new(ctx)),
        }
    }

    /// The decoder without its hand-written frame scanner (see `json_text`).
    #[cfg(test)]
    pub(crate) fn without_scanner(self) -> Self {
        match self {
            Self::OpenAiChat(d) => Self::OpenAiChat(d.without_scanner()),
            Self::Anthropic(d) => Self::Anthropic(d.without_scanner()),
            Self::Gemini(d) => Self::Gemini(d.without_scanner()),
            Self::OpenAiResponses(d) => Self::OpenAiResponses(d.without_scanner()),
            Self::Ollama(d) => Self::Ollama(d.without_scanner()),
            Self::Bedrock(d) => Self::Bedrock(d),
            Self::Cohere(d) => Self::Cohere(d),
        }
    }

    /// Decodes one frame (a [`Frame`](crate::Frame) or a borrowed [`FrameRef`]), appending
    /// canonical events.
    pub fn decode<'f>(
        &mut self,
        frame: impl Into<FrameRef<'f>>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let frame = frame.into();
        match self {
            Self::OpenAiChat(d) => d.decode(frame, out),
            Self::OpenAiResponses(d) => d.decode(frame, out),
            Self::Anthropic(d) => d.decode(frame, out),
            Self::Gemini(d) => d.decode(frame, out),
            Self::Ollama(d) => d.decode(frame, out),
            Self::Bedrock(d) => d.decode(frame, out),
            Self::Cohere(d) => d.decode(frame, out),
        }
    }

    /// The output bytes of a content delta, measured without decoding it, when
    /// skipping its decode changes nothing (see [`crate::stream_tap`]); `None` when
    /// the frame must go through [`StreamDecoder::decode`]. OpenAI Chat and Anthropic
    /// measure; the other shapes decode every frame.
    #[inline]
    pub fn count(&self, frame: FrameRef<'_>) -> Option<usize> {
        match self {
            Self::OpenAiChat(d) => d.count(frame),
            Self::Anthropic(d) => d.count(frame),
            Self::OpenAiResponses(_)
            | Self::Gemini(_)
            | Self::Ollama(_)
            | Self::Bedrock(_)
            | Self::Cohere(_) => None,
        }
    }

    /// Ends the stream (EOF), appending whatever closes it.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        match self {
            Self::OpenAiChat(d) => d.finish(out),
            Self::OpenAiResponses(d) => d.finish(out),
            Self::Anthropic(d) => d.finish(out),
            Self::Gemini(d) => d.finish(out),
            Self::Ollama(d) => d.finish(out),
            Self::Bedrock(d) => d.finish(out),
            Self::Cohere(d) => d.finish(out),
        }
    }
}

/// A stream encoder for any shape.
#[derive(Debug)]
pub enum StreamEncoder {
    /// OpenAI Chat.
    OpenAiChat(openai_chat::stream::Encoder),
    /// OpenAI Responses.
    OpenAiResponses(openai_responses::stream::Encoder),
    /// Anthropic.
    Anthropic(anthropic::stream::Encoder),
    /// Gemini.
    Gemini(gemini::stream::Encoder),
    /// Ollama.
    Ollama(ollama::stream::Encoder),
    /// Bedrock Converse (event stream bytes).
    Bedrock(bedrock::stream::Encoder),
    /// Cohere v2 Chat.
    Cohere(cohere::stream::Encoder),
}

impl StreamEncoder {
    /// An encoder writing the stream grammar of `shape`.
    pub fn new(shape: ApiShape, ctx: &ResponseContext) -> Self {
        match shape {
            ApiShape::OpenAiChat => Self::OpenAiChat(openai_chat::stream::Encoder::new(ctx)),
            ApiShape::OpenAiResponses => {
                Self::OpenAiResponses(openai_responses::stream::Encoder::new(ctx))
            }
            ApiShape::Anthropic => Self::Anthropic(anthropic::stream::Encoder::new(ctx)),
            ApiShape::Gemini => Self::Gemini(gemini::stream::Encoder::new(ctx)),
            ApiShape::Ollama => Self::Ollama(ollama::stream::Encoder::new(ctx)),
            ApiShape::Bedrock => Self::Bedrock(bedrock::stream::Encoder::new(ctx)),
            ApiShape::Cohere => Self::Cohere(cohere::stream::Encoder::new(ctx)),
        }
    }

    /// Tells the encoder how long the request has run, in nanoseconds. Only Ollama's
    /// grammar has a place for it (the final line's `*_duration` fields); the other
    /// encoders ignore it.
    pub fn set_clock(&mut self, elapsed_ns: u64) {
        if let Self::Ollama(e) = self {
            e.set_clock(elapsed_ns);
        }
    }

    /// Encodes one event, appending bytes.
    pub fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        match self {
            Self::OpenAiChat(e) => e.encode(event, out),
            Self::OpenAiResponses(e) => e.encode(event, out),
            Self::Anthropic(e) => e.encode(event, out),
            Self::Gemini(e) => e.encode(event, out),
            Self::Ollama(e) => e.encode(event, out),
            Self::Bedrock(e) => e.encode(event, out),
            Self::Cohere(e) => e.encode(event, out),
        }
    }
}

/// Upstream stream bytes in, caller stream bytes out, as they arrive.
///
/// Malformed upstream data ends the caller's stream with an error in the caller's
/// grammar; nothing is buffered beyond one incomplete frame, itself capped (see
/// [`Framer`]). Frames are decoded as the framer finds them, borrowed from the chunk
/// pushed, and the caller's bytes written straight into the output.
#[derive(Debug)]
pub struct Transcoder {
    framer: Framer,
    core: Core,
}

/// The transcoder past its framer: a frame in, the caller's bytes out.
#[derive(Debug)]
struct Core {
    decoder: StreamDecoder,
    encoder: StreamEncoder,
    /// The events of one frame, reused.
    events: Vec<StreamEvent>,
    tally: StreamTally,
    ended: bool,
    /// The answer folded whole, when asked for ([`Transcoder::keep_answer`]).
    answer: Option<Box<crate::assemble::Aggregator>>,
}

impl Transcoder {
    /// Transcodes from an `upstream`-shaped stream to a `caller`-shaped one.
    pub fn new(upstream: ApiShape, caller: ApiShape, ctx: &ResponseContext) -> Self {
        Transcoder {
            framer: Framer::new(upstream_framing(upstream)),
            core: Core {
                decoder: StreamDecoder::new(upstream, ctx),
                encoder: StreamEncoder::new(caller, ctx),
                events: Vec::new(),
                tally: StreamTally::default(),
                ended: false,
                answer: None,
            },
        }
    }

    /// Also folds the events into a whole answer, for [`Transcoder::take_answer`]
    /// (the gateway stores streamed Responses answers this way).
    pub fn keep_answer(&mut self) {
        self.core.answer = Some(Box::default());
    }

    /// The whole answer of a stream that ended normally (its stop reached, no error);
    /// `None` otherwise, or when [`Transcoder::keep_answer`] was not called.
    pub fn take_answer(&mut self) -> Option<gateway_protocol::ChatResponse> {
        if !self.core.ended || self.core.tally.error().is_some() {
            return None;
        }
        self.core.answer.take()?.finish().ok()
    }

    /// Tells the caller's encoder how long the request has run before the next
    /// [`Transcoder::push`] or [`Transcoder::finish`] (see [`StreamEncoder::set_clock`]).
    pub fn set_clock(&mut self, elapsed_ns: u64) {
        self.core.encoder.set_clock(elapsed_ns);
    }

    /// Feeds upstream bytes; appends the caller bytes they produce to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.core.ended {
            return;
        }
        let core = &mut self.core;
        let framed = self.framer.push_with(chunk, |frame| core.frame(frame, out));
        if let Err(err) = framed {
            self.fail(TranslateError::from(err).into(), out);
        }
    }

    /// Ends the upstream stream; appends the closing caller bytes to `out`.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.core.ended {
            return;
        }
        let core = &mut self.core;
        self.framer.finish_with(|frame| core.frame(frame, out));
        if !core.ended {
            core.decoder.finish(&mut core.events);
            core.emit(out);
        }
    }

    /// Ends the caller's stream with `err` (e.g. an upstream timeout).
    pub fn fail(&mut self, err: GatewayError, out: &mut Vec<u8>) {
        if !self.core.ended {
            self.core.events.push(StreamEvent::Error(err));
            self.core.emit(out);
        }
    }

    /// The last usage the upstream reported, for accounting.
    pub fn usage(&self) -> Option<Usage> {
        self.core.tally.usage()
    }

    /// Output tokens estimated from the content written to the caller so far (see
    /// [`crate::estimate::OutputCount`]), for accounting when the upstream reported
    /// no usage.
    pub fn output_tokens(&self) -> u64 {
        self.core.tally.output_tokens()
    }

    /// The error the caller's stream ended with, if it ended with one (unreadable
    /// upstream data, an event too large, or [`Transcoder::fail`]).
    pub fn error(&self) -> Option<&GatewayError> {
        self.core.tally.error()
    }

    /// True once a stop or an error was sent to the caller.
    pub fn is_ended(&self) -> bool {
        self.core.ended
    }
}

impl Core {
    /// Decodes one frame and writes what it means; frames after the end are dropped.
    fn frame(&mut self, frame: FrameRef<'_>, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        if let Err(err) = self.decoder.decode(frame, &mut self.events) {
            self.events.push(StreamEvent::Error(err.into()));
        }
        self.emit(out);
    }

    fn emit(&mut self, out: &mut Vec<u8>) {
        for event in self.events.drain(..) {
            if self.ended {
                break;
            }
            self.ended = matches!(
                event,
                StreamEvent::MessageStop { .. } | StreamEvent::Error(_)
            );
            self.tally.observe(&event);
            if let Some(answer) = &mut self.answer {
                answer.push(&event);
            }
            self.encoder.encode(&event, out);
        }
        self.events.clear();
    }
}

#[cfg(test)]
mod request_scan_agreement;
#[cfg(test)]
pub(crate) mod scan_agreement;
#[cfg(test)]
mod tests;
