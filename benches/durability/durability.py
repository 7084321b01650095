#!/usr/bin/env python3
"""Durability of usage records: what a SIGTERM under load and a kill -9 lose.

    durability.py --bin target/release/patchbay --mode sigterm --n 10000
    durability.py --bin target/release/patchbay --mode kill9 --rounds 5

sigterm: N streaming requests to the built-in mock provider (each ~5 s: 5 chunks, 1 s
         apart, set in the provider's table) are opened at once; when every one has its response head, the gateway
         gets SIGTERM. The client reads every stream to its end. Then the database is
         opened: every admitted request must have its row (lost = admitted - rows).
kill9:   CONC workers send short requests in a loop; after --run-s seconds the gateway
         gets SIGKILL. Rows are compared with the requests the client saw answered
         (lost = answered - rows), next to how many were answered in the last batch
         window (200 ms) before the kill; then `PRAGMA integrity_check`. Repeated
         --rounds times on the same database (kill -9 lands mid-write at random).
Loopback only, stdlib only. Prints one JSON line per round.
"""
import argparse
import asyncio
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

KEY = "pbk_durability_bench_key_0123456789"


def raise_open_files(want=65536):
    """The gateway (a child) inherits this: N connections need N descriptors on each
    side, and the gateway keeps its cap at half its limit (room for upstream sockets)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, want), max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# Streams last ~5 s (5 chunks, 1 s apart): long enough to be in flight at SIGTERM.
SLOW_STREAMS = 'mock = { scenario = "text", tokens = 20, chunks = 5, chunk_delay_ms = 1000 }'


def config(port, db, mock=SLOW_STREAMS):
    return f"""
[server]
listen = "127.0.0.1:{port}"
max_connections = 30000
max_in_flight = 30000
shutdown_grace_secs = 60

[storage]
path = "{db}"

[admin]
enabled = false

[providers.mock]
kind = "mock"
{mock}

[[routes]]
model = "*"
targets = [{{ provider = "mock" }}]

[[keys]]
name = "bench"
secret = "{KEY}"
"""


def start(binary, workdir, port, mock=SLOW_STREAMS):
    db = os.path.join(workdir, "patchbay.db")
    path = os.path.join(workdir, "patchbay.toml")
    with open(path, "w") as f:
        f.write(config(port, db, mock))
    log = open(os.path.join(workdir, "patchbay.log"), "ab")
    proc = subprocess.Popen([binary, "serve", "--config", path], stdout=log, stderr=log)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return proc, db
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("the gateway did not start; see " + log.name)


def request(port, stream):
    body = json.dumps({
        "model": "mock-text",
        "stream": stream,
        "messages": [{"role": "user", "content": "durability"}],
    }).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        f"authorization: Bearer {KEY}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


def rows(db):
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    finally:
        conn.close()


def integrity(db):
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


async def one_stream(port, req, headed, results):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        results["connect_failed"] += 1
        headed.release()
        return
    writer.write(req)
    await writer.drain()
    status = await reader.readline()
    ok = status.startswith(b"HTTP/1.1 200")
    results["admitted" if ok else "refused"] += 1
    headed.release()
    data = b""
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            data += chunk
            if b"[DONE]" in data:
                break
    except OSError:
        pass
    if ok:
        results["completed" if b"[DONE]" in data else "cut"] += 1
    writer.close()


async def sigterm_round(args, port, workdir):
    proc, db = start(args.bin, workdir, port)
    req = request(port, True)
    results = {"admitted": 0, "refused": 0, "completed": 0, "cut": 0, "connect_failed": 0}
    headed = asyncio.Semaphore(0)
    tasks = []
    t0 = time.monotonic()
    for i in range(args.n):
        tasks.append(asyncio.create_task(one_stream(port, req, headed, results)))
        if i % 500 == 499:
            await asyncio.sleep(0.05)
    for _ in range(args.n):
        await headed.acquire()
    opened_s = time.monotonic() - t0
    proc.send_signal(signal.SIGTERM)
    t_term = time.monotonic()
    await asyncio.gather(*tasks)
    code = await asyncio.get_running_loop().run_in_executor(None, proc.wait)
    drained_s = time.monotonic() - t_term
    recorded = rows(db)
    return {
        "mode": "sigterm", "n": args.n, **results, "rows": recorded,
        "lost": results["admitted"] - recorded, "exit_code": code,
        "open_all_s": round(opened_s, 2), "term_to_exit_s": round(drained_s, 2),
        "integrity": integrity(db),
    }


async def worker(port, req, answered, stop):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return
        try:
            while not stop.is_set():
                writer.write(req)
                await writer.drain()
                status = await reader.readline()
                if not status:
                    return
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if status.startswith(b"HTTP/1.1 200"):
                    answered.append(time.monotonic())
        except (OSError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


async def kill9_round(args, port, workdir, before):
    proc, db = start(args.bin, workdir, port)
    req = request(port, False)
    answered, stop = [], asyncio.Event()
    tasks = [asyncio.create_task(worker(port, req, answered, stop)) for _ in range(args.conc)]
    await asyncio.sleep(args.run_s)
    proc.send_signal(signal.SIGKILL)
    t_kill = time.monotonic()
    proc.wait()
    stop.set()
    await asyncio.gather(*tasks)
    seen = [t for t in answered if t <= t_kill]
    recorded = rows(db) - before
    window = sum(1 for t in seen if t > t_kill - 0.2)
    return {
        "mode": "kill9", "conc": args.conc, "run_s": args.run_s, "answered": len(seen),
        "rows": recorded, "lost": len(seen) - recorded,
        "answered_in_last_200ms": window, "integrity": integrity(db),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/patchbay")
    ap.add_argument("--mode", choices=["sigterm", "kill9"], required=True)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--conc", type=int, default=64)
    ap.add_argument("--run-s", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--port", type=int, default=14300)
    args = ap.parse_args()
    raise_open_files()
    workdir = tempfile.mkdtemp(prefix="patchbay-durability-")
    before = 0
    for _ in range(args.rounds):
        if args.mode == "sigterm":
            out = asyncio.run(sigterm_round(args, args.port, workdir))
            os.remove(os.path.join(workdir, "patchbay.db"))
        else:
            out = asyncio.run(kill9_round(args, args.port, workdir, before))
            before = rows(os.path.join(workdir, "patchbay.db"))
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
