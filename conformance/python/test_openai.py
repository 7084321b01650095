"""The `openai` Python SDK (Chat Completions, embeddings, models) against every upstream shape."""

import json

import openai
import pydantic
import pytest
from openai import OpenAI

from conftest import (
    BASE,
    KEY,
    LIMITED_KEY,
    PARALLEL_ANSWER,
    PARALLEL_ARGS,
    PARALLEL_PROMPT,
    PARALLEL_RESULTS,
    PNG_B64,
    WEATHER_ARGS,
    WEATHER_SCHEMA,
)

PROMPT = "Hello from the openai SDK"
TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather in a city", "parameters": WEATHER_SCHEMA},
    }
]


def client(key=KEY):
    return OpenAI(base_url=BASE + "/v1", api_key=key, max_retries=0, timeout=20)


def user(text):
    return {"role": "user", "content": text}


def test_text(upstream):
    raw = client().chat.completions.with_raw_response.create(model=f"{upstream}/mock-echo", messages=[user(PROMPT)])
    assert raw.headers["x-patchbay-provider"] == upstream
    r = raw.parse()
    choice = r.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == PROMPT
    assert choice.finish_reason == "stop"
    assert r.usage.completion_tokens > 0 and r.usage.prompt_tokens > 0


def test_azure_client(upstream):
    # AzureOpenAI: deployment in the path (the model name), `api-key` header, api-version query.
    c = openai.AzureOpenAI(
        azure_endpoint=BASE, api_key=KEY, api_version="2024-10-21", max_retries=0, timeout=20
    )
    raw = c.chat.completions.with_raw_response.create(model=f"{upstream}/mock-echo", messages=[user(PROMPT)])
    assert raw.headers["x-patchbay-provider"] == upstream
    assert raw.parse().choices[0].message.content == PROMPT


def test_stream_text(upstream):
    chunks = list(
        client().chat.completions.create(
            model=f"{upstream}/mock-echo",
            messages=[user(PROMPT)],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == PROMPT
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_stream_helper_text(upstream):
    with client().chat.completions.stream(model=f"{upstream}/mock-echo", messages=[user(PROMPT)]) as s:
        final = s.get_final_completion()
    assert final.choices[0].message.content == PROMPT
    assert final.choices[0].finish_reason == "stop"


def test_system_and_multi_turn(upstream):
    r = client().chat.completions.create(
        model=f"{upstream}/mock-echo",
        messages=[
            {"role": "system", "content": "You answer briefly."},
            user("First question"),
            {"role": "assistant", "content": "First answer"},
            user("Second question"),
        ],
    )
    assert r.choices[0].message.content == "Second question"


def tool_round_trip(upstream, stream):
    c = client()
    messages = [user("What is the weather in Paris?")]
    if stream:
        with c.chat.completions.stream(model=f"{upstream}/mock-tools", messages=messages, tools=TOOLS) as s:
            first = s.get_final_completion()
    else:
        first = c.chat.completions.create(model=f"{upstream}/mock-tools", messages=messages, tools=TOOLS)
    msg = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert len(msg.tool_calls) == 1
    call = msg.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS
    assert call.id
    messages.append(msg)  # the SDK's own message object, sent back as is
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 °C"})
    if stream:
        with c.chat.completions.stream(model=f"{upstream}/mock-echo", messages=messages, tools=TOOLS) as s:
            final = s.get_final_completion()
    else:
        final = c.chat.completions.create(model=f"{upstream}/mock-echo", messages=messages, tools=TOOLS)
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content == "What is the weather in Paris?"


def test_tool_round_trip(upstream):
    tool_round_trip(upstream, stream=False)


def test_stream_tool_round_trip(upstream):
    tool_round_trip(upstream, stream=True)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_parallel_tool_results(upstream, stream):
    # Two CALL lines: the agent mock answers two calls in one assistant turn, then
    # quotes each result back.
    c = client()
    messages = [user(PARALLEL_PROMPT)]

    def ask():
        if stream:
            with c.chat.completions.stream(model=f"{upstream}/mock-agent", messages=messages, tools=TOOLS) as s:
                return s.get_final_completion()
        return c.chat.completions.create(model=f"{upstream}/mock-agent", messages=messages, tools=TOOLS)

    first = ask()
    assert first.choices[0].finish_reason == "tool_calls"
    msg = first.choices[0].message
    assert [(t.type, t.function.name, json.loads(t.function.arguments)) for t in msg.tool_calls] == [
        ("function", "get_weather", args) for args in PARALLEL_ARGS
    ]
    ids = [t.id for t in msg.tool_calls]
    assert all(ids) and len(set(ids)) == 2
    messages.append(msg)  # the SDK's own message object, sent back as is
    for call_id, result in zip(ids, PARALLEL_RESULTS):
        messages.append({"role": "tool", "tool_call_id": call_id, "content": result})
    final = ask()
    assert final.choices[0].finish_reason == "stop"
    assert not final.choices[0].message.tool_calls
    assert final.choices[0].message.content == PARALLEL_ANSWER


def test_image_input(upstream):
    r = client().chat.completions.create(
        model=f"{upstream}/mock-echo",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe this image"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
                ],
            }
        ],
    )
    assert r.choices[0].message.content == "Describe this image"


