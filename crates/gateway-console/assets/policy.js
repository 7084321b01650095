// The policy editor: every field of a key's policy (or a project's limits) as a form
// section, read back into the JSON the admin API takes. The server is the judge: the
// fields carry hints (units, what empty means), and a 400 naming a field (`param`,
// e.g. `policy.limits.rpm`) is shown next to that field.

import { h, int, table, usd, when } from "./dom.js";
import { fieldSet } from "./fields.js";

/** The limits of a policy: name, label, unit, hint. Empty means no limit; 0 allows nothing. */
export const LIMITS = [
  ["rpm", "Requests per minute", "requests"],
  ["rph", "Requests per hour", "requests"],
  ["rpd", "Requests per day (rolling)", "requests"],
  ["tpm", "Tokens per minute", "tokens"],
  ["daily_input_tokens", "Input tokens per UTC day", "tokens"],
  ["daily_output_tokens", "Output tokens per UTC day", "tokens"],
  ["monthly_input_tokens", "Input tokens per month", "tokens"],
  ["monthly_output_tokens", "Output tokens per month", "tokens"],
  ["daily_usd", "US dollars per UTC day", "usd"],
  ["monthly_usd", "US dollars per month", "usd"],
  ["total_usd", "US dollars in total", "usd"],
];
const GROUPS = [
  ["Rates", ["rpm", "rph", "rpd", "tpm"]],
  ["Token quotas", ["daily_input_tokens", "daily_output_tokens", "monthly_input_tokens", "monthly_output_tokens"]],
  ["Budgets", ["daily_usd", "monthly_usd", "total_usd"]],
];

/** A limit's amount in its unit. */
export function amount(unit, v) {
  if (v === null || v === undefined) return "—";
  return unit === "usd" ? usd(v) : int(v);
}

/**
 * A number field's text as JSON: empty is `undefined` (unset), a number is a number,
 * anything else is sent as typed, so that the server names the field.
 */
function numberOf(text) {
  const t = text.trim();
  if (t === "") return undefined;
  return /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t) ? Number(t) : t;
}

/** Lines (or commas) of a list field as an array of non-empty strings. */
function listOf(text) {
  return text.split(/[\n,]/).map((s) => s.trim()).filter((s) => s !== "");
}

