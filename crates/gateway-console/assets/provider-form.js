// The form that adds a provider at runtime or edits one: where to start from (a kind,
// or an OpenAI-compatible preset, which fills in its base URL), the name, the base
// URL, the API key (stored sealed; when editing, empty keeps it), for Azure and
// Anthropic the API version, for Vertex AI the project, location and key file
// (its access token goes in the sealed key field), and for Amazon Bedrock the region
// and access key id (its secret access key goes in the sealed key field). The server is the judge: a 400 naming a setting
// (`param`: `base_url`, `api_key`, ...) is shown beside its field.

import { api } from "./api.js";
import { h } from "./dom.js";
import { fieldSet } from "./fields.js";

/** The kinds in words. */
export const KIND_LABELS = {
  openai: "OpenAI",
  anthropic: "Anthropic",
  gemini: "Gemini (AI Studio)",
  vertex: "Gemini on Vertex AI",
  vertex_anthropic: "Claude on Vertex AI",
  bedrock: "Amazon Bedrock (Converse)",
  bedrock_anthropic: "Claude on Amazon Bedrock",
  cohere: "Cohere (v2 Chat)",
  azure_openai: "Azure OpenAI",
  ollama: "Ollama",
  openai_compatible: "OpenAI-compatible server",
  mock: "Mock (built in, no network)",
};
/** The kinds that take an API version (Azure's `api-version`, `anthropic-version`). */
const VERSIONED = ["azure_openai", "anthropic", "vertex_anthropic", "bedrock_anthropic"];
/** The kinds that never need a key (local servers and the mock). */
const KEYLESS = ["ollama", "mock"];
/** Google Vertex AI: a project and location, and an access token or a key file. */
const VERTEX = ["vertex", "vertex_anthropic"];
/** Amazon Bedrock: a region and an access key id; the secret is the sealed key. */
const BEDROCK = ["bedrock", "bedrock_anthropic"];

/** A choice of the "Start from" list as `{ kind, preset, base_url, key_required }`. */
function choices(presets) {
  const out = new Map();
  for (const k of presets.kinds) {
    out.set("kind:" + k.kind, {
      kind: k.kind, preset: null, base_url: k.base_url || "",
      key_required: !KEYLESS.includes(k.kind) && !VERTEX.includes(k.kind) && !BEDROCK.includes(k.kind)
        && k.kind !== "openai_compatible",
    });
  }
  for (const p of presets.presets) {
    out.set("preset:" + p.name, {
      kind: "openai_compatible", preset: p.name, base_url: p.base_url || "", key_required: p.key_required, label: p.label,
    });
  }
  return out;
}

/**
 * The add form (no `provider`) or the edit form of the runtime provider `provider`
 * (a row of `GET /admin/providers`). `presets`: `GET /admin/providers/presets`.
 * `done(answer)` after a save; `cancel()` for the edit form's Cancel button.
 */
