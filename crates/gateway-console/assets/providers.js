// Providers: every provider in force. The config file's are read-only here (the
// file is the truth for them; it is reloaded when it changes); the ones added here
// take effect at once, without a restart, and can be edited and removed. Each can be
// tested (a real request for its model list: the HTTP status, the time it took and
// the upstream's own error) and its model list fetched. Above them, the
// Configuration panel (reloads.js); below, the add form (provider-form.js).

import { api } from "./api.js";
import { failure, h, int, toast, when } from "./dom.js";
import { KIND_LABELS, providerForm } from "./provider-form.js";
import { configPanel } from "./reloads.js";
import { confirming } from "./widgets.js";

/** The most models listed at once (a filter narrows the rest). */
const MODELS_SHOWN = 100;

/** The outcome of a connection test. */
function probeResult(p) {
  const status = p.status === null || p.status === undefined ? "no HTTP answer" : "HTTP " + p.status;
  return h("div", { class: "probe " + (p.ok ? "ok" : "failed"), "data-ok": String(p.ok) },
    h("p", {},
      h("span", { class: "state " + (p.ok ? "active" : "revoked") }, p.ok ? "connected" : "failed"),
      " ", status, " · ", h("span", { class: "latency" }, int(p.latency_ms) + " ms"),
      p.ok ? ` · ${int(p.models.length)} models` : null),
    p.error ? h("p", { class: "error upstream-error" }, p.error) : null);
}

/** A model list with a count, capped, and a filter when it is long. */
function modelList(provider, ids, latency) {
  const list = h("ul", { class: "models mono" });
  const note = h("p", { class: "hint" });
  const filter = h("input", {
    type: "search", placeholder: "Filter models", "aria-label": `Filter ${provider}'s models`,
    class: "model-filter",
  });
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = q ? ids.filter((id) => id.toLowerCase().includes(q)) : ids;
    list.replaceChildren(...shown.slice(0, MODELS_SHOWN).map((id) => h("li", {}, id)));
    note.textContent = shown.length > MODELS_SHOWN
      ? `Showing ${MODELS_SHOWN} of ${int(shown.length)}: type to narrow.`
      : q ? `${int(shown.length)} of ${int(ids.length)} match.` : "";
  };
  filter.addEventListener("input", draw);
  draw();
  return h("div", { class: "model-list" },
    h("p", {}, h("strong", { class: "model-count" }, `${int(ids.length)} models`),
      ` from the upstream in ${int(latency)} ms. Clients ask for them as `,
      h("code", {}, `${provider}/<model>`), "."),
    ids.length > 10 ? filter : null, list, note);
}

/** Facts about a provider, as a definition list. */
function facts(p, presetLabel) {
  const row = (label, value, cls) => [h("dt", {}, label), h("dd", { class: cls || null }, value)];
  return h("dl", { class: "fields" },
    row("Kind", KIND_LABELS[p.kind] || p.kind),
    p.preset ? row("Preset", presetLabel(p.preset)) : null,
    row("Speaks", p.shape, "mono"),
    row("Host", p.host || "— (in the gateway)", "mono"),
    p.source === "runtime" && p.kind !== "mock" ? row("API key", p.key_hint || "none", "mono key-hint") : null,
    p.source === "runtime" && p.settings.api_version ? row("API version", p.settings.api_version, "mono") : null,
    p.source === "runtime" && p.settings.project
      ? row("Project", p.settings.project + " · " + (p.settings.location || "us-central1"), "mono") : null,
    p.source === "runtime" && p.settings.region
      ? row("AWS", p.settings.region + (p.settings.access_key_id ? " · " + p.settings.access_key_id : ""), "mono") : null,
    p.source === "runtime" ? row("Changed", when(p.updated_ms)) : null);
}

