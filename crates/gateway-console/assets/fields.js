// Labelled form fields registered under the name the admin API gives them (`param`,
// e.g. `policy.limits.rpm` or `base_url`), so that a 400 naming a field puts the
// server's message beside it. The policy editor and the provider form share it.

import { h } from "./dom.js";

/**
 * A set of fields whose element ids start with `scope`. Returns `{ field, alias,
 * register, has, input, hint, clear, showError, formError }`; `formError` is the element for a
 * message that names no field, to be put where the form wants it.
 */
export function fieldSet(scope) {
  const fields = new Map(); // param → { input, error, hint }
  const formError = h("p", { class: "error", role: "alert" });
  const id = (name) => `${scope}-${name.replace(/[^a-z0-9_]/gi, "-")}`;

  /** A labelled control with its hint and its error slot, registered under `param`. */
  function field(param, label, control, hint) {
    control.id = control.id || id(param);
    control.dataset.param = param;
    const error = h("p", { class: "field-error", id: control.id + "-error", role: "alert" });
    const hintEl = hint === null || hint === undefined ? null : h("p", { class: "hint", id: control.id + "-hint" }, hint);
    control.setAttribute("aria-describedby", [hintEl && hintEl.id, error.id].filter(Boolean).join(" "));
    fields.set(param, { input: control, error, hint: hintEl });
    return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl, error);
  }

  /** Makes `param` show its errors where the field `to` shows its own. */
  function alias(param, to) {
    fields.set(param, fields.get(to));
  }

  /** Registers a control laid out by the caller (its errors go above the form). */
  function register(param, control) {
    fields.set(param, { input: control, error: null, hint: null });
  }

  function clear() {
    formError.textContent = "";
    for (const f of fields.values()) {
      if (!f.error) continue;
      f.error.textContent = "";
      f.input.removeAttribute("aria-invalid");
    }
  }

  /** Shows `message` next to the field `param` names (or its nearest parent field). */
  function showError(param, message) {
    clear();
    let p = param || "";
    while (p && !fields.has(p)) {
      const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
      p = cut > 0 ? p.slice(0, cut) : "";
    }
    const f = p && fields.get(p);
    if (!f || !f.error || f.input.closest("[hidden]")) {
      formError.textContent = message;
      return;
    }
    f.error.textContent = message;
    f.input.setAttribute("aria-invalid", "true");
    f.input.focus();
  }

  return {
    field,
    alias,
    register,
    has: (param) => fields.has(param),
    input: (param) => fields.get(param).input,
    hint: (param) => (fields.get(param) || {}).hint || null,
    clear,
    showError,
    formError,
  };
}
