use super::*;

fn at(method: Method, path: &str, query: Option<&str>, headers: &[(&str, &str)]) -> Endpoint {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    classify(&method, path, query, &map)
}

fn post(path: &str) -> Endpoint {
    at(Method::POST, path, None, &[])
}

fn chat_shape(e: &Endpoint) -> ApiShape {
    match e {
        Endpoint::Chat(c) => c.shape,
        other => panic!("not chat: {other:?}"),
    }
}

#[test]
fn openai_anthropic_and_responses_paths() {
    assert_eq!(
        chat_shape(&post("/v1/chat/completions")),
        ApiShape::OpenAiChat
    );
    assert_eq!(
        chat_shape(&post("/v1/chat/completions/")),
        ApiShape::OpenAiChat
    );
    assert_eq!(
        chat_shape(&post("/v1/responses")),
        ApiShape::OpenAiResponses
    );
    assert_eq!(chat_shape(&post("/v1/messages")), ApiShape::Anthropic);
    assert_eq!(
        post("/v1/messages/count_tokens"),
        Endpoint::CountTokens {
            shape: ApiShape::Anthropic,
            url_model: None
        }
    );
    assert_eq!(
        post("/v1/embeddings"),
        Endpoint::Embeddings {
            form: EmbedForm::OpenAi,
            url_model: None
        }
    );
}

#[test]
fn messages_with_beta_query_is_the_same_route() {
    let e = at(Method::POST, "/v1/messages", Some("beta=true"), &[]);
    assert_eq!(chat_shape(&e), ApiShape::Anthropic);
}

#[test]
fn gemini_methods_under_every_version() {
    for v in ["v1beta", "v1", "v1alpha"] {
        let e = post(&format!("/{v}/models/gemini-3.5-flash:generateContent"));
        assert_eq!(
            e,
            Endpoint::Chat(ChatCall {
                shape: ApiShape::Gemini,
                url_model: Some("gemini-3.5-flash".into()),
                url_stream: Some(false),
                json_array: false,
                generate: false,
            })
        );
    }
    let sse = at(
        Method::POST,
        "/v1beta/models/m:streamGenerateContent",
        Some("alt=sse&key=k"),
        &[],
    );
    let Endpoint::Chat(c) = sse else { panic!() };
    assert_eq!((c.url_stream, c.json_array), (Some(true), false));
    let Endpoint::Chat(c) = post("/v1beta/models/m:streamGenerateContent") else {
        panic!()
    };
    assert_eq!((c.url_stream, c.json_array), (Some(true), true));
    assert_eq!(
        post("/v1beta/models/m:countTokens"),
        Endpoint::CountTokens {
            shape: ApiShape::Gemini,
            url_model: Some("m".into())
        }
    );
    assert_eq!(
        post("/v1beta/models/text-embedding-004:embedContent"),
        Endpoint::Embeddings {
            form: EmbedForm::GeminiOne,
            url_model: Some("text-embedding-004".into())
        }
    );
    assert_eq!(
        post("/v1beta/models/e:batchEmbedContents"),
        Endpoint::Embeddings {
            form: EmbedForm::GeminiBatch,
            url_model: Some("e".into())
        }
    );
    // The model is everything before the last colon, percent-decoded.
    let Endpoint::Chat(c) = post("/v1beta/models/ft%3Amy:model:generateContent") else {
        panic!()
    };
    assert_eq!(c.url_model.as_deref(), Some("ft:my:model"));
    assert_eq!(
        post("/v1beta/models/m:frobnicate"),
        Endpoint::NotFound {
            shape: ApiShape::Gemini
        }
    );
    assert_eq!(
        post("/v1beta/models/:generateContent"),
        Endpoint::NotFound {
            shape: ApiShape::Gemini
        }
    );
}

