#!/usr/bin/env python3
"""Open N concurrent streaming requests, hold them open, and read a process's RSS meanwhile.

    hold_streams.py --url http://127.0.0.1:14100/v1/chat/completions --body FILE \
        --auth "Bearer KEY" --n 1000 --pid PATCHBAY_PID --hold-s 5 [--json-out FILE]

Each stream is its own HTTP/1.1 connection (asyncio, stdlib only). Connections are opened in
batches (--batch, default 100) so the listen backlog is never the limit. A stream counts as
open once its response head (200) and first body bytes have arrived; after that the client
keeps reading (and discarding) so the upstream's chunks keep flowing through the gateway, as
with a real client. When all are open (or --open-timeout-s passes) VmRSS/VmHWM of --pid are
sampled every 0.5 s for --hold-s seconds; then every connection is closed. Prints one JSON line.
Upstream for this: a slow stream (e.g. `patchbay mock --chunks 1000 --chunk-delay-ms 100`), so
streams stay open for the whole measurement.
"""
import argparse
import asyncio
import json
import sys
import time
import urllib.parse


def vm(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])  # kB
    except OSError:
        return None
    return None


def threads(pid):
    return vm(pid, "Threads")


async def one(host, port, req, opened, failures, stop):
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    except (OSError, asyncio.TimeoutError) as e:
        failures.append(f"connect: {e!r}")
        return
    try:
        w.write(req)
        await w.drain()
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 30)
        status = head.split(b" ", 2)[1]
        if status != b"200":
            failures.append(f"status {status.decode()}: {head[:200]!r}")
            return
        first = await asyncio.wait_for(r.read(65536), 30)
        if not first:
            failures.append("closed before the first event")
            return
        opened.append(time.perf_counter())
        while not stop.is_set():
            try:
                data = await asyncio.wait_for(r.read(65536), 0.5)
            except asyncio.TimeoutError:
                continue
            if not data:
                failures.append("stream ended while held (upstream too short?)")
                opened.pop()
                return
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
        failures.append(f"stream: {e!r}")
    finally:
        w.close()


async def main_async(a):
    u = urllib.parse.urlsplit(a.url)
    if u.scheme != "http" or u.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing non-loopback URL {a.url}")
    body = open(a.body, "rb").read()
    hdr = [f"POST {u.path} HTTP/1.1", f"Host: {u.hostname}:{u.port}", "Content-Type: application/json",
           "Accept: text/event-stream", f"Content-Length: {len(body)}"]
    if a.auth:
        hdr.append(f"Authorization: {a.auth}")
    req = ("\r\n".join(hdr) + "\r\n\r\n").encode() + body
    opened, failures, stop = [], [], asyncio.Event()
    rss0 = vm(a.pid, "VmRSS")
    anon0 = vm(a.pid, "RssAnon")
    t0 = time.perf_counter()
    tasks = []
    for i in range(0, a.n, a.batch):
        for _ in range(min(a.batch, a.n - i)):
            tasks.append(asyncio.create_task(one(u.hostname, u.port, req, opened, failures, stop)))
        await asyncio.sleep(a.batch_pause_s)
    deadline = t0 + a.open_timeout_s
    while len(opened) + len(failures) < a.n and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    t_open = time.perf_counter() - t0
    samples = []
    tend = time.perf_counter() + a.hold_s
    while True:
        samples.append((len(opened), vm(a.pid, "VmRSS")))
        if time.perf_counter() >= tend:
            break
        await asyncio.sleep(0.5)
    held = min(n for n, _ in samples)
    rss_vals = [r for _, r in samples if r is not None]
    hwm = vm(a.pid, "VmHWM")
    thr = threads(a.pid)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(a.after_s)
    rss_after = vm(a.pid, "VmRSS")
    anon_after = vm(a.pid, "RssAnon")
    reasons = {}
    for f in failures:
        k = f.split(":")[0]
        reasons[k] = reasons.get(k, 0) + 1
    out = {"kind": "rss_streams", "label": a.label, "url": a.url, "upstream": a.upstream, "streams_wanted": a.n,
           "streams_open_min": held, "streams_opened": len(opened) + 0, "failures": len(failures),
           "failure_kinds": reasons, "failure_example": failures[0] if failures else None,
           "open_time_s": round(t_open, 2), "hold_s": a.hold_s,
           "rss_before_mb": None if rss0 is None else round(rss0 / 1024, 1),
           "rss_open_max_mb": round(max(rss_vals) / 1024, 1) if rss_vals else None,
           "rss_open_median_mb": round(sorted(rss_vals)[len(rss_vals) // 2] / 1024, 1) if rss_vals else None,
           "hwm_mb": None if hwm is None else round(hwm / 1024, 1),
           "threads": thr,
           "rss_after_close_mb": None if rss_after is None else round(rss_after / 1024, 1),
           # The anonymous part (heap, stacks) apart from the binary's own mapped pages.
           "anon_before_mb": None if anon0 is None else round(anon0 / 1024, 1),
           "anon_after_close_mb": None if anon_after is None else round(anon_after / 1024, 1)}
    line = json.dumps(out)
    if a.json_out:
        with open(a.json_out, "a") as f:
            f.write(line + "\n")
    print(f"{a.label}: {held}/{a.n} streams held open (opened in {t_open:.1f}s, {len(failures)} failed); "
          f"RSS before {out['rss_before_mb']} MB, with streams open max {out['rss_open_max_mb']} MB, "
          f"after close {out['rss_after_close_mb']} MB")
    if failures:
        print(f"  failures: {reasons}; e.g. {failures[0]}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--body", required=True)
    ap.add_argument("--auth", default="")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--batch-pause-s", type=float, default=0.2)
    ap.add_argument("--open-timeout-s", type=float, default=60)
    ap.add_argument("--hold-s", type=float, default=5)
    ap.add_argument("--after-s", type=float, default=2)
    ap.add_argument("--label", default="patchbay/rss-streams")
    ap.add_argument("--upstream", default="", help="what the slow upstream is (recorded)")
    ap.add_argument("--json-out", default="")
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
