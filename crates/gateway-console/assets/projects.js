// Projects: the list, creating one (a name and, optionally, its limits), and one
// project's page (#/projects?id=<id>): its shared limits in the policy editor, where
// they stand (GET /admin/projects/{id}?include=limits), its keys, adding a key to it or
// taking one out.

import { api } from "./api.js";
import { failure, h, table, toast, when } from "./dom.js";
import { LIMITS, amount, policyEditor, standingTable } from "./policy.js";

/** The limits that are set, in words ("rpm 60, daily_usd $5.00"). */
function summary(limits) {
  const set = LIMITS.filter(([name]) => limits[name] !== undefined && limits[name] !== null);
  if (set.length === 0) return "no limits";
  return set.map(([name, , unit]) => `${name} ${amount(unit, limits[name])}`).join(", ");
}

/** Fills `main` with the project list, or one project (`params`: `id`). */
export async function renderProjects(main, params) {
  if (params.get("id")) return renderProject(main, params.get("id"));
  const [projects, keys] = await Promise.all([
    api("GET", "/admin/projects").then((r) => r.data),
    api("GET", "/admin/keys").then((r) => r.data),
  ]).catch((err) => {
    main.append(h("h1", {}, "Projects"), failure(err));
    return [];
  });
  if (!projects) return;

  const name = h("input", { id: "new-project-name", required: true, maxlength: 64, placeholder: "e.g. research" });
  const nameError = h("p", { class: "field-error", id: "new-project-name-error", role: "alert" });
  const editor = policyEditor({ scope: "new-project", limitsOnly: true, limits: {} });
  const more = h("details", { id: "new-project-limits" }, h("summary", {}, "Shared limits"), editor.element);
  const form = h("form", { id: "create-project", "aria-label": "Create a project", novalidate: true },
    h("div", { class: "row" },
      h("label", { for: "new-project-name" }, "New project"), name,
      h("button", { type: "submit", id: "create-project-button" }, "Create")),
    nameError, more);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    editor.clear();
    nameError.textContent = "";
    try {
      const made = await api("POST", "/admin/projects", { name: name.value.trim(), limits: editor.value() });
      toast(`Project ${made.name} created.`);
      location.hash = "#/projects?id=" + encodeURIComponent(made.id);
    } catch (err) {
      if (err.param && err.param.startsWith("limits")) {
        more.open = true;
        editor.showError(err.param, err.message);
      } else {
        nameError.textContent = err.message;
        name.focus();
      }
    }
  });

  const counts = new Map();
  for (const k of keys) if (k.project_id) counts.set(k.project_id, (counts.get(k.project_id) || 0) + 1);
  const rows = projects.map((p) => h("tr", { "data-project": p.id },
    h("td", {}, h("a", { href: "#/projects?id=" + encodeURIComponent(p.id) }, p.name)),
    h("td", { class: "mono" }, p.id),
    h("td", { class: "num" }, counts.get(p.id) || 0),
    h("td", { class: "small" }, summary(p.limits)),
    h("td", {}, when(p.created_ms))));
  if (rows.length === 0) {
    rows.push(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No projects yet: create one above.")));
  }
  main.append(
    h("div", { class: "title" }, h("h1", {}, "Projects")),
    h("p", { class: "muted" }, "A project's keys share its limits, on top of each key's own."),
    h("section", { class: "card" }, form),
    table(projects.length === 1 ? "1 project" : `${projects.length} projects`, ["Name", "Id", "Keys", "Limits", "Created"], rows, { id: "projects-table" }));
}

