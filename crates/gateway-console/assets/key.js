// One key's page (#/keys?id=<id>): what it is, its policy in the policy editor
// (saved whole with PATCH /admin/keys/{id}), where its limits and its project's stand
// (GET /admin/keys/{id}?include=limits), rotation with a grace period for the old secret,
// disable or enable, revoke.

import { api } from "./api.js";
import { failure, h, toast, when } from "./dom.js";
import { policyEditor, standingTable } from "./policy.js";
import { confirming, secretPanel } from "./widgets.js";

const HOUR = 3600;
const GRACES = [["0", "None: the old secret stops now"], [String(HOUR), "1 hour"], [String(24 * HOUR), "24 hours"], ["custom", "Custom…"]];

/** The rotate form: the grace choice, then a confirmation in place. */
function rotateForm(key, rotated) {
  const grace = h("select", { id: "rotate-grace" },
    GRACES.map(([v, label]) => h("option", { value: v }, label)));
  const hours = h("input", { id: "rotate-hours", type: "text", inputmode: "decimal", size: 6, hidden: true, "aria-label": "Grace in hours" });
  const unit = h("span", { class: "muted", hidden: true }, "hours");
  grace.addEventListener("change", () => {
    hours.hidden = unit.hidden = grace.value !== "custom";
    if (!hours.hidden) hours.focus();
  });
  const error = h("p", { class: "field-error", id: "rotate-error", role: "alert" });
  const seconds = () => {
    if (grace.value !== "custom") return Number(grace.value);
    const t = hours.value.trim();
    // Not a number: sent as typed, for the server to refuse with its reason.
    return /^\d+(\.\d+)?$/.test(t) ? Math.round(Number(t) * HOUR) : t;
  };
  const act = confirming("Rotate", "Rotate now", false, async () => {
    error.textContent = "";
    try {
      rotated(await api("POST", `/admin/keys/${encodeURIComponent(key.id)}/rotate`, { grace_secs: seconds() }));
    } catch (err) {
      error.textContent = err.message;
      throw err;
    }
  });
  return h("section", { class: "card", "aria-labelledby": "rotate-title" },
    h("h2", { id: "rotate-title" }, "Rotate"),
    h("p", { class: "hint" }, "A new secret, shown once. The old one keeps working for the grace period, then is refused."),
    h("div", { class: "row" }, h("label", { for: "rotate-grace" }, "Old secret works for"), grace, hours, unit, act),
    error);
}

/** Fills `main` with the key `id`'s page. */
export async function renderKey(main, id) {
  const path = "/admin/keys/" + encodeURIComponent(id);
  // Two requests: the key with where its limits stand, and the projects to choose from.
  const [key, projects] = await Promise.all([
    api("GET", path + "?include=limits"),
    api("GET", "/admin/projects").then((r) => r.data),
  ]).catch((err) => {
    main.append(h("h1", {}, "Key"), failure(err), h("p", {}, h("a", { href: "#/keys" }, "All keys")));
    return [];
  });
  if (!key) return;
  const standing = key.limits_standing;
  const live = key.state !== "revoked";
  const notices = h("div", { id: "notices" });
  const project = projects.find((p) => p.id === key.project_id);

  const facts = h("dl", { class: "fields" },
    h("dt", {}, "Id"), h("dd", { class: "mono" }, key.id),
    h("dt", {}, "Prefix"), h("dd", { class: "mono" }, key.prefix),
    h("dt", {}, "State"), h("dd", {}, h("span", { class: "state " + key.state, id: "key-state" }, key.state)),
    h("dt", {}, "Project"), h("dd", {}, project
      ? h("a", { href: "#/projects?id=" + encodeURIComponent(project.id) }, project.name) : "—"),
    h("dt", {}, "Expires"), h("dd", {}, key.expires_ms ? when(key.expires_ms) : "never"),
    key.previous_secret_until_ms && key.previous_secret_until_ms > Date.now()
      ? [h("dt", {}, "Old secret works until"), h("dd", { id: "grace-until" }, when(key.previous_secret_until_ms))]
      : null,
    h("dt", {}, "Created"), h("dd", {}, when(key.created_ms)),
    h("dt", {}, "Changed"), h("dd", {}, when(key.updated_ms)));
  const actions = h("div", { class: "row" }, h("a", { class: "button quiet", href: "#/logs?key=" + encodeURIComponent(key.id) }, "Its requests"));
  const again = () => renderAgain(main, id);
  if (live) {
    const toggle = key.disabled ? "enable" : "disable";
    actions.append(
      h("button", {
        type: "button", class: "quiet", "data-action": toggle,
        onclick: async () => {
          try {
            await api("POST", `${path}/${toggle}`);
            toast(`${key.name} ${toggle}d.`);
            again();
          } catch (err) {
            toast(err.message);
          }
        },
      }, key.disabled ? "Enable" : "Disable"),
      confirming("Revoke", "Revoke for good", true, async () => {
        await api("POST", `${path}/revoke`);
        toast(`${key.name} revoked.`);
        again();
      }));
  }

  const editor = policyEditor({ scope: "edit", key, policy: key.policy, projects });
  const save = h("button", { type: "submit", id: "save-policy" }, "Save");
  const form = h("form", { id: "key-policy", class: "card", "aria-labelledby": "policy-title", novalidate: true },
    h("h2", { id: "policy-title" }, "Policy"),
    h("fieldset", { class: "plain", disabled: !live }, editor.element),
    live ? h("div", { class: "row" }, save) : h("p", { class: "muted" }, "A revoked key cannot change."));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    editor.clear();
    const body = Object.assign(editor.keyFields(), { policy: editor.value() });
    // An expiry left as it was is not sent again (a past one would be refused).
    if (body.expires_ms === key.expires_ms || (key.expires_ms && Math.abs(body.expires_ms - key.expires_ms) < 60000)) {
      delete body.expires_ms;
    }
    save.disabled = true;
    try {
      await api("PATCH", path, body);
      toast("Saved.");
      again();
    } catch (err) {
      editor.showError(err.param, err.message);
    } finally {
      save.disabled = false;
    }
  });

  const standingBox = h("section", { class: "card", id: "key-limits", "aria-labelledby": "limits-title" },
    h("h2", { id: "limits-title" }, "Remaining"));
  if (standing instanceof Error) {
    standingBox.append(failure(standing));
  } else {
    standingBox.append(standingTable(standing.data, "limits-table"));
    editor.standing(standing.data.filter((r) => r.scope === "key"));
  }

  main.append(
    h("div", { class: "title" },
      h("h1", {}, "Key ", h("span", { id: "key-name" }, key.name)),
      h("a", { href: "#/keys" }, "All keys")),
    notices,
    h("section", { class: "card detail" }, facts, actions),
    standingBox,
    form,
    live ? rotateForm(key, (rotated) => {
      renderAgain(main, id).then(() => {
        const panel = secretPanel(`New secret for ${rotated.name}`, rotated);
        main.querySelector("#notices").replaceChildren(panel);
        panel.focus();
      });
    }) : null);
}

/** Draws the key's page again in place (after a change). */
async function renderAgain(main, id) {
  main.dataset.state = "loading";
  main.replaceChildren();
  await renderKey(main, id);
  main.dataset.state = "ready";
}
