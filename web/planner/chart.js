// Small charts drawn as inline SVG by our own code: lines over the years, each series with an
// optional shaded band (low..high), a title, axis labels, and a table of the same figures as
// the chart's text alternative. No chart library.
"use strict";

const CHART_COLOURS = ["#0b5394", "#b45f06", "#38761d", "#741b47", "#134f5c", "#7f6000"];

function svgText(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

// Round steps for an axis from 0 to at least `top`: 1, 2 or 5 times a power of ten.
function niceTicks(top, count = 4) {
  if (!(top > 0)) return [0, 1];
  const raw = top / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v < top + step; v += step) ticks.push(v);
  return ticks;
}

// An SVG line chart as markup. `series`: [{name, points: [{x, y, low?, high?}], colour?}];
// a series whose points carry low and high gets its band shaded under the line. `xText` and
// `yText` write the axes' numbers (the page's language); `id` names the title and description
// the chart is read by.
function lineChart({id, title, desc, xLabel, yLabel, series, xText = String, yText = String,
                    width = 360, height = 230}) {
  const pad = {left: 52, right: 22, top: 30, bottom: 44};
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const points = series.flatMap((s) => s.points);
  const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  const top = Math.max(1, ...points.map((p) => Math.max(p.y, p.high ?? p.y)));
  const ticks = niceTicks(top);
  const yMax = ticks[ticks.length - 1];
  const x = (v) => pad.left + (xs.length < 2 ? plotW / 2
    : (plotW * (v - xs[0])) / (xs[xs.length - 1] - xs[0]));
  const y = (v) => pad.top + plotH - (plotH * v) / yMax;
  const at = (p, v) => `${x(p.x).toFixed(1)},${y(v).toFixed(1)}`;
  const parts = [
    `<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" ` +
      `aria-labelledby="${id}-title ${id}-desc" data-points="${points.length}">`,
    `<title id="${id}-title">${svgText(title)}</title>`,
    `<desc id="${id}-desc">${svgText(desc)}</desc>`,
    `<text class="chart-title" x="${width / 2}" y="16" text-anchor="middle">${svgText(title)}</text>`,
  ];
  for (const v of ticks) {
    parts.push(`<line class="chart-grid" x1="${pad.left}" x2="${width - pad.right}" ` +
      `y1="${y(v)}" y2="${y(v)}"/>`,
    `<text class="chart-y" x="${pad.left - 5}" y="${y(v) + 4}" text-anchor="end">` +
      `${svgText(yText(v))}</text>`);
  }
  // Every year labelled when they fit, else every second or third, always the last.
  const every = Math.ceil(xs.length / 8);
  xs.forEach((v, i) => {
    if (i % every && i !== xs.length - 1) return;
    parts.push(`<text class="chart-x" x="${x(v)}" y="${pad.top + plotH + 16}" ` +
      `text-anchor="middle">${svgText(xText(v))}</text>`);
  });
  parts.push(`<line class="chart-axis" x1="${pad.left}" x2="${width - pad.right}" ` +
      `y1="${y(0)}" y2="${y(0)}"/>`,
    `<text class="chart-label" x="${pad.left + plotW / 2}" y="${height - 6}" ` +
      `text-anchor="middle">${svgText(xLabel)}</text>`,
    `<text class="chart-label" transform="translate(12 ${pad.top + plotH / 2}) rotate(-90)" ` +
      `text-anchor="middle">${svgText(yLabel)}</text>`);
  series.forEach((s, index) => {
    const colour = s.colour || CHART_COLOURS[index % CHART_COLOURS.length];
    const banded = s.points.filter((p) => p.low != null && p.high != null);
    if (banded.length) {
      const upper = banded.map((p) => at(p, p.high));
      const lower = banded.slice().reverse().map((p) => at(p, p.low));
      parts.push(`<path class="chart-band" data-series="${index}" fill="${colour}" ` +
        `fill-opacity="0.18" stroke="none" d="M${upper.join("L")}L${lower.join("L")}Z"/>`);
    }
    parts.push(`<path class="chart-line" data-series="${index}" fill="none" stroke="${colour}" ` +
      `stroke-width="2" d="M${s.points.map((p) => at(p, p.y)).join("L")}"/>`);
    for (const p of s.points) {
      parts.push(`<circle class="chart-point" data-series="${index}" cx="${x(p.x)}" ` +
        `cy="${y(p.y)}" r="3" fill="${colour}"><title>${svgText(s.name)}, ` +
        `${svgText(xText(p.x))}: ${svgText(yText(p.y))}` +
        `${p.low != null ? ` (${svgText(yText(p.low))}–${svgText(yText(p.high))})` : ""}` +
        `</title></circle>`);
    }
  });
  parts.push("</svg>");
  return parts.join("");
}

// The chart's figures as a table (its text alternative): one row per x, for each series its
// value and, where it has one, its band. `heads`: {x, y, low, high} column names.
function chartTable({caption, series, heads, xText = String, yText = String}) {
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const banded = series.map((s) => s.points.some((p) => p.low != null));
  const many = series.length > 1;
  const head = series.map((s, i) => {
    const name = many ? `${svgText(s.name)}: ` : "";
    return `<th class="num" scope="col">${name}${svgText(heads.y)}</th>` + (banded[i]
      ? `<th class="num" scope="col">${name}${svgText(heads.low)}</th>` +
        `<th class="num" scope="col">${name}${svgText(heads.high)}</th>` : "");
  }).join("");
  const rows = xs.map((v) => `<tr><th scope="row">${svgText(xText(v))}</th>` +
    series.map((s, i) => {
      const p = s.points.find((q) => q.x === v);
      const cell = (n) => `<td class="num">${p && n != null ? svgText(yText(n)) : "–"}</td>`;
      return cell(p?.y) + (banded[i] ? cell(p?.low) + cell(p?.high) : "");
    }).join("") + "</tr>").join("");
  return `<table class="chart-data"><caption>${svgText(caption)}</caption>` +
    `<thead><tr><th scope="col">${svgText(heads.x)}</th>${head}</tr></thead>` +
    `<tbody>${rows}</tbody></table>`;
}
