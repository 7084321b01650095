"""The `google-genai` Python SDK (generate, stream, embed, count tokens, models) against every upstream shape."""

import pydantic
import pytest
from google import genai
from google.genai import errors, types

from conftest import BASE, KEY, LIMITED_KEY, PNG, WEATHER_ARGS, WEATHER_SCHEMA

PROMPT = "Hello from the google-genai SDK"
TOOL = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather", description="Weather in a city", parameters_json_schema=WEATHER_SCHEMA
        )
    ]
)


_CLIENTS: dict[str, genai.Client] = {}


def client(key=KEY):
    # Kept for the module: a genai.Client closes its HTTP client when collected, which
    # would cut `client().models.x()` chains. No retries: google-genai retries only
    # when HttpRetryOptions are given.
    if key not in _CLIENTS:
        _CLIENTS[key] = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=BASE, timeout=20_000))
    return _CLIENTS[key]


def test_text(upstream):
    r = client().models.generate_content(model=f"{upstream}/mock-echo", contents=PROMPT)
    assert r.sdk_http_response.headers["x-patchbay-provider"] == upstream
    assert r.text == PROMPT
    assert r.candidates[0].finish_reason == types.FinishReason.STOP
    assert r.candidates[0].content.role == "model"
    assert r.usage_metadata.candidates_token_count > 0
    assert r.usage_metadata.prompt_token_count > 0


def test_stream_text(upstream):
    chunks = list(client().models.generate_content_stream(model=f"{upstream}/mock-echo", contents=PROMPT))
    assert "".join(c.text or "" for c in chunks) == PROMPT
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count > 0


def test_system_and_multi_turn(upstream):
    r = client().models.generate_content(
        model=f"{upstream}/mock-echo",
        contents=[
            types.Content(role="user", parts=[types.Part(text="First question")]),
            types.Content(role="model", parts=[types.Part(text="First answer")]),
            types.Content(role="user", parts=[types.Part(text="Second question")]),
        ],
        config=types.GenerateContentConfig(system_instruction="You answer briefly."),
    )
    assert r.text == "Second question"


def test_chat_session(upstream):
    chat = client().chats.create(
        model=f"{upstream}/mock-echo", config=types.GenerateContentConfig(system_instruction="Be brief.")
    )
    assert chat.send_message("First question").text == "First question"
    assert chat.send_message("Second question").text == "Second question"
    assert len(chat.get_history()) == 4


def tool_round_trip(upstream, stream):
    c = client()
    question = "What is the weather in Paris?"
    contents = [types.Content(role="user", parts=[types.Part(text=question)])]
    config = types.GenerateContentConfig(
        tools=[TOOL], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
    )

    def ask(model):
        if not stream:
            r = c.models.generate_content(model=model, contents=contents, config=config)
            return r.candidates[0].content, r.function_calls or [], r.text if not r.function_calls else None
        chunks = list(c.models.generate_content_stream(model=model, contents=contents, config=config))
        parts = [p for ch in chunks if ch.candidates and ch.candidates[0].content for p in ch.candidates[0].content.parts or []]
        calls = [p.function_call for p in parts if p.function_call]
        text = "".join(p.text for p in parts if p.text)
        return types.Content(role="model", parts=parts), calls, text

    content, calls, _ = ask(f"{upstream}/mock-tools")
    assert len(calls) == 1
    assert calls[0].name == "get_weather" and calls[0].args == WEATHER_ARGS
    # The SDK's own content goes back as the model turn, then its function response.
    contents.append(content)
    contents.append(
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="get_weather", response={"result": "Sunny, 21 °C"})],
        )
    )
    _, calls, text = ask(f"{upstream}/mock-echo")
    assert calls == []
    assert text == question


def test_tool_round_trip(upstream):
    tool_round_trip(upstream, stream=False)


def test_stream_tool_round_trip(upstream):
    tool_round_trip(upstream, stream=True)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_parallel_tool_results(upstream, stream):
    # The mock calls one tool per turn, so the two parallel calls are the history the
    # SDK sends back: two functionCall parts, then two functionResponse parts.
    question = "Weather in Paris and Rome?"
    contents = [
        types.Content(role="user", parts=[types.Part(text=question)]),
        types.Content(
            role="model",
            parts=[
                types.Part.from_function_call(name="get_weather", args={"city": "Paris"}),
                types.Part.from_function_call(name="get_weather", args={"city": "Rome"}),
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="get_weather", response={"result": "Sunny"}),
                types.Part.from_function_response(name="get_weather", response={"result": "Rainy"}),
            ],
        ),
    ]
    config = types.GenerateContentConfig(tools=[TOOL])
    model = f"{upstream}/mock-echo"
    c = client()
    if stream:
        chunks = list(c.models.generate_content_stream(model=model, contents=contents, config=config))
        text = "".join(ch.text or "" for ch in chunks)
    else:
        text = c.models.generate_content(model=model, contents=contents, config=config).text
    assert text == question


