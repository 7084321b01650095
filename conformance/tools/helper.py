#!/usr/bin/env python3
"""Small helpers for conformance/tools/run (standard library only).

  helper.py json-set FILE path.to.key=JSON ...   set keys in a JSON file (created if absent)
  helper.py verdict OUT TOOL NONCE...            exit 0 if OUT has `Result of TOOL: ` then NONCE,
                                                 for each NONCE
  helper.py requests DB KEY_ID DIR               summarise the gateway's request log for one key;
                                                 save the failed requests' bodies under DIR
  helper.py chained JSONL MIN                    exit 0 if at least MIN requests of JSONL (what
                                                 `requests` saved) continued the response of the
                                                 request just before them by previous_response_id,
                                                 and every such request was answered
"""
import json
import os
import re
import sqlite3
import sys


def json_set(path, assignments):
    doc = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    for assignment in assignments:
        dotted, _, raw = assignment.partition("=")
        node = doc
        *parents, leaf = dotted.split(".")
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = json.loads(raw)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def verdict(out_path, tool, nonces):
    """The mock answers `Result of <tool>: <result text>` per tool result; the result text
    is whatever the tool sent back (line numbers, headers, ...), so the nonce must come
    after the marker and before the next marker."""
    with open(out_path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    marker = f"Result of {tool}: "
    pieces = text.split(marker)
    if len(pieces) < 2:
        if re.search(r"^\s*CALL \S+ \{", text, re.M):
            print("the CALL line came back as text: no mock-agent behind the gateway?")
        elif "is not offered; offered:" in text:
            line = next(l for l in text.splitlines() if "is not offered" in l)
            print(line.strip()[:300])
        else:
            tail = " | ".join(l.strip() for l in text.strip().splitlines()[-3:])
            print(f"no '{marker.strip()}' in the output; it ends: {tail[:300]!r}")
        return 1
    results = [piece.split("Result of ")[0] for piece in pieces[1:]]
    missing = [n for n in nonces if not any(n in r for r in results)]
    if not missing:
        return 0
    print(f"{len(results)} x '{marker.strip()}', {len(missing)} of {len(nonces)} nonces missing;"
          f" results: {[r[:120] for r in results]!r}")
    return 1


def text(value):
    """Bodies are TEXT, or BLOB when they were not UTF-8 (or stored compressed)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def body(value):
    value = text(value)
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def requests(db, key_id, out_dir):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    rows = con.execute(
        "SELECT id, requested_model, caller_shape, upstream_shape, status, error_kind,"
        " streamed, request_body, response_body FROM requests WHERE key_id = ? ORDER BY id",
        (key_id,),
    ).fetchall()
    statuses = {}
    failed = []
    for row in rows:
        rid, model, caller, upstream, status, error_kind, streamed, req, resp = row
        statuses[status] = statuses.get(status, 0) + 1
        if status is None or status >= 400:
            failed.append(row)
    summary = ", ".join(f"{s}x{n}" for s, n in sorted(statuses.items(), key=lambda kv: str(kv[0])))
    shapes = sorted({f"{r[2]}->{r[3]}" for r in rows})
    print(f"{len(rows)} requests [{summary}] {' '.join(shapes)}".strip())
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "requests.jsonl"), "w", encoding="utf-8") as f:
        for rid, model, caller, upstream, status, error_kind, streamed, req, resp in rows:
            f.write(json.dumps({
                "id": rid, "model": model, "caller_shape": caller, "upstream_shape": upstream,
                "status": status, "error_kind": error_kind, "streamed": bool(streamed),
                "request_body": body(req), "response_body": text(resp),
            }) + "\n")
    for rid, model, caller, upstream, status, error_kind, *_ in failed:
        print(f"  refused: request {rid} {model} {caller}->{upstream}: {status} {error_kind}")
    return 0


RESPONSE_ID = re.compile(r'"id":"(resp_[0-9a-f]+)"')


def chained(jsonl, minimum):
    """Requests that name `previous_response_id` and send only the new items: the
    gateway's kept conversation is what their answer stands on. Each must name the
    response of the request just before it (the chain a client keeps on one connection)
    and have been answered."""
    with open(jsonl, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    previous_id, chained_ids, problems = None, [], []
    for n, row in enumerate(rows, 1):
        req = row["request_body"] if isinstance(row["request_body"], dict) else {}
        named = req.get("previous_response_id")
        if named:
            items = [i.get("type", "message") for i in req.get("input", []) if isinstance(i, dict)]
            if named != previous_id:
                problems.append(f"request {n} names {named}, the one before answered {previous_id}")
            elif row["status"] != 200:
                problems.append(f"request {n} (continuing {named}) was answered {row['status']}")
            else:
                chained_ids.append(f"#{n} {named[:13]}… +{'+'.join(items) or 'nothing'}")
        found = RESPONSE_ID.search(row.get("response_body") or "")
        previous_id = found.group(1) if found else None
    print(f"{len(chained_ids)} of {len(rows)} requests continued the previous response by id: "
          f"{'; '.join(chained_ids)}" + (f"; {'; '.join(problems)}" if problems else ""))
    return 0 if len(chained_ids) >= minimum and not problems else 1


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "json-set" and len(argv) >= 4:
        json_set(argv[2], argv[3:])
        return 0
    if cmd == "verdict" and len(argv) >= 5:
        return verdict(argv[2], argv[3], argv[4:])
    if cmd == "requests" and len(argv) == 5:
        return requests(argv[2], argv[3], argv[4])
    if cmd == "chained" and len(argv) == 4:
        return chained(argv[2], int(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
