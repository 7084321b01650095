//! Which mock answer a path asks for. The paths are those `gateway-providers` calls
//! for each provider kind, matched by their ending so that any base URL joins:
//! OpenAI-style bases carry the version (`…/v1` + `/chat/completions`), the others
//! the host root (`/v1/messages`, `/v1beta/models/{model}:generateContent`,
//! `/api/chat`). Vertex AI's paths end the same way for Gemini
//! (`…/publishers/google/models/{model}:generateContent`); Claude on Vertex has its
//! own (`…/publishers/anthropic/models/{model}:rawPredict`). Bedrock's are
//! `/model/{modelId}/converse` and `/converse-stream`; Cohere's is `/v2/chat` (model
//! and stream flag in the body).

use gateway_protocol::ApiShape;
use gateway_providers::mock::{self, MockAnswer, MockConfig};
use gateway_translate::gemini;
use gateway_translate::{Framer, Framing};
use http::Method;

/// One operation the mock answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    /// A chat request whose model and stream flag are in the body.
    Chat(ApiShape),
    /// Gemini `generateContent` / `streamGenerateContent`: model and stream flag in
    /// the URL; `sse` when `alt=sse` asked for SSE instead of a streamed JSON array.
    GeminiChat {
        model: String,
        stream: bool,
        sse: bool,
    },
    /// Claude on Vertex AI: `rawPredict` / `streamRawPredict`, the model in the URL
    /// and `anthropic_version` in the body.
    VertexClaude { model: String, stream: bool },
    /// Bedrock `Converse` / `ConverseStream`: `/model/{modelId}/converse` and
    /// `/converse-stream`, the model id percent-encoded in the path.
    BedrockConverse { model: String, stream: bool },
    /// Claude on Bedrock: `/model/{modelId}/invoke` and
    /// `/invoke-with-response-stream`, Anthropic's body without `model` and `stream`
    /// and with `anthropic_version`; the stream wrapped in event stream `chunk`s.
    BedrockClaude { model: String, stream: bool },
    /// OpenAI `/embeddings` or Ollama `/api/embed`.
    Embeddings(ApiShape),
    /// Gemini `embedContent` (one input).
    GeminiEmbed { model: String },
    /// Gemini `batchEmbedContents`.
    GeminiBatchEmbed { model: String },
    /// Vertex AI `:predict` for text-embedding models (`instances` in,
    /// `predictions` out).
    VertexPredict { model: String },
    /// Anthropic `count_tokens`, Gemini `countTokens`, OpenAI `responses/input_tokens`.
    CountTokens(ApiShape),
    /// The model list.
    Models(ApiShape),
}