class City(pydantic.BaseModel):
    city: str
    population: int


def test_structured_output(upstream):
    # The mock echoes the prompt, so the prompt is the JSON the schema asks for; the
    # SDK's own parser validates it against the model.
    r = client().chat.completions.parse(
        model=f"{upstream}/mock-echo",
        messages=[user('{"city": "Paris", "population": 2100000}')],
        response_format=City,
    )
    assert r.choices[0].message.parsed == City(city="Paris", population=2100000)


@pytest.fixture(params=["openai", "gemini", "ollama"])
def embedder(request):
    """Upstream shapes with an embeddings API (Anthropic has none)."""
    return request.param


def test_embeddings_base64(embedder):
    # The SDK asks for base64 by default and decodes the floats itself.
    r = client().embeddings.create(model=f"{embedder}/mock-embed", input=["first text", "second text"])
    assert [d.index for d in r.data] == [0, 1]
    for d in r.data:
        assert len(d.embedding) == 8 and all(isinstance(x, float) for x in d.embedding)
        assert abs(sum(x * x for x in d.embedding) - 1.0) < 1e-3
    assert r.data[0].embedding != r.data[1].embedding
    if embedder != "gemini":  # Gemini batchEmbedContents reports no token counts
        assert r.usage.prompt_tokens > 0


def test_embeddings_float(embedder):
    r = client().embeddings.create(model=f"{embedder}/mock-embed", input="one text", encoding_format="float")
    assert len(r.data) == 1 and len(r.data[0].embedding) == 8


def test_embeddings_anthropic_has_none():
    with pytest.raises(openai.NotFoundError) as e:
        client().embeddings.create(model="anthropic/mock-embed", input="text")
    assert "embeddings" in e.value.message


def test_list_models(upstream):
    # The list names the routes the key may use; a listed name then works.
    ids = [m.id for m in client().models.list()]
    assert f"echo-{upstream}" in ids
    raw = client().chat.completions.with_raw_response.create(model=f"echo-{upstream}", messages=[user(PROMPT)])
    assert raw.headers["x-patchbay-provider"] == upstream
    assert raw.parse().choices[0].message.content == PROMPT


def test_list_models_limited_key():
    assert [m.id for m in client(LIMITED_KEY).models.list()] == ["only-this-model"]


def test_error_bad_key(upstream):
    with pytest.raises(openai.AuthenticationError) as e:
        client("pbk_not_a_key").chat.completions.create(model=f"{upstream}/mock-echo", messages=[user("hi")])
    assert e.value.status_code == 401
    assert e.value.response.headers.get("x-should-retry") == "false"


def test_error_model_not_allowed(upstream):
    with pytest.raises(openai.PermissionDeniedError) as e:
        client(LIMITED_KEY).chat.completions.create(model=f"{upstream}/mock-echo", messages=[user("hi")])
    assert e.value.status_code == 403


def test_error_rate_limit(upstream):
    c = client()
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model=f"{upstream}/mock-fail-429", messages=[user("hi")])
    assert e.value.status_code == 429
    assert c._parse_retry_after_header(e.value.response.headers) == 1.0


def test_error_bad_request(upstream):
    with pytest.raises(openai.BadRequestError) as e:
        client().chat.completions.create(model=f"{upstream}/mock-echo", messages="not a list")
    assert e.value.status_code == 400
    assert e.value.message


