// Usage: totals per key, project, model, provider or UTC day over a date range (the
// choices live in the URL: #/usage?group_by=model&from=2025-01-01&to=2025-01-31),
// one request (GET /admin/usage), and the same table as a CSV download
// (GET /admin/usage/export.csv with the same parameters).

import { api, query } from "./api.js";
import { failure, h, int, table, usd } from "./dom.js";

const DAY = 24 * 3600 * 1000;
const GROUPS = {
  key: "Key", project: "Project", model: "Model", provider: "Provider", day: "Day",
};
/** Groups whose rows have a name beside their id. */
const NAMED = new Set(["key", "project"]);

/** A UTC date (YYYY-MM-DD) of Unix ms. */
function isoDate(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

/** A YYYY-MM-DD date or null. */
function validDate(s) {
  return /^\d{4}-\d{2}-\d{2}$/.test(s || "") && !Number.isNaN(Date.parse(s + "T00:00:00Z")) ? s : null;
}

/** Fills `main` with the usage table for the grouping and range in `params`. */
export async function renderUsage(main, params) {
  const groupBy = GROUPS[params.get("group_by")] ? params.get("group_by") : "key";
  const today = isoDate(Date.now());
  const from = validDate(params.get("from")) || isoDate(Date.now() - 29 * DAY);
  const to = validDate(params.get("to")) || today;
  const link = (g) => "#/usage" + query({ group_by: g, from, to });
  const switcher = h("div", { class: "segmented", role: "group", "aria-label": "Group by", id: "usage-groups" },
    Object.entries(GROUPS).map(([name, label]) => h("a", {
      href: link(name), class: "button quiet", "data-group": name,
      "aria-pressed": name === groupBy ? "true" : "false",
    }, label)));
  const dateInput = (id, label, value) =>
    [h("label", { for: id }, label), h("input", { id, name: id, type: "date", value, max: today, required: true })];
  const [fromLabel, fromInput] = dateInput("usage-from", "From", from);
  const [toLabel, toInput] = dateInput("usage-to", "To", to);
  const form = h("form", { class: "row filters", id: "usage-range", "aria-label": "Date range (UTC days)" },
    fromLabel, fromInput, toLabel, toInput, h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = "#/usage" + query({ group_by: groupBy, from: fromInput.value, to: toInput.value });
  });
  // Whole UTC days, `to` included (the API's `to` is exclusive).
  const range = {
    group_by: groupBy,
    from: from + "T00:00:00Z",
    to: isoDate(Date.parse(to + "T00:00:00Z") + DAY) + "T00:00:00Z",
  };
  const csv = h("a", {
    class: "button", id: "usage-csv", href: "/admin/usage/export.csv" + query(range), download: "",
  }, "Download CSV");
  main.append(h("div", { class: "title" }, h("h1", {}, "Usage"), csv), switcher, form);
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  main.append(body);
  let data;
  try {
    data = await api("GET", "/admin/usage" + query(range));
  } catch (err) {
    body.replaceChildren(failure(err));
    return;
  }
  const named = NAMED.has(groupBy);
  const rows = data.groups.map((g) => h("tr", {},
    h("td", { class: named || groupBy === "day" ? "mono" : "" }, g.group || "—"),
    named ? h("td", {}, g.name || "—") : null,
    h("td", { class: "num" }, int(g.requests)),
    h("td", { class: "num" }, int(g.input_tokens)),
    h("td", { class: "num" }, int(g.output_tokens)),
    h("td", { class: "num" }, usd(g.cost_usd)),
    h("td", { class: "num" }, int(g.errors))));
  const columns = [GROUPS[groupBy]].concat(named ? ["Name"] : [],
    ["Requests", "Input tokens", "Output tokens", "Cost", "Errors"]);
  if (rows.length === 0) {
    rows.push(h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, "No requests in this range.")));
  }
  const t = data.totals;
  body.replaceChildren(
    h("p", { class: "muted small", id: "usage-summary" },
      `${from} to ${to} (UTC days): ${int(t.requests)} requests, ${int(t.input_tokens)} tokens in, ` +
        `${int(t.output_tokens)} out, ${usd(t.cost_usd)}, ${int(t.errors)} errors.`),
    table(`Usage by ${GROUPS[groupBy].toLowerCase()}, largest cost first`, columns, rows, { id: "usage-table" }));
}