/// The call `method path?query` makes on a mock speaking `shape`, if any.
pub(crate) fn route(
    shape: ApiShape,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Option<Call> {
    let post = method == Method::POST;
    let get = method == Method::GET;
    let call = match shape {
        ApiShape::OpenAiChat | ApiShape::OpenAiResponses => {
            if post && path.ends_with("/chat/completions") {
                Call::Chat(ApiShape::OpenAiChat)
            } else if post && path.ends_with("/responses") {
                Call::Chat(ApiShape::OpenAiResponses)
            } else if post && path.ends_with("/responses/input_tokens") {
                Call::CountTokens(ApiShape::OpenAiResponses)
            } else if post && path.ends_with("/embeddings") {
                Call::Embeddings(ApiShape::OpenAiChat)
            } else if get && path.ends_with("/models") {
                Call::Models(ApiShape::OpenAiChat)
            } else {
                return None;
            }
        }
        ApiShape::Anthropic => {
            if let Some((_, rest)) = path.rsplit_once("/model/") {
                let (model, method) = rest.rsplit_once('/')?;
                let stream = match method {
                    "invoke" => false,
                    "invoke-with-response-stream" => true,
                    _ => return None,
                };
                if !post || model.is_empty() {
                    return None;
                }
                let model = crate::ingress::percent_decode(model);
                return Some(Call::BedrockClaude { model, stream });
            }
            if let Some((_, rest)) = path.split_once("/publishers/anthropic/models/") {
                let (model, method) = rest.rsplit_once(':')?;
                if (model, method) == ("count-tokens", "rawPredict") && post {
                    return Some(Call::CountTokens(shape));
                }
                let stream = match method {
                    "rawPredict" => false,
                    "streamRawPredict" => true,
                    _ => return None,
                };
                if !post || model.is_empty() {
                    return None;
                }
                let model = crate::ingress::percent_decode(model);
                return Some(Call::VertexClaude { model, stream });
            }
            if post && path.ends_with("/messages") {
                Call::Chat(shape)
            } else if post && path.ends_with("/messages/count_tokens") {
                Call::CountTokens(shape)
            } else if get && path.ends_with("/models") {
                Call::Models(shape)
            } else {
                return None;
            }
        }
        ApiShape::Ollama => {
            if post && path.ends_with("/api/chat") {
                Call::Chat(shape)
            } else if post && path.ends_with("/api/embed") {
                Call::Embeddings(shape)
            } else if get && path.ends_with("/api/tags") {
                Call::Models(shape)
            } else {
                return None;
            }
        }
        ApiShape::Cohere => {
            if post && path.ends_with("/v2/chat") {
                Call::Chat(shape)
            } else {
                return None;
            }
        }
        ApiShape::Bedrock => {
            let (_, rest) = path.rsplit_once("/model/")?;
            let (model, method) = rest.rsplit_once('/')?;
            let stream = match method {
                "converse" => false,
                "converse-stream" => true,
                _ => return None,
            };
            if !post || model.is_empty() {
                return None;
            }
            let model = crate::ingress::percent_decode(model);
            Call::BedrockConverse { model, stream }
        }
        ApiShape::Gemini => {
            if get && path.ends_with("/models") {
                return Some(Call::Models(shape));
            }
            if !post {
                return None;
            }
            let (_, rest) = path.split_once("/models/")?;
            let (model, method) = rest.rsplit_once(':')?;
            if model.is_empty() {
                return None;
            }
            let model = crate::ingress::percent_decode(model);
            match method {
                "generateContent" => Call::GeminiChat {
                    model,
                    stream: false,
                    sse: false,
                },
                "streamGenerateContent" => Call::GeminiChat {
                    model,
                    stream: true,
                    sse: query.is_some_and(|q| q.split('&').any(|p| p == "alt=sse")),
                },
                "countTokens" => Call::CountTokens(shape),
                "embedContent" => Call::GeminiEmbed { model },
                "batchEmbedContents" => Call::GeminiBatchEmbed { model },
                "predict" => Call::VertexPredict { model },
                _ => return None,
            }
        }
    };
    Some(call)
}

impl Call {
    /// The shape of the answer (and of its error envelope).
    pub(crate) fn shape(&self) -> ApiShape {
        match self {
            Call::Chat(shape)
            | Call::Embeddings(shape)
            | Call::CountTokens(shape)
            | Call::Models(shape) => *shape,
            Call::VertexClaude { .. } | Call::BedrockClaude { .. } => ApiShape::Anthropic,
            Call::BedrockConverse { .. } => ApiShape::Bedrock,
            Call::GeminiChat { .. }
            | Call::GeminiEmbed { .. }
            | Call::GeminiBatchEmbed { .. }
            | Call::VertexPredict { .. } => ApiShape::Gemini,
        }
    }

    /// Whether the call must carry an AWS SigV4 signature (Bedrock's).
    pub(crate) fn signed(&self) -> bool {
        matches!(
            self,
            Call::BedrockConverse { .. } | Call::BedrockClaude { .. }
        )
    }

    /// The envelope the call's errors are written in: Bedrock's for both Bedrock
    /// APIs (InvokeModel answers its own errors, not Anthropic's).
    pub(crate) fn error_shape(&self) -> ApiShape {
        if self.signed() {
            ApiShape::Bedrock
        } else {
            self.shape()
        }
    }

    /// Whether the call has a request body to read.
    pub(crate) fn reads_body(&self) -> bool {
        !matches!(self, Call::Models(_))
    }

    /// The mock's answer to the call and the `content-type` of a success.
    pub(crate) fn answer(self, config: &MockConfig, body: &[u8]) -> (MockAnswer, &'static str) {
        let shape = self.shape();
        let answer = match self {
            Call::Chat(shape) => mock::answer(shape, body, config),
            Call::GeminiChat { model, stream, sse } => {
                let answer = mock::answer_for(shape, &model, stream, body, config);
                if stream && !sse {
                    return (json_array(answer), mock::content_type(shape, false));
                }
                answer
            }
            Call::VertexClaude { model, stream } => match vertex_claude_body(body) {
                Ok(body) => mock::answer_for(shape, &model, stream, &body, config),
                Err(err) => MockAnswer::Fail(err),
            },
            Call::BedrockConverse { model, stream } => {
                mock::answer_for(shape, &model, stream, body, config)
            }
            Call::BedrockClaude { model, stream } => match bedrock_claude_body(body) {
                Ok(body) => {
                    let answer = mock::answer_for(shape, &model, stream, &body, config);
                    if stream && matches!(answer, MockAnswer::Stream { .. }) {
                        return (
                            wrap_invoke_stream(answer),
                            "application/vnd.amazon.eventstream",
                        );
                    }
                    answer
                }
                Err(err) => MockAnswer::Fail(err),
            },
            Call::Embeddings(shape) => mock::embeddings(shape, "", body),
            Call::GeminiEmbed { model } => embed_one(&model, body),
            Call::GeminiBatchEmbed { model } => mock::embeddings(shape, &model, body),
            Call::VertexPredict { model } => vertex_predict(&model, body),
            Call::CountTokens(shape) => mock::count_tokens(shape, body),
            Call::Models(shape) => MockAnswer::Whole(mock::models(shape)),
        };
        let streamed = matches!(answer, MockAnswer::Stream { .. });
        (answer, mock::content_type(shape, streamed))
    }
}

/// A Claude-on-Vertex body as a Messages body, checked as Vertex does: it must
/// carry `anthropic_version` and no `model` (the URL names it). The model is put
/// back as a placeholder for the Messages decoder; the URL's name is the one used.
fn vertex_claude_body(body: &[u8]) -> Result<Vec<u8>, gateway_protocol::GatewayError> {
    let invalid = |message: &str| {
        gateway_protocol::GatewayError::new(gateway_protocol::ErrorKind::InvalidRequest, message)
    };
    let mut fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|_| invalid("the body is not a JSON object"))?;
    if fields.contains_key("model") {
        return Err(invalid("model: Extra inputs are not permitted"));
    }
    match fields.remove("anthropic_version") {
        Some(serde_json::Value::String(v)) if v == "vertex-2023-10-16" => {}
        _ => return Err(invalid("anthropic_version: vertex-2023-10-16 is required")),
    }
    fields.insert("model".into(), "vertex".into());
    serde_json::to_vec(&fields).map_err(|_| invalid("the body could not be re-encoded"))
}