export function providerForm({ presets, provider, done, cancel }) {
  const editing = !!provider;
  const scope = editing ? "edit-provider" : "new-provider";
  const settings = editing ? provider.settings || {} : {};
  const options = choices(presets);
  const fields = fieldSet(scope);

  const start = h("select", {},
    h("optgroup", { label: "Kinds" },
      presets.kinds.map((k) => h("option", { value: "kind:" + k.kind }, KIND_LABELS[k.kind] || k.kind))),
    h("optgroup", { label: "OpenAI-compatible presets" },
      presets.presets.map((p) => h("option", { value: "preset:" + p.name }, p.label))));
  start.value = settings.preset ? "preset:" + settings.preset : "kind:" + (settings.kind || "openai");
  if (!options.has(start.value)) start.value = "kind:openai";

  const name = h("input", {
    type: "text", value: editing ? provider.name : "", maxlength: 64, autocomplete: "off",
    placeholder: "e.g. deepseek", disabled: editing, spellcheck: "false",
  });
  const baseUrl = h("input", { type: "text", inputmode: "url", autocomplete: "off", spellcheck: "false" });
  const key = h("input", { type: "password", autocomplete: "new-password", spellcheck: "false" });
  const removeKey = h("input", { type: "checkbox", id: scope + "-remove-key" });
  const version = h("input", { type: "text", autocomplete: "off", value: settings.api_version || "" });
  const text = (value, placeholder) => h("input", {
    type: "text", autocomplete: "off", spellcheck: "false", value: value || "", placeholder,
  });
  const project = text(settings.project, "my-gcp-project");
  const location = text(settings.location, "us-central1");
  const keyFile = text(settings.credentials_file, "/etc/patchbay/vertex-sa.json");
  const region = text(settings.region, "us-east-1");
  const accessKeyId = text(settings.access_key_id, "AKIA...");

  const keyNote = "Stored encrypted at rest (sealed under the gateway's master key); "
    + "shown back only as its last four characters.";
  const baseField = fields.field("base_url", "Base URL", baseUrl, "");
  const keyField = fields.field("api_key", "API key", key, editing
    ? `Empty: keep the current key${provider.key_hint ? " (" + provider.key_hint + ")" : " (none stored)"}. ${keyNote}`
    : keyNote);
  const removeBox = editing && provider.key_hint
    ? h("label", { class: "check" }, removeKey, "Remove the stored key")
    : null;
  if (removeBox) keyField.append(removeBox);
  const versionField = fields.field("api_version", "API version", version,
    "Azure's api-version, Anthropic's anthropic-version, or Claude on Vertex's anthropic_version. Empty: the gateway's default.");
  const vertexFields = [
    fields.field("project", "Google Cloud project", project, "The project id Vertex AI bills."),
    fields.field("location", "Location", location, "The region (us-central1, europe-west4, ...) or global. Empty: us-central1."),
    fields.field("credentials_file", "Service-account key file", keyFile,
      "A path on the gateway's machine; the gateway mints and refreshes its own tokens. Or put an access token in the key field."),
  ];
  const bedrockFields = [
    fields.field("region", "AWS region", region, "The region whose Bedrock runtime serves the models (us-east-1, eu-west-3, ...)."),
    fields.field("access_key_id", "Access key id", accessKeyId,
      "The IAM access key's id; its secret access key goes in the key field. Both empty: the gateway's AWS environment or shared credentials file."),
  ];
  const grid = h("div", { class: "grid" },
    fields.field("kind", "Start from", start, "A kind, or a preset of an OpenAI-compatible service."),
    fields.field("name", "Name", name, editing
      ? "A provider cannot be renamed: add one under the new name and remove this one."
      : "Letters, digits, - and _. Clients ask for its models as name/model."),
    baseField, keyField, versionField, ...vertexFields, ...bedrockFields);
  fields.alias("preset", "kind");

  let chosen = options.get(start.value);
  // The base URL follows the choice until it is typed over.
  baseUrl.value = settings.base_url || chosen.base_url;
  const shape = () => {
    const next = options.get(start.value);
    if (baseUrl.value.trim() === "" || baseUrl.value.trim() === chosen.base_url) baseUrl.value = next.base_url;
    chosen = next;
    baseField.hidden = chosen.kind === "mock";
    keyField.hidden = chosen.kind === "mock";
    versionField.hidden = !VERSIONED.includes(chosen.kind);
    for (const f of vertexFields) f.hidden = !VERTEX.includes(chosen.kind);
    for (const f of bedrockFields) f.hidden = !BEDROCK.includes(chosen.kind);
    const optionalBase = VERTEX.includes(chosen.kind) || BEDROCK.includes(chosen.kind);
    baseUrl.placeholder = chosen.base_url || (optionalBase ? "Optional" : "Required");
    fields.hint("base_url").textContent = chosen.base_url
      ? "The API root. Empty or unchanged: " + chosen.base_url + "."
      : chosen.kind === "azure_openai"
        ? "Your Azure OpenAI resource's endpoint (https, the resource's host)."
        : VERTEX.includes(chosen.kind)
          ? "Empty: the location's own Vertex AI host, {location}-aiplatform.googleapis.com."
        : BEDROCK.includes(chosen.kind)
          ? "Empty: the region's Bedrock runtime host, bedrock-runtime.{region}.amazonaws.com."
        : "The server's API root with its scheme, host, port and version path (/v1).";
    key.placeholder = editing && provider.key_hint ? "Unchanged"
      : VERTEX.includes(chosen.kind) ? "Access token (or a key file below)"
        : BEDROCK.includes(chosen.kind) ? "Secret access key"
        : chosen.key_required ? "Required" : "Optional";
  };
  start.addEventListener("change", shape);
  removeKey.addEventListener("change", () => {
    key.disabled = removeKey.checked;
    if (removeKey.checked) key.value = "";
  });
  shape();

  const save = h("button", { type: "submit", "data-action": "save" }, editing ? "Save" : "Add provider");
  const form = h("form", {
    id: scope, class: "provider-form", novalidate: true,
    "aria-label": editing ? "Edit provider " + provider.name : "Add a provider",
  },
  grid, fields.formError,
  h("div", { class: "row" }, save,
    editing ? h("button", { type: "button", class: "quiet", "data-action": "cancel", onclick: cancel }, "Cancel") : null));

  /** The body to send: the settings the form holds (`null` removes one when editing). */
  const body = () => {
    const out = {};
    const set = (k, v) => {
      if (v !== null && v !== "") out[k] = v;
      else if (editing) out[k] = null;
    };
    if (!editing) out.name = name.value.trim();
    out.kind = chosen.kind;
    set("preset", chosen.preset);
    const url = baseUrl.value.trim();
    // The default is not stored: the provider follows its kind's or preset's.
    set("base_url", chosen.kind === "mock" || url === chosen.base_url ? null : url);
    set("api_version", VERSIONED.includes(chosen.kind) ? version.value.trim() : null);
    const vertex = VERTEX.includes(chosen.kind);
    set("project", vertex ? project.value.trim() : null);
    set("location", vertex ? location.value.trim() : null);
    set("credentials_file", vertex ? keyFile.value.trim() : null);
    const bedrock = BEDROCK.includes(chosen.kind);
    set("region", bedrock ? region.value.trim() : null);
    set("access_key_id", bedrock ? accessKeyId.value.trim() : null);
    if (removeKey.checked) out.api_key = null;
    else if (chosen.kind !== "mock" && key.value.trim() !== "") out.api_key = key.value.trim();
    return out;
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    fields.clear();
    save.disabled = true;
    try {
      const answer = editing
        ? await api("PATCH", "/admin/providers/" + encodeURIComponent(provider.name), body())
        : await api("POST", "/admin/providers", body());
      key.value = "";
      done(answer);
    } catch (err) {
      // A taken name (409) belongs to the name field too.
      fields.showError(err.param || (err.status === 409 && !editing ? "name" : null), err.message);
    } finally {
      save.disabled = false;
    }
  });
  return form;
}
