// Tools: each AI tool on the gateway's machine — whether its config points at this
// gateway now and with which key — with connect / disconnect (what `patchbay
// connect` does, allowed only over loopback) or the environment lines to copy; then
// each SDK's three lines.

import { api } from "./api.js";
import { failure, h, toast } from "./dom.js";

/** A snippet in a box, with a button that copies it. */
function snippet(id, text, label) {
  const pre = h("pre", { class: "snippet", id }, text);
  const copy = h("button", { type: "button", class: "quiet", "data-action": "copy", "aria-label": "Copy " + label }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      toast("Copied.");
    } catch {
      const range = document.createRange();
      range.selectNodeContents(pre);
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      toast("Selected: copy it with the keyboard (the browser did not allow copying).");
    }
  });
  return h("div", { class: "snippet-box" }, pre, copy);
}

function state(t) {
  if (t.connected) return h("span", { class: "state active" }, "connected");
  if (!t.installed && !t.config_found) return h("span", { class: "state off" }, "not installed");
  return h("span", { class: "state disabled" }, "not connected");
}

/** `path` with the home directory written as `~`. */
function tilde(path, home) {
  return home && path.startsWith(home + "/") ? "~" + path.slice(home.length) : path;
}

function card(t, home, allowed, reason, act) {
  const why = "why-" + t.name;
  const button = (label, action, primary) => h("button", {
    type: "button", class: primary ? "" : "quiet", "data-action": action, disabled: !allowed,
    "aria-describedby": allowed ? null : why,
    onclick: (e) => {
      // One change at a time: the card is drawn anew when it is done.
      e.currentTarget.disabled = true;
      act(t, action);
    },
  }, label);
  const key = t.key
    ? h("p", { class: "small" }, "Key: ", h("a", { href: "#/logs?key=" + encodeURIComponent(t.key.id) }, t.key.name))
    : t.key_note ? h("p", { class: "small error" }, "Key in its config: " + t.key_note) : null;
  const actions = h("div", { class: "row" },
    t.connected && t.connected_by_patchbay
      ? button("Disconnect", "disconnect", false)
      : button(t.connected ? "Connect again" : "Connect", "connect", true),
    t.connected_by_patchbay && !t.connected ? button("Disconnect", "disconnect", false) : null);
  return h("section", { class: "card tool", "data-tool": t.name, "aria-label": t.title },
    h("div", { class: "title" }, h("h2", {}, t.title), state(t)),
    key,
    h("p", { class: "muted small files" }, t.files.map((f) => tilde(f, home)).join(" · ")),
    actions,
    allowed ? null : h("p", { class: "muted small", id: why }, reason),
    h("details", {}, h("summary", {}, "Environment for one shell"), snippet("env-" + t.name, t.env, t.title + " environment")));
}

/** Fills `main` with the tools and the SDK snippets. */
export async function renderTools(main) {
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  main.append(h("div", { class: "title" }, h("h1", {}, "Tools")), list);

  const act = async (t, action) => {
    try {
      const done = await api("POST", `/admin/tools/${encodeURIComponent(t.name)}/${action}`, {});
      const made = done.created_key ? ` with the new key ${done.created_key.name}` : "";
      toast(action === "connect" ? `${t.title} now uses this gateway${made}.` : `${t.title} is restored.`);
    } catch (err) {
      toast(err.message);
    }
    await draw();
    const again = list.querySelector(`[data-tool="${t.name}"] [data-action]`);
    if (again) again.focus();
  };

  const draw = async () => {
    let v;
    try {
      v = await api("GET", "/admin/tools");
    } catch (err) {
      list.replaceChildren(failure(err));
      return;
    }
    const { allowed, reason } = v.connect;
    const intro = v.host
      ? h("p", { id: "tools-host" }, "Connect edits the tools' own config files for the user ", h("strong", {}, v.host.user),
        " in ", h("span", { class: "mono" }, v.host.home),
        ", as ", h("code", {}, "patchbay connect"), " does: a backup of each file before the first change, put back by Disconnect. They will use ",
        h("span", { class: "mono" }, v.gateway_url), ".")
      : h("p", { id: "tools-host" }, "This gateway cannot reach the tools' files: copy the environment lines.");
    const notice = allowed ? null
      : h("p", { class: "card notice", id: "tools-refused" }, "Connect is off here: " + reason);
    const cards = v.tools.map((t) => card(t, v.host && v.host.home, allowed, reason, act));
    const families = v.env.map((e) => h("div", {}, h("h3", {}, e.family), snippet("env-" + e.family, e.snippet, e.family + " environment")));
    const sdks = v.sdks.map((s, i) => h("div", {}, h("h3", {}, s.name), snippet("sdk-" + i, s.snippet, s.name)));
    list.replaceChildren(...[intro, notice].filter(Boolean),
      h("div", { class: "cards", id: "tools-list" }, cards),
      h("section", { class: "card", id: "sdks" }, h("h2", {}, "SDKs"),
        h("p", { class: "muted small" }, "Three lines each; put a key from the Keys page in place of YOUR_PATCHBAY_KEY."),
        h("div", { class: "cards" }, sdks)),
      h("section", { class: "card", id: "env" }, h("h2", {}, "Any other tool"),
        h("p", { class: "muted small" }, "The environment variables each API family reads ($PATCHBAY_KEY: your key)."),
        h("div", { class: "cards" }, families)));
  };
  await draw();
}
