// The Configuration panel of the Providers page: the config file, the generation of
// the table in force, the latest reloads (`GET /admin/config`) and "Reload now"
// (`POST /admin/config/reload`). A file that was refused is shown as an alert with
// its error (the path of the bad key), since the gateway keeps serving the old one
// and nothing else would say so. The panel looks again every few seconds while it is
// on screen, so an edit of the file (reloaded by the watcher) shows up by itself.

import { api } from "./api.js";
import { failure, h, toast, when } from "./dom.js";

/** How often the panel asks for the reload state. */
const POLL_MS = 4000;
/** How many reloads the panel lists. */
const SHOWN = 8;

const TRIGGERS = {
  start: "start",
  file_changed: "file changed",
  signal: "SIGHUP",
  admin: "Reload now",
  runtime_provider: "provider changed here",
};

/** One reload as a list item: when, why, what came of it. */
function reloadItem(r) {
  return h("li", { class: r.ok ? "ok" : "refused", "data-trigger": r.trigger },
    h("span", { class: "state " + (r.ok ? "active" : "revoked") }, r.ok ? "in force" : "refused"),
    " ", TRIGGERS[r.trigger] || r.trigger, " · ", when(r.at_ms), " · generation ", String(r.generation),
    r.restart_needed.length
      ? h("p", { class: "hint" }, "Differs from the start, read at start only: " + r.restart_needed.join(", ") + " (restart to apply).")
      : null,
    r.ok ? null : h("pre", { class: "body" }, r.error || "refused"));
}

/** The panel's content from the reload state. */
function draw(status, reloadButton) {
  const fileReloads = status.history.filter((r) => r.trigger !== "runtime_provider");
  const latest = fileReloads[0];
  // A reload names the start-only sections the file now holds differently from the
  // start: the latest good one says whether a restart would change anything.
  const lastGood = fileReloads.find((r) => r.ok);
  const restart = lastGood && lastGood.restart_needed.length ? lastGood : null;
  return [
    h("div", { class: "title" }, h("h2", { id: "config-title" }, "Configuration"), reloadButton),
    latest && !latest.ok
      ? h("div", { class: "alert", id: "reload-error", role: "alert", tabindex: "-1" },
        h("p", {}, h("strong", {}, "The config file was not reloaded: "),
          `it does not validate, so the configuration of generation ${status.generation} stays in force.`),
        h("pre", { class: "body" }, latest.error || "refused"),
        h("p", { class: "hint" }, "Fix the file: it is read again when it changes, on SIGHUP, or with Reload now."))
      : null,
    restart
      ? h("p", { class: "notice-line", id: "restart-needed" },
        "The file's ", h("strong", {}, restart.restart_needed.join(", ")),
        " differ from what was read at start; these are read at start only: restart the gateway to apply them.")
      : null,
    h("dl", { class: "fields" },
      h("dt", {}, "Config file"), h("dd", { class: "mono", id: "config-path" }, status.path || "none (started without --config)"),
      h("dt", {}, "Generation"), h("dd", { id: "config-generation" }, String(status.generation))),
    h("details", { id: "reload-details" },
      h("summary", { id: "reload-summary" }, "Latest reloads"),
      h("ol", { class: "reloads", id: "reload-history" }, status.history.slice(0, SHOWN).map(reloadItem))),
  ];
}

/**
 * The Configuration panel: `{ element, refresh() }`. `changed(generation)` is called
 * when the table in force changes (a reload here or elsewhere), so that the page can
 * show the new providers; `refresh()` looks at once (after a change made here).
 */
export function configPanel(changed) {
  const panel = h("section", { class: "card detail", id: "config-panel", "aria-labelledby": "config-title" },
    h("p", { class: "muted" }, "Loading…"));
  const reload = h("button", { type: "button", id: "reload-now" }, "Reload now");
  let seen = null; // the newest reload drawn, as "generation/at_ms"

  const show = (status) => {
    const newest = status.history[0];
    const mark = `${status.generation}/${newest ? newest.at_ms : 0}/${status.history.length}`;
    if (mark === seen) return;
    const generationChanged = seen !== null && Number(seen.split("/")[0]) !== status.generation;
    seen = mark;
    // Drawn again, the panel keeps its open list and the focus it had.
    const open = panel.querySelector("#reload-details");
    const focused = panel.contains(document.activeElement) ? document.activeElement.id : "";
    panel.replaceChildren(...draw(status, reload).filter(Boolean));
    if (open && open.open) panel.querySelector("#reload-details").open = true;
    const again = focused && panel.querySelector("#" + focused);
    if (again) again.focus();
    if (generationChanged) changed(status.generation);
  };
  const refresh = () => api("GET", "/admin/config").then(show);

  reload.addEventListener("click", async () => {
    reload.disabled = true;
    try {
      const report = await api("POST", "/admin/config/reload");
      toast(`Reloaded: generation ${report.generation} in force.`);
    } catch (err) {
      // 422: the report of a refused reload; it is drawn from the state below.
      if (!(err.body && err.body.ok === false)) toast(err.message);
    } finally {
      reload.disabled = false;
    }
    await refresh().catch((err) => toast(err.message));
    const alert = panel.querySelector("#reload-error");
    (alert || reload).focus();
  });

  refresh().catch((err) => panel.replaceChildren(failure(err)));
  const timer = setInterval(() => {
    if (!panel.isConnected || document.hidden) {
      if (!panel.isConnected) clearInterval(timer);
      return;
    }
    // A failed look (the session ended, the network) is not an error of the page.
    refresh().catch(() => {});
  }, POLL_MS);
  return { element: panel, refresh: () => refresh().catch(() => {}) };
}
