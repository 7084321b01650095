// The console's entry point: the session check, the login or the pages, and the
// hash router (#/overview, #/live, #/usage, #/keys, #/keys?id=..., #/projects,
// #/logs?model=..., #/providers, #/routes, #/tools).

import { api, onSessionLost, setCsrf } from "./api.js";
import { toast } from "./dom.js";
import { renderLogin } from "./login.js";
import { renderOverview } from "./overview.js";
import { renderKeys } from "./keys.js";
import { renderProjects } from "./projects.js";
import { renderLogs } from "./logs.js";
import { renderProviders } from "./providers.js";
import { renderUsage } from "./usage.js";
import { renderRoutes } from "./routes.js";
import { renderTools } from "./tools.js";
import { renderLive } from "./live.js";

const PAGES = {
  overview: { title: "Overview", render: renderOverview },
  live: { title: "Live", render: renderLive },
  usage: { title: "Usage", render: renderUsage },
  keys: { title: "Keys", render: renderKeys },
  projects: { title: "Projects", render: renderProjects },
  logs: { title: "Logs", render: renderLogs },
  routes: { title: "Routes", render: renderRoutes },
  tools: { title: "Tools", render: renderTools },
  providers: { title: "Providers", render: renderProviders },
};

const main = document.getElementById("main");
const bar = document.getElementById("bar");
let signedIn = false;

/** The page and its parameters from the location's hash. */
function current() {
  const [path, q] = location.hash.replace(/^#\/?/, "").split("?");
  const name = PAGES[path] ? path : "overview";
  return { name, params: new URLSearchParams(q || "") };
}

async function route() {
  if (!signedIn) return;
  const { name, params } = current();
  const page = PAGES[name];
  document.title = page.title + " · Patchbay console";
  document.body.dataset.page = name;
  for (const a of bar.querySelectorAll("nav a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  main.dataset.state = "loading";
  main.replaceChildren();
  try {
    await page.render(main, params);
    main.dataset.state = "ready";
  } catch (err) {
    main.dataset.state = "error";
    throw err;
  }
}

function showLogin() {
  signedIn = false;
  setCsrf(null);
  bar.hidden = true;
  document.title = "Log in · Patchbay console";
  document.body.dataset.page = "login";
  renderLogin(main, () => {
    signedIn = true;
    bar.hidden = false;
    route();
    main.focus();
  });
}

onSessionLost(() => {
  if (signedIn) toast("The session ended: log in again.");
  showLogin();
});

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await api("POST", "/console/logout");
  } finally {
    showLogin();
  }
});

window.addEventListener("hashchange", () => {
  route();
  main.focus();
});

async function start() {
  const session = await api("GET", "/console/session");
  if (session.authenticated) {
    setCsrf(session.csrf);
    signedIn = true;
    bar.hidden = false;
    await route();
  } else {
    showLogin();
  }
}

start();
