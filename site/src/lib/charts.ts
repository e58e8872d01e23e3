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
  superseded: "#8c959f",
};

/** One quantity over the seconds of a run, as a line. */
export function timeSeriesSvg(all: { t: number; value: number }[], yLabel: string, label: string): string {
  const points = thin(all);
  return serialise(
    Plot.plot({
      document,
      width,
      height,
      marginLeft: 50,
      x: { tickSize: 0, label: "seconds since start", domain: [0, Math.max(1, ...points.map((p) => p.t))] },
      y: { tickSize: 0, label: yLabel, grid: true, nice: true, ticks: 5, domain: [0, Math.max(...points.map((p) => p.value)) || 1] },
      marks: [Plot.lineY(points, { x: "t", y: "value", strokeWidth: 1.5 }), Plot.ruleY([0])],
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

/** Colours of groups, in order of first appearance; the page lists them beside the chart. */
const groupColours = ["#4e79a7", "#f28e2c", "#e15759", "#59a14f", "#b07aa1", "#9c755f", "#76b7b2", "#edc949", "#ff9da7", "#bab0ab"];

export interface SeriesChart {
  svg: string;
  /** Group name → colour, for the legend the page writes as text. */
  legend: { name: string; colour: string }[];
}

/** A program's series as a chart: lines (one per group), bars (side by side per group), or a heatmap. */
export function seriesSvg(series: Series, label: string): SeriesChart | undefined {
  const x = series.x ?? series.columns[0]!;
  const y = series.y ?? series.columns[1]!;
  const index = (name: string | undefined) => (name === undefined ? -1 : series.columns.indexOf(name));
  const [xi, yi, gi, vi] = [index(x), index(y), index(series.group), index(series.value)];
  if (xi < 0 || yi < 0) return undefined;
  // Text cells become tick labels: reduced to a plain character set, so nothing a program writes can become markup.
  const cell = (row: (number | string)[], i: number) => (typeof row[i] === "number" ? row[i] : chartText(String(row[i] ?? "")));
  const rows = series.kind === "line" ? thinGroups(series.rows, gi) : series.rows;
  const data = rows.map((row) => ({ x: cell(row, xi), y: cell(row, yi), group: gi >= 0 ? chartText(String(row[gi] ?? "")) : "", value: vi >= 0 ? Number(row[vi]) : NaN }));
  // Categories keep the order the program wrote them in.
  const order = <T,>(values: T[]) => [...new Set(values)];
  const groups = order(data.map((d) => d.group)).slice(0, groupColours.length);
  const color = gi >= 0 ? { domain: groups, range: groupColours.slice(0, groups.length) } : undefined;
  const legend = gi >= 0 ? groups.map((name, i) => ({ name, colour: groupColours[i]! })) : [];
  const longest = Math.max(0, ...data.map((d) => String(series.kind === "heatmap" || series.kind === "bar" ? d.y : "").length));
  // No tick marks (labels and the grid say where values are): a dozen charts fit a page's size budget.
  const common = { document, width, height, marginLeft: Math.min(240, Math.max(60, 12 + 6 * longest)), marginBottom: 40 };
  const xLabel = chartText(x);
  const yLabel = chartText(y);
  let svg: string | undefined;
  switch (series.kind) {
    case "line":
      svg = serialise(
        Plot.plot({
          ...common,
          x: { tickSize: 0, label: xLabel, ticks: 6 },
          y: { tickSize: 0, label: yLabel, grid: true, ticks: 5 },
          color,
          marks: [Plot.line(data, { x: "x", y: "y", stroke: gi >= 0 ? "group" : undefined, strokeWidth: 1.5 }), Plot.ruleY([0])],
        }),
        label,
      );
      break;
    case "bar":
      svg = serialise(
        gi >= 0
          ? Plot.plot({
              ...common,
              fx: { tickSize: 0, label: xLabel, domain: order(data.map((d) => d.x)) },
              x: { axis: null, type: "band", domain: groups },
              y: { tickSize: 0, label: yLabel, grid: true, ticks: 5 },
              color,
              marks: [Plot.barY(data, { fx: "x", x: "group", y: "y", fill: "group" }), Plot.ruleY([0])],
            })
          : Plot.plot({
              ...common,
              x: { tickSize: 0, label: xLabel, type: "band", domain: order(data.map((d) => d.x)) },
              y: { tickSize: 0, label: yLabel, grid: true, ticks: 5 },
              marks: [Plot.barY(data, { x: "x", y: "y", fill: "var(--link)" }), Plot.ruleY([0])],
            }),
        label,
      );
      break;
    case "heatmap":
      if (vi < 0) return undefined;
      svg = serialise(
        Plot.plot({
          ...common,
          height: Math.max(height, 60 + 22 * new Set(data.map((d) => d.y)).size),
          x: { tickSize: 0, label: xLabel, type: "band", domain: order(data.map((d) => d.x)) },
          y: { tickSize: 0, label: yLabel, type: "band", domain: order(data.map((d) => d.y)) },
          // No colour legend (Plot draws ramps on a canvas): every cell carries its value as text.
          color: { type: "linear", scheme: "blues", domain: [0, Math.max(1, ...data.map((d) => d.value).filter(Number.isFinite))] },
          marks: [
            Plot.cell(data, { x: "x", y: "y", fill: "value", inset: 0.5 }),
            Plot.text(data, { x: "x", y: "y", text: (d) => formatCell(d.value), fill: (d) => (d.value > 0.5 * Math.max(1, ...data.map((e) => e.value)) ? "white" : "black") }),
          ],
        }),
        label,
      );
      break;
  }
  return svg === undefined ? undefined : { svg, legend };
}

/** Most points drawn per line: more are below a pixel apart at this width (tables and CSV keep all). */
const MAX_LINE_POINTS = 160;

function thin<T>(points: T[]): T[] {
  if (points.length <= MAX_LINE_POINTS) return points;
  const step = (points.length - 1) / (MAX_LINE_POINTS - 1);
  return Array.from({ length: MAX_LINE_POINTS }, (_, i) => points[Math.round(i * step)]!);
}

function thinGroups(rows: (number | string)[][], groupIndex: number): (number | string)[][] {
  if (groupIndex < 0) return thin(rows);
  return [...Map.groupBy(rows, (row) => String(row[groupIndex])).values()].flatMap(thin);
}

function formatCell(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(3))) : "";
}

/** Letters, digits, spaces and a few marks; anything else becomes "?", and long text is cut. */
export function chartText(text: string): string {
  const plain = text.replace(/[^A-Za-z0-9 _.,:;%|()+\-/]/g, "?");
  return plain.length > 40 ? `${plain.slice(0, 39)}…` : plain;
}

// Geometry that Plot writes with 15 significant digits; whole pixels are what a screen shows, and a
// run page with a dozen charts stays within its size budget.
const geometry = ["d", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "transform", "points"];

function serialise(svg: Element, label: string): string {
  // One image with one name: Plot's per-mark aria-labels on <g> are flagged by axe (no role there).
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  // Plot repeats the same small stylesheet in every chart; the layout's global CSS has it once.
  for (const style of svg.querySelectorAll("style")) style.remove();
  svg.removeAttribute("class");
  for (const element of svg.querySelectorAll("*")) {
    element.removeAttribute("aria-label");
    for (const name of geometry) {
      const value = element.getAttribute(name);
      if (value) element.setAttribute(name, value.replace(/-?\d+\.\d+/g, (n) => String(Math.round(Number(n)))));
    }
  }
  return svg.outerHTML;
}
