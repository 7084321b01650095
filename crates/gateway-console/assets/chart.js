// Charts as inline SVG: a bar per point, scaled to the largest, with its value in
// the bar's title (a tooltip, and text for screen readers).

import { svg, short } from "./dom.js";

/**
 * A bar chart of `points` ([{label, value, title}]) described by `summary`.
 * Width follows the container (viewBox); labels only under some bars when crowded.
 */
export function barChart(points, summary) {
  const width = 600;
  const height = 160;
  const pad = { top: 10, right: 30, bottom: 22, left: 40 };
  const inner = { w: width - pad.left - pad.right, h: height - pad.top - pad.bottom };
  const max = Math.max(1, ...points.map((p) => p.value));
  const step = inner.w / Math.max(points.length, 1);
  const every = Math.max(1, Math.ceil(points.length / 8));
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": summary,
  }, svg("title", {}, summary));
  for (const frac of [0, 0.5, 1]) {
    const y = pad.top + inner.h * (1 - frac);
    chart.append(
      svg("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "grid" }),
      svg("text", { x: pad.left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, short(max * frac)));
  }
  points.forEach((p, i) => {
    const hgt = inner.h * (p.value / max);
    const w = Math.max(1, Math.min(step * 0.7, 40));
    const x = pad.left + i * step + (step - w) / 2;
    chart.append(svg("rect", {
      x, y: pad.top + inner.h - hgt, width: w, height: Math.max(0, hgt), class: "bar",
    }, svg("title", {}, p.title || `${p.label}: ${p.value}`)));
    if (i % every === 0) {
      chart.append(svg("text", {
        x: x + w / 2, y: height - 6, class: "axis", "text-anchor": "middle",
      }, p.label));
    }
  });
  if (points.length === 0) {
    chart.append(svg("text", { x: width / 2, y: height / 2, class: "axis", "text-anchor": "middle" },
      "No requests in this period"));
  }
  return chart;
}

/** A small horizontal bar for a share of the largest value (in table cells). */
export function shareBar(value, max) {
  const w = max > 0 ? Math.max(1, 100 * value / max) : 0;
  return svg("svg", { viewBox: "0 0 100 8", class: "share", "aria-hidden": "true", preserveAspectRatio: "none" },
    svg("rect", { x: 0, y: 0, width: 100, height: 8, class: "track" }),
    svg("rect", { x: 0, y: 0, width: w, height: 8, class: "bar" }));
}
