// The admin API from the page: same-origin fetches with the session cookie, the CSRF
// token on every change, and errors in the API's envelope turned into exceptions.

let csrf = null;
let lost = () => {};

/** Remembers the session's CSRF token (null after logout). */
export function setCsrf(token) {
  csrf = token;
}

/** Called when the API answers 401: the session ended. */
export function onSessionLost(fn) {
  lost = fn;
}

/**
 * A refused or failed API call; `param` names the offending field of a 400, `body`
 * is the answer's JSON (a refused config reload's report, for one).
 */
export class ApiError extends Error {
  constructor(status, message, param, body) {
    super(message);
    this.status = status;
    this.param = param || null;
    this.body = body === undefined ? null : body;
  }
}

/** Calls `method path` with an optional JSON body; resolves to the JSON answer. */
export async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrf) headers["x-csrf-token"] = csrf;
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    const message = data && data.error && data.error.message || resp.status + " " + resp.statusText;
    if (resp.status === 401 && path.startsWith("/admin/")) lost();
    throw new ApiError(resp.status, message, data && data.error && data.error.param, data);
  }
  return data;
}

/** A query string from the non-empty entries of `params`. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "" && v !== false) q.set(k, String(v));
  }
  const s = q.toString();
  return s ? "?" + s : "";
}
