// Pieces the Keys and Projects pages share: the panel that shows a new secret once,
// and an action button that asks once more before acting.

import { h, toast } from "./dom.js";

/** The panel showing a new secret once, with a copy button and a warning. */
export function secretPanel(title, key) {
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
export function confirming(label, confirmLabel, danger, act) {
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