def test_image_input(upstream):
    r = client().models.generate_content(
        model=f"{upstream}/mock-echo",
        contents=[types.Part.from_bytes(data=PNG, mime_type="image/png"), "Describe this image"],
    )
    assert r.text == "Describe this image"


class City(pydantic.BaseModel):
    city: str
    population: int


def test_structured_output(upstream):
    # The mock echoes the prompt, so the prompt is the JSON the schema asks for; the
    # SDK's own parser validates it against the model.
    r = client().models.generate_content(
        model=f"{upstream}/mock-echo",
        contents='{"city": "Paris", "population": 2100000}',
        config=types.GenerateContentConfig(response_mime_type="application/json", response_schema=City),
    )
    assert r.parsed == City(city="Paris", population=2100000)


@pytest.fixture(params=["openai", "gemini", "ollama"])
def embedder(request):
    """Upstream shapes with an embeddings API (Anthropic has none)."""
    return request.param


def test_embed_content(embedder):
    r = client().models.embed_content(model=f"{embedder}/mock-embed", contents=["first text", "second text"])
    assert len(r.embeddings) == 2
    for e in r.embeddings:
        assert len(e.values) == 8
        assert abs(sum(x * x for x in e.values) - 1.0) < 1e-3
    assert r.embeddings[0].values != r.embeddings[1].values


def test_embed_content_anthropic_has_none():
    with pytest.raises(errors.ClientError) as e:
        client().models.embed_content(model="anthropic/mock-embed", contents="text")
    assert e.value.code == 404


def test_count_tokens(upstream):
    r = client().models.count_tokens(model=f"{upstream}/mock-echo", contents="How many tokens is this sentence?")
    assert isinstance(r.total_tokens, int) and r.total_tokens > 0


def test_list_models(upstream):
    models = list(client().models.list())
    names = [m.name for m in models]
    assert f"models/echo-{upstream}" in names
    r = client().models.generate_content(model=f"echo-{upstream}", contents=PROMPT)
    assert r.text == PROMPT


def test_error_bad_key(upstream):
    # A client of its own, closed after one call: a rejected key's connection is not
    # reusable (see test_error_bad_key_connection_reuse), and that is tested apart.
    with genai.Client(api_key="pbk_not_a_key", http_options=types.HttpOptions(base_url=BASE)) as c:
        with pytest.raises(errors.ClientError) as e:
            c.models.generate_content(model=f"{upstream}/mock-echo", contents="hi")
    assert e.value.code == 401
    assert e.value.status == "UNAUTHENTICATED"
    assert e.value.response.headers.get("x-should-retry") == "false"


def test_error_bad_key_connection_reuse():
    # One client, many rejected calls with 64 KiB bodies on its kept-alive connection:
    # every one must be the SDK's ClientError 401, none a dropped connection.
    with genai.Client(api_key="pbk_not_a_key", http_options=types.HttpOptions(base_url=BASE)) as c:
        for _ in range(2000):  # stops at the first dropped connection
            with pytest.raises(errors.ClientError) as e:
                c.models.generate_content(model="gemini/mock-echo", contents="x" * 65536)
            assert e.value.code == 401


def test_error_model_not_allowed(upstream):
    with pytest.raises(errors.ClientError) as e:
        client(LIMITED_KEY).models.generate_content(model=f"{upstream}/mock-echo", contents="hi")
    assert e.value.code == 403
    assert e.value.status == "PERMISSION_DENIED"


def test_error_rate_limit(upstream):
    with pytest.raises(errors.ClientError) as e:
        client().models.generate_content(model=f"{upstream}/mock-fail-429", contents="hi")
    assert e.value.code == 429
    assert e.value.status == "RESOURCE_EXHAUSTED"
    assert e.value.response.headers.get("retry-after") == "1"
    # Gemini's own form of the delay: google.rpc.RetryInfo in the error details.
    details = e.value.details["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"} in details


def test_error_bad_request(upstream):
    # A body google-genai builds but no Gemini server accepts: a part with no data.
    with pytest.raises(errors.ClientError) as e:
        client().models.generate_content(
            model=f"{upstream}/mock-echo", contents=[types.Content(role="user", parts=[types.Part()])]
        )
    assert e.value.code == 400
    assert e.value.status == "INVALID_ARGUMENT"


def test_error_upstream_down(upstream):
    with pytest.raises(errors.ServerError) as e:
        client().models.generate_content(model=f"{upstream}-down/mock-echo", contents="hi")
    assert e.value.code == 502
