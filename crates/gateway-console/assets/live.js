// Live: figures per second, the requests in flight and the newest finished ones,
// pushed by the gateway (GET /admin/live, Server-Sent Events: a snapshot, then a
// tick each second). No polling: one EventSource, closed when the page is left.

import { api } from "./api.js";
import { barChart } from "./chart.js";
import { h, int, short, table, toast, usd } from "./dom.js";

/** The open feed, if any: one at a time, whatever the page does. */
let active = null;

function stop() {
  if (active) {
    active.close();
    active = null;
  }
}

// Leaving the page by its link closes the feed at once; any other way (logout,
// a re-render) closes it at the next event, when the page is no longer shown.
window.addEventListener("hashchange", () => {
  if (!location.hash.startsWith("#/live")) stop();
});

function clock(ms) {
  return new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function ms(v) {
  if (v === null || v === undefined) return "—";
  // Below 10 ms to the hundredth: a local upstream answers in a fraction of one.
  return (v < 10 ? v.toFixed(2) : int(v)) + " ms";
}

function figure(id, label) {
  const value = h("p", { class: "value", id }, "—");
  const detail = h("p", { class: "muted small" }, "");
  return { el: h("div", { class: "card stat" }, h("h3", {}, label), value, detail), value, detail };
}

/** Fills `main` with the live view and keeps it current until the page is left. */
export async function renderLive(main) {
  stop();
  const names = new Map();
  try {
    for (const k of (await api("GET", "/admin/keys")).data) names.set(k.id, k.name);
  } catch {
    // Ids stand in for names.
  }
  const keyName = (id) => (id ? names.get(id) || id : "—");

  const state = h("span", { class: "state", id: "live-state", role: "status" }, "Connecting…");
  const pause = h("button", { type: "button", class: "quiet", id: "live-pause", "aria-pressed": "false" }, "Pause");
  const requests = figure("live-requests", "Requests / s");
  const errors = figure("live-errors", "Errors / s");
  const tokens = figure("live-tokens", "Tokens / s");
  const cost = figure("live-cost", "Cost / s");
  const inFlight = figure("live-in-flight", "In flight");
  const latency = figure("live-latency", "Latency p50");
  const since = h("p", { class: "muted small", id: "live-since" }, "");
  const chartBox = h("div", {});
  // The tables are built once and their rows replaced: a table's horizontal scroll
  // (narrow screens) and the keyboard focus on a row's link survive each second.
  const runningBox = table("Oldest first",
    ["Started", "Key", "Model", "Operation", "Streaming", "Running for"], [], { id: "live-running" });
  const finishedBox = table("Newest first",
    ["Finished", "Key", "Model", "Provider", "Status", "Duration", "Tokens in / out", "Streamed"], [], { id: "live-finished" });
  const fillTable = (box, caption, rows) => {
    box.querySelector("caption").textContent = caption;
    box.querySelector("tbody").replaceChildren(...rows);
  };
  main.append(
    h("div", { class: "title" }, h("h1", {}, "Live"), h("div", { class: "row" }, state, pause)),
    h("div", { class: "stats" }, [requests, errors, tokens, cost, inFlight, latency].map((f) => f.el)),
    h("section", { class: "card" }, h("h2", {}, "Requests per second, last minute"), chartBox, since),
    h("section", { class: "card" }, h("h2", {}, "In flight"), runningBox),
    h("section", { class: "card" }, h("h2", {}, "Just finished"), finishedBox));
  const root = main.firstElementChild;

  // What the feed has said: seconds oldest first, finished rows newest first.
  let seconds = [];
  let finished = [];
  let running = [];
  let runningMore = 0;
  let limits = { finished_rows: 50, history_seconds: 60 };
  let recordingSince = null;
  let paused = false;

  const showFigures = () => {
    const f = seconds[seconds.length - 1];
    if (!f) return;
    requests.value.textContent = int(f.requests);
    requests.detail.textContent = "in the second to " + clock((f.t + 1) * 1000);
    errors.value.textContent = int(f.errors);
    errors.detail.textContent = f.requests ? Math.round(100 * f.errors / f.requests) + "% of requests" : "";
    tokens.value.textContent = short(f.input_tokens + f.output_tokens);
    tokens.detail.textContent = `${short(f.input_tokens)} in · ${short(f.output_tokens)} out`;
    cost.value.textContent = usd(f.cost_usd);
    cost.detail.textContent = "priced requests";
    inFlight.value.textContent = int(f.in_flight);
    inFlight.detail.textContent = "requests and open streams";
    latency.value.textContent = ms(f.p50_ms);
    latency.detail.textContent = "p95 " + ms(f.p95_ms) + " · successful";
  };

  const showChart = () => {
    // A full minute, the seconds not seen yet as empty, so the time axis stays put.
    const last = seconds.length ? seconds[seconds.length - 1].t : Math.floor(Date.now() / 1000) - 1;
    const byT = new Map(seconds.map((f) => [f.t, f]));
    const points = [];
    for (let t = last - limits.history_seconds + 1; t <= last; t++) {
      const f = byT.get(t) || { requests: 0, errors: 0 };
      points.push({
        label: t === last ? "now" : `−${last - t} s`,
        value: f.requests,
        title: `${clock(t * 1000)}: ${int(f.requests)} requests, ${int(f.errors)} errors`,
      });
    }
    const total = seconds.reduce((n, f) => n + f.requests, 0);
    chartBox.replaceChildren(barChart(points, `Requests per second over the last ${seconds.length} seconds: ${int(total)} in all`));
    since.textContent = recordingSince
      ? `Recording since ${clock(recordingSince)}: requests already running then are counted in flight but not listed.`
      : "";
  };

  const showRunning = () => {
    const now = Date.now();
    const rows = running.map((r) => h("tr", { "data-request-id": r.request_id },
      h("td", {}, clock(r.started_ms)),
      h("td", {}, keyName(r.key_id)),
      h("td", {}, r.model),
      h("td", {}, r.operation),
      h("td", {}, r.streamed ? "yes" : "no"),
      h("td", { class: "num" }, ms(Math.max(0, now - r.started_ms)))));
    if (rows.length === 0) rows.push(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "Nothing in flight.")));
    const caption = runningMore ? `Oldest first; ${int(runningMore)} more not listed` : "Oldest first";
    fillTable(runningBox, caption, rows);
  };

  const showFinished = () => {
    // A focused link keeps its place: the rows wait until the focus leaves them.
    if (finishedBox.contains(document.activeElement)) return;
    const rows = finished.map((r) => h("tr", { "data-request-id": r.request_id, class: r.status >= 400 || r.error ? "failed" : "" },
      h("td", {}, clock(r.started_ms + r.duration_ms)),
      h("td", {}, r.key_id ? h("a", { href: "#/logs?key=" + encodeURIComponent(r.key_id) }, keyName(r.key_id)) : "—"),
      h("td", {}, r.model || "—"),
      h("td", {}, r.provider || "—"),
      h("td", { class: "num" }, h("span", { class: "status s" + String(r.status)[0] }, r.status),
        r.error ? h("span", { class: "muted small" }, " " + r.error) : null),
      h("td", { class: "num" }, ms(r.duration_ms)),
      h("td", { class: "num" }, int(r.input_tokens) + " / " + int(r.output_tokens)),
      h("td", {}, r.streamed ? "yes" : "no")));
    if (rows.length === 0) rows.push(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No requests yet.")));
    fillTable(finishedBox, `Newest first, at most ${limits.finished_rows}`, rows);
  };

  const show = () => {
    if (paused) return;
    showFigures();
    showChart();
    showRunning();
    showFinished();
  };

  const setState = (text, kind) => {
    state.textContent = text;
    state.className = "state " + kind;
  };

  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume" : "Pause";
    if (paused) setState("Paused", "disabled");
    else {
      setState("Live", "active");
      show();
    }
  });

  const source = new EventSource("/admin/live");
  active = source;
  const shown = () => {
    if (root.isConnected && active === source) return true;
    if (active === source) stop();
    else source.close();
    return false;
  };
  source.addEventListener("open", () => {
    if (shown() && !paused) setState("Live", "active");
  });
  source.addEventListener("error", () => {
    if (!shown()) return;
    if (source.readyState === EventSource.CLOSED) {
      // Refused (the session ended) or the gateway is gone: a page reload retries.
      setState("Disconnected", "revoked");
      api("GET", "/admin/keys").catch(() => {});
    } else {
      setState("Reconnecting…", "expired");
    }
  });
  source.addEventListener("snapshot", (e) => {
    if (!shown()) return;
    const s = JSON.parse(e.data);
    limits = s.limits;
    recordingSince = s.recording_since_ms;
    seconds = s.seconds;
    finished = s.finished;
    running = s.in_flight;
    runningMore = s.in_flight_more;
    if (!paused) setState("Live", "active");
    show();
  });
  source.addEventListener("tick", (e) => {
    if (!shown()) return;
    const t = JSON.parse(e.data);
    seconds.push(t.figures);
    if (seconds.length > limits.history_seconds) seconds.splice(0, seconds.length - limits.history_seconds);
    finished = t.finished.concat(finished).slice(0, limits.finished_rows);
    running = t.in_flight;
    runningMore = t.in_flight_more;
    show();
  });
  source.addEventListener("lagged", (e) => {
    if (!shown()) return;
    toast(`This view fell behind and skipped ${JSON.parse(e.data).missed} seconds.`);
  });
  show();
}