/** Unix ms as the value of a `datetime-local` input (local time). */
function localInput(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

/**
 * A form section editing `policy` (a key's) or `limits` (a project's).
 * `opts.scope`: a prefix for element ids; `opts.limitsOnly`: a project's limits;
 * `opts.key`: the key's own fields too (name, project, expiry), with `opts.projects`
 * to choose from. Returns `{ element, value(), showError(param, message), clear(),
 * standing(rows) }`.
 */
export function policyEditor(opts) {
  const scope = opts.scope;
  const root = opts.limitsOnly ? "limits" : "policy.limits";
  const fields = fieldSet(scope);
  const field = fields.field;
  const text = (value, attrs) => h("input", Object.assign({ type: "text", value: value ?? "" }, attrs || {}));
  const area = (value, rows) => {
    const el = h("textarea", { rows: rows || 2 });
    el.value = value ?? "";
    return el;
  };

  const sections = [];
  const key = opts.key || null;
  const policy = opts.policy || {};
  const limits = (opts.limitsOnly ? opts.limits : policy.limits) || {};

  if (key) {
    const project = h("select", {},
      h("option", { value: "" }, "None"),
      (opts.projects || []).map((p) => h("option", { value: p.id, selected: p.id === key.project_id }, p.name)));
    sections.push(h("fieldset", {}, h("legend", {}, "Key"),
      h("div", { class: "grid" },
        opts.withName === false ? null : field("name", "Name", text(key.name, { maxlength: 64, required: true })),
        field("project", "Project", project, "Its keys share the project's limits too."),
        field("expires_ms", "Expires", h("input", { type: "datetime-local", value: localInput(key.expires_ms) }),
          "Empty: never. Local time."))));
  }
  if (!opts.limitsOnly) {
    sections.push(h("fieldset", {}, h("legend", {}, "Access"),
      h("div", { class: "grid" },
        field("policy.models", "Allowed models", area((policy.models || ["*"]).join("\n")),
          "Globs, one a line: gpt-*, claude-*. * allows every model."),
        field("policy.providers", "Allowed providers", area((policy.providers || ["*"]).join("\n")),
          "Provider names or globs, one a line; * for all."),
        field("policy.default_model", "Default model", text(policy.default_model),
          "Used when a request names none. Empty: none."))));
  }
  for (const [title, names] of GROUPS) {
    sections.push(h("fieldset", {}, h("legend", {}, title),
      h("p", { class: "hint" }, "Empty: no limit. 0 allows nothing."),
      h("div", { class: "grid" }, names.map((name) => {
        const [, label, unit] = LIMITS.find((l) => l[0] === name);
        const input = text(limits[name] ?? "", {
          inputmode: unit === "usd" ? "decimal" : "numeric", autocomplete: "off",
        });
        return field(`${root}.${name}`, label, input, unit === "usd" ? "In dollars, e.g. 5 or 0.25." : "");
      }))));
  }
  if (!opts.limitsOnly) {
    const mode = h("select", {},
      ["clamp", "reject"].map((m) => h("option", { value: m, selected: (policy.max_tokens_mode || "clamp") === m },
        m === "clamp" ? "Lower it to the limit" : "Refuse the request (400)")));
    const logBodies = h("input", { type: "checkbox", checked: !!policy.log_bodies });
    const cacheNow = policy.cache === true ? "on" : policy.cache === false ? "off" : "";
    const cache = h("select", {},
      [["", "As the route and [cache] say"], ["on", "On"], ["off", "Off"]].map(([v, label]) =>
        h("option", { value: v, selected: cacheNow === v }, label)));
    const meta = policy.metadata || {};
    sections.push(h("fieldset", {}, h("legend", {}, "Requests"),
      h("div", { class: "grid" },
        field("policy.max_tokens_per_request", "Max output tokens per request",
          text(policy.max_tokens_per_request ?? "", { inputmode: "numeric" }), "Empty: no cap. At least 1."),
        field("policy.max_tokens_mode", "Above the cap", mode),
        field("policy.system_prompt", "System prompt", area(policy.system_prompt, 3),
          "Put before the caller's own. Empty: none."),
        field("policy.cache", "Response cache", cache,
          "The same request answered again from the cache, at no cost."),
        h("div", { class: "field" },
          h("label", { class: "check" }, logBodies, "Log request and response bodies"),
          h("p", { class: "hint" }, "Stored in the request log; off by default.")))));
    fields.register("policy.log_bodies", logBodies);
    sections.push(h("fieldset", {}, h("legend", {}, "Owner"),
      h("div", { class: "grid" },
        field("policy.metadata.owner", "Owner", text(meta.owner), "The person or team responsible."),
        field("policy.metadata.tags", "Tags", text((meta.tags || []).join(", ")), "Comma separated."))));
  }
  const element = h("div", { class: "policy-editor", id: scope + "-editor" }, sections, fields.formError);

  const get = (param) => fields.input(param).value;
  const limitsValue = () => {
    const out = {};
    for (const [name] of LIMITS) {
      const v = numberOf(get(`${root}.${name}`));
      if (v !== undefined) out[name] = v;
    }
    return out;
  };

  /** The edited policy (or limits), as the API takes it; `extra`: the key's own fields. */
  function value() {
    if (opts.limitsOnly) return limitsValue();
    const out = Object.assign({}, policy, {
      models: listOf(get("policy.models")),
      providers: listOf(get("policy.providers")),
      limits: limitsValue(),
      max_tokens_mode: get("policy.max_tokens_mode"),
      log_bodies: fields.input("policy.log_bodies").checked,
      metadata: Object.assign({}, policy.metadata || {}, {
        owner: get("policy.metadata.owner").trim() || null,
        tags: listOf(get("policy.metadata.tags")),
      }),
    });
    const optional = (name, v) => { if (v === undefined || v === "") delete out[name]; else out[name] = v; };
    optional("default_model", get("policy.default_model").trim());
    optional("system_prompt", get("policy.system_prompt"));
    optional("max_tokens_per_request", numberOf(get("policy.max_tokens_per_request")));
    const cached = get("policy.cache");
    if (cached === "") delete out.cache; else out.cache = cached === "on";
    return out;
  }

  /** The key's own fields: name, project (null: none), expiry (null: never). */
  function keyFields() {
    const out = {};
    if (fields.has("name")) out.name = get("name").trim();
    out.project = get("project") || null;
    const exp = get("expires_ms");
    out.expires_ms = exp ? new Date(exp).getTime() : null;
    return out;
  }

  /** Notes beside each limit what its window has used and has left (`GET …/limits` rows). */
  function standing(rows) {
    for (const r of rows) {
      const hint = fields.hint(`${root}.${r.name}`);
      if (!hint) continue;
      hint.textContent = r.limit === null
        ? `Used ${amount(r.unit, r.used)} so far`
        : `Used ${amount(r.unit, r.used)}, ${amount(r.unit, r.remaining)} left`;
    }
  }

  return { element, value, keyFields, showError: fields.showError, clear: fields.clear, standing };
}

/** The limits' standing (`GET …/limits` rows) as a table: used, limit and what is left. */
export function standingTable(rows, id) {
  const label = (name) => (LIMITS.find((l) => l[0] === name) || [name, name])[1];
  // A key's page lists its project's limits after its own: those say so.
  const mixed = rows.some((r) => r.scope === "key") && rows.some((r) => r.scope === "project");
  const body = rows.map((r) => {
    const share = r.limit ? Math.min(1, r.used / r.limit) : 0;
    return h("tr", { "data-limit": `${r.scope}.${r.name}`, class: r.remaining === 0 ? "failed" : "" },
      h("td", {}, mixed && r.scope === "project" ? "Project: " + label(r.name) : label(r.name)),
      h("td", { class: "num used" }, amount(r.unit, r.used)),
      h("td", { class: "num" }, r.limit === null ? "no limit" : amount(r.unit, r.limit)),
      h("td", { class: "num remaining" }, r.remaining === null ? "—" : amount(r.unit, r.remaining)),
      h("td", {}, r.limit === null ? "" : h("meter", { min: 0, max: 1, value: share, "aria-label": "Share used" })),
      h("td", {}, r.resets_ms === null ? "never" : when(r.resets_ms)));
  });
  if (body.length === 0) body.push(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "Nothing counted yet.")));
  return table("Used in the current window (in-flight requests at their estimate)",
    ["What", "Used", "Limit", "Left", "Share", "Resets"], body, { id, class: "compact" });
}
