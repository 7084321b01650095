//! Which API a request speaks: method, path, query and headers → an [`Endpoint`].
//!
//! Pure, so every route the issue lists is pinned by a unit test. The caller's shape
//! decided here also picks the envelope of any error, even for unknown paths.

use gateway_protocol::ApiShape;
pub use gateway_translate::codec::EmbedForm;
use http::{HeaderMap, Method};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A chat request in `shape`.
    Chat(ChatCall),
    /// Embeddings: OpenAI `/v1/embeddings` (and Azure's), Gemini `embedContent` /
    /// `batchEmbedContents`.
    Embeddings {
        /// Which body form.
        form: EmbedForm,
        /// The model named in the URL (Gemini, Azure deployments).
        url_model: Option<String>,
    },
    /// Counting input tokens: Anthropic `/v1/messages/count_tokens`, Gemini
    /// `:countTokens`.
    CountTokens {
        /// The caller's shape (Anthropic or Gemini).
        shape: ApiShape,
        /// The model named in the URL (Gemini).
        url_model: Option<String>,
    },
    /// A stored response: `GET` / `DELETE /v1/responses/{id}`,
    /// `GET /v1/responses/{id}/input_items`.
    StoredResponse {
        /// The response id.
        id: String,
        /// What is asked of it.
        op: crate::responses::StoredOp,
    },
    /// `GET /v1/models` or `GET /v1beta/models`, answered in `shape`'s list form;
    /// with `id`, one model (`GET /v1/models/{id}`, `GET /v1beta/models/{name}`).
    ListModels {
        /// The caller's shape.
        shape: ApiShape,
        /// The one model asked for.
        id: Option<String>,
    },
    /// Ollama `POST /api/show`: one model's facts; the model is named in the body.
    ShowModel,
    /// Ollama `GET /api/ps`: the loaded models (none: the gateway loads none).
    OllamaRunning,
    /// Ollama `GET /api/version`: what Ollama clients check before anything else.
    OllamaVersion,
    /// `POST /v1/estimate`: a chat request's tokens and cost, without an upstream call.
    /// The body is in `shape` (`?shape=`, else by headers, else OpenAI Chat).
    Estimate {
        /// The body's shape.
        shape: ApiShape,
    },
    /// `HEAD /` or `GET /` (Claude Code's pre-flight).
    Root,
    /// `GET /healthz`: the process is up.
    Health,
    /// `GET /readyz`: ready to take traffic (false while draining).
    Ready,
    /// A WebSocket upgrade on `GET /v1/responses`: the Responses WebSocket transport
    /// (`crate::responses::socket`), or, with `[responses] websocket = false`, a
    /// refusal at once so that clients fall back to HTTP.
    ResponsesSocket,
    /// A known path with the wrong method.
    MethodNotAllowed {
        /// The envelope to answer in.
        shape: ApiShape,
        /// The methods the path takes.
        allow: &'static str,
    },
    /// No such route.
    NotFound {
        /// The envelope to answer in.
        shape: ApiShape,
    },
}

/// A chat call and what its URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatCall {
    /// The caller's shape.
    pub shape: ApiShape,
    /// The model from the URL (Gemini, Azure deployments); the body's otherwise.
    pub url_model: Option<String>,
    /// Streaming as the URL says (Gemini `:streamGenerateContent`); the body's
    /// otherwise.
    pub url_stream: Option<bool>,
    /// Gemini streams without `alt=sse` are one JSON array.
    pub json_array: bool,
    /// Ollama `/api/generate`: a prompt in, `response` text out.
    pub generate: bool,
}

