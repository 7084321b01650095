// Keys: the list with a filter, creating one (its secret shown once, with a copy
// button; optionally with a policy, project and expiry from the policy editor),
// disabling and enabling and revoking in place. `#/keys?id=<id>` is one key's page
// (key.js): its policy, its remaining amounts, rotation with a grace period.

import { api } from "./api.js";
import { failure, h, table, toast, when } from "./dom.js";
import { renderKey } from "./key.js";
import { policyEditor } from "./policy.js";
import { confirming, secretPanel } from "./widgets.js";

const STATES = ["all", "active", "disabled", "expired", "revoked"];

/** The create form: a name, and in a disclosure the policy editor. */
function createForm(projects, created) {
  const name = h("input", { id: "new-key-name", required: true, maxlength: 64, placeholder: "e.g. ci-runner" });
  const editor = policyEditor({ scope: "new", key: { name: "", project_id: null }, projects, withName: false });
  const more = h("details", { id: "new-key-policy" },
    h("summary", {}, "Policy, project and expiry"),
    h("p", { class: "hint" }, "Left closed, the key gets the server's default policy."),
    editor.element);
  const error = h("p", { class: "field-error", id: "new-key-name-error", role: "alert" });
  const form = h("form", { id: "create-key", "aria-label": "Create a key", novalidate: true },
    h("div", { class: "row" },
      h("label", { for: "new-key-name" }, "New key"), name,
      h("button", { type: "submit", id: "create" }, "Create")),
    error, more);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    editor.clear();
    error.textContent = "";
    const body = { name: name.value.trim() };
    if (more.open) {
      Object.assign(body, editor.keyFields(), { policy: editor.value() });
      if (body.expires_ms === null) delete body.expires_ms;
    }
    try {
      const made = await api("POST", "/admin/keys", body);
      name.value = "";
      more.open = false;
      created(made);
    } catch (err) {
      if (err.param === "name" || !err.param) {
        error.textContent = err.message;
        name.focus();
      } else {
        more.open = true;
        editor.showError(err.param, err.message);
      }
    }
  });
  return form;
}

/** Fills `main` with the key list (`params`: `q` text filter, `state`), or one key (`id`). */
export async function renderKeys(main, params) {
  if (params.get("id")) return renderKey(main, params.get("id"));
  const filter = h("input", {
    id: "key-filter", type: "search", placeholder: "Name, id or prefix", value: params.get("q") || "",
    "aria-label": "Filter keys",
  });
  const state = h("select", { id: "key-state", "aria-label": "State" },
    STATES.map((s) => h("option", { value: s, selected: s === (params.get("state") || "all") }, s)));
  const notices = h("div", { id: "notices" });
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const formBox = h("section", { class: "card" });
  main.append(
    h("div", { class: "title" }, h("h1", {}, "Keys")),
    formBox,
    notices,
    h("div", { class: "row filters" }, filter, state),
    list);

  let keys = [];
  let projects = [];
  const reload = async () => {
    try {
      [keys, projects] = await Promise.all([
        api("GET", "/admin/keys").then((r) => r.data),
        api("GET", "/admin/projects").then((r) => r.data),
      ]);
      draw();
    } catch (err) {
      list.replaceChildren(failure(err));
    }
  };
  const show = (title, key) => {
    const panel = secretPanel(title, key);
    panel.append(h("p", {}, h("a", { href: "#/keys?id=" + encodeURIComponent(key.id) }, "Open the key's page")));
    notices.replaceChildren(panel);
    panel.focus();
  };

  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const s = state.value;
    const projectName = new Map(projects.map((p) => [p.id, p.name]));
    const shown = keys.filter((k) => (s === "all" || k.state === s)
      && (!q || [k.name, k.id, k.prefix].some((v) => (v || "").toLowerCase().includes(q))));
    const rows = shown.map((k) => {
      const id = encodeURIComponent(k.id);
      const actions = h("td", { class: "actions" });
      if (k.state !== "revoked") {
        const toggle = k.disabled ? "enable" : "disable";
        actions.append(h("button", {
          type: "button", class: "quiet", "data-action": toggle,
          onclick: async () => {
            try {
              await api("POST", `/admin/keys/${id}/${toggle}`);
              toast(`${k.name} ${toggle}d.`);
            } catch (err) {
              toast(err.message);
            }
            reload();
          },
        }, k.disabled ? "Enable" : "Disable"));
        actions.append(confirming("Revoke", "Revoke for good", true, async () => {
          await api("POST", `/admin/keys/${id}/revoke`);
          toast(`${k.name} revoked.`);
          reload();
        }));
      }
      return h("tr", { "data-key": k.id },
        h("td", {}, h("a", { href: "#/keys?id=" + id, title: "Its policy and limits" }, k.name)),
        h("td", { class: "mono" }, k.prefix),
        h("td", {}, h("span", { class: "state " + k.state }, k.state)),
        h("td", {}, k.project_id
          ? h("a", { href: "#/projects?id=" + encodeURIComponent(k.project_id) }, projectName.get(k.project_id) || k.project_id)
          : "—"),
        h("td", {}, when(k.created_ms)),
        actions);
    });
    if (rows.length === 0) {
      rows.push(h("tr", {}, h("td", { colspan: 6, class: "muted" },
        keys.length ? "No key matches the filter." : "No keys yet: create one above.")));
    }
    list.replaceChildren(table(`${shown.length} of ${keys.length} keys`,
      ["Name", "Prefix", "State", "Project", "Created", "Actions"], rows, { id: "keys-table" }));
  };

  filter.addEventListener("input", draw);
  state.addEventListener("change", draw);
  await reload();
  formBox.replaceChildren(createForm(projects, async (made) => {
    show(`Key ${made.name} created`, made);
    await reload();
  }));
}
