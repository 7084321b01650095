// Routes: the effective routing table from the config file (each public name or
// glob, its targets in order with the catalogue's facts and cool-downs, fallbacks,
// aliases), and "try it": which route a model name matches, why, and the targets a
// request would try (#/routes?model=...&key=... runs it).

import { api, query } from "./api.js";
import { failure, h, int, table } from "./dom.js";

/** `n thing` or `n things`. */
function count(n, thing) {
  const many = thing.endsWith("y") ? thing.slice(0, -1) + "ies" : thing + "s";
  return `${n} ${n === 1 ? thing : many}`;
}

/** Text with its `quoted` parts as code. */
function prose(text) {
  return text.split("`").map((part, i) => (i % 2 ? h("code", {}, part) : part));
}

const STATES = { try: "tried", cooling: "cooling down", skipped: "passed over", not_allowed: "not allowed" };

/** "$3 / $15 per Mtok", or null when the catalogue has no prices. */
function prices(c) {
  if (!c || c.input_usd_per_mtok === null || c.output_usd_per_mtok === null) return null;
  return `$${c.input_usd_per_mtok} / $${c.output_usd_per_mtok} per Mtok`;
}

/** One target of a route: provider/model, then what is known of it. */
function target(t) {
  const model = t.upstream_model === null ? h("em", {}, "the requested name") : t.upstream_model;
  const facts = [];
  if (t.weight !== undefined) facts.push("weight " + t.weight);
  if (t.catalog && t.catalog.context_window) facts.push(int(t.catalog.context_window) + " tokens");
  const price = prices(t.catalog);
  if (price) facts.push(price);
  return h("li", { class: "target" },
    h("span", { class: "mono" }, t.provider, " / ", model),
    facts.length ? h("span", { class: "muted small" }, " · " + facts.join(" · ")) : null,
    t.provider_configured ? null : h("span", { class: "state revoked" }, "provider not configured"),
    t.cooling_ms ? h("span", { class: "state disabled" }, `cooling ${Math.ceil(t.cooling_ms / 1000)} s`) : null);
}

function routeRow(r, tryName) {
  const fallbacks = r.fallbacks.map((f) => (f.name !== undefined
    ? h("li", { class: "mono" }, f.name, f.is_route ? " (route)" : "")
    : target(f)));
  return h("tr", { "data-route": r.name },
    h("td", {},
      h("div", { class: "mono" }, r.model),
      h("span", { class: "state " + (r.kind === "exact" ? "active" : "disabled") }, r.kind),
      r.name !== r.model ? h("div", { class: "muted small" }, "name: " + r.name) : null),
    h("td", {}, r.aliases.length ? r.aliases.join(", ") : "—"),
    h("td", {}, h("div", { class: "muted small" }, r.strategy), h("ol", { class: "targets" }, r.targets.map(target))),
    h("td", {}, fallbacks.length ? h("ol", { class: "targets" }, fallbacks) : "—"),
    h("td", {}, String(r.retries)),
    h("td", {}, (r.timeout_ms / 1000) + " s"),
    h("td", {}, r.kind === "exact"
      ? h("button", { type: "button", class: "quiet", "data-action": "try", "aria-label": "Try " + r.model,
        onclick: () => tryName(r.model) }, "Try")
      : null));
}

/** The answer of "try it", readably. */
function answer(v) {
  const out = [];
  if (v.error) {
    out.push(h("p", { class: "error", role: "alert", id: "try-error" },
      `A caller gets ${v.error.status}: ${v.error.message}`));
  } else {
    const how = { exact: "its exact name", route_alias: "a route alias", provider: "provider/model",
      glob: "glob " + (v.matched && v.matched.pattern), default: "the default route", auto: "the auto model" };
    out.push(h("p", { id: "try-route" }, h("strong", { class: "mono" }, v.model), " → route ",
      h("strong", { class: "mono" }, v.route), v.matched ? ` (by ${how[v.matched.how] || v.matched.how})` : "",
      `; ${count(v.retries, "retry")} per target, ${v.timeout_ms / 1000} s per try.`));
  }
  if (v.key_note) out.push(h("p", { class: "error" }, v.key_note));
  out.push(h("ul", { class: "why", id: "try-why" }, v.why.map((s) => h("li", {}, prose(s)))));
  if (v.plan.length) {
    const rows = v.plan.map((t) => h("tr", { "data-state": t.state },
      h("td", { class: "num" }, t.order === null ? "—" : String(t.order)),
      h("td", { class: "mono" }, t.provider + " / " + t.upstream_model),
      h("td", {}, h("span", { class: "state " + (t.state === "try" ? "active" : t.state === "cooling" ? "disabled" : "revoked") },
        STATES[t.state] || t.state)),
      h("td", { class: "wrap" }, prose(t.reason))));
    out.push(table(v.weighted ? "The order is drawn per request by weight: this is one draw." : "Targets in the order a chat request tries them.",
      ["#", "Target", "State", "Why"], rows, { id: "try-plan", class: "compact" }));
  }
  out.push(h("p", { class: "muted small" }, "Assumes " + v.assumes + "."));
  return out;
}

