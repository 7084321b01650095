// Keys: the list with a filter, creating one (its secret shown once, with a copy
// button), disabling and enabling, rotating (a new secret, the old one kept for a
// grace period) and revoking, each change confirmed in place.

import { api } from "./api.js";
import { failure, h, table, toast, when } from "./dom.js";

const STATES = ["all", "active", "disabled", "expired", "revoked"];

/** The panel showing a new secret once. */
function secretPanel(title, key) {
  const value = h("input", {
    id: "new-secret", class: "mono", readonly: true, value: key.key, "aria-label": "The new key",
  });
  const copy = h("button", { type: "button", id: "copy-secret" }, "Copy");
  copy.addEventListener("click", async () => {
    value.select();
    try {
      await navigator.clipboard.writeText(key.key);
      toast("Copied.");
    } catch {
      toast("Select the key and copy it (the browser did not allow copying).");
    }
  });
  const done = h("button", { type: "button", class: "quiet" }, "Done");
  const panel = h("section", { class: "card notice", id: "secret-panel", role: "alert", tabindex: "-1" },
    h("h2", {}, title),
    h("p", {}, h("strong", {}, "Copy this key now: it is shown only once. "),
      "Only a hash is stored; if it is lost, rotate the key."),
    h("div", { class: "row" }, value, copy),
    done);
  done.addEventListener("click", () => panel.remove());
  return panel;
}

/** An action button that asks once more before acting. */
function confirming(label, confirmLabel, danger, act) {
  const wrap = h("span", { class: "confirm" });
  const button = h("button", { type: "button", class: danger ? "quiet danger" : "quiet", "data-action": label.toLowerCase() }, label);
  const yes = h("button", { type: "button", class: danger ? "danger" : "", "data-action": "confirm" }, confirmLabel);
  const no = h("button", { type: "button", class: "quiet" }, "Cancel");
  const ask = () => { wrap.replaceChildren(yes, no); yes.focus(); };
  const back = () => { wrap.replaceChildren(button); button.focus(); };
  button.addEventListener("click", ask);
  no.addEventListener("click", back);
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    try {
      await act();
    } catch (err) {
      toast(err.message);
      yes.disabled = false;
    }
  });
  wrap.append(button);
  return wrap;
}

/** Fills `main` with the key list; `params`: `q` (text filter), `state`. */
export async function renderKeys(main, params) {
  const filter = h("input", {
    id: "key-filter", type: "search", placeholder: "Name, id or prefix", value: params.get("q") || "",
    "aria-label": "Filter keys",
  });
  const state = h("select", { id: "key-state", "aria-label": "State" },
    STATES.map((s) => h("option", { value: s, selected: s === (params.get("state") || "all") }, s)));
  const name = h("input", { id: "new-key-name", required: true, maxlength: 100, placeholder: "e.g. ci-runner" });
  const create = h("form", { class: "row", id: "create-key", "aria-label": "Create a key" },
    h("label", { for: "new-key-name" }, "New key"), name,
    h("button", { type: "submit", id: "create" }, "Create"));
  const notices = h("div", { id: "notices" });
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  main.append(
    h("div", { class: "title" }, h("h1", {}, "Keys")),
    h("section", { class: "card" }, create),
    notices,
    h("div", { class: "row filters" }, filter, state),
    list);

  let keys = [];
  const reload = async () => {
    try {
      keys = (await api("GET", "/admin/keys")).data;
      draw();
    } catch (err) {
      list.replaceChildren(failure(err));
    }
  };
  const show = (title, key) => {
    const panel = secretPanel(title, key);
    notices.replaceChildren(panel);
    panel.focus();
  };

  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const s = state.value;
    const shown = keys.filter((k) => (s === "all" || k.state === s)
      && (!q || [k.name, k.id, k.prefix].some((v) => (v || "").toLowerCase().includes(q))));
    const rows = shown.map((k) => {
      const id = encodeURIComponent(k.id);
      const actions = h("td", { class: "actions" });
      if (k.state !== "revoked") {
        if (k.disabled) {
          actions.append(h("button", {
            type: "button", class: "quiet", "data-action": "enable",
            onclick: async () => { await api("POST", `/admin/keys/${id}/enable`); toast(`${k.name} enabled.`); reload(); },
          }, "Enable"));
        } else {
          actions.append(h("button", {
            type: "button", class: "quiet", "data-action": "disable",
            onclick: async () => { await api("POST", `/admin/keys/${id}/disable`); toast(`${k.name} disabled.`); reload(); },
          }, "Disable"));
        }
        actions.append(confirming("Rotate", "Rotate now (old secret stops)", false, async () => {
          const rotated = await api("POST", `/admin/keys/${id}/rotate`, { grace_secs: 0 });
          show(`New secret for ${k.name}`, rotated);
          reload();
        }));
        actions.append(confirming("Revoke", "Revoke for good", true, async () => {
          await api("POST", `/admin/keys/${id}/revoke`);
          toast(`${k.name} revoked.`);
          reload();
        }));
      }
      return h("tr", { "data-key": k.id },
        h("td", {}, h("a", { href: "#/logs?key=" + id, title: "Its requests" }, k.name)),
        h("td", { class: "mono" }, k.prefix),
        h("td", {}, h("span", { class: "state " + k.state }, k.state)),
        h("td", {}, when(k.created_ms)),
        actions);
    });
    if (rows.length === 0) {
      rows.push(h("tr", {}, h("td", { colspan: 5, class: "muted" },
        keys.length ? "No key matches the filter." : "No keys yet: create one above.")));
    }
    list.replaceChildren(table(`${shown.length} of ${keys.length} keys`,
      ["Name", "Prefix", "State", "Created", "Actions"], rows, { id: "keys-table" }));
  };

  filter.addEventListener("input", draw);
  state.addEventListener("change", draw);
  create.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const made = await api("POST", "/admin/keys", { name: name.value.trim() });
      name.value = "";
      show(`Key ${made.name} created`, made);
      await reload();
    } catch (err) {
      toast(err.message);
    }
  });
  await reload();
}