def test_error_upstream_down(upstream):
    with pytest.raises(openai.InternalServerError) as e:
        client().chat.completions.create(model=f"{upstream}-down/mock-echo", messages=[user("hi")])
    assert e.value.status_code == 502


# --- Responses API ----------------------------------------------------------------

RESPONSES_TOOLS = [
    {"type": "function", "name": "get_weather", "description": "Weather in a city", "parameters": WEATHER_SCHEMA}
]


def test_responses_text(upstream):
    r = client().responses.create(model=f"{upstream}/mock-echo", input=PROMPT, instructions="Be brief.")
    assert r.status == "completed"
    assert r.output_text == PROMPT
    assert r.usage.output_tokens > 0


def test_responses_stream(upstream):
    with client().responses.stream(model=f"{upstream}/mock-echo", input=PROMPT) as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert "".join(deltas) == PROMPT
    assert final.output_text == PROMPT and final.status == "completed"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_responses_tool_round_trip(upstream, stream):
    c = client()
    question = "What is the weather in Paris?"
    items = [{"role": "user", "content": question}]

    def ask(model):
        if stream:
            with c.responses.stream(model=model, input=items, tools=RESPONSES_TOOLS) as s:
                return s.get_final_response()
        return c.responses.create(model=model, input=items, tools=RESPONSES_TOOLS)

    first = ask(f"{upstream}/mock-tools")
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 1
    assert calls[0].name == "get_weather" and json.loads(calls[0].arguments) == WEATHER_ARGS
    items += first.output  # the SDK's own output items, sent back as input
    items.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": "Sunny, 21 °C"})
    final = ask(f"{upstream}/mock-echo")
    assert final.output_text == question


def test_responses_structured_output(upstream):
    r = client().responses.parse(
        model=f"{upstream}/mock-echo", input='{"city": "Paris", "population": 2100000}', text_format=City
    )
    assert r.output_parsed == City(city="Paris", population=2100000)


# --- Responses state (the gateway keeps it for every upstream) ------------------------


def test_responses_chain_by_previous_response_id(upstream):
    c = client()
    model = f"{upstream}/mock-echo"
    first = c.responses.create(model=model, input="one two three four", instructions="Be brief.")
    second = c.responses.create(model=model, input="five six seven eight", previous_response_id=first.id)
    with c.responses.stream(model=model, input="nine ten eleven twelve", previous_response_id=second.id) as s:
        third = s.get_final_response()
    assert [first.output_text, second.output_text, third.output_text] == [
        "one two three four",
        "five six seven eight",
        "nine ten eleven twelve",
    ]
    assert len({first.id, second.id, third.id}) == 3 and all(r.id.startswith("resp_") for r in (first, second, third))
    # The upstream is sent the whole conversation: what it counts grows turn by turn.
    assert first.usage.input_tokens < second.usage.input_tokens < third.usage.input_tokens


def test_responses_tool_loop_by_previous_response_id(upstream):
    c = client()
    question = "What is the weather in Paris?"
    first = c.responses.create(model=f"{upstream}/mock-tools", input=question, tools=RESPONSES_TOOLS)
    call = next(o for o in first.output if o.type == "function_call")
    final = c.responses.create(
        model=f"{upstream}/mock-echo",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 21 °C"}],
        tools=RESPONSES_TOOLS,
    )
    # The question reached the upstream only through the stored conversation.
    assert final.output_text == question


def test_responses_retrieve_input_items_and_delete(upstream):
    c = client()
    r = c.responses.create(model=f"{upstream}/mock-echo", input=PROMPT)
    got = c.responses.retrieve(r.id)
    assert got.id == r.id and got.output_text == PROMPT and got.status == "completed"
    items = list(c.responses.input_items.list(r.id))
    assert [i.type for i in items] == ["message"] and items[0].content[0].text == PROMPT
    c.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(r.id)
    with pytest.raises(openai.BadRequestError) as e:
        c.responses.create(model=f"{upstream}/mock-echo", input="again", previous_response_id=r.id)
    assert e.value.code == "previous_response_not_found"


def test_responses_are_private_to_their_key(upstream):
    r = client().responses.create(model=f"{upstream}/mock-echo", input=PROMPT)
    with pytest.raises(openai.NotFoundError):
        client(LIMITED_KEY).responses.retrieve(r.id)
