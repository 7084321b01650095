"""The `google-genai` Python SDK (generate, stream, embed, count tokens, models) against every upstream shape."""

from typing import NamedTuple

import pydantic
import pytest
from google import genai
from google.genai import errors, types

from conftest import (
    BASE,
    KEY,
    LIMITED_KEY,
    PARALLEL_ANSWER,
    PARALLEL_ARGS,
    PARALLEL_PROMPT,
    PARALLEL_RESULTS,
    PNG,
    WEATHER_ARGS,
    WEATHER_SCHEMA,
)

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


TOOL_CONFIG = types.GenerateContentConfig(
    tools=[TOOL], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
)


class Turn(NamedTuple):
    content: types.Content  # the model turn: the SDK's own (whole), or its streamed parts
    calls: list[types.FunctionCall]
    text: str | None
    finish: types.FinishReason


def generate(model, contents, stream):
    """One model turn with the weather tool offered, whole or streamed."""
    c = client()
    if not stream:
        r = c.models.generate_content(model=model, contents=contents, config=TOOL_CONFIG)
        calls = r.function_calls or []
        return Turn(r.candidates[0].content, calls, None if calls else r.text, r.candidates[0].finish_reason)
    chunks = list(c.models.generate_content_stream(model=model, contents=contents, config=TOOL_CONFIG))
    contents_seen = [ch.candidates[0].content for ch in chunks if ch.candidates and ch.candidates[0].content]
    parts = [p for content in contents_seen for p in content.parts or []]
    calls = [p.function_call for p in parts if p.function_call]
    text = "".join(p.text for p in parts if p.text)
    return Turn(types.Content(role="model", parts=parts), calls, text, chunks[-1].candidates[0].finish_reason)


def tool_round_trip(upstream, stream):
    question = "What is the weather in Paris?"
    contents = [types.Content(role="user", parts=[types.Part(text=question)])]
    first = generate(f"{upstream}/mock-tools", contents, stream)
    assert len(first.calls) == 1
    assert first.calls[0].name == "get_weather" and first.calls[0].args == WEATHER_ARGS
    # The SDK's own content goes back as the model turn, then its function response.
    contents.append(first.content)
    contents.append(
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="get_weather", response={"result": "Sunny, 21 °C"})],
        )
    )
    final = generate(f"{upstream}/mock-echo", contents, stream)
    assert final.calls == []
    assert final.text == question


def test_tool_round_trip(upstream):
    tool_round_trip(upstream, stream=False)


def test_stream_tool_round_trip(upstream):
    tool_round_trip(upstream, stream=True)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_parallel_tool_results(upstream, stream):
    # Two CALL lines: the agent mock answers two functionCall parts in one model turn,
    # then quotes each function response back.
    contents = [types.Content(role="user", parts=[types.Part(text=PARALLEL_PROMPT)])]
    first = generate(f"{upstream}/mock-agent", contents, stream)
    # Gemini has no tool-use finish reason: a turn of calls finishes with STOP.
    assert first.finish == types.FinishReason.STOP
    assert [(fc.name, fc.args) for fc in first.calls] == [("get_weather", args) for args in PARALLEL_ARGS]
    ids = [fc.id for fc in first.calls]
    assert all(ids) and len(set(ids)) == 2
    # The SDK's own content goes back as the model turn, then one user turn with a
    # function response per call, by name and id ("output" is the key the SDK documents).
    contents.append(first.content)
    responses = [
        types.FunctionResponse(id=fc.id, name=fc.name, response={"output": result})
        for fc, result in zip(first.calls, PARALLEL_RESULTS)
    ]
    contents.append(types.Content(role="user", parts=[types.Part(function_response=r) for r in responses]))
    final = generate(f"{upstream}/mock-agent", contents, stream)
    assert final.calls == []
    assert final.text == PARALLEL_ANSWER
    assert final.finish == types.FinishReason.STOP


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
