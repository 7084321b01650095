"""The `ollama` Python client (chat, generate, stream, tools, embeddings, list, show) against every upstream shape."""

import ollama
import pytest
from ollama import Client

from conftest import BASE, KEY, PNG_B64, WEATHER_ARGS, WEATHER_SCHEMA

PROMPT = "Hello from the ollama Python client"
TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather in a city", "parameters": WEATHER_SCHEMA},
    }
]
EMBEDDERS = ["openai", "gemini", "ollama"]


def client(key=KEY):
    # The key as Ollama's own cloud takes it: a Bearer header.
    return Client(host=BASE, headers={"Authorization": f"Bearer {key}"}, timeout=20)


def user(text):
    return {"role": "user", "content": text}


def test_chat(upstream):
    r = client().chat(model=f"{upstream}/mock-echo", messages=[user(PROMPT)])
    assert r.message.role == "assistant"
    assert r.message.content == PROMPT
    assert r.done and r.done_reason == "stop"
    assert r.prompt_eval_count > 0 and r.eval_count > 0


def test_chat_system_and_options(upstream):
    r = client().chat(
        model=f"{upstream}/mock-echo",
        messages=[{"role": "system", "content": "Answer briefly."}, user("First"), {"role": "assistant", "content": "One"}, user(PROMPT)],
        options={"temperature": 0.2, "top_p": 0.9, "num_predict": 64, "seed": 7, "stop": ["\n\n"]},
        keep_alive="5m",
    )
    assert r.message.content == PROMPT


def test_chat_stream(upstream):
    parts = list(client().chat(model=f"{upstream}/mock-echo", messages=[user(PROMPT)], stream=True))
    assert "".join(p.message.content or "" for p in parts) == PROMPT
    assert [p.done for p in parts].count(True) == 1 and parts[-1].done
    assert parts[-1].done_reason == "stop"
    assert parts[-1].eval_count > 0 and parts[-1].prompt_eval_count > 0
    if upstream != "ollama":  # an Ollama upstream's stream is relayed with its own timings
        last = parts[-1]
        assert last.total_duration > 0
        assert last.prompt_eval_duration + last.eval_duration == last.total_duration


def test_chat_image(upstream):
    r = client().chat(model=f"{upstream}/mock-echo", messages=[{"role": "user", "content": PROMPT, "images": [PNG_B64]}])
    assert r.message.content == PROMPT


def test_tools_round_trip(upstream):
    c = client()
    messages = [user("What is the weather in Paris?")]
    first = c.chat(model=f"{upstream}/mock-tools", messages=messages, tools=TOOLS)
    calls = first.message.tool_calls
    assert len(calls) == 1
    assert calls[0].function.name == "get_weather"
    assert calls[0].function.arguments == WEATHER_ARGS
    messages += [first.message, {"role": "tool", "tool_name": "get_weather", "content": "Sunny"}, user("Thanks")]
    final = c.chat(model=f"{upstream}/mock-echo", messages=messages, tools=TOOLS)
    assert final.message.content == "Thanks"


def test_tools_stream(upstream):
    parts = list(
        client().chat(model=f"{upstream}/mock-tools", messages=[user("Weather?")], tools=TOOLS, stream=True)
    )
    calls = [c for p in parts for c in (p.message.tool_calls or [])]
    assert [c.function.name for c in calls] == ["get_weather"]
    assert calls[0].function.arguments == WEATHER_ARGS
    assert parts[-1].done


def test_python_function_as_tool(upstream):
    def get_weather(city: str) -> str:
        """Weather in a city.

        Args:
          city: The city
        """
        return "Sunny"

    r = client().chat(model=f"{upstream}/mock-tools", messages=[user("Weather?")], tools=[get_weather])
    call = r.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert call.function.arguments == WEATHER_ARGS


def test_structured_output(upstream):
    r = client().chat(
        model=f"{upstream}/mock-echo",
        messages=[user('{"city": "Paris"}')],
        format={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    assert r.message.content == '{"city": "Paris"}'


def test_generate(upstream):
    r = client().generate(model=f"{upstream}/mock-echo", prompt=PROMPT, system="Answer briefly.")
    assert r.response == PROMPT
    assert r.done and r.done_reason == "stop" and r.eval_count > 0


def test_generate_stream(upstream):
    parts = list(client().generate(model=f"{upstream}/mock-echo", prompt=PROMPT, stream=True))
    assert "".join(p.response for p in parts) == PROMPT
    assert parts[-1].done and parts[-1].eval_count > 0


@pytest.mark.parametrize("embedder", EMBEDDERS)
def test_embed(embedder):
    c = client()
    one = c.embed(model=f"{embedder}/mock-embed", input="a")
    assert len(one.embeddings) == 1 and len(one.embeddings[0]) > 0
    two = c.embed(model=f"{embedder}/mock-embed", input=["a", "b"])
    assert len(two.embeddings) == 2
    assert two.embeddings[0] == one.embeddings[0]
    legacy = c.embeddings(model=f"{embedder}/mock-embed", prompt="a")
    assert list(legacy.embedding) == list(one.embeddings[0])


def test_list_show_ps():
    c = client()
    names = [m.model for m in c.list().models]
    assert "echo-ollama" in names
    shown = c.show("echo-ollama")
    assert "tools" in shown.capabilities
    assert shown.modelinfo["general.basename"] == "echo-ollama"
    assert c.ps().models == []


def test_errors():
    with pytest.raises(ollama.ResponseError) as bad_key:
        client("pbk_wrong_key").chat(model="openai/mock-echo", messages=[user(PROMPT)])
    assert bad_key.value.status_code == 401
    assert bad_key.value.error
    with pytest.raises(ollama.ResponseError) as missing:
        client().show("no-such-model")
    assert missing.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as failing:
        client().chat(model="ollama/mock-fail-503", messages=[user(PROMPT)])
    assert failing.value.status_code == 503


def test_key_from_environment(monkeypatch):
    # OLLAMA_HOST + OLLAMA_API_KEY: what a user sets to point a script at Patchbay.
    monkeypatch.setenv("OLLAMA_HOST", BASE)
    monkeypatch.setenv("OLLAMA_API_KEY", KEY)
    r = Client().chat(model="openai/mock-echo", messages=[user(PROMPT)])
    assert r.message.content == PROMPT
