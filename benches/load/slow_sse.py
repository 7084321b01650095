#!/usr/bin/env python3
"""A slow OpenAI-chat streaming upstream (stdlib asyncio), the stand-in for
`patchbay mock --shape openai --scenario text --chunks N --chunk-delay-ms D` when that
command is not available: every POST .../chat/completions gets a text/event-stream of N
chat.completion.chunk events, one every D ms, then `data: [DONE]`. Non-streaming requests
get one fixed chat.completion. Loopback only.

    slow_sse.py --listen 127.0.0.1:18090 --chunks 1000 --chunk-delay-ms 100
"""
import argparse
import asyncio
import json
import sys

CHUNK = ('{"id":"chatcmpl-slow","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini",'
         '"choices":[{"index":0,"delta":{"content":"word "},"finish_reason":null}]}')
LAST = ('{"id":"chatcmpl-slow","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini",'
        '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}')
WHOLE = json.dumps({"id": "chatcmpl-slow", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "word"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def handle(r, w, chunks, delay):
    try:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            n = 0
            for h in lines[1:]:
                if h.lower().startswith("content-length:"):
                    n = int(h.split(":", 1)[1])
            body = await r.readexactly(n) if n else b""
            path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
            if not path.rstrip("/").endswith("/chat/completions"):
                msg = b'{"error":{"message":"slow_sse: unknown path"}}'
                w.write(b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(msg), msg))
                await w.drain()
                continue
            stream = False
            try:
                stream = bool(json.loads(body or b"{}").get("stream"))
            except ValueError:
                pass
            if not stream:
                w.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(WHOLE), WHOLE))
                await w.drain()
                continue
            w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                    b"transfer-encoding: chunked\r\n\r\n")
            ev = ("data: " + CHUNK + "\n\n").encode()
            for i in range(chunks):
                w.write(chunked(ev))
                await w.drain()
                await asyncio.sleep(delay)
            w.write(chunked(("data: " + LAST + "\n\ndata: [DONE]\n\n").encode()) + b"0\r\n\r\n")
            await w.drain()
    except (asyncio.IncompleteReadError, ConnectionError, OSError, asyncio.LimitOverrunError):
        pass
    finally:
        w.close()


async def main_async(a):
    host, port = a.listen.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("loopback only")
    srv = await asyncio.start_server(lambda r, w: handle(r, w, a.chunks, a.chunk_delay_ms / 1000.0),
                                     host, int(port), backlog=4096)
    print(f"slow_sse listening on http://{a.listen} ({a.chunks} chunks, {a.chunk_delay_ms} ms apart)", flush=True)
    async with srv:
        await srv.serve_forever()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:18090")
    ap.add_argument("--chunks", type=int, default=1000)
    ap.add_argument("--chunk-delay-ms", type=int, default=100)
    try:
        asyncio.run(main_async(ap.parse_args()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