#[test]
fn model_lists_answer_in_the_callers_shape() {
    let list = |h: &[(&str, &str)]| at(Method::GET, "/v1/models", None, h);
    assert_eq!(
        list(&[]),
        Endpoint::ListModels {
            shape: ApiShape::OpenAiChat,
            id: None
        }
    );
    assert_eq!(
        list(&[("anthropic-version", "2023-06-01")]),
        Endpoint::ListModels {
            shape: ApiShape::Anthropic,
            id: None
        }
    );
    assert_eq!(
        list(&[("x-goog-api-key", "k")]),
        Endpoint::ListModels {
            shape: ApiShape::Gemini,
            id: None
        }
    );
    assert_eq!(
        at(Method::GET, "/v1beta/models", None, &[]),
        Endpoint::ListModels {
            shape: ApiShape::Gemini,
            id: None
        }
    );
}

#[test]
fn one_model_is_asked_for_by_its_id_in_every_shape() {
    let one = |path: &str, h: &[(&str, &str)]| at(Method::GET, path, None, h);
    let model = |shape, id: &str| Endpoint::ListModels {
        shape,
        id: Some(id.to_owned()),
    };
    assert_eq!(
        one("/v1/models/gpt-5", &[]),
        model(ApiShape::OpenAiChat, "gpt-5")
    );
    assert_eq!(
        one("/v1/models/openrouter/meta%2Fllama", &[]),
        model(ApiShape::OpenAiChat, "openrouter/meta/llama")
    );
    assert_eq!(
        one(
            "/v1/models/claude-x",
            &[("anthropic-version", "2023-06-01")]
        ),
        model(ApiShape::Anthropic, "claude-x")
    );
    assert_eq!(
        one("/v1beta/models/gemini-2.5-pro", &[]),
        model(ApiShape::Gemini, "gemini-2.5-pro")
    );
    assert!(matches!(
        at(Method::POST, "/v1/models/gpt-5", None, &[]),
        Endpoint::MethodNotAllowed { .. }
    ));
    // Gemini's methods keep their meaning.
    assert!(matches!(
        at(Method::POST, "/v1beta/models/m:generateContent", None, &[]),
        Endpoint::Chat(_)
    ));
}

#[test]
fn azure_deployments_name_the_model() {
    let Endpoint::Chat(c) = at(
        Method::POST,
        "/openai/deployments/my-gpt/chat/completions",
        Some("api-version=2024-10-21"),
        &[],
    ) else {
        panic!()
    };
    assert_eq!(c.shape, ApiShape::OpenAiChat);
    assert_eq!(c.url_model.as_deref(), Some("my-gpt"));
    assert_eq!(
        post("/openai/deployments/e/embeddings"),
        Endpoint::Embeddings {
            form: EmbedForm::OpenAi,
            url_model: Some("e".into())
        }
    );
}

#[test]
fn health_root_and_websocket() {
    assert_eq!(at(Method::HEAD, "/", None, &[]), Endpoint::Root);
    assert_eq!(at(Method::GET, "/healthz", None, &[]), Endpoint::Health);
    assert_eq!(at(Method::GET, "/readyz", None, &[]), Endpoint::Ready);
    assert_eq!(
        at(
            Method::GET,
            "/v1/responses",
            None,
            &[("upgrade", "websocket"), ("connection", "Upgrade")]
        ),
        Endpoint::ResponsesSocket
    );
    // An upgrade elsewhere is no socket: the path's usual answer.
    assert_eq!(
        at(
            Method::GET,
            "/v1/chat/completions",
            None,
            &[("upgrade", "websocket"), ("connection", "Upgrade")]
        ),
        Endpoint::MethodNotAllowed {
            shape: ApiShape::OpenAiChat,
            allow: "POST"
        }
    );
    assert_eq!(
        at(Method::GET, "/v1/responses", None, &[]),
        Endpoint::MethodNotAllowed {
            shape: ApiShape::OpenAiResponses,
            allow: "POST"
        }
    );
}

#[test]
fn unknown_paths_pick_an_envelope() {
    assert_eq!(post("/v2/nothing").error_shape(), ApiShape::OpenAiChat);
    assert_eq!(post("/v1beta/tunedModels").error_shape(), ApiShape::Gemini);
    assert_eq!(
        at(Method::GET, "/v1/messages", None, &[]).error_shape(),
        ApiShape::Anthropic
    );
    assert_eq!(
        at(Method::GET, "/v1/chat/completions", None, &[]),
        Endpoint::MethodNotAllowed {
            shape: ApiShape::OpenAiChat,
            allow: "POST"
        }
    );
}

