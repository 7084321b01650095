"""Draws the Grafana dashboard's panels from a Prometheus: each panel's own PromQL
(read from docs/grafana/patchbay.json) asked over a time range through the HTTP API
(/api/v1/query_range), one PNG with a cell per panel, titled as on the dashboard.

    python3 plot.py --prometheus http://127.0.0.1:9090 --dashboard patchbay.json \
        --start 1700000000 --end 1700000180 --out dashboard.png

Grafana's variables are filled in the way the dashboard's defaults are: $provider and
$model with `.*` (All), $__rate_interval with --rate-window.
"""
import argparse
import json
import math
import re
import sys
import urllib.parse
import urllib.request

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402  (matplotlib's own dependency)


def panels(dash):
    """The dashboard's panels in order (rows' nested ones included), without the rows."""
    for p in dash["panels"]:
        if p.get("type") != "row":
            yield p
        for inner in p.get("panels", []):
            yield inner


def fill(expr, window):
    for var in ("$provider", "$model", "${provider}", "${model}"):
        expr = expr.replace(var, ".*")
    return expr.replace("$__rate_interval", window).replace("$__interval", window)


def query_range(base, expr, start, end, step):
    qs = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{qs}", timeout=30) as resp:
        body = json.load(resp)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def legend(fmt, labels):
    if not fmt:
        return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__") or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


# Grafana unit -> (scale, axis label)
UNITS = {"reqps": (1, "req/s"), "percentunit": (100, "%"), "currencyUSD": (1, "USD"), "short": (1, "")}


def scale_for(unit, peak):
    if unit == "s":
        return (1000, "ms") if peak < 1 else (1, "s")
    return UNITS.get(unit, (1, unit))


def series_of(base, panel, start, end, step, window):
    out = []
    for t in panel["targets"]:
        for r in query_range(base, fill(t["expr"], window), start, end, step):
            xs, ys = [], []
            for ts, v in r["values"]:
                v = float(v)
                if math.isfinite(v):
                    xs.append(float(ts) - start)
                    ys.append(v)
            if xs:
                out.append((legend(t.get("legendFormat", ""), r["metric"]), xs, ys))
    return out


def draw_stat(ax, panel, series):
    ax.set_axis_off()
    ax.set_title(panel["title"], fontsize=11.5, loc="left", weight="bold")
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    if not series:
        ax.text(0.5, 0.4, "no data", ha="center", va="center", fontsize=16, color="grey")
        return
    if panel["options"].get("textMode") == "name":
        text = ", ".join(name for name, _, _ in series)
    else:
        last = series[0][2][-1]
        scale, label = scale_for(unit, abs(last))
        if unit == "currencyUSD":
            text = f"${last:,.2f}"
        else:
            text = f"{last * scale:,.2f} {label}".strip()
    ax.text(0.5, 0.4, text, ha="center", va="center", fontsize=22, color="#2a7f3f", weight="bold")


def draw_series(ax, panel, series):
    ax.set_title(panel["title"], fontsize=11.5, loc="left", weight="bold")
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    if not series:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color="grey")
        return
    peak = max(max(abs(y) for y in ys) for _, _, ys in series)
    scale, label = scale_for(unit, peak)
    series = sorted(series, key=lambda s: -max(s[2]))
    for name, xs, ys in series:
        ax.plot(xs, [y * scale for y in ys], linewidth=1, label=name)
    ax.set_ylabel(label, fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if "min" in panel["fieldConfig"]["defaults"]:
        ax.set_ylim(bottom=0)
    ax.legend(fontsize=7.5, loc="upper left", ncol=2 if len(series) > 4 else 1, framealpha=0.6,
              handlelength=1.2, borderaxespad=0.3)


def main():
    a = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a.add_argument("--prometheus", required=True)
    a.add_argument("--dashboard", required=True)
    a.add_argument("--start", type=float, required=True)
    a.add_argument("--end", type=float, required=True)
    a.add_argument("--step", default="2s")
    a.add_argument("--rate-window", default="10s")
    a.add_argument("--columns", type=int, default=4)
    a.add_argument("--out", required=True)
    args = a.parse_args()

    dash = json.load(open(args.dashboard))
    all_panels = list(panels(dash))
    stats = [p for p in all_panels if p["type"] == "stat"]
    graphs = [p for p in all_panels if p["type"] != "stat"]
    cols = args.columns
    graph_rows = math.ceil(len(graphs) / cols)
    fig = plt.figure(figsize=(4.8 * cols, 1.6 + 3.1 * graph_rows))
    grid = fig.add_gridspec(1 + graph_rows, len(stats) * cols,
                            height_ratios=[0.45] + [1] * graph_rows, hspace=0.45, wspace=0.9,
                            top=0.965, bottom=0.03, left=0.03, right=0.99)
    empty = []
    for i, p in enumerate(stats):
        ax = fig.add_subplot(grid[0, i * cols:(i + 1) * cols])
        s = series_of(args.prometheus, p, args.start, args.end, args.step, args.rate_window)
        empty += [] if s else [p["title"]]
        draw_stat(ax, p, s)
    span = len(stats)
    for i, p in enumerate(graphs):
        r, c = divmod(i, cols)
        ax = fig.add_subplot(grid[1 + r, c * span:(c + 1) * span])
        s = series_of(args.prometheus, p, args.start, args.end, args.step, args.rate_window)
        empty += [] if s else [p["title"]]
        draw_series(ax, p, s)
        if r == graph_rows - 1 or i + cols >= len(graphs):
            ax.set_xlabel("seconds into the run", fontsize=8)
    minutes = (args.end - args.start) / 60
    fig.suptitle(f"{dash['title']} — the dashboard's queries over a {minutes:.1f}-minute load run "
                 f"(Prometheus, rate window {args.rate_window})", fontsize=14, x=0.03, ha="left", y=0.99)
    fig.savefig(args.out, dpi=70, bbox_inches="tight")
    # A palette of 128 colours keeps the file small; the plots have few colours.
    Image.open(args.out).convert("RGB").quantize(colors=128).save(args.out, optimize=True)
    print(f"wrote {args.out}: {len(all_panels)} panels" + (f"; no data: {empty}" if empty else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
