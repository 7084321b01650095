// Logs: the request log, newest first, filtered by key, model, status and time (the
// filters live in the URL: #/logs?key=...&model=...&status=...&from=<ms>&to=<ms>), a page at a time,
// and each request's details (bodies where its key logs them).

import { api, query } from "./api.js";
import { failure, h, int, table, usd, when } from "./dom.js";

const FIELDS = [
  ["Request id", "request_id"], ["Time", "ts_ms", when], ["Key", "key_id"], ["Project", "project_id"],
  ["Requested model", "requested_model"], ["Routed model", "routed_model"], ["Provider", "provider"],
  ["Caller shape", "caller_shape"], ["Upstream shape", "upstream_shape"], ["Status", "status"],
  ["Error", "error_kind"], ["Streamed", "streamed", (v) => (v ? "yes" : "no")],
  ["Input tokens", "input_tokens", int], ["Output tokens", "output_tokens", int],
  ["Cached tokens", "cached_tokens", int], ["Reasoning tokens", "reasoning_tokens", int],
  ["Cost", "cost_usd", (v) => (v === null ? "unpriced" : usd(v))],
  ["First byte", "ttfb_ms", (v) => (v === null ? "—" : v + " ms")],
  ["Total", "total_ms", (v) => (v === null ? "—" : v + " ms")],
];

function detail(entry, close) {
  const dl = h("dl", { class: "fields" });
  for (const [label, field, format] of FIELDS) {
    const v = entry[field];
    dl.append(h("dt", {}, label), h("dd", {}, v === null || v === undefined ? "—" : format ? format(v) : String(v)));
  }
  const body = (title, text) => h("section", {}, h("h3", {}, title),
    text ? h("pre", { class: "body" }, text) : h("p", { class: "muted small" }, "Not logged (the key does not log bodies)."));
  const closer = h("button", { type: "button", class: "quiet", onclick: close }, "Close");
  return h("section", { class: "card detail", id: "log-detail", tabindex: "-1", "aria-label": "Request details" },
    h("div", { class: "title" }, h("h2", {}, "Request " + entry.id), closer),
    dl, body("Request body", entry.request_body), body("Response body", entry.response_body));
}

/** Unix ms as a `datetime-local` value (the browser's local time), or "". */
function localInput(ms) {
  const n = Number(ms);
  if (!ms || !Number.isFinite(n)) return "";
  const d = new Date(n - new Date(n).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

/** A `datetime-local` value (local time) as Unix ms, or "" when empty or invalid. */
function inputMs(value) {
  const ms = value ? new Date(value).getTime() : NaN;
  return Number.isFinite(ms) ? String(ms) : "";
}

/** Fills `main` with the request log for the filters in `params`. */
export async function renderLogs(main, params) {
  const input = (id, label, attrs) => {
    const el = h("input", Object.assign({ id, name: id, value: params.get(id) || "" }, attrs));
    return [h("label", { for: id }, label), el];
  };
  const [keyLabel, key] = input("key", "Key id");
  const [modelLabel, model] = input("model", "Model");
  const [statusLabel, status] = input("status", "Status", { inputmode: "numeric", pattern: "[1-5][0-9][0-9]", size: 4 });
  const errors = h("input", { id: "errors", type: "checkbox", checked: params.get("errors") === "true" });
  const when_ = (id, label) => {
    const el = h("input", { id, name: id, type: "datetime-local", value: localInput(params.get(id)) });
    return [h("label", { for: id }, label), el];
  };
  const [fromLabel, from] = when_("from", "From");
  const [toLabel, to] = when_("to", "To");
  const form = h("form", { class: "row filters", id: "log-filters", "aria-label": "Filters" },
    keyLabel, key, modelLabel, model, statusLabel, status, fromLabel, from, toLabel, to,
    h("label", { class: "check" }, errors, "Errors only"),
    h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = "#/logs" + query({
      key: key.value.trim(), model: model.value.trim(), status: status.value.trim(), errors: errors.checked,
      from: inputMs(from.value), to: inputMs(to.value),
    });
  });
  const detailBox = h("div", {});
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const more = h("button", { type: "button", class: "quiet", id: "older", hidden: true }, "Older");
  main.append(h("div", { class: "title" }, h("h1", {}, "Logs")), form, detailBox, list, more);

  const filters = {
    key: params.get("key"), model: params.get("model"), status: params.get("status"),
    errors: params.get("errors") === "true", from: params.get("from"), to: params.get("to"),
  };
  const rows = [];
  let next = null;
  const open = (entry, opener) => {
    const close = () => { detailBox.replaceChildren(); opener.focus(); };
    const panel = detail(entry, close);
    detailBox.replaceChildren(panel);
    panel.focus();
  };
  const load = async () => {
    let page;
    try {
      page = await api("GET", "/admin/logs" + query(Object.assign({ limit: 50, before: next }, filters)));
    } catch (err) {
      list.replaceChildren(failure(err));
      return;
    }
    for (const e of page.data) {
      const button = h("button", { type: "button", class: "link", "data-log": e.id }, when(e.ts_ms));
      button.addEventListener("click", () => open(e, button));
      rows.push(h("tr", { class: e.status >= 400 ? "failed" : "" },
        h("td", {}, button),
        h("td", { class: "mono" }, e.key_id || "—"),
        h("td", {}, e.requested_model || "—",
          e.routed_model && e.routed_model !== e.requested_model ? h("span", { class: "muted" }, " → " + e.routed_model) : null),
        h("td", {}, e.provider || "—"),
        h("td", { class: "num" }, h("span", { class: "status s" + String(e.status)[0] }, e.status)),
        h("td", { class: "num" }, int(e.input_tokens) + " / " + int(e.output_tokens)),
        h("td", { class: "num" }, e.cost_usd === null ? "—" : usd(e.cost_usd)),
        h("td", { class: "num" }, e.total_ms === null ? "—" : e.total_ms + " ms")));
    }
    next = page.next;
    more.hidden = next === null;
    const shown = rows.length ? rows
      : [h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No requests match."))];
    list.replaceChildren(table(`${rows.length} requests, newest first`,
      ["Time", "Key", "Model", "Provider", "Status", "Tokens in / out", "Cost", "Latency"], shown, { id: "logs-table" }));
  };
  more.addEventListener("click", load);
  await load();
}
