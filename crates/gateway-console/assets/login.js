// The login form: the admin token in, a session cookie back.

import { api, setCsrf } from "./api.js";
import { h } from "./dom.js";

/** Shows the login form in `main`; calls `done` once logged in. */
export function renderLogin(main, done) {
  const token = h("input", {
    id: "token", name: "token", type: "password", required: true,
    autocomplete: "current-password", spellcheck: "false", "aria-describedby": "login-help",
  });
  const message = h("p", { class: "error", role: "alert", id: "login-error" });
  const button = h("button", { type: "submit", id: "login" }, "Log in");
  const form = h("form", { class: "card login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Patchbay console"),
    h("label", { for: "token" }, "Admin token"),
    token,
    h("p", { class: "muted small", id: "login-help" },
      "Printed once when the gateway first started, or set in [admin] token."),
    button,
    message);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    message.textContent = "";
    button.disabled = true;
    try {
      const s = await api("POST", "/console/login", { token: token.value });
      setCsrf(s.csrf);
      token.value = "";
      done();
    } catch (err) {
      message.textContent = err.status === 401
        ? "That is not the admin token."
        : err.status === 429 ? "Too many wrong tokens from here: " + err.message : err.message;
      token.select();
    } finally {
      button.disabled = false;
    }
  });
  main.replaceChildren(form);
  main.dataset.state = "ready";
  token.focus();
}