/// A Claude-on-Bedrock body as a Messages body, checked as Bedrock does: it must
/// carry `anthropic_version: "bedrock-2023-05-31"` and neither `model` nor `stream`
/// (the URL says both). The model is put back as a placeholder for the Messages
/// decoder; the URL's name and method are the ones used.
fn bedrock_claude_body(body: &[u8]) -> Result<Vec<u8>, gateway_protocol::GatewayError> {
    let invalid = |message: &str| {
        gateway_protocol::GatewayError::new(gateway_protocol::ErrorKind::InvalidRequest, message)
    };
    let mut fields: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
        .map_err(|_| invalid("Malformed input request: not a JSON object"))?;
    for key in ["model", "stream"] {
        if fields.contains_key(key) {
            return Err(invalid(&format!(
                "Malformed input request: extraneous key [{key}] is not permitted"
            )));
        }
    }
    match fields.remove("anthropic_version") {
        Some(serde_json::Value::String(v))
            if v == gateway_translate::bedrock::invoke::ANTHROPIC_VERSION => {}
        _ => {
            return Err(invalid(
                "Malformed input request: anthropic_version bedrock-2023-05-31 is required",
            ));
        }
    }
    fields.insert("model".into(), "bedrock".into());
    serde_json::to_vec(&fields).map_err(|_| invalid("the body could not be re-encoded"))
}