impl Endpoint {
    /// The operation's name in metrics and logs; `None` for what is not one
    /// (health, unknown paths).
    pub fn operation(&self) -> Option<&'static str> {
        Some(match self {
            Endpoint::Chat(_) => "chat",
            Endpoint::Embeddings { .. } => "embeddings",
            Endpoint::CountTokens { .. } => "count_tokens",
            Endpoint::ListModels { .. } | Endpoint::ShowModel => "list_models",
            Endpoint::Estimate { .. } => "estimate",
            Endpoint::StoredResponse { .. } => "stored_response",
            Endpoint::ResponsesSocket => "responses_socket",
            _ => return None,
        })
    }

    /// The shape whose envelope errors of this endpoint use.
    pub fn error_shape(&self) -> ApiShape {
        match self {
            Endpoint::Chat(c) => c.shape,
            Endpoint::Embeddings { form, .. } => form.shape(),
            Endpoint::ShowModel | Endpoint::OllamaRunning | Endpoint::OllamaVersion => {
                ApiShape::Ollama
            }
            Endpoint::CountTokens { shape, .. }
            | Endpoint::ListModels { shape, .. }
            | Endpoint::Estimate { shape }
            | Endpoint::MethodNotAllowed { shape, .. }
            | Endpoint::NotFound { shape } => *shape,
            Endpoint::StoredResponse { .. } | Endpoint::ResponsesSocket => {
                ApiShape::OpenAiResponses
            }
            _ => ApiShape::OpenAiChat,
        }
    }
}

/// Classifies a request. `query` is the raw query string.
pub fn classify(method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap) -> Endpoint {
    let post = method == Method::POST;
    let get = method == Method::GET || method == Method::HEAD;
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let wrong = |shape, allow| Endpoint::MethodNotAllowed { shape, allow };
    let chat = |shape| {
        Endpoint::Chat(ChatCall {
            shape,
            url_model: None,
            url_stream: None,
            json_array: false,
            generate: false,
        })
    };
    match path {
        "/" if get => return Endpoint::Root,
        "/healthz" if get => return Endpoint::Health,
        "/readyz" if get => return Endpoint::Ready,
        "/v1/chat/completions" | "/chat/completions" => {
            return if post {
                chat(ApiShape::OpenAiChat)
            } else {
                wrong(ApiShape::OpenAiChat, "POST")
            };
        }
        "/v1/responses" | "/responses" => {
            return if post {
                chat(ApiShape::OpenAiResponses)
            } else if method == Method::GET && is_websocket_upgrade(headers) {
                Endpoint::ResponsesSocket
            } else {
                wrong(ApiShape::OpenAiResponses, "POST")
            };
        }
        "/v1/responses/input_tokens" | "/responses/input_tokens" => {
            return if post {
                Endpoint::CountTokens {
                    shape: ApiShape::OpenAiResponses,
                    url_model: None,
                }
            } else {
                wrong(ApiShape::OpenAiResponses, "POST")
            };
        }
        "/v1/messages" => {
            return if post {
                chat(ApiShape::Anthropic)
            } else {
                wrong(ApiShape::Anthropic, "POST")
            };
        }
        "/v1/messages/count_tokens" => {
            return if post {
                Endpoint::CountTokens {
                    shape: ApiShape::Anthropic,
                    url_model: None,
                }
            } else {
                wrong(ApiShape::Anthropic, "POST")
            };
        }
        "/v1/embeddings" | "/embeddings" => {
            return if post {
                Endpoint::Embeddings {
                    form: EmbedForm::OpenAi,
                    url_model: None,
                }
            } else {
                wrong(ApiShape::OpenAiChat, "POST")
            };
        }
        "/v1/estimate" => {
            let shape = estimate_shape(query, headers);
            return if post {
                Endpoint::Estimate { shape }
            } else {
                wrong(shape, "POST")
            };
        }
        "/v1/models" | "/models" => {
            let shape = list_shape(headers);
            return if get {
                Endpoint::ListModels { shape, id: None }
            } else {
                wrong(shape, "GET")
            };
        }
        _ => {}
    }
    // One model: the id may hold `/` (`provider/model`), never `:` (Gemini's methods).
    if let Some(id) = path
        .strip_prefix("/v1/models/")
        .or_else(|| path.strip_prefix("/models/"))
        .filter(|id| !id.is_empty() && !id.contains(':'))
    {
        let shape = list_shape(headers);
        return if get {
            Endpoint::ListModels {
                shape,
                id: Some(percent_decode(id)),
            }
        } else {
            wrong(shape, "GET")
        };
    }
    if let Some(rest) = path
        .strip_prefix("/v1/responses/")
        .or_else(|| path.strip_prefix("/responses/"))
    {
        return stored_response(rest, method, query);
    }
    if let Some(op) = path.strip_prefix("/api/") {
        return ollama(op, post, get);
    }
    if let Some(rest) = gemini_rest(path) {
        return gemini(rest, post, get, query);
    }
    if let Some(rest) = path.strip_prefix("/openai/deployments/") {
        return azure(rest, post);
    }
    Endpoint::NotFound {
        shape: guess_shape(path, headers),
    }
}

