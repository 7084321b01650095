#!/usr/bin/env python3
"""Soak: mixed traffic for a long time; RSS and open descriptors must stay flat.

    soak.py --bin target/release/patchbay --minutes 10 [--fraction 0.6]

The gateway runs on the built-in mock provider (OpenAI-shaped). The mix, per request,
round robin: OpenAI chat, OpenAI chat streamed, Anthropic Messages streamed (cross
shape), Anthropic Messages whole (cross shape); every 10th stream is dropped by the
client after its first bytes (the injected fault). First a 15 s closed loop with
CONC workers finds what this machine saturates at (client and gateway on the same
cores); then the soak runs at --fraction of it, open loop, for --minutes. Every 5 s
the gateway's VmRSS and /proc/<pid>/fd count are sampled. Prints one JSON line: rates,
errors by kind (anything but 200 and the injected drops), and the least-squares
slope of RSS (KiB/min) and descriptors (per min) over the run's second half-onwards
(after warm-up: the first minute is left out).
"""
import argparse
import asyncio
import json
import os
import signal
import tempfile
import time

from durability import KEY, raise_open_files, start  # the same gateway set-up


def body(shape, stream):
    if shape == "anthropic":
        b = {"model": "mock-text-30", "max_tokens": 64, "stream": stream,
             "messages": [{"role": "user", "content": "soak"}]}
        return "/v1/messages", b
    b = {"model": "mock-text-30", "stream": stream,
         "messages": [{"role": "user", "content": "soak"}]}
    return "/v1/chat/completions", b


def raw(port, path, b, shape):
    data = json.dumps(b).encode()
    auth = f"x-api-key: {KEY}\r\nanthropic-version: 2023-06-01" if shape == "anthropic" \
        else f"authorization: Bearer {KEY}"
    return (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n{auth}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(data)}\r\n"
            f"connection: close\r\n\r\n").encode() + data


MIX = [("openai", False), ("openai", True), ("anthropic", True), ("anthropic", False)]


async def one(port, n, stats):
    shape, stream = MIX[n % len(MIX)]
    path, b = body(shape, stream)
    drop = stream and (n // len(MIX)) % 10 == 0
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as e:
        stats["errors"][f"connect:{e.errno}"] = stats["errors"].get(f"connect:{e.errno}", 0) + 1
        return
    try:
        writer.write(raw(port, path, b, shape))
        await writer.drain()
        status = await reader.readline()
        code = status[9:12].decode(errors="replace") if status else "eof"
        if code != "200":
            stats["errors"][code] = stats["errors"].get(code, 0) + 1
            return
        if drop:
            await reader.read(1)
            stats["dropped"] += 1
            return
        while await reader.read(65536):
            pass
        stats["ok"] += 1
    except OSError as e:
        stats["errors"][f"io:{e.errno}"] = stats["errors"].get(f"io:{e.errno}", 0) + 1
    finally:
        writer.close()


async def closed_loop(port, conc, seconds):
    stats = {"ok": 0, "dropped": 0, "errors": {}}
    end = time.monotonic() + seconds
    counter = iter(range(10**9))

    async def w():
        while time.monotonic() < end:
            await one(port, next(counter), stats)
    await asyncio.gather(*[w() for _ in range(conc)])
    return (stats["ok"] + stats["dropped"]) / seconds


def sample(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def slope(points):
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    den = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / den if den else 0.0


async def soak(args, port, pid):
    saturation = await closed_loop(port, args.conc, 15)
    rate = saturation * args.fraction
    stats = {"ok": 0, "dropped": 0, "errors": {}}
    samples, pending = [], set()
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    next_sample, n = t0, 0
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_sample:
            rss, fds = sample(pid)
            samples.append((now - t0, rss, fds))
            next_sample += 5
        due = int((now - t0) * rate)
        while n < due:
            task = asyncio.create_task(one(port, n, stats))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
        await asyncio.sleep(0.005)
    await asyncio.gather(*pending)
    await asyncio.sleep(2)
    rss_end, fds_end = sample(pid)
    steady = [s for s in samples if s[0] >= 60]
    return {
        "minutes": args.minutes, "saturation_rps": round(saturation),
        "rate_rps": round(rate), "sent": n, **stats,
        "rss_kib_first": samples[0][1], "rss_kib_last": samples[-1][1], "rss_kib_after": rss_end,
        "fds_first": samples[0][2], "fds_last": samples[-1][2], "fds_after": fds_end,
        "rss_slope_kib_per_min": round(slope([(t / 60, r) for t, r, _ in steady]), 1),
        "fds_slope_per_min": round(slope([(t / 60, f) for t, _, f in steady]), 2),
        "rss_kib_steady_min": min(r for _, r, _ in steady) if steady else None,
        "rss_kib_steady_max": max(r for _, r, _ in steady) if steady else None,
        "samples": len(samples),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/patchbay")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--fraction", type=float, default=0.6)
    ap.add_argument("--conc", type=int, default=32)
    ap.add_argument("--port", type=int, default=14310)
    args = ap.parse_args()
    raise_open_files()
    workdir = tempfile.mkdtemp(prefix="patchbay-soak-")
    # The mock at full speed, streams in 8 chunks.
    proc, _db = start(args.bin, workdir, args.port, mock='mock = { chunks = 8 }')
    try:
        print(json.dumps(asyncio.run(soak(args, args.port, proc.pid))), flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


if __name__ == "__main__":
    main()