/** One provider's card: what it is, test, models, and for runtime ones edit and remove. */
function providerCard(p, presets, reload) {
  const path = "/admin/providers/" + encodeURIComponent(p.name);
  const presetLabel = (name) => (presets.presets.find((x) => x.name === name) || { label: name }).label;
  const result = h("div", { class: "result", "aria-live": "polite" });
  const busy = async (button, work) => {
    button.disabled = true;
    result.replaceChildren(h("p", { class: "muted" }, "Asking the upstream…"));
    try {
      result.replaceChildren(await work());
    } catch (err) {
      result.replaceChildren(h("p", { class: "error upstream-error" }, err.message));
    } finally {
      button.disabled = false;
    }
  };
  const test = h("button", { type: "button", class: "quiet", "data-action": "test" }, "Test connection");
  test.addEventListener("click", () => busy(test, async () => probeResult(await api("POST", path + "/test"))));
  const models = h("button", { type: "button", class: "quiet", "data-action": "models" }, "Fetch models");
  models.addEventListener("click", () => busy(models, async () => {
    const answer = await api("GET", path + "/models");
    return modelList(p.name, answer.data, answer.latency_ms);
  }));

  const actions = h("div", { class: "row" }, test, models);
  const card = h("article", { class: "card detail provider", "data-provider": p.name, "aria-labelledby": `provider-${p.name}` },
    h("div", { class: "title" },
      h("h3", { id: `provider-${p.name}`, class: "mono" }, p.name),
      h("span", { class: "badge " + p.source }, p.source === "file" ? "from the config file" : "added at runtime")),
    facts(p, presetLabel),
    p.source === "file"
      ? h("p", { class: "hint" }, "Read-only here: change it in the config file, which is reloaded when it changes.")
      : null,
    actions, result);

  if (p.source === "runtime") {
    const edit = h("button", { type: "button", class: "quiet", "data-action": "edit" }, "Edit");
    edit.addEventListener("click", () => {
      actions.hidden = true;
      const form = providerForm({
        presets, provider: p,
        done: () => { toast(`${p.name} saved: in force for new requests.`); reload(); },
        cancel: () => { form.remove(); actions.hidden = false; edit.focus(); },
      });
      card.insertBefore(form, result);
      form.querySelector("select").focus();
    });
    actions.append(edit, confirming("Remove", "Remove for good", true, async () => {
      await api("DELETE", path);
      toast(`${p.name} removed.`);
      await reload();
      // Its card is gone: the focus goes to the list.
      document.getElementById("list-title").focus();
    }));
  }
  return card;
}

/** Fills `main` with the Providers page. */
export async function renderProviders(main) {
  // One request for the list and the presets; the configuration panel makes the other.
  const list = await api("GET", "/admin/providers").catch((err) => {
    main.append(h("h1", {}, "Providers"), failure(err));
    return null;
  });
  if (!list) return;
  const presets = list.presets;

  const cards = h("div", { class: "providers", id: "provider-list" });
  const count = h("span", { class: "muted" });
  let drawn = 0; // the generation of the table the list shows
  const drawList = (answer) => {
    drawn = answer.generation;
    count.textContent = ` (${answer.data.length})`;
    cards.replaceChildren(...answer.data.map((p) => providerCard(p, presets, reload)));
  };
  // A reload elsewhere (the file changed, SIGHUP) may change the list; an open
  // edit form is not thrown away for it.
  let loading = false;
  const config = configPanel((generation) => {
    if (generation !== drawn && !loading && !cards.querySelector("form")) reload();
  });
  const reload = async () => {
    loading = true;
    try {
      drawList(await api("GET", "/admin/providers"));
    } catch (err) {
      cards.replaceChildren(failure(err));
    } finally {
      loading = false;
    }
    config.refresh();
  };
  drawList(list);

  const addBox = h("section", { class: "card", id: "add-provider", "aria-labelledby": "add-title" },
    h("h2", { id: "add-title" }, "Add a provider"));
  if (list.runtime_enabled) {
    // After an addition the form starts afresh.
    const addForm = () => providerForm({
      presets,
      done: (made) => {
        toast(`${made.name} added: in force for new requests.`);
        addBox.querySelector("form").replaceWith(addForm());
        reload();
      },
    });
    addBox.append(
      h("p", { class: "hint" }, "In force at once for new requests, no restart; kept in the gateway's database."),
      addForm());
  } else {
    addBox.append(h("p", { class: "muted" },
      "This gateway has no database ([storage] path), so providers can be added only in the config file."));
  }

  main.append(
    h("div", { class: "title" }, h("h1", {}, "Providers")),
    h("p", { class: "muted" }, "Every provider in force. Those from the config file are read-only here; "
      + "those added here can be edited and removed. Clients reach a provider's models as name/model, or through routes."),
    config.element,
    h("section", { "aria-labelledby": "list-title" },
      h("h2", { id: "list-title", tabindex: "-1" }, "In force", count), cards),
    addBox);
}
