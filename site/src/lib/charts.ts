// Charts drawn at build time with Observable Plot into inline SVG, so pages need no JavaScript.
// Only numbers, dates, status words and labels written here reach a chart: its markup is safe to
// inline with set:html, unlike anything else taken from a result.
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import type { RunStatus, Series } from "./result";

// One server-side document for every chart: creating one per chart costs several times more.
const { document } = parseHTML("<!doctype html><html><body></body></html>");

const width = 640;
const height = 220;

/** Status colours readable on both the light and the dark background. */
export const statusColours: Record<RunStatus, string> = {
  succeeded: "#2da44e",
  failed: "#e5534b",
  "sandbox-error": "#e5534b",
  "timed-out": "#c69026",
  "oom-killed": "#c69026",
  cancelled: "#8c959f",
  rejected: "#8c959f",
};

/** One quantity over the seconds of a run, as a line with its area shaded. */
export function timeSeriesSvg(points: { t: number; value: number }[], yLabel: string, label: string): string {
  return serialise(
    Plot.plot({
      document,
      width,
      height,
      marginLeft: 50,
      x: { label: "seconds since start", domain: [0, Math.max(1, ...points.map((p) => p.t))] },
      y: { label: yLabel, grid: true, nice: true, domain: [0, Math.max(...points.map((p) => p.value)) || 1] },
      marks: [
        Plot.areaY(points, { x: "t", y: "value", fillOpacity: 0.15 }),
        Plot.lineY(points, { x: "t", y: "value", strokeWidth: 1.5 }),
        Plot.ruleY([0]),
      ],
    }),
    label,
  );
}

/** An experiment's runs over time: duration against start, one dot per run coloured by status. */
export function runHistorySvg(runs: { startedAt: Date; durationSeconds: number; status: RunStatus }[], label: string): string {
  return serialise(
    Plot.plot({
      document,
      width,
      height,
      marginLeft: 50,
      x: { type: "utc", label: "started", inset: 20 },
      y: { label: "duration (s)", grid: true, nice: true, domain: [0, Math.max(...runs.map((r) => r.durationSeconds)) || 1] },
      marks: [
        Plot.lineY(runs, { x: "startedAt", y: "durationSeconds", strokeOpacity: 0.3 }),
        Plot.dot(runs, { x: "startedAt", y: "durationSeconds", r: 4, fill: (run) => statusColours[run.status as RunStatus] }),
        Plot.ruleY([0]),
      ],
    }),
    label,
  );
}

/** A program's series as a chart: lines (one per group), bars, or a heatmap of cells. */
export function seriesSvg(series: Series, label: string): string | undefined {
  const x = series.x ?? series.columns[0]!;
  const y = series.y ?? series.columns[1]!;
  const index = (name: string | undefined) => (name === undefined ? -1 : series.columns.indexOf(name));
  const [xi, yi, gi, vi] = [index(x), index(y), index(series.group), index(series.value)];
  if (xi < 0 || yi < 0) return undefined;
  // Text cells become tick labels: reduced to a plain character set, so nothing a program writes can become markup.
  const cell = (row: (number | string)[], i: number) => (typeof row[i] === "number" ? row[i] : chartText(String(row[i] ?? "")));
  const data = series.rows.map((row) => ({ x: cell(row, xi), y: cell(row, yi), group: gi >= 0 ? chartText(String(row[gi] ?? "")) : "", value: vi >= 0 ? Number(row[vi]) : NaN }));
  const common = { document, width, height: series.kind === "heatmap" ? Math.max(height, 40 + 22 * new Set(data.map((d) => d.y)).size) : height, marginLeft: 110, marginBottom: 40 };
  const xLabel = chartText(x);
  const yLabel = chartText(y);
  switch (series.kind) {
    case "line":
      return serialise(
        Plot.plot({
          ...common,
          x: { label: xLabel, grid: true },
          y: { label: yLabel, grid: true },
          color: gi >= 0 ? { legend: true, type: "categorical" } : undefined,
          marks: [Plot.line(data, { x: "x", y: "y", stroke: gi >= 0 ? "group" : undefined, strokeWidth: 1.5 }), Plot.ruleY([0])],
        }),
        label,
      );
    case "bar":
      // With a group column, bars of one x stand side by side, one colour per group.
      return serialise(
        gi >= 0
          ? Plot.plot({
              ...common,
              fx: { label: xLabel },
              x: { axis: null, type: "band" },
              y: { label: yLabel, grid: true },
              color: { legend: true, type: "categorical" },
              marks: [Plot.barY(data, { fx: "x", x: "group", y: "y", fill: "group" }), Plot.ruleY([0])],
            })
          : Plot.plot({
              ...common,
              x: { label: xLabel, type: "band" },
              y: { label: yLabel, grid: true },
              marks: [Plot.barY(data, { x: "x", y: "y", fill: "var(--link)" }), Plot.ruleY([0])],
            }),
        label,
      );
    case "heatmap":
      if (vi < 0) return undefined;
      return serialise(
        Plot.plot({
          ...common,
          x: { label: xLabel, type: "band" },
          y: { label: yLabel, type: "band" },
          color: { type: "linear", scheme: "blues", legend: true, label: chartText(series.value!) },
          marks: [Plot.cell(data, { x: "x", y: "y", fill: "value", inset: 0.5 }), Plot.text(data, { x: "x", y: "y", text: (d) => formatCell(d.value), fill: "currentColor" })],
        }),
        label,
      );
    default:
      return undefined;
  }
}

function formatCell(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(3))) : "";
}

/** Letters, digits, spaces and a few marks; anything else becomes "?", and long text is cut. */
export function chartText(text: string): string {
  const plain = text.replace(/[^A-Za-z0-9 _.,:;%|()+\-/]/g, "?");
  return plain.length > 40 ? `${plain.slice(0, 39)}…` : plain;
}

// Geometry that Plot writes with 15 significant digits; two decimals are far below a pixel.
const geometry = ["d", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "transform", "points"];

function serialise(svg: Element, label: string): string {
  // One image with one name: Plot's per-mark aria-labels on <g> are flagged by axe (no role there).
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  for (const element of svg.querySelectorAll("*")) {
    element.removeAttribute("aria-label");
    for (const name of geometry) {
      const value = element.getAttribute(name);
      if (value) element.setAttribute(name, value.replace(/(\.\d\d)\d+/g, "$1"));
    }
  }
  return svg.outerHTML;
}
