"""The `anthropic` Python SDK (Messages, count_tokens, models) against every upstream shape."""

import anthropic
import pydantic
import pytest
from anthropic import Anthropic

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

PROMPT = "Hello from the anthropic SDK"
TOOLS = [{"name": "get_weather", "description": "Weather in a city", "input_schema": WEATHER_SCHEMA}]


def client(key=KEY):
    return Anthropic(base_url=BASE, api_key=key, max_retries=0, timeout=20)


def user(content):
    return {"role": "user", "content": content}


def test_text(upstream):
    raw = client().messages.with_raw_response.create(
        model=f"{upstream}/mock-echo", max_tokens=256, messages=[user(PROMPT)]
    )
    assert raw.headers["x-patchbay-provider"] == upstream
    m = raw.parse()
    assert m.type == "message" and m.role == "assistant"
    assert [b.type for b in m.content] == ["text"]
    assert m.content[0].text == PROMPT
    assert m.stop_reason == "end_turn"
    assert m.usage.output_tokens > 0 and m.usage.input_tokens > 0


def test_stream_text(upstream):
    with client().messages.stream(model=f"{upstream}/mock-echo", max_tokens=256, messages=[user(PROMPT)]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == PROMPT
    assert final.content[0].text == PROMPT
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_stream_raw_events(upstream):
    events = list(
        client().messages.create(
            model=f"{upstream}/mock-echo", max_tokens=256, messages=[user(PROMPT)], stream=True
        )
    )
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
    assert text == PROMPT


def test_system_and_multi_turn(upstream):
    m = client().messages.create(
        model=f"{upstream}/mock-echo",
        max_tokens=256,
        system="You answer briefly.",
        messages=[
            user("First question"),
            {"role": "assistant", "content": "First answer"},
            user("Second question"),
        ],
    )
    assert m.content[0].text == "Second question"


def tool_round_trip(upstream, stream):
    c = client()
    question = "What is the weather in Paris?"
    messages = [user(question)]

    def ask(model):
        if stream:
            with c.messages.stream(model=model, max_tokens=256, messages=messages, tools=TOOLS) as s:
                return s.get_final_message()
        return c.messages.create(model=model, max_tokens=256, messages=messages, tools=TOOLS)

    first = ask(f"{upstream}/mock-tools")
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert len(uses) == 1
    assert uses[0].name == "get_weather" and uses[0].input == WEATHER_ARGS and uses[0].id
    # The SDK's own content blocks go back as the assistant turn.
    messages.append({"role": "assistant", "content": first.content})
    messages.append(user([{"type": "tool_result", "tool_use_id": uses[0].id, "content": "Sunny, 21 °C"}]))
    final = ask(f"{upstream}/mock-echo")
    assert final.stop_reason == "end_turn"
    assert final.content[0].text == question


def test_tool_round_trip(upstream):
    tool_round_trip(upstream, stream=False)


def test_stream_tool_round_trip(upstream):
    tool_round_trip(upstream, stream=True)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_parallel_tool_results(upstream, stream):
    # Two CALL lines: the agent mock answers two tool_use blocks in one assistant turn,
    # then quotes each tool_result back.
    c = client()
    messages = [user(PARALLEL_PROMPT)]

    def ask():
        kw = dict(model=f"{upstream}/mock-agent", max_tokens=256, messages=messages, tools=TOOLS)
        if stream:
            with c.messages.stream(**kw) as s:
                return s.get_final_message()
        return c.messages.create(**kw)

    first = ask()
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [("get_weather", args) for args in PARALLEL_ARGS]
    ids = [u.id for u in uses]
    assert all(ids) and len(set(ids)) == 2
    # The SDK's own content blocks go back as the assistant turn, then one user turn
    # with both results.
    messages.append({"role": "assistant", "content": first.content})
    messages.append(
        user(
            [
                {"type": "tool_result", "tool_use_id": use_id, "content": result}
                for use_id, result in zip(ids, PARALLEL_RESULTS)
            ]
        )
    )
    final = ask()
    assert final.stop_reason == "end_turn"
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == PARALLEL_ANSWER


def test_image_input(upstream):
    m = client().messages.create(
        model=f"{upstream}/mock-echo",
        max_tokens=256,
        messages=[
            user(
                [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
                    {"type": "text", "text": "Describe this image"},
                ]
            )
        ],
    )
    assert m.content[0].text == "Describe this image"


class City(pydantic.BaseModel):
    city: str
    population: int


def test_structured_output(upstream):
    # The mock echoes the prompt, so the prompt is the JSON the schema asks for; the
    # SDK's own parser validates it against the model.
    m = client().messages.parse(
        model=f"{upstream}/mock-echo",
        max_tokens=256,
        messages=[user('{"city": "Paris", "population": 2100000}')],
        output_format=City,
    )
    assert m.parsed_output == City(city="Paris", population=2100000)


def test_count_tokens(upstream):
    r = client().messages.count_tokens(
        model=f"{upstream}/mock-echo",
        system="You answer briefly.",
        messages=[user("How many tokens is this sentence?")],
        tools=TOOLS,
    )
    assert isinstance(r.input_tokens, int) and r.input_tokens > 0


def test_list_models(upstream):
    page = client().models.list()
    ids = [m.id for m in page]
    assert f"echo-{upstream}" in ids
    assert all(m.type == "model" for m in page.data)
    m = client().messages.create(model=f"echo-{upstream}", max_tokens=64, messages=[user(PROMPT)])
    assert m.content[0].text == PROMPT


def test_error_bad_key(upstream):
    with pytest.raises(anthropic.AuthenticationError) as e:
        client("pbk_not_a_key").messages.create(model=f"{upstream}/mock-echo", max_tokens=64, messages=[user("hi")])
    assert e.value.status_code == 401
    assert e.value.response.headers.get("x-should-retry") == "false"


def test_error_model_not_allowed(upstream):
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        client(LIMITED_KEY).messages.create(model=f"{upstream}/mock-echo", max_tokens=64, messages=[user("hi")])
    assert e.value.status_code == 403


def test_error_rate_limit(upstream):
    c = client()
    with pytest.raises(anthropic.RateLimitError) as e:
        c.messages.create(model=f"{upstream}/mock-fail-429", max_tokens=64, messages=[user("hi")])
    assert e.value.status_code == 429
    assert c._parse_retry_after_header(e.value.response.headers) == 1.0


def test_error_bad_request(upstream):
    with pytest.raises(anthropic.BadRequestError) as e:
        client().messages.create(model=f"{upstream}/mock-echo", max_tokens=64, messages="not a list")
    assert e.value.status_code == 400
    assert e.value.body["type"] == "error"


def test_error_upstream_down(upstream):
    with pytest.raises(anthropic.InternalServerError) as e:
        client().messages.create(model=f"{upstream}-down/mock-echo", max_tokens=64, messages=[user("hi")])
    assert e.value.status_code == 502
