#!/usr/bin/env python3
"""Results of benches/load/run.sh: one JSONL file, one record per line, each with a "kind".

    report.py record RESULTS KIND JSON            append {"kind": KIND, **JSON}
    report.py ingest-wrk RESULTS WRK_JSONL FROM_LINE [--phase P] [--baseline direct/S] [--bare bare/S] [--round N]
                                                  copy load.sh lines (from line FROM_LINE on) as
                                                  kind "wrk", with target/scenario and CPU-us/request
    report.py ingest-oha RESULTS OHA_JSON --label L ...   one oha run as kind "oha"
    report.py summary RESULTS                     Markdown tables + the goals of issue 3

Kinds: meta, check, rss_idle, wrk, oha, ttfb (ttfb.py), rss_streams (hold_streams.py).
CPU-us per request = (utime+stime ticks of the gateway pid over the run) / requests completed:
load.sh reports it as cpu_cores over duration_s (2 decimals, i.e. +-0.005 core); oha runs
record the raw tick delta (1 tick = 10 ms at CLK_TCK=100).
"""
import argparse
import json
import statistics
import sys


def append(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


def load(path):
    out = []
    for line in open(path):
        line = line.strip()
        if line:
            out.append(json.loads(line))
    return out


def cmd_record(a):
    rec = {"kind": a.kind}
    rec.update(json.loads(a.json))
    append(a.results, rec)


def wrk_errors(r):
    return r["err_connect"] + r["err_read"] + r["err_write"] + r["err_status"] + r["err_timeout"]


def cmd_ingest_wrk(a):
    lines = open(a.wrk).read().splitlines()[a.from_line:]
    for line in lines:
        if not line.strip():
            continue
        r = json.loads(line)
        target, scenario = r["label"].split("/", 1)
        rec = {"kind": "wrk", "phase": a.phase, "target": target, "scenario": scenario}
        rec.update(r)
        rec["errors"] = wrk_errors(r)
        ok = r["requests"] - r["err_status"]
        rec["cpu_us_per_req"] = (round(r["cpu_cores"] * r["duration_s"] * 1e6 / ok, 2)
                                 if r.get("cpu_cores") and ok > 0 else None)
        if a.baseline:
            rec["baseline"] = a.baseline
        if a.bare:
            rec["bare"] = a.bare
        rec["round"] = a.round
        append(a.results, rec)


def cmd_ingest_oha(a):
    d = json.load(open(a.oha_json))
    s = d.get("summary", {})
    lp = d.get("latencyPercentiles", {})
    codes = d.get("statusCodeDistribution", {}) or {}
    ok = sum(v for k, v in codes.items() if str(k) == "200")
    total = sum(codes.values())
    # requests cut by -z's deadline are not failures
    errs = sum(v for k, v in (d.get("errorDistribution") or {}).items() if "deadline" not in k)
    fb = d.get("firstBytePercentiles") or {}
    ms = lambda x: None if x is None else round(x * 1e3, 4)
    target, scenario = a.label.split("/", 1)
    rec = {"kind": "oha", "phase": "open", "label": a.label, "target": target, "scenario": scenario,
           "round": a.round, "rate": a.rate, "concurrency": a.conc,
           "rps": s.get("requestsPerSec"), "success_rate": s.get("successRate"),
           "requests_200": ok, "requests": total, "errors": errs + (total - ok),
           "lat_p50_ms": ms(lp.get("p50")), "lat_p90_ms": ms(lp.get("p90")), "lat_p99_ms": ms(lp.get("p99")),
           "lat_p999_ms": ms(lp.get("p99.9")), "lat_max_ms": ms(s.get("slowest")), "lat_mean_ms": ms(s.get("average")),
           "first_byte_p50_ms": ms(fb.get("p50")), "first_byte_p99_ms": ms(fb.get("p99")),
           "quiet_before": a.quiet_before == "true",
           "sys_busy_cores": round(a.sys_ticks / a.hz / max(1e-9, float(s.get("total") or 1)), 2)}
    if a.cpu_ticks and ok:
        rec["cpu_ticks"] = a.cpu_ticks
        rec["cpu_cores"] = round(a.cpu_ticks / a.hz / max(1e-9, float(s.get("total") or 1)), 3)
        rec["cpu_us_per_req"] = round(a.cpu_ticks / a.hz * 1e6 / ok, 2)
    if a.baseline:
        rec["baseline"] = a.baseline
    append(a.results, rec)
    print(f"{a.label:26s} round {a.round}: {rec['rps'] or 0:8.1f} req/s  p50 {rec['lat_p50_ms']} ms  p99 {rec['lat_p99_ms']} ms"
          f"  errors {rec['errors']}" + (f"  CPU {rec['cpu_us_per_req']} us/req" if "cpu_us_per_req" in rec else ""))


def f(x, nd=2):
    return "-" if x is None else f"{x:.{nd}f}"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def cmd_summary(a):
    rows = load(a.results)
    meta = next((r for r in rows if r["kind"] == "meta"), {})
    print(f"# Load benchmark, {meta.get('started', '?')} (repo {meta.get('repo_rev', '?')}, load avg at start {meta.get('loadavg', '?')})")
    print(f"\n{meta.get('conc', '?')} connections; closed loop = wrk (1 thread) {meta.get('dur_s', '?')} s per run after "
          f"{meta.get('warmup_s', '?')} s warm-up; open loop = oha -q {meta.get('open_rate', '?')} -z {meta.get('open_dur_s', '?')}s "
          f"--latency-correction, {meta.get('open_rounds', '?')} round(s), alternating direct/Patchbay.")
    goals = []

    wrk = [r for r in rows if r["kind"] == "wrk"]
    rounds = max((r.get("round", 1) for r in wrk), default=1)
    # Each run against the direct and bare runs of its own round.
    direct = {(r["label"], r.get("round", 1)): r for r in wrk if r["target"] == "direct"}
    if wrk:
        print("\n## Closed loop (wrk)\n")
        bare = {(r["label"], r.get("round", 1)): r for r in wrk if r["target"] == "bare"}
        print("| round | target | scenario | req/s | % of direct | % of bare | p50 ms | p99 ms | errors | CPU cores | CPU µs/req | CPU × bare | RSS peak MB (before) | other procs cores |")
        print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in wrk:
            rnd = r.get("round", 1)
            base = direct.get((r.get("baseline") or f"direct/{r['scenario']}", rnd))
            pct = None if (base is None or r["target"] == "direct") else 100.0 * r["rps"] / base["rps"]
            b = bare.get((r.get("bare") or "", rnd))
            pct_bare = 100.0 * r["rps"] / b["rps"] if b else None
            cpu_x = (r["cpu_us_per_req"] / b["cpu_us_per_req"]
                     if b and r.get("cpu_us_per_req") and b.get("cpu_us_per_req") else None)
            r["pct_bare"], r["cpu_x_bare"], r["pct_direct"] = pct_bare, cpu_x, pct
            print(f"| {rnd} | {r['target']} | {r['scenario']} | {r['rps']:.0f} | {f(pct, 1)} | {f(pct_bare, 1)} | {f(r['lat_p50_ms'])} | {f(r['lat_p99_ms'])} | "
                  f"{r['errors']} | {f(r.get('cpu_cores'))} | {f(r.get('cpu_us_per_req'), 1)} | {f(cpu_x)} | "
                  f"{r['rss_peak_mb']:.0f} ({r['rss_before_mb']:.0f}) | {f(r.get('other_cores'))} |")
        # Per scenario, every round's figure; the goals take their median.
        pb = {}
        for r in wrk:
            if r["target"] == "patchbay":
                pb.setdefault(r["scenario"], []).append(r)

        def median_of(runs, key, nd, unit):
            xs = [r[key] for r in runs if r.get(key) is not None]
            if not xs:
                return None, ""
            m = statistics.median(xs)
            shown = f"{m:.{nd}f}{unit}"
            if len(xs) > 1:
                shown += " (median of " + ", ".join(f"{x:.{nd}f}" for x in xs) + ")"
            return m, shown

        # issue 11: against the bare proxy of the same round
        for sc, runs in pb.items():
            same = sc in ("chat", "messages")
            m, shown = median_of(runs, "pct_bare", 1, "%")
            if m is not None:
                want = 80 if same else 65
                goals.append((f"{sc}: throughput vs the bare proxy (closed loop)", shown, f"≥ {want}%", m >= want))
            m, shown = median_of(runs, "cpu_x_bare", 2, "×")
            if m is not None and sc != "stream":
                want = 1.4 if same else 1.8
                goals.append((f"{sc}: CPU per request vs the bare proxy", shown, f"≤ {want}×", m <= want))
        if "chat" in pb:
            m, shown = median_of(pb["chat"], "pct_direct", 1, "%")
            if m is not None:
                goals.append(("same-shape non-streaming throughput vs direct, 32 conns", shown, "≥ 25%", m >= 25))
        for sc in ("chat", "stream", "messages"):
            m, shown = median_of(pb.get(sc, []), "cpu_us_per_req", 1, " µs")
            if m is not None:
                goals.append((f"gateway CPU per same-shape request ({sc}, closed loop)", shown, "≤ 25 µs", m <= 25))
        for sc in ("chat-cross", "messages-cross", "stream-cross"):
            m, shown = median_of(pb.get(sc, []), "cpu_us_per_req", 1, " µs")
            if m is not None:
                goals.append((f"gateway CPU per cross-shape request ({sc}, closed loop)", shown, "≤ 50 µs", m <= 50))
        if rounds > 1:
            print(f"\n{rounds} rounds: the goals below take the median over rounds.")

    oha = [r for r in rows if r["kind"] == "oha"]
    if oha:
        print("\n## Open loop (oha, fixed rate)\n")
        print("| target | scenario | round | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | first byte p50 / p99 ms | errors | CPU µs/req | quiet before |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in oha:
            print(f"| {r['target']} | {r['scenario']} | {r['round']} | {f(r['rps'], 0)} | {f(r['lat_p50_ms'], 3)} | {f(r['lat_p90_ms'], 3)} | "
                  f"{f(r['lat_p99_ms'], 3)} | {f(r['lat_p999_ms'], 3)} | {f(r.get('first_byte_p50_ms'), 3)} / {f(r.get('first_byte_p99_ms'), 3)} | "
                  f"{r['errors']} | {f(r.get('cpu_us_per_req'), 1)} | {r['quiet_before']} |")
        if not any(r["target"] == "patchbay" for r in oha):
            oha = []
        if oha:
            print("\nAdded latency (Patchbay − direct of the same round; median over rounds):\n")
            print("| scenario | direct p50 | Patchbay p50 | added p50 ms | direct p99 | Patchbay p99 | added p99 ms | added first byte p50 / p99 ms | CPU µs/req |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for sc in dict.fromkeys(r["scenario"] for r in oha if r["target"] == "patchbay"):
            pbr = [r for r in oha if r["target"] == "patchbay" and r["scenario"] == sc]
            add50, add99, d50, d99, fb50, fb99 = [], [], [], [], [], []
            for r in pbr:
                d = next((x for x in oha if x["label"] == r.get("baseline") and x["round"] == r["round"]), None)
                if d and d["lat_p99_ms"] is not None and r["lat_p99_ms"] is not None:
                    add50.append(r["lat_p50_ms"] - d["lat_p50_ms"]); add99.append(r["lat_p99_ms"] - d["lat_p99_ms"])
                    d50.append(d["lat_p50_ms"]); d99.append(d["lat_p99_ms"])
                    if r.get("first_byte_p50_ms") is not None and d.get("first_byte_p50_ms") is not None:
                        fb50.append(r["first_byte_p50_ms"] - d["first_byte_p50_ms"]); fb99.append(r["first_byte_p99_ms"] - d["first_byte_p99_ms"])
            cpu = med([r.get("cpu_us_per_req") for r in pbr])
            print(f"| {sc} | {f(med(d50), 3)} | {f(med([r['lat_p50_ms'] for r in pbr]), 3)} | {f(med(add50), 3)} | "
                  f"{f(med(d99), 3)} | {f(med([r['lat_p99_ms'] for r in pbr]), 3)} | {f(med(add99), 3)} | {f(med(fb50), 3)} / {f(med(fb99), 3)} | {f(cpu, 1)} |")
            if "stream" in sc and fb50:
                goals.append((f"added first byte at {meta.get('open_rate', '?')} req/s ({sc}, oha, median of p50s; the goal's figure is the ttfb row)",
                              f"{med(fb50):.3f} ms", "(≤ 0.5 ms)", med(fb50) <= 0.5))
            slow = [r for r in pbr if r.get("rate") and r["rps"] is not None and r["rps"] < 0.95 * r["rate"]]
            if slow:
                print(f"| ↳ {sc}: Patchbay did not keep up with {slow[0]['rate']} req/s in round(s) "
                      f"{', '.join(str(r['round']) for r in slow)} (queueing: latencies there are not overhead) | | | | | | | | |")
            if sc == "chat" and add99:
                goals.append((f"added p99 at {meta.get('open_rate', '?')} req/s (chat, same-shape)", f"{med(add99):.3f} ms", "≤ 1 ms", med(add99) <= 1.0))
            elif add99:
                goals.append((f"added p99 at {meta.get('open_rate', '?')} req/s ({sc}; goal is for same-shape)", f"{med(add99):.3f} ms", "(≤ 1 ms)", med(add99) <= 1.0))
            if cpu is not None:
                lim = 50 if "cross" in sc else 25
                goals.append((f"gateway CPU per request at {meta.get('open_rate', '?')} req/s ({sc})", f"{cpu:.1f} µs", f"≤ {lim} µs", cpu <= lim))

    tt = [r for r in rows if r["kind"] == "ttfb"]
    if tt:
        print("\n## Stream time to first byte (interleaved, one keep-alive connection each)\n")
        print("| scenario | samples | direct head p50 | direct first-byte p50 / p99 ms | gateway first-byte p50 / p99 ms | added p50 ms | added p99 ms | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in tt:
            A, B = r["a"], r["b"]
            print(f"| {r['label']} | {r['n']} | {f(A['head']['p50_ms'], 3)} | {f(A['first']['p50_ms'], 3)} / {f(A['first']['p99_ms'], 3)} | "
                  f"{f(B['first']['p50_ms'], 3)} / {f(B['first']['p99_ms'], 3)} | {f(r['added_first_p50_ms'], 3)} | "
                  f"{f(r['added_first_p99_ms'], 3)} | {A['errors']}/{B['errors']} |")
            if r["label"].startswith("patchbay/") and r["added_first_p50_ms"] is not None:
                goals.append((f"added time to first byte, {r['label'].split('/', 1)[1]} (median)", f"{r['added_first_p50_ms']:.3f} ms", "≤ 0.5 ms",
                              r["added_first_p50_ms"] <= 0.5))

    idle = [r for r in rows if r["kind"] == "rss_idle"]
    streams = [r for r in rows if r["kind"] == "rss_streams"]
    if idle or streams:
        print("\n## Patchbay memory (VmRSS)\n")
        print("| when | RSS MiB | notes |")
        print("|---|---:|---|")
        def anon(r, key):
            return f" (anonymous {r[key]})" if r.get(key) is not None else ""
        for r in idle:
            note = ""
            if "rss_after_checks_mb" in r:
                note = f"after the 6 scenario checks: {r['rss_after_checks_mb']}{anon(r, 'anon_after_checks_mb')} MiB"
            if "hwm_mb" in r:
                note = f"peak over the run (VmHWM): {r['hwm_mb']} MiB"
            print(f"| {r['label']} | {r['rss_mb']}{anon(r, 'anon_mb')} | {note} |")
        for r in streams:
            print(f"| {r['label']} | {r['rss_open_max_mb']} | {r['streams_open_min']}/{r['streams_wanted']} streams held {r['hold_s']} s "
                  f"(failed {r['failures']}; upstream {r.get('upstream') or '?'}); before {r['rss_before_mb']}{anon(r, 'anon_before_mb')}, "
                  f"after close {r['rss_after_close_mb']}{anon(r, 'anon_after_close_mb')} MiB, {r['threads']} threads |")
        st = next((r for r in idle if r["label"] == "patchbay/idle-start"), None)
        if st:
            goals.append(("RSS idle after start", f"{st['rss_mb']} MiB", "≤ 30 MiB", st["rss_mb"] <= 30))
        for r in streams:
            okn = r["streams_open_min"] >= r["streams_wanted"]
            lim = 80 if r["streams_wanted"] <= 1000 else 150
            goals.append((f"RSS with {r['streams_wanted']} open streams ({r['streams_open_min']} held)", f"{r['rss_open_max_mb']} MiB", f"≤ {lim} MiB",
                          bool(okn and r["rss_open_max_mb"] is not None and r["rss_open_max_mb"] <= lim)))
            if st and r.get("rss_after_close_mb") is not None:
                # idle = after the scenario checks (a served gateway), else right after start
                ref = st.get("rss_after_checks_mb") or st["rss_mb"]
                goals.append((f"RSS 2 s after the {r['streams_wanted']} streams close, vs idle ({ref} MiB)", f"{r['rss_after_close_mb']} MiB",
                              f"≤ {1.1 * ref:.1f} MiB", r["rss_after_close_mb"] <= 1.1 * ref))
            before = r.get("rss_before_mb")
            if before and r.get("rss_after_close_mb") is not None:
                # The same, against the gateway just before the streams opened: idle too,
                # but after the load phases (their caches: SQLite's pages, pooled
                # upstream connections). Shown beside the row above, not instead of it.
                goals.append((f"RSS 2 s after the {r['streams_wanted']} streams close, vs just before they opened ({before} MiB)",
                              f"{r['rss_after_close_mb']} MiB", f"(≤ {1.1 * before:.1f} MiB)", r["rss_after_close_mb"] <= 1.1 * before))
            anon_ref = st.get("anon_after_checks_mb") if st else None
            if anon_ref and r.get("anon_after_close_mb") is not None:
                # The heap's part of the return, without the binary's pages that the
                # first requests mapped in (clean, shared with the page cache).
                goals.append((f"anonymous memory 2 s after the {r['streams_wanted']} streams close, vs idle ({anon_ref} MiB)",
                              f"{r['anon_after_close_mb']} MiB", f"(≤ {1.1 * anon_ref:.1f} MiB)", r["anon_after_close_mb"] <= 1.1 * anon_ref))

    checks = [r for r in rows if r["kind"] == "check"]
    if checks:
        print("\nScenarios that failed their check and were not loaded: " + ", ".join(f"{c['scenario']} (HTTP {c['http']})" for c in checks))

    if goals:
        print("\n## Goals (issues 3 and 11), this run\n")
        print("| goal | measured | target | met |")
        print("|---|---:|---:|---|")
        for g, m, t, ok in goals:
            print(f"| {g} | {m} | {t} | {'yes' if ok else 'no'} |")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("record"); p.add_argument("results"); p.add_argument("kind"); p.add_argument("json")
    p.set_defaults(fn=cmd_record)
    p = sub.add_parser("ingest-wrk"); p.add_argument("results"); p.add_argument("wrk"); p.add_argument("from_line", type=int)
    p.add_argument("--phase", default="closed"); p.add_argument("--baseline", default="")
    p.add_argument("--bare", default="", help="label of the bare-proxy run of the same upstream call")
    p.add_argument("--round", type=int, default=1, help="the closed phase's round (CLOSED_ROUNDS)")
    p.set_defaults(fn=cmd_ingest_wrk)
    p = sub.add_parser("ingest-oha"); p.add_argument("results"); p.add_argument("oha_json")
    p.add_argument("--label", required=True); p.add_argument("--round", type=int, default=1)
    p.add_argument("--rate", type=int, default=0); p.add_argument("--conc", type=int, default=0)
    p.add_argument("--cpu-ticks", type=int, default=0); p.add_argument("--sys-ticks", type=int, default=0)
    p.add_argument("--hz", type=int, default=100); p.add_argument("--quiet-before", default="true")
    p.add_argument("--baseline", default="")
    p.set_defaults(fn=cmd_ingest_oha)
    p = sub.add_parser("summary"); p.add_argument("results")
    p.set_defaults(fn=cmd_summary)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
