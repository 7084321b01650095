"""Vertex AI as an upstream: the official SDKs' Vertex modes, pointed at a capturing
server, must send what Patchbay sends to Vertex (the recorded requests in
crates/gateway-providers/tests/fixtures/vertex/, which the provider tests hold
Patchbay to): the same path, the same JSON body, a Bearer token.

Neither SDK talks to the gateway here: the capture server stands in for Vertex.
"""

import json
import pathlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "crates/gateway-providers/tests/fixtures/vertex"
TOKEN = "ya29.sdk-conformance"

CLAUDE_SSE = "".join(
    f"event: {event}\ndata: {json.dumps(data)}\n\n"
    for event, data in [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 0}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "hello"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 1}}),
        ("message_stop", {"type": "message_stop"}),
    ]
)
GEMINI_ANSWER = json.dumps({
    "candidates": [{"content": {"role": "model", "parts": [{"text": "hello"}]}, "finishReason": "STOP"}],
    "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
})

PREDICTIONS = json.dumps({"predictions": [
    {"embeddings": {"values": values, "statistics": {"truncated": False, "token_count": 1}}}
    for values in ([0.25, -1.0], [0.5, 2.0])
]})


class Capture:
    """A loopback server that records each request and answers as Vertex would."""

    def __init__(self):
        self.requests = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                capture.requests.append({
                    "path": self.path,
                    "authorization": self.headers.get("authorization"),
                    "body": json.loads(body or b"null"),
                })
                streamed = self.path.endswith(":streamRawPredict")
                answer = CLAUDE_SSE if streamed else PREDICTIONS if self.path.endswith(":predict") else GEMINI_ANSWER
                self.send_response(200)
                self.send_header("content-type", "text/event-stream" if streamed else "application/json")
                self.send_header("content-length", str(len(answer.encode())))
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last(self):
        assert self.requests, "the SDK sent nothing"
        return self.requests[-1]


@pytest.fixture
def capture():
    c = Capture()
    yield c
    c.server.shutdown()


def recorded(name):
    return json.loads((FIXTURES / name).read_text())


def test_anthropic_vertex_client_streams_as_patchbay_does(capture):
    from anthropic import AnthropicVertex

    client = AnthropicVertex(region="us-east5", project_id="proj-1", access_token=TOKEN,
                             base_url=capture.url + "/v1")
    stream = client.messages.create(
        model="claude-sonnet-4-5@20250929", max_tokens=64, stream=True,
        messages=[{"role": "user", "content": "hi"}],
    )
    text = "".join(e.delta.text for e in stream if e.type == "content_block_delta")
    assert text == "hello"
    want = recorded("claude-stream-request.json")
    got = capture.last()
    assert got["path"] == want["path"]
    # The version differs by design: Anthropic's Vertex documentation names
    # `vertex-2023-10-16` (Patchbay's default); this SDK sends its own API version
    # there. Both carry it in the body, not in a header.
    version = got["body"].pop("anthropic_version")
    assert isinstance(version, str) and version
    del want["body"]["anthropic_version"]
    assert got["body"] == want["body"]
    assert got["authorization"] == f"Bearer {TOKEN}"


def test_google_genai_vertex_client_calls_as_patchbay_does(capture):
    from google import genai
    from google.genai import types
    from google.oauth2.credentials import Credentials

    client = genai.Client(
        vertexai=True, project="proj-1", location="us-east5", credentials=Credentials(token=TOKEN),
        http_options=types.HttpOptions(base_url=capture.url, api_version="v1"),
    )
    answer = client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert answer.text == "hello"
    want = recorded("gemini-request.json")
    got = capture.last()
    assert got["path"] == want["path"]
    assert got["body"] == want["body"]
    assert got["authorization"] == f"Bearer {TOKEN}"


def test_google_genai_vertex_embeddings_call_predict_as_patchbay_does(capture):
    from google import genai
    from google.genai import types
    from google.oauth2.credentials import Credentials

    client = genai.Client(
        vertexai=True, project="proj-1", location="us-east5", credentials=Credentials(token=TOKEN),
        http_options=types.HttpOptions(base_url=capture.url, api_version="v1"),
    )
    answer = client.models.embed_content(
        model="text-embedding-005", contents=["first", "second"],
        config=types.EmbedContentConfig(output_dimensionality=2, task_type="RETRIEVAL_QUERY"),
    )
    assert [e.values for e in answer.embeddings] == [[0.25, -1.0], [0.5, 2.0]]
    want = recorded("embed-request.json")
    got = capture.last()
    assert got["path"] == want["path"]
    assert got["body"] == want["body"]
