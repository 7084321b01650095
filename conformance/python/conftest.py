"""Shared setup for the Python SDK conformance suite.

`conformance/run` starts the mock upstreams and the gateway and exports PATCHBAY_BASE,
PATCHBAY_KEY and PATCHBAY_LIMITED_KEY. Every test is parametrized by the upstream shape
it is routed to (explicit `provider/model` addressing); known gateway gaps from
`known_gaps.py` become strict expected failures here.
"""

import base64
import os

import pytest

from known_gaps import GAPS

BASE = os.environ.get("PATCHBAY_BASE", "")
KEY = os.environ.get("PATCHBAY_KEY", "")
LIMITED_KEY = os.environ.get("PATCHBAY_LIMITED_KEY", "")
UPSTREAMS = ["openai", "anthropic", "gemini", "ollama", "bedrock", "cohere"]

# A 1×1 red PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
PNG_B64 = base64.b64encode(PNG).decode()

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
# What the mock's `tools` scenario answers for WEATHER_SCHEMA.
WEATHER_ARGS = {"city": "example"}

# The parallel round trip, for the mock's `agent` scenario (`mock-agent`): each
# `CALL <tool> <json>` line of the prompt becomes one tool call of the same assistant
# turn, and tool results are answered with one `Result of <tool>: <text>` line each.
PARALLEL_ARGS = [{"city": "Paris"}, {"city": "Rome"}]
PARALLEL_PROMPT = 'CALL get_weather {"city":"Paris"}\nCALL get_weather {"city":"Rome"}'
PARALLEL_RESULTS = ["Sunny", "Rainy"]
PARALLEL_ANSWER = "\n".join(f"Result of get_weather: {r}" for r in PARALLEL_RESULTS)


def pytest_configure(config):
    if not BASE:
        raise pytest.UsageError("PATCHBAY_BASE is not set: run the suite through conformance/run")


@pytest.fixture(params=UPSTREAMS)
def upstream(request):
    """The upstream shape the test's model names route to."""
    return request.param


def pytest_collection_modifyitems(config, items):
    seen = set()
    for item in items:
        key = f"{item.module.__name__}::{item.name}"
        reason = GAPS.get(key)
        if reason:
            seen.add(key)
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
    unknown = set(GAPS) - seen
    if unknown and not config.getoption("keyword") and not config.option.file_or_dir:
        raise pytest.UsageError(f"known_gaps.py names tests that do not exist: {sorted(unknown)}")