/// `{id}` or `{id}/input_items` under `/v1/responses/`.
fn stored_response(rest: &str, method: &Method, query: Option<&str>) -> Endpoint {
    use crate::responses::StoredOp;
    let shape = ApiShape::OpenAiResponses;
    let get = method == Method::GET || method == Method::HEAD;
    let (id, items) = match rest.split_once('/') {
        None => (rest, false),
        Some((id, "input_items")) => (id, true),
        Some(_) => return Endpoint::NotFound { shape },
    };
    if id.is_empty() {
        return Endpoint::NotFound { shape };
    }
    let op = match (items, get, method == Method::DELETE) {
        (true, true, _) => StoredOp::InputItems(query.map(str::to_owned)),
        (true, false, _) => {
            return Endpoint::MethodNotAllowed {
                shape,
                allow: "GET",
            };
        }
        (false, true, _) => StoredOp::Get {
            stream: query_has(query, "stream", "true"),
        },
        (false, false, true) => StoredOp::Delete,
        (false, false, false) => {
            return Endpoint::MethodNotAllowed {
                shape,
                allow: "GET, DELETE",
            };
        }
    };
    Endpoint::StoredResponse {
        id: percent_decode(id),
        op,
    }
}

/// The part of a Gemini path after its version (`models/...`), for every version
/// google-genai uses.
fn gemini_rest(path: &str) -> Option<&str> {
    ["/v1beta/", "/v1alpha/", "/v1/"]
        .iter()
        .find_map(|v| path.strip_prefix(v))
        .filter(|rest| *rest == "models" || rest.starts_with("models/"))
}

fn gemini(rest: &str, post: bool, get: bool, query: Option<&str>) -> Endpoint {
    let shape = ApiShape::Gemini;
    if rest == "models" {
        return if get {
            Endpoint::ListModels { shape, id: None }
        } else {
            Endpoint::MethodNotAllowed {
                shape,
                allow: "GET",
            }
        };
    }
    let name = &rest["models/".len()..];
    let Some((model, method)) = name.rsplit_once(':') else {
        return if get && !name.is_empty() {
            Endpoint::ListModels {
                shape,
                id: Some(percent_decode(name)),
            }
        } else {
            Endpoint::NotFound { shape }
        };
    };
    if model.is_empty() {
        return Endpoint::NotFound { shape };
    }
    if !post {
        return Endpoint::MethodNotAllowed {
            shape,
            allow: "POST",
        };
    }
    let model = Some(percent_decode(model));
    match method {
        "generateContent" | "streamGenerateContent" => {
            let stream = method == "streamGenerateContent";
            Endpoint::Chat(ChatCall {
                shape,
                url_model: model,
                url_stream: Some(stream),
                json_array: stream && !query_has(query, "alt", "sse"),
                generate: false,
            })
        }
        "countTokens" => Endpoint::CountTokens {
            shape,
            url_model: model,
        },
        "embedContent" => Endpoint::Embeddings {
            form: EmbedForm::GeminiOne,
            url_model: model,
        },
        "batchEmbedContents" => Endpoint::Embeddings {
            form: EmbedForm::GeminiBatch,
            url_model: model,
        },
        _ => Endpoint::NotFound { shape },
    }
}

