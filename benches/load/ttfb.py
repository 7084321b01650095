#!/usr/bin/env python3
"""Time to first byte of streamed answers, direct vs through a gateway, interleaved.

    ttfb.py --label NAME --n 1000 --warmup 100 \
        --a direct=http://127.0.0.1:18080/v1/chat/completions@BODY_FILE \
        --b patchbay=http://127.0.0.1:14100/v1/chat/completions@BODY_FILE \
        [--auth-b "Bearer KEY"] [--json-out FILE]

One keep-alive HTTP/1.1 connection per target; each iteration sends one request to A
then one to B (order alternates), so machine noise hits both alike. For each request it
records, from the moment the request is written:
  - head_ms:  the response head (status line + headers) has been read;
  - first_ms: the first body bytes (the first SSE event) have arrived — the figure the
    "streaming adds <= 0.5 ms to the first byte" goal is about.
The rest of the body is drained so the connection can be reused. Prints one JSON line.
Only loopback URLs are accepted. Python stdlib only.
"""
import argparse
import http.client
import json
import statistics
import sys
import time
import urllib.parse


def pct(xs, p):
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


class Target:
    def __init__(self, spec, auth):
        name, rest = spec.split("=", 1)
        url, body = rest.rsplit("@", 1)
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http" or u.hostname not in ("127.0.0.1", "localhost", "::1"):
            sys.exit(f"refusing non-loopback URL {url}")
        self.name, self.url = name, url
        self.host, self.port, self.path = u.hostname, u.port or 80, u.path or "/"
        self.body = open(body, "rb").read()
        self.headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if auth:
            self.headers["Authorization"] = auth
            self.headers["x-api-key"] = auth.split()[-1]
        self.conn = None
        self.head, self.first, self.errors, self.statuses = [], [], 0, {}

    def connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.conn.connect()
        # no Nagle on our side either
        import socket
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def once(self, record):
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.connect()
                t0 = time.perf_counter()
                self.conn.request("POST", self.path, body=self.body, headers=self.headers)
                r = self.conn.getresponse()
                t1 = time.perf_counter()
                chunk = r.read1(65536)
                t2 = time.perf_counter()
                rest = r.read()
                self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                if r.status != 200 or not (chunk or rest):
                    self.errors += 1
                    return
                if record:
                    self.head.append((t1 - t0) * 1e3)
                    self.first.append((t2 - t0) * 1e3)
                if r.will_close:
                    self.conn.close(); self.conn = None
                return
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    self.errors += 1

    def summary(self):
        def st(xs):
            return {"n": len(xs), "p50_ms": pct(xs, 50), "p90_ms": pct(xs, 90), "p99_ms": pct(xs, 99),
                    "mean_ms": statistics.fmean(xs) if xs else None}
        return {"name": self.name, "url": self.url, "errors": self.errors,
                "statuses": {str(k): v for k, v in self.statuses.items()},
                "head": st(self.head), "first": st(self.first)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True)
    ap.add_argument("--a", required=True, help="name=URL@BODY (the baseline)")
    ap.add_argument("--b", required=True, help="name=URL@BODY (the one compared)")
    ap.add_argument("--auth-a", default="")
    ap.add_argument("--auth-b", default="")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--json-out", default="")
    a = ap.parse_args()
    A, B = Target(a.a, a.auth_a), Target(a.b, a.auth_b)
    for i in range(a.warmup + a.n):
        rec = i >= a.warmup
        first, second = (A, B) if i % 2 == 0 else (B, A)
        first.once(rec)
        second.once(rec)
    sa, sb = A.summary(), B.summary()
    def diff(k, p):
        x, y = sa["first" if k == "first" else "head"][p], sb["first" if k == "first" else "head"][p]
        return None if x is None or y is None else round(y - x, 4)
    out = {"kind": "ttfb", "label": a.label, "n": a.n, "a": sa, "b": sb,
           "added_first_p50_ms": diff("first", "p50_ms"), "added_first_p99_ms": diff("first", "p99_ms"),
           "added_head_p50_ms": diff("head", "p50_ms"), "added_head_p99_ms": diff("head", "p99_ms")}
    line = json.dumps(out)
    if a.json_out:
        with open(a.json_out, "a") as f:
            f.write(line + "\n")
    print(f"{a.label:28s} first byte p50 {sa['name']}={sa['first']['p50_ms'] or 0:.3f} {sb['name']}={sb['first']['p50_ms'] or 0:.3f} ms"
          f" (added {out['added_first_p50_ms']}), p99 {sa['first']['p99_ms'] or 0:.3f} / {sb['first']['p99_ms'] or 0:.3f} ms"
          f" (added {out['added_first_p99_ms']}), errors {sa['errors']}/{sb['errors']}")
    if sa["errors"] or sb["errors"]:
        print(f"  statuses: {sa['name']}={sa['statuses']} {sb['name']}={sb['statuses']}", file=sys.stderr)


if __name__ == "__main__":
    main()
