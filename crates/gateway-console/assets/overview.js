// Overview: requests, tokens, cost, error rate and latency (p50 and p95 of the
// whole request and of the first token, from the request log) over the last hour,
// day or 30 days, requests per hour (or day) as a chart, and the top keys, models and
// providers: one request (GET /admin/overview, from the usage rollups).

import { api, query } from "./api.js";
import { barChart, shareBar } from "./chart.js";
import { failure, h, int, pct, short, table, usd } from "./dom.js";

const HOUR = 3600 * 1000;
const PERIODS = {
  hour: { label: "Last hour", span: HOUR, bucket: "hour" },
  day: { label: "Last day", span: 24 * HOUR, bucket: "hour" },
  month: { label: "Last 30 days", span: 30 * 24 * HOUR, bucket: "day" },
};

function card(label, value, detail) {
  return h("div", { class: "card stat" },
    h("h3", {}, label),
    h("p", { class: "value" }, value),
    detail ? h("p", { class: "muted small" }, detail) : null);
}

/** A latency card: the median, with the 95th percentile and the sample count. */
function latencyCard(label, l, what) {
  const ms = (v) => (v === null ? "—" : int(v) + " ms");
  return card(label, ms(l.p50_ms),
    l.samples ? `p95 ${ms(l.p95_ms)} · ${int(l.samples)} ${what}` : `no ${what}`);
}

function top(title, groups) {
  const shown = groups;
  const max = Math.max(0, ...shown.map((g) => g.requests));
  const rows = shown.map((g) => h("tr", {},
    h("td", {}, g.name || g.group || "—"),
    h("td", { class: "num" }, int(g.requests)),
    h("td", { class: "num" }, short(g.input_tokens + g.output_tokens)),
    h("td", { class: "num" }, usd(g.cost_usd)),
    h("td", { class: "wide" }, shareBar(g.requests, max))));
  if (rows.length === 0) rows.push(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No requests")));
  return h("section", { class: "card" },
    h("h2", {}, title),
    table(null, ["Name", "Requests", "Tokens", "Cost", ""], rows, { class: "compact" }));
}

function pointLabel(ms, bucket) {
  const d = new Date(ms);
  return bucket === "day"
    ? d.toLocaleDateString(undefined, { month: "short", day: "numeric" })
    : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/** Fills `main` with the overview for the period in `params` (`?period=day`). */
export async function renderOverview(main, params) {
  const period = PERIODS[params.get("period")] ? params.get("period") : "day";
  const p = PERIODS[period];
  const from = Date.now() - p.span;
  const switcher = h("div", { class: "segmented", role: "group", "aria-label": "Period" },
    Object.entries(PERIODS).map(([name, def]) => h("a", {
      href: "#/overview?period=" + name, class: "button quiet",
      "aria-pressed": name === period ? "true" : "false",
    }, def.label)));
  main.append(h("div", { class: "title" }, h("h1", {}, "Overview"), switcher));
  const body = h("div", { class: "stack" }, h("p", { class: "muted" }, "Loading…"));
  main.append(body);
  let data;
  try {
    data = await api("GET", "/admin/overview" + query({ from, bucket: p.bucket }));
  } catch (err) {
    body.replaceChildren(failure(err));
    return;
  }
  const t = data.totals;
  // Every bucket of the period, the empty ones too, so the time axis is even.
  const size = data.bucket === "day" ? 24 * HOUR : HOUR;
  const byBucket = new Map(data.points.map((pt) => [pt.bucket_ms, pt]));
  const slots = [];
  for (let ms = Math.floor(from / size) * size; ms <= Date.now(); ms += size) {
    slots.push(byBucket.get(ms) || {
      bucket_ms: ms, requests: 0, errors: 0, cost_usd: 0,
    });
  }
  const points = slots.map((pt) => ({
    label: pointLabel(pt.bucket_ms, data.bucket),
    value: pt.requests,
    title: `${pointLabel(pt.bucket_ms, data.bucket)}: ${int(pt.requests)} requests, ${int(pt.errors)} errors, ${usd(pt.cost_usd)}`,
  }));
  body.replaceChildren(
    h("div", { class: "stats" },
      card("Requests", int(t.requests), p.label.toLowerCase()),
      card("Tokens", short(t.input_tokens + t.output_tokens),
        `${short(t.input_tokens)} in · ${short(t.output_tokens)} out`),
      card("Cost", usd(t.cost_usd), t.unpriced_requests ? `${int(t.unpriced_requests)} unpriced` : null),
      card("Error rate", pct(t.errors, t.requests), `${int(t.errors)} errors`),
      latencyCard("Latency p50", data.latency.total, "successful requests"),
      latencyCard("First token p50", data.latency.first_token, "streamed requests")),
    h("section", { class: "card" },
      h("h2", {}, data.bucket === "day" ? "Requests per day" : "Requests per hour"),
      barChart(points, `Requests per ${data.bucket}, ${p.label.toLowerCase()}: ${int(t.requests)} in all`)),
    h("div", { class: "tops" },
      top("Top keys", data.top.keys),
      top("Top models", data.top.models),
      top("Top providers", data.top.providers)));
}