/// A streamed Messages answer as `InvokeModelWithResponseStream` sends it: each SSE
/// chunk's events as event stream `chunk` messages (the chunking kept).
fn wrap_invoke_stream(answer: MockAnswer) -> MockAnswer {
    let MockAnswer::Stream {
        chunks,
        delay,
        cut_after,
    } = answer
    else {
        return answer;
    };
    let mut wrapper = gateway_translate::bedrock::invoke::Wrapper::new();
    let chunks = chunks
        .into_iter()
        .map(|sse| {
            let mut out = Vec::new();
            wrapper.push(&sse, &mut out);
            out
        })
        .collect();
    MockAnswer::Stream {
        chunks,
        delay,
        cut_after,
    }
}

/// Vertex `:predict`: each instance's `content` embedded as a Gemini batch entry,
/// the vectors answered as `predictions`.
fn vertex_predict(model: &str, body: &[u8]) -> MockAnswer {
    use serde_json::{Value, json};
    let invalid = |m: &str| {
        MockAnswer::Fail(gateway_protocol::GatewayError::new(
            gateway_protocol::ErrorKind::InvalidRequest,
            m,
        ))
    };
    let Ok(predict) = serde_json::from_slice::<Value>(body) else {
        return invalid("the body is not JSON");
    };
    let Some(instances) = predict["instances"].as_array() else {
        return invalid("instances: required");
    };
    let mut requests = Vec::with_capacity(instances.len());
    for instance in instances {
        let Some(text) = instance["content"].as_str() else {
            return invalid("instances[].content: a string is required");
        };
        requests.push(json!({"content": {"parts": [{"text": text}]}}));
    }
    let batch = json!({ "requests": requests }).to_string();
    let answer = match mock::embeddings(ApiShape::Gemini, model, batch.as_bytes()) {
        MockAnswer::Whole(answer) => answer,
        other => return other,
    };
    let Ok(answer) = serde_json::from_slice::<Value>(&answer) else {
        return invalid("the mock's own answer did not parse");
    };
    let predictions: Vec<Value> = answer["embeddings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| json!({"embeddings": {"values": e["values"], "statistics": {"truncated": false, "token_count": 1}}}))
        .collect();
    MockAnswer::Whole(
        json!({ "predictions": predictions })
            .to_string()
            .into_bytes(),
    )
}

/// Gemini `embedContent`: the body is checked as one entry, answered as a batch of
/// one, and the vector returned as `{"embedding": …}`.
fn embed_one(model: &str, body: &[u8]) -> MockAnswer {
    if let Err(err) = gemini::embeddings::decode_request(body) {
        return MockAnswer::Fail(err.into());
    }
    let mut batch = Vec::with_capacity(body.len() + 16);
    batch.extend_from_slice(b"{\"requests\":[");
    batch.extend_from_slice(body);
    batch.extend_from_slice(b"]}");
    match mock::embeddings(ApiShape::Gemini, model, &batch) {
        MockAnswer::Whole(many) => match gemini::embeddings::decode_response(&many, model) {
            Ok(resp) => MockAnswer::Whole(gemini::embeddings::encode_response(&resp)),
            Err(err) => MockAnswer::Fail(err.into()),
        },
        other => other,
    }
}

/// A Gemini SSE stream re-framed as the streamed JSON array Gemini sends without
/// `alt=sse`: `[` before the first object, `,` between objects, `]` after the last
/// chunk (so a cut stream never closes the array).
fn json_array(answer: MockAnswer) -> MockAnswer {
    let MockAnswer::Stream {
        chunks,
        delay,
        cut_after,
    } = answer
    else {
        return answer;
    };
    let mut framer = Framer::new(Framing::Sse);
    let mut frames = Vec::new();
    let mut opened = false;
    let mut chunks: Vec<Vec<u8>> = chunks
        .into_iter()
        .map(|chunk| {
            // The mock's own events are far below the framer's limit.
            let _ = framer.push(&chunk, &mut frames);
            let mut piece = Vec::with_capacity(chunk.len());
            for frame in frames.drain(..) {
                piece.extend_from_slice(if opened { b",\r\n" } else { b"[" });
                opened = true;
                piece.extend_from_slice(frame.data.as_bytes());
            }
            piece
        })
        .collect();
    let close: &[u8] = if opened { b"]" } else { b"[]" };
    match chunks.last_mut() {
        Some(last) => last.extend_from_slice(close),
        None => chunks.push(close.to_vec()),
    }
    MockAnswer::Stream {
        chunks,
        delay,
        cut_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_on_vertex_is_answered_by_its_url_model_and_checked_body() {
        let path =
            "/v1/projects/p/locations/l/publishers/anthropic/models/mock-echo:streamRawPredict";
        let call = route(ApiShape::Anthropic, &Method::POST, path, None).expect("route");
        assert_eq!(
            call,
            Call::VertexClaude {
                model: "mock-echo".into(),
                stream: true
            }
        );
        let good = br#"{"anthropic_version":"vertex-2023-10-16","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
        assert!(vertex_claude_body(good).is_ok());
        let with_model = br#"{"anthropic_version":"vertex-2023-10-16","model":"x","max_tokens":8,"messages":[]}"#;
        assert!(vertex_claude_body(with_model).is_err());
        let no_version = br#"{"max_tokens":8,"messages":[]}"#;
        assert!(vertex_claude_body(no_version).is_err());
        let count =
            "/v1/projects/p/locations/l/publishers/anthropic/models/count-tokens:rawPredict";
        assert_eq!(
            route(ApiShape::Anthropic, &Method::POST, count, None),
            Some(Call::CountTokens(ApiShape::Anthropic))
        );
        let other = path.replace("streamRawPredict", "predict");
        assert_eq!(
            route(ApiShape::Anthropic, &Method::POST, &other, None),
            None
        );
    }

    #[test]
    fn vertex_predict_answers_one_prediction_per_instance() {
        let path = "/v1/projects/p/locations/l/publishers/google/models/text-embedding-005:predict";
        let call = route(ApiShape::Gemini, &Method::POST, path, None).expect("route");
        assert_eq!(
            call,
            Call::VertexPredict {
                model: "text-embedding-005".into()
            }
        );
        let body = br#"{"instances":[{"content":"a"},{"content":"b"}]}"#;
        let MockAnswer::Whole(answer) = vertex_predict("text-embedding-005", body) else {
            panic!("a whole answer");
        };
        let v: serde_json::Value = serde_json::from_slice(&answer).expect("json");
        let predictions = v["predictions"].as_array().expect("predictions");
        assert_eq!(predictions.len(), 2);
        assert!(predictions[0]["embeddings"]["values"].is_array());
        let bad = vertex_predict("m", br#"{"instances":[{"text":"a"}]}"#);
        assert!(matches!(bad, MockAnswer::Fail(_)));
    }

    #[test]
    fn gemini_paths_carry_model_and_method() {
        let call = route(
            ApiShape::Gemini,
            &Method::POST,
            "/v1beta/models/a%20b%2Fc:streamGenerateContent",
            Some("alt=sse"),
        );
        assert_eq!(
            call,
            Some(Call::GeminiChat {
                model: "a b/c".into(),
                stream: true,
                sse: true
            })
        );
        let call = route(
            ApiShape::Gemini,
            &Method::POST,
            "/v1beta/models/gemma:2b:generateContent",
            None,
        );
        assert_eq!(
            call,
            Some(Call::GeminiChat {
                model: "gemma:2b".into(),
                stream: false,
                sse: false
            })
        );
        assert_eq!(
            route(
                ApiShape::Gemini,
                &Method::POST,
                "/v1beta/models/x:nope",
                None
            ),
            None
        );
    }

    #[test]
    fn methods_must_match() {
        let r = |m: &Method, p: &str| route(ApiShape::OpenAiChat, m, p, None);
        assert_eq!(
            r(&Method::POST, "/v1/chat/completions"),
            Some(Call::Chat(ApiShape::OpenAiChat))
        );
        assert_eq!(r(&Method::GET, "/v1/chat/completions"), None);
        assert_eq!(r(&Method::POST, "/v1/models"), None);
        assert_eq!(
            r(&Method::POST, "/v1/responses/input_tokens"),
            Some(Call::CountTokens(ApiShape::OpenAiResponses))
        );
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(crate::ingress::percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }
}