#[test]
fn ollama_native_paths() {
    let chat = |generate| {
        Endpoint::Chat(ChatCall {
            shape: ApiShape::Ollama,
            url_model: None,
            url_stream: None,
            json_array: false,
            generate,
        })
    };
    assert_eq!(post("/api/chat"), chat(false));
    assert_eq!(post("/api/generate"), chat(true));
    assert_eq!(
        post("/api/embed"),
        Endpoint::Embeddings {
            form: EmbedForm::Ollama,
            url_model: None
        }
    );
    assert_eq!(
        post("/api/embeddings"),
        Endpoint::Embeddings {
            form: EmbedForm::OllamaLegacy,
            url_model: None
        }
    );
    assert_eq!(post("/api/show"), Endpoint::ShowModel);
    let get = |path| at(Method::GET, path, None, &[]);
    assert_eq!(
        get("/api/tags"),
        Endpoint::ListModels {
            shape: ApiShape::Ollama,
            id: None
        }
    );
    assert_eq!(get("/api/ps"), Endpoint::OllamaRunning);
    assert_eq!(get("/api/version"), Endpoint::OllamaVersion);
    // Wrong methods and unknown operations answer in Ollama's envelope.
    assert_eq!(
        get("/api/chat"),
        Endpoint::MethodNotAllowed {
            shape: ApiShape::Ollama,
            allow: "POST"
        }
    );
    assert_eq!(
        post("/api/tags"),
        Endpoint::MethodNotAllowed {
            shape: ApiShape::Ollama,
            allow: "GET"
        }
    );
    assert_eq!(
        post("/api/pull"),
        Endpoint::NotFound {
            shape: ApiShape::Ollama
        }
    );
    for e in [post("/api/embed"), post("/api/show"), get("/api/version")] {
        assert_eq!(e.error_shape(), ApiShape::Ollama, "{e:?}");
    }
}

#[test]
fn stored_responses_and_input_tokens_have_their_routes() {
    use crate::responses::StoredOp;
    let stored = |op| Endpoint::StoredResponse {
        id: "resp_1".into(),
        op,
    };
    assert_eq!(
        at(Method::GET, "/v1/responses/resp_1", None, &[]),
        stored(StoredOp::Get { stream: false })
    );
    assert_eq!(
        at(
            Method::GET,
            "/v1/responses/resp_1",
            Some("stream=true"),
            &[]
        ),
        stored(StoredOp::Get { stream: true })
    );
    assert_eq!(
        at(Method::DELETE, "/v1/responses/resp_1/", None, &[]),
        stored(StoredOp::Delete)
    );
    assert_eq!(
        at(
            Method::GET,
            "/v1/responses/resp_1/input_items",
            Some("limit=2"),
            &[]
        ),
        stored(StoredOp::InputItems(Some("limit=2".into())))
    );
    assert_eq!(
        at(Method::POST, "/v1/responses/resp_1", None, &[]),
        Endpoint::MethodNotAllowed {
            shape: ApiShape::OpenAiResponses,
            allow: "GET, DELETE"
        }
    );
    assert_eq!(
        at(
            Method::DELETE,
            "/v1/responses/resp_1/input_items",
            None,
            &[]
        ),
        Endpoint::MethodNotAllowed {
            shape: ApiShape::OpenAiResponses,
            allow: "GET"
        }
    );
    assert_eq!(
        at(Method::GET, "/v1/responses/resp_1/other", None, &[]),
        Endpoint::NotFound {
            shape: ApiShape::OpenAiResponses
        }
    );
    assert_eq!(
        post("/v1/responses/input_tokens"),
        Endpoint::CountTokens {
            shape: ApiShape::OpenAiResponses,
            url_model: None
        }
    );
    assert_eq!(
        at(Method::GET, "/v1/responses/input_tokens", None, &[]),
        Endpoint::MethodNotAllowed {
            shape: ApiShape::OpenAiResponses,
            allow: "POST"
        }
    );
}