/// Ollama's native API under `/api/`. Model management (`pull`, `create`, `delete`,
/// ...) has no meaning here: those paths are not found, in Ollama's envelope.
fn ollama(op: &str, post: bool, get: bool) -> Endpoint {
    let shape = ApiShape::Ollama;
    let chat = |generate| {
        Endpoint::Chat(ChatCall {
            shape,
            url_model: None,
            url_stream: None,
            json_array: false,
            generate,
        })
    };
    let embed = |form| Endpoint::Embeddings {
        form,
        url_model: None,
    };
    let (endpoint, allow) = match op {
        "chat" => (chat(false), "POST"),
        "generate" => (chat(true), "POST"),
        "embed" => (embed(EmbedForm::Ollama), "POST"),
        "embeddings" => (embed(EmbedForm::OllamaLegacy), "POST"),
        "show" => (Endpoint::ShowModel, "POST"),
        "tags" => (Endpoint::ListModels { shape, id: None }, "GET"),
        "ps" => (Endpoint::OllamaRunning, "GET"),
        "version" => (Endpoint::OllamaVersion, "GET"),
        _ => return Endpoint::NotFound { shape },
    };
    let allowed = if allow == "POST" { post } else { get };
    if allowed {
        endpoint
    } else {
        Endpoint::MethodNotAllowed { shape, allow }
    }
}

/// `/openai/deployments/{d}/chat/completions` and `/embeddings`: the deployment is the
/// model name.
fn azure(rest: &str, post: bool) -> Endpoint {
    let shape = ApiShape::OpenAiChat;
    let Some((deployment, op)) = rest.split_once('/') else {
        return Endpoint::NotFound { shape };
    };
    let model = Some(percent_decode(deployment));
    match op {
        "chat/completions" if post => Endpoint::Chat(ChatCall {
            shape,
            url_model: model,
            url_stream: None,
            json_array: false,
            generate: false,
        }),
        "embeddings" if post => Endpoint::Embeddings {
            form: EmbedForm::OpenAi,
            url_model: model,
        },
        "chat/completions" | "embeddings" => Endpoint::MethodNotAllowed {
            shape,
            allow: "POST",
        },
        _ => Endpoint::NotFound { shape },
    }
}

/// `GET /v1/models` answers in the caller's list shape: Gemini clients send
/// `x-goog-*` headers, Anthropic clients `anthropic-version`; everyone else gets
/// OpenAI's.
fn list_shape(headers: &HeaderMap) -> ApiShape {
    if headers.keys().any(|k| k.as_str().starts_with("x-goog-")) {
        ApiShape::Gemini
    } else if headers.contains_key("anthropic-version") {
        ApiShape::Anthropic
    } else {
        ApiShape::OpenAiChat
    }
}

/// The shape of an estimate's body: `?shape=openai|responses|anthropic|gemini|ollama`, else
/// the caller's headers.
fn estimate_shape(query: Option<&str>, headers: &HeaderMap) -> ApiShape {
    let named = query.and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "shape")
            .map(|(_, v)| v)
    });
    match named {
        Some("responses") => ApiShape::OpenAiResponses,
        Some("anthropic") => ApiShape::Anthropic,
        Some("gemini") => ApiShape::Gemini,
        Some("ollama") => ApiShape::Ollama,
        Some(_) => ApiShape::OpenAiChat,
        None => list_shape(headers),
    }
}

/// The envelope for an unknown path: by its prefix, then by headers.
fn guess_shape(path: &str, headers: &HeaderMap) -> ApiShape {
    if path.starts_with("/v1beta") || path.starts_with("/v1alpha") {
        ApiShape::Gemini
    } else if path.starts_with("/v1/messages") {
        ApiShape::Anthropic
    } else {
        list_shape(headers)
    }
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Whether `query` has `key=value`.
pub fn query_has(query: Option<&str>, key: &str, value: &str) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .any(|(k, v)| k == key && v == value)
    })
}

/// `%XX` escapes decoded (invalid escapes kept, invalid UTF-8 replaced): path
/// segments here, query values everywhere (after `+` → space).
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests;