/** Fills `main` with the routing table and the "try it" box. */
export async function renderRoutes(main, params) {
  const model = h("input", { id: "try-model", name: "model", required: true, value: params.get("model") || "",
    placeholder: "e.g. claude-opus-4-8", autocomplete: "off" });
  const key = h("select", { id: "try-key", name: "key" }, h("option", { value: "" }, "No key (no policy)"));
  const form = h("form", { class: "row filters", id: "try-form", "aria-label": "Try a model name" },
    h("label", { for: "try-model" }, "Model name"), model,
    h("label", { for: "try-key" }, "As key"), key,
    h("button", { type: "submit", id: "try" }, "Resolve"));
  const result = h("div", { id: "try-result", "aria-live": "polite" });
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  main.append(
    h("div", { class: "title" }, h("h1", {}, "Routes")),
    h("section", { class: "card" }, h("h2", {}, "Try it"),
      h("p", { class: "muted small" }, "Which route a model name matches, why, and the targets a request would try now."),
      form, result),
    list);

  const run = async () => {
    const name = model.value.trim();
    if (!name) return;
    result.replaceChildren(h("p", { class: "muted" }, "Resolving…"));
    try {
      const v = await api("GET", "/admin/routing/resolve" + query({ model: name, key: key.value }));
      result.replaceChildren(...answer(v));
    } catch (err) {
      result.replaceChildren(failure(err));
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = query({ model: model.value.trim(), key: key.value });
    // The same query again would not change the hash: run it in place.
    if (location.hash === "#/routes" + q) run();
    else location.hash = "#/routes" + q;
  });
  const tryName = (name) => {
    model.value = name;
    form.requestSubmit();
  };

  try {
    const [t, keys] = await Promise.all([
      api("GET", "/admin/routing"),
      api("GET", "/admin/keys").catch(() => ({ data: [] })),
    ]);
    for (const k of keys.data.filter((k) => k.state === "active")) {
      key.append(h("option", { value: k.id, selected: k.id === params.get("key") }, k.name));
    }
    const sections = [
      table(`${count(t.routes.length, "route")}, looked up as: ${t.precedence}`,
        ["Model or glob", "Aliases", "Targets in order", "Fallbacks", "Retries", "Timeout", ""],
        t.routes.map((r) => routeRow(r, tryName)), { id: "routes-table" }),
    ];
    if (t.aliases.length) {
      sections.push(table("[aliases]: a name resolved as another", ["Name", "Stands for"],
        t.aliases.map((a) => h("tr", {}, h("td", { class: "mono" }, a.from), h("td", { class: "mono" }, a.to))),
        { id: "aliases-table" }));
    }
    if (t.auto) {
      sections.push(h("p", { class: "muted" }, `The model ${t.auto.model} chooses by ${t.auto.rules.length} rules`,
        t.auto.otherwise ? `, otherwise ${t.auto.otherwise}` : "", t.auto.cheapest ? ", else the cheapest target that fits" : "", "."));
    }
    sections.push(h("p", { class: "muted small", id: "providers" }, "Configured providers: " + (t.providers.join(", ") || "none") + "."));
    sections.push(t.cooling.length
      ? table("Cooling down now: tried after the others until then", ["Target", "For", "Failures in a row"],
        t.cooling.map((c) => h("tr", {}, h("td", { class: "mono" }, c.provider + " / " + c.upstream_model),
          h("td", {}, Math.ceil(c.remaining_ms / 1000) + " s"), h("td", { class: "num" }, String(c.failures)))),
        { id: "cooling-table" })
      : h("p", { class: "muted small", id: "cooling" }, "No target is cooling down."));
    list.replaceChildren(h("div", { class: "stack" }, sections));
  } catch (err) {
    list.replaceChildren(failure(err));
  }
  if (model.value) await run();
}
