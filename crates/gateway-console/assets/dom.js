// Building the page without HTML strings: elements from tag, attributes and children
// (text is always text), SVG the same way, and the formats the pages share.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element. */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function svg(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

const integer = new Intl.NumberFormat("en-US");
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

/** 1234567 → "1,234,567". */
export function int(n) {
  return integer.format(n || 0);
}

/** 1234567 → "1.2M". */
export function short(n) {
  return compact.format(n || 0);
}

/** Dollars, with cents (or tenths of a cent below a dollar). */
export function usd(n) {
  const v = n || 0;
  return "$" + (v !== 0 && Math.abs(v) < 1 ? v.toFixed(4) : v.toFixed(2));
}

/** A share as a percentage. */
export function pct(part, whole) {
  if (!whole) return "0%";
  return (100 * part / whole).toFixed(part === 0 || part === whole ? 0 : 1) + "%";
}

/** Unix ms as local date and time. */
export function when(ms) {
  if (ms === null || ms === undefined) return "—";
  return new Date(ms).toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

/** Shows a short message for a few seconds (read out by screen readers). */
export function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

/** A table in a horizontally scrolling box (narrow screens). */
export function table(caption, head, rows, attrs) {
  return h("div", { class: "scroll" },
    h("table", attrs || {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)));
}

/** An error message in place of a page's content. */
export function failure(err) {
  return h("p", { class: "error", role: "alert" }, "Could not load: " + (err && err.message || err));
}