/** Fills `main` with the project `id`'s page. */
async function renderProject(main, id) {
  const path = "/admin/projects/" + encodeURIComponent(id);
  // Two requests: the project with where its limits stand, and the keys.
  const [project, keys] = await Promise.all([
    api("GET", path + "?include=limits"),
    api("GET", "/admin/keys").then((r) => r.data),
  ]).catch((err) => {
    main.append(h("h1", {}, "Project"), failure(err), h("p", {}, h("a", { href: "#/projects" }, "All projects")));
    return [];
  });
  if (!project) return;
  const standing = project.limits_standing;
  const again = async () => {
    main.dataset.state = "loading";
    main.replaceChildren();
    await renderProject(main, id);
    main.dataset.state = "ready";
  };
  const keyPath = (k) => "/admin/keys/" + encodeURIComponent(k.id);

  // Its keys, each one removable; live keys of other projects (or none) to add.
  const members = keys.filter((k) => k.project_id === project.id);
  const rows = members.map((k) => h("tr", { "data-key": k.id },
    h("td", {}, h("a", { href: "#/keys?id=" + encodeURIComponent(k.id) }, k.name)),
    h("td", { class: "mono" }, k.prefix),
    h("td", {}, h("span", { class: "state " + k.state }, k.state)),
    h("td", { class: "actions" }, k.state === "revoked" ? null : h("button", {
      type: "button", class: "quiet", "data-action": "remove",
      onclick: async () => {
        try {
          await api("PATCH", keyPath(k), { project: null });
          toast(`${k.name} left ${project.name}.`);
          again();
        } catch (err) {
          toast(err.message);
        }
      },
    }, "Remove"))));
  if (rows.length === 0) rows.push(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No keys in this project yet.")));
  const others = keys.filter((k) => k.project_id !== project.id && k.state !== "revoked");
  const pick = h("select", { id: "add-key" },
    h("option", { value: "" }, "Choose a key"),
    others.map((k) => h("option", { value: k.id }, k.name + (k.project_id ? " (in another project)" : ""))));
  const add = h("form", { class: "row", id: "add-key-form", "aria-label": "Add a key" },
    h("label", { for: "add-key" }, "Add a key"), pick, h("button", { type: "submit", id: "add-key-button" }, "Add"));
  add.addEventListener("submit", async (e) => {
    e.preventDefault();
    const k = others.find((o) => o.id === pick.value);
    if (!k) return;
    try {
      await api("PATCH", keyPath(k), { project: project.id });
      toast(`${k.name} joined ${project.name}.`);
      again();
    } catch (err) {
      toast(err.message);
    }
  });

  // Name and limits, saved together.
  const name = h("input", { id: "project-name", value: project.name, maxlength: 64, required: true });
  const nameError = h("p", { class: "field-error", id: "project-name-error", role: "alert" });
  const editor = policyEditor({ scope: "project", limitsOnly: true, limits: project.limits });
  const save = h("button", { type: "submit", id: "save-project" }, "Save");
  const form = h("form", { class: "card", id: "project-limits-form", "aria-labelledby": "project-limits-title", novalidate: true },
    h("h2", { id: "project-limits-title" }, "Name and shared limits"),
    h("div", { class: "field" }, h("label", { for: "project-name" }, "Name"), name, nameError),
    editor.element, h("div", { class: "row" }, save));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    editor.clear();
    nameError.textContent = "";
    save.disabled = true;
    try {
      await api("PATCH", path, { name: name.value.trim(), limits: editor.value() });
      toast("Saved.");
      again();
    } catch (err) {
      if (err.param === "name") nameError.textContent = err.message;
      else editor.showError(err.param, err.message);
    } finally {
      save.disabled = false;
    }
  });

  const standingBox = h("section", { class: "card", id: "project-standing", "aria-labelledby": "standing-title" },
    h("h2", { id: "standing-title" }, "Remaining"));
  if (standing instanceof Error) {
    standingBox.append(failure(standing));
  } else {
    standingBox.append(standingTable(standing.data, "limits-table"));
    editor.standing(standing.data);
  }

  main.append(
    h("div", { class: "title" },
      h("h1", {}, "Project ", h("span", { id: "project-title" }, project.name)),
      h("a", { href: "#/projects" }, "All projects")),
    h("p", { class: "muted mono" }, project.id),
    standingBox,
    h("section", { class: "card", "aria-labelledby": "members-title" },
      h("h2", { id: "members-title" }, "Keys"),
      table(members.length === 1 ? "1 key" : `${members.length} keys`, ["Name", "Prefix", "State", ""], rows, { id: "project-keys" }),
      others.length ? add : h("p", { class: "muted" }, "Every other key is revoked or already here.")),
    form);
}
