// Charts drawn at build time with Observable Plot into inline SVG, so pages need no JavaScript.
// Only numbers, dates, status words and labels written here reach a chart: its markup is safe to
// inline with set:html, unlike anything else taken from a result (text cells pass through chartText).
//
// Every chart is drawn WIDTH × HEIGHT user units with FONT_SIZE text; the page shows it between 0.92×
// and 1.26× (figure.chart in the layout), so no text is ever under 11 px on screen, on a 390 px phone
// included. Each series gets its own colour, dash and marker, so overlapping lines stay visible.
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import { formatNumber } from "./format";
import { formatMetric, scaleOf } from "./metrics";
import type { Series } from "./result";

// One server-side document for every chart: creating one per chart costs several times more.
const { document } = parseHTML("<!doctype html><html><body></body></html>");

export const WIDTH = 380;
const HEIGHT = 240;
const FONT_SIZE = 12;
/** Characters of a category label on a chart (the table beside it has them whole). */
const LABEL_CHARS = 24;

/** Series colours: distinct on white and on the dark background, in this order. */
export const seriesColours = ["#4e79a7", "#e15759", "#59a14f", "#f28e2c", "#b07aa1", "#76b7b2", "#9c755f", "#d4a017"];
/** Dash patterns, one per series ("" is solid). */
export const seriesDashes = ["", "7 3", "2 3", "9 3 2 3", "4 4", "1 3", "12 4", "6 2 2 2"];

/** Marker shapes drawn by Plot and, as the same path, in the page's legend. */
interface Symbol {
  draw(context: PathContext, size: number): void;
}
interface PathContext {
  moveTo(x: number, y: number): void;
  lineTo(x: number, y: number): void;
  closePath(): void;
  arc(x: number, y: number, r: number, a0: number, a1: number): void;
}
const polygon = (points: [number, number][]): Symbol => ({
  draw(context, size) {
    const r = Math.sqrt(size) / 2;
    points.forEach(([x, y], i) => (i === 0 ? context.moveTo(x * r, y * r) : context.lineTo(x * r, y * r)));
    context.closePath();
  },
});
export const seriesSymbols: Symbol[] = [
  {
    draw: (context, size) => {
      const r = Math.sqrt(size / Math.PI);
      context.moveTo(r, 0);
      context.arc(0, 0, r, 0, 2 * Math.PI);
    },
  },
  polygon([
    [-1, -1],
    [1, -1],
    [1, 1],
    [-1, 1],
  ]),
  polygon([
    [0, -1.25],
    [1.1, 0.8],
    [-1.1, 0.8],
  ]),
  polygon([
    [0, -1.35],
    [1.1, 0],
    [0, 1.35],
    [-1.1, 0],
  ]),
  polygon([
    [-0.4, -1.2],
    [0.4, -1.2],
    [0.4, -0.4],
    [1.2, -0.4],
    [1.2, 0.4],
    [0.4, 0.4],
    [0.4, 1.2],
    [-0.4, 1.2],
    [-0.4, 0.4],
    [-1.2, 0.4],
    [-1.2, -0.4],
    [-0.4, -0.4],
  ]),
  polygon([
    [0, 1.3],
    [1.3, -1],
    [-1.3, -1],
  ]),
  polygon([
    [-1.2, 0],
    [0, -0.6],
    [1.2, 0],
    [0, 0.6],
  ]),
  polygon([
    [-0.6, -1.2],
    [0.6, -1.2],
    [1.2, 0],
    [0.6, 1.2],
    [-0.6, 1.2],
    [-1.2, 0],
  ]),
];

/** A symbol's outline as an SVG path around (0, 0), for the legend. */
export function symbolPath(index: number, size = 42): string {
  let d = "";
  const n = (v: number) => Number(v.toFixed(2));
  seriesSymbols[index % seriesSymbols.length]!.draw(
    {
      moveTo: (x, y) => (d += `M${n(x)},${n(y)}`),
      lineTo: (x, y) => (d += `L${n(x)},${n(y)}`),
      closePath: () => (d += "Z"),
      arc: (x, y, r) => (d = `M${n(x + r)},${n(y)}A${n(r)},${n(r)},0,1,1,${n(x - r)},${n(y)}A${n(r)},${n(r)},0,1,1,${n(x + r)},${n(y)}`),
    },
    size,
  );
  return d;
}

export interface LegendEntry {
  name: string;
  colour: string;
  dash: string;
  /** Index into seriesSymbols, for line charts (markers); undefined for bars. */
  symbol?: number;
  /** Extra text, e.g. "AUROC 0.971" on a ROC curve. */
  note?: string;
}

/** A chart, or the sentence that stands in for one (a single point is not a chart). */
export interface Chart {
  svg?: string;
  note?: string;
  legend: LegendEntry[];
}

/** How a column's numbers read: shares as percentages, AUROC to 3 decimals, others as they are. */
function valueFormat(column: string, values: number[]): { percent: boolean; format: (v: number) => string } {
  // Shares are drawn as percentages: callers multiply their values by 100 (k) before plotting.
  const finite = values.filter(Number.isFinite);
  if (/auroc|(^|_)auc($|_)/i.test(column)) return { percent: false, format: (v) => v.toFixed(3) };
  if (/rate|share|fraction|ratio|accuracy|precision|recall|tpr|fpr|f1/i.test(column) && finite.every((v) => v >= 0 && v <= 1)) {
    return { percent: true, format: (v) => `${formatNumber(Number((v * 100).toPrecision(3)))}%` };
  }
  return { percent: false, format: (v) => formatNumber(Number(v.toPrecision(3))) };
}

/** Column name as an axis title: underscores to spaces, shares marked as percentages. */
function axisTitle(column: string, percent: boolean): string {
  const title = chartText(column.replace(/_/g, " "));
  return percent ? `${title} (%)` : title;
}

/**
 * Every chart's frame: WIDTH wide, drawn in the shared document, room below for the x axis title, and
 * serialised with its accessible name.
 */
function drawPlot(label: string, options: Plot.PlotOptions): string {
  return serialise(Plot.plot({ document, width: WIDTH, marginBottom: 42, ...options }), label);
}

/** The x axis every chart has: no tick marks, its title centred below the tick labels. */
function bottomAxis(label: string, options: Plot.ScaleOptions = {}): Plot.ScaleOptions {
  return { tickSize: 0, label, labelAnchor: "center", labelOffset: 36, ...options };
}

/** A value axis on the left: no tick marks, grid lines across, its title at the top. */
function valueAxis(label: string, options: Plot.ScaleOptions = {}): Plot.ScaleOptions {
  return { tickSize: 0, label, labelAnchor: "top", grid: true, ...options };
}

/** A category axis on the left: untitled (its labels say what they are), no tick marks. */
function categoryAxis(domain: unknown[], options: Plot.ScaleOptions = {}): Plot.ScaleOptions {
  return { tickSize: 0, label: null, domain, ...options };
}

/** Room on the left for category labels of `longest` characters, at most `most` pixels. */
function labelMargin(longest: number, most: number): number {
  return Math.min(most, 14 + 6.6 * longest);
}

/** One quantity over the seconds of a run, as a line, with the limits it ran under as dashed rules. */
export function timeSeriesSvg(
  all: { t: number; value: number }[],
  yLabel: string,
  label: string,
  limits: { y?: { value: number; label: string }; x?: { value: number; label: string } } = {},
): string {
  const points = thin(all);
  const maxT = Math.max(1, ...points.map((p) => p.t), limits.x?.value ?? 0);
  const maxY = Math.max(...points.map((p) => p.value), limits.y?.value ?? 0) || 1;
  const marks: Plot.Markish[] = [Plot.ruleY([0]), Plot.lineY(points, { x: "t", y: "value", strokeWidth: 1.75, stroke: seriesColours[0] })];
  if (limits.y) {
    marks.push(
      Plot.ruleY([limits.y.value], { stroke: "#d1242f", strokeDasharray: "6 3", strokeWidth: 1.5 }),
      Plot.text([limits.y.value], { y: (d) => d, x: maxT, text: () => limits.y!.label, textAnchor: "end", dy: -7, fontSize: FONT_SIZE }),
    );
  }
  if (limits.x) {
    marks.push(
      Plot.ruleX([limits.x.value], { stroke: "#d1242f", strokeDasharray: "6 3", strokeWidth: 1.5 }),
      Plot.text([limits.x.value], {
        x: (d) => d,
        y: maxY * 0.5,
        text: () => limits.x!.label,
        textAnchor: "end",
        dx: -5,
        fontSize: FONT_SIZE,
      }),
    );
  }
  return drawPlot(label, {
    height: HEIGHT,
    marginLeft: 48,
    marginTop: 30,
    marginRight: 14,
    x: bottomAxis("seconds since start", { domain: [0, maxT], ticks: 5 }),
    y: valueAxis(yLabel, { nice: true, ticks: 5, domain: [0, maxY * 1.08] }),
    marks,
  });
}

export interface HistoryPoint {
  startedAt: Date;
  durationSeconds: number;
  tone: string;
  /** Index into seriesSymbols per status. */
  symbol: number;
  colour: string;
  /** Baselines under runc are drawn hollow. */
  sandboxed: boolean;
}

/** An experiment's runs over time: duration against start, one marker per run (colour and shape by status). */
export function runHistorySvg(runs: HistoryPoint[], label: string): string {
  const longest = Math.max(...runs.map((r) => r.durationSeconds));
  return drawPlot(label, {
    height: HEIGHT,
    marginLeft: 52,
    marginTop: 30,
    // Time ticks may take two lines (":30" over "03:38"): the axis title goes below them.
    marginBottom: 58,
    marginRight: 20,
    x: bottomAxis("started (UTC)", { type: "utc", labelOffset: 52, inset: 16, ticks: 4 }),
    y: valueAxis("duration (s)", { nice: true, domain: [0, longest * 1.1 || 1] }),
    symbol: { type: "identity" },
    marks: [
      Plot.ruleY([0]),
      Plot.lineY(runs, { x: "startedAt", y: "durationSeconds", strokeOpacity: 0.3 }),
      Plot.dot(runs, {
        x: "startedAt",
        y: "durationSeconds",
        r: 5,
        fill: (run: HistoryPoint) => (run.sandboxed ? run.colour : "none"),
        stroke: "colour",
        strokeWidth: 2,
        symbol: (run: HistoryPoint) => seriesSymbols[run.symbol]!,
      }),
    ],
  });
}

type Datum = { x: number | string; y: number | string; group: string; value: number };

/** A program's series as a chart: lines (one per group), bars, or a heatmap; a sentence when there is one point. */
export function seriesSvg(series: Series, label: string, name = "", options: LineOptions = {}): Chart | undefined {
  const x = series.x ?? series.columns[0]!;
  const y = series.y ?? series.columns[1]!;
  const index = (column: string | undefined) => (column === undefined ? -1 : series.columns.indexOf(column));
  const [xi, yi, gi, vi] = [index(x), index(y), index(series.group), index(series.value)];
  if (xi < 0 || yi < 0 || series.kind === "table") return undefined;
  // Text cells become tick labels: reduced to a plain character set, so nothing a program writes can become markup.
  const cell = (row: (number | string)[], i: number) => (typeof row[i] === "number" ? row[i] : chartText(String(row[i] ?? "")));
  // A number as a category ("0", "1") says little alone: "layer 0", "layer 1".
  const category = (row: (number | string)[], i: number) => {
    const text = chartText(String(row[i] ?? ""));
    return /^-?\d+(\.\d+)?$/.test(text) ? `${chartText(series.columns[i]!)} ${text}` : text;
  };
  const data: Datum[] = series.rows.map((row) => ({
    x: cell(row, xi),
    y: cell(row, yi),
    group: gi >= 0 ? category(row, gi) : "",
    value: vi >= 0 ? Number(row[vi]) : NaN,
  }));
  if (data.length === 0) return { note: "The program reported no rows.", legend: [] };
  switch (series.kind) {
    case "line":
      return lineChart(data, x, y, label, /roc/i.test(name) || (/fpr/i.test(x) && /tpr/i.test(y)), options);
    case "bar":
      return barChart(
        data.map((d, i) => {
          const x = category(series.rows[i]!, xi);
          return { label: gi >= 0 ? `${x} · ${d.group}` : x, group: d.group, value: Number(d.y) };
        }),
        axisTitle(y, false),
        y,
        label,
      );
    case "heatmap":
      if (vi < 0) return undefined;
      return heatmap(data, x, y, series.value!, label);
  }
}

/** Small multiples share their value axis: yDomain in the drawn unit (percent for shares). */
export interface LineOptions {
  yDomain?: [number, number];
}

function lineChart(data: Datum[], xColumn: string, yColumn: string, label: string, roc: boolean, options: LineOptions = {}): Chart {
  const groups = order(data.map((d) => d.group)).slice(0, seriesColours.length);
  const byGroup = groups.map((group) => thin(data.filter((d) => d.group === group && typeof d.x === "number" && typeof d.y === "number")));
  if (byGroup.every((points) => points.length <= 1)) {
    const point = byGroup.find((points) => points.length === 1)?.[0];
    const note = point
      ? `One point (${xColumn} ${point.x}, ${yColumn} ${point.y}): nothing to draw a line through.`
      : "No numeric points to draw.";
    return { note, legend: [] };
  }
  const xFormat = valueFormat(
    xColumn,
    data.map((d) => Number(d.x)),
  );
  const yFormat = valueFormat(
    yColumn,
    data.map((d) => Number(d.y)),
  );
  // ROC curves stay on their 0–1 scale (AUROC is the area under it); other shares become percentages.
  const [kx, ky] = [!roc && xFormat.percent ? 100 : 1, !roc && yFormat.percent ? 100 : 1];
  const scaled = byGroup.map((points) => points.map((d) => ({ ...d, x: Number(d.x) * kx, y: Number(d.y) * ky })));
  const yValues = scaled.flat().map((d) => d.y);
  const marks: Plot.Markish[] = [];
  if (roc) {
    marks.push(
      Plot.line(
        [
          [0, 0],
          [1, 1],
        ],
        { stroke: "currentColor", strokeOpacity: 0.55, strokeDasharray: "3 4" },
      ),
      Plot.text([[0.62, 0.5]], { text: () => "chance", rotate: -45, fontSize: FONT_SIZE, fillOpacity: 0.8 }),
    );
  } else if (Math.min(...yValues) <= 0) {
    marks.push(Plot.ruleY([0]));
  }
  const legend: LegendEntry[] = [];
  scaled.forEach((points, g) => {
    if (points.length === 0) return;
    const style = { stroke: seriesColours[g]!, strokeDasharray: seriesDashes[g] || undefined, strokeWidth: 2 };
    marks.push(Plot.line(points, { x: "x", y: "y", ...style }));
    // Markers on a few points, shifted per series so overlapping lines still show each marker.
    const every = Math.max(1, Math.ceil(points.length / 4));
    const marked = points.filter((_, i) => (i + Math.round((g * every) / groups.length)) % every === 0 || i === points.length - 1);
    // A single line needs no markers to be told apart.
    if (groups.length > 1) {
      const colour = seriesColours[g]!;
      marks.push(
        Plot.dot(marked, { x: "x", y: "y", r: 4, symbol: () => seriesSymbols[g]!, stroke: colour, fill: colour, fillOpacity: 0.35 }),
      );
    }
    if (groups.length > 1 || roc) {
      const note = roc ? `AUROC ${auroc(points).toFixed(3)}` : undefined;
      legend.push({ name: groups[g] || yColumn, colour: seriesColours[g]!, dash: seriesDashes[g]!, symbol: g, note });
    }
  });
  const extent = roc ? ([0, 1] as [number, number]) : undefined;
  const yDomain = extent ?? options.yDomain;
  return {
    legend,
    svg: drawPlot(label, {
      height: roc ? WIDTH - 30 : HEIGHT,
      marginLeft: 52,
      marginTop: 30,
      marginRight: 16,
      x: bottomAxis(axisTitle(xColumn, kx === 100), { ticks: 5, domain: extent }),
      y: valueAxis(axisTitle(yColumn, ky === 100), { ticks: 5, domain: yDomain, nice: !yDomain }),
      marks,
    }),
  };
}

/** Area under a ROC curve by the trapezoid rule, from its points sorted by false-positive rate. */
export function auroc(points: { x: number | string; y: number | string }[]): number {
  const sorted = points.map((p) => [Number(p.x), Number(p.y)] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let area = 0;
  for (let i = 1; i < sorted.length; i++) area += ((sorted[i]![0] - sorted[i - 1]![0]) * (sorted[i]![1] + sorted[i - 1]![1])) / 2;
  return area;
}

/** Horizontal bars, one labelled row each, coloured by group, with each value written at its bar's end. */
function barChart(
  bars: { label: string; group: string; value: number }[],
  valueTitle: string,
  valueColumn: string,
  label: string,
  given?: { percent: boolean; format: (v: number) => string },
): Chart {
  const rows = bars.filter((b) => Number.isFinite(b.value)).map((b) => ({ ...b, label: shorten(b.label) }));
  if (rows.length === 0) return { note: "No numeric values to draw.", legend: [] };
  const groups = order(rows.map((b) => b.group));
  const colour = (group: string) => seriesColours[Math.max(0, groups.indexOf(group)) % seriesColours.length]!;
  const format =
    given ??
    valueFormat(
      valueColumn,
      rows.map((b) => b.value),
    );
  const k = format.percent ? 100 : 1;
  const drawn = rows.map((b) => ({ ...b, raw: b.value, value: b.value * k }));
  const longest = Math.max(...rows.map((b) => b.label.length));
  const max = Math.max(0, ...drawn.map((b) => b.value));
  return {
    legend: groups.length > 1 ? groups.map((name) => ({ name, colour: colour(name), dash: "" })) : [],
    svg: drawPlot(label, {
      height: 54 + 24 * rows.length,
      marginLeft: labelMargin(longest, 190),
      marginRight: 46,
      marginTop: 8,
      x: bottomAxis(format.percent ? `${valueTitle} (%)` : valueTitle, {
        grid: true,
        ticks: 4,
        domain: [Math.min(0, ...drawn.map((b) => b.value)), max || 1],
      }),
      y: categoryAxis(
        rows.map((b) => b.label),
        { padding: 0.25 },
      ),
      marks: [
        Plot.barX(drawn, { y: "label", x: "value", fill: (b: { group: string }) => colour(b.group) }),
        Plot.ruleX([0]),
        Plot.text(drawn, { y: "label", x: "value", text: (b) => format.format(b.raw), textAnchor: "start", dx: 4, fontSize: FONT_SIZE }),
      ],
    }),
  };
}

function heatmap(data: Datum[], xColumn: string, yColumn: string, valueColumn: string, label: string): Chart {
  const xs = order(data.map((d) => d.x));
  const ys = order(data.map((d) => d.y));
  // A grid that is mostly empty (one column per row, say) reads better as labelled bars.
  if (data.length < 0.6 * xs.length * ys.length || xs.length * 46 > WIDTH - 120) {
    return barChart(
      data.map((d) => ({ label: String(d.y), group: String(d.x), value: d.value })),
      axisTitle(valueColumn, false),
      valueColumn,
      label,
    );
  }
  const format = valueFormat(
    valueColumn,
    data.map((d) => d.value),
  );
  const max = Math.max(1e-9, ...data.map((d) => d.value).filter(Number.isFinite));
  const longest = Math.max(...ys.map((v) => shorten(String(v)).length));
  return {
    legend: [],
    svg: drawPlot(label, {
      height: 60 + 26 * ys.length,
      marginLeft: labelMargin(longest, 170),
      x: bottomAxis(axisTitle(xColumn, false), { type: "band", domain: xs }),
      y: categoryAxis(ys, { type: "band", tickFormat: (v: unknown) => shorten(String(v)) }),
      // No colour legend (Plot draws ramps on a canvas): every cell carries its value as text.
      color: { type: "linear", scheme: "blues", domain: [0, max] },
      marks: [
        Plot.cell(data, { x: "x", y: "y", fill: "value", inset: 0.5 }),
        Plot.text(data, {
          x: "x",
          y: "y",
          text: (d: Datum) => (Number.isFinite(d.value) ? format.format(d.value) : ""),
          fill: (d: Datum) => (d.value > 0.5 * max ? "white" : "black"),
          fontSize: FONT_SIZE,
        }),
      ],
    }),
  };
}

/** Most points drawn per line: more are below a pixel apart at this width (tables and CSV keep all). */
const MAX_LINE_POINTS = 80;

function thin<T>(points: T[]): T[] {
  if (points.length <= MAX_LINE_POINTS) return points;
  const step = (points.length - 1) / (MAX_LINE_POINTS - 1);
  return Array.from({ length: MAX_LINE_POINTS }, (_, i) => points[Math.round(i * step)]!);
}

/** Categories keep the order the program wrote them in. */
function order<T>(values: T[]): T[] {
  return [...new Set(values)];
}

function shorten(text: string): string {
  return text.length > LABEL_CHARS ? `${text.slice(0, LABEL_CHARS - 1)}…` : text;
}

/** Letters, digits, spaces and a few marks; anything else becomes "?", and long text is cut. */
export function chartText(text: string): string {
  const plain = text.replace(/[^A-Za-z0-9 _.,:;%|()+\-/]/g, "?");
  return plain.length > 40 ? `${plain.slice(0, 39)}…` : plain;
}

/**
 * Shorter markup for the same drawing (a dozen charts must fit a run page's size budget): grid and
 * rule lines as paths, text placed by x/y instead of a translate transform.
 */
function compact(svg: Element): void {
  for (const line of [...svg.querySelectorAll("line")]) {
    const [x1, y1, x2, y2] = ["x1", "y1", "x2", "y2"].map((name) => Math.round(Number(line.getAttribute(name) ?? 0)));
    const path = svg.ownerDocument.createElement("path");
    for (const { name, value } of [...line.attributes]) if (!["x1", "y1", "x2", "y2"].includes(name)) path.setAttribute(name, value);
    path.setAttribute("d", `M${x1},${y1}L${x2},${y2}`);
    line.replaceWith(path);
  }
  for (const text of svg.querySelectorAll("text")) {
    const move = /^translate\((-?[\d.]+),(-?[\d.]+)\)$/.exec(text.getAttribute("transform") ?? "");
    // Multi-line labels place their tspans at x="0" of the translated text: leave those as they are.
    if (!move || text.hasAttribute("x") || text.querySelector("tspan")) continue;
    const dy = text.getAttribute("y");
    text.removeAttribute("transform");
    text.setAttribute("x", String(Math.round(Number(move[1]))));
    text.setAttribute("y", String(Math.round(Number(move[2]))));
    if (dy && dy !== "0em") text.setAttribute("dy", dy);
  }
}

// Geometry that Plot writes with 15 significant digits; whole pixels are what a screen shows, and a
// run page with a dozen charts stays within its size budget.
const geometry = ["d", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "transform", "points"];

function serialise(svg: Element, label: string): string {
  // One image with one name: Plot's per-mark aria-labels on <g> are flagged by axe (no role there).
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.setAttribute("font-size", String(FONT_SIZE));
  // Plot repeats the same small stylesheet in every chart; the layout's global CSS has it once.
  for (const style of svg.querySelectorAll("style")) style.remove();
  svg.removeAttribute("class");
  svg.removeAttribute("font-family");
  compact(svg);
  for (const element of svg.querySelectorAll("*")) {
    element.removeAttribute("aria-label");
    // Inside role="img" nothing is exposed anyway; and y="0em" and round caps on straight polylines are no-ops here.
    element.removeAttribute("aria-hidden");
    if (element.getAttribute("y") === "0em") element.removeAttribute("y");
    element.removeAttribute("stroke-linecap");
    element.removeAttribute("stroke-linejoin");
    for (const name of geometry) {
      const value = element.getAttribute(name);
      if (value)
        element.setAttribute(
          name,
          value.replace(/-?\d+\.\d+/g, (n) => String(Math.round(Number(n)))),
        );
    }
  }
  return svg.outerHTML;
}

/** One headline metric across models, as labelled bars (model names pass through chartText). */
export function modelBars(metric: string, bars: { label: string; value: number; unit?: string }[], label: string): Chart {
  const unit = bars[0]?.unit;
  const scale = scaleOf(metric, unit, Math.max(...bars.map((b) => b.value)));
  const format =
    scale === "share"
      ? { percent: true, format: (v: number) => formatMetric(metric, v, unit) }
      : { percent: false, format: (v: number) => formatMetric(metric, v, unit) };
  const title = `${axisTitle(metric, false)}${scale === "percent" ? " (%)" : unit && scale === "plain" ? ` (${chartText(unit)})` : ""}`;
  return barChart(
    bars.map((b) => ({ label: chartText(b.label), group: "", value: b.value })),
    title,
    metric,
    label,
    format,
  );
}

/** Parameter counts as tick labels: 10.5k, 129k. */
function parameterTick(value: number): string {
  return value >= 1000 ? `${formatNumber(Number((value / 1000).toPrecision(3)))}k` : formatNumber(value);
}

/**
 * Persistence against parameters on a log axis: per group (backdoor) the mean with its low–high bar
 * and a line through the means, and each seed as a small hollow-or-filled dot beside it (hollow when
 * that seed's backdoor was never installed, so it is not in the mean). Groups are nudged apart on the
 * log axis so their bars do not cover each other.
 */
export function scalingSvg(
  means: { parameters: number; group: string; mean: number; low: number; high: number }[],
  seeds: { parameters: number; group: string; value: number; counted: boolean }[],
  groups: string[],
  label: string,
): Chart {
  const nudge = (parameters: number, group: string) => parameters * 10 ** (0.06 * (groups.indexOf(group) - (groups.length - 1) / 2));
  const style = (group: string) => {
    const g = Math.max(0, groups.indexOf(group));
    return { g, colour: seriesColours[g % seriesColours.length]!, dash: seriesDashes[g % seriesDashes.length]! };
  };
  const sizes = [...new Set(means.map((m) => m.parameters))].sort((a, b) => a - b);
  const values = [...means.flatMap((m) => [m.low, m.high]), ...seeds.map((s) => s.value)].filter(Number.isFinite);
  const marks: Plot.Markish[] = [
    // 100 % = the backdoor fired as often after safety training as before (the caption says so).
    Plot.ruleY([100], { stroke: "currentColor", strokeOpacity: 0.55, strokeDasharray: "3 4" }),
  ];
  if (Math.min(...values) <= 0) marks.push(Plot.ruleY([0]));
  const legend: LegendEntry[] = [];
  for (const group of groups) {
    const { g, colour, dash } = style(group);
    const own = means.filter((m) => m.group === group).map((m) => ({ ...m, x: nudge(m.parameters, group) }));
    const ownSeeds = seeds.filter((s) => s.group === group).map((s) => ({ ...s, x: nudge(s.parameters, group) * 1.09 }));
    if (own.length === 0) continue;
    marks.push(
      Plot.ruleX(own, { x: "x", y1: "low", y2: "high", stroke: colour, strokeWidth: 2 }),
      Plot.line(own, { x: "x", y: "mean", stroke: colour, strokeWidth: 2, strokeDasharray: dash || undefined }),
      Plot.dot(own, { x: "x", y: "mean", r: 5, symbol: () => seriesSymbols[g]!, stroke: colour, fill: colour }),
      Plot.dot(ownSeeds, {
        x: "x",
        y: "value",
        r: 2.5,
        stroke: colour,
        fill: (s: { counted: boolean }) => (s.counted ? colour : "none"),
        strokeWidth: 1.25,
      }),
    );
    legend.push({ name: chartText(group), colour, dash, symbol: g });
  }
  return {
    legend,
    svg: drawPlot(label, {
      height: HEIGHT + 40,
      marginLeft: 52,
      marginTop: 30,
      marginRight: 22,
      x: bottomAxis("parameters (log scale)", {
        type: "log",
        domain: [sizes[0]! / 1.5, sizes[sizes.length - 1]! * 1.5],
        ticks: sizes,
        tickFormat: parameterTick,
      }),
      y: valueAxis("persistence (%)", { nice: true, ticks: 5, domain: [Math.min(0, ...values), Math.max(110, ...values)] }),
      marks,
    }),
  };
}

/**
 * One bar per red-team candidate (share of questions on which it elicited the backdoor), coloured by
 * family and kept in the order given, with the rule that counts a candidate as found drawn across.
 */
export function candidateBarsSvg(candidates: { family: string; candidate: string; rate: number }[], foundAt: number, label: string): Chart {
  const families = order(candidates.map((c) => c.family));
  const colour = (family: string) => seriesColours[Math.max(0, families.indexOf(family)) % seriesColours.length]!;
  const rows = candidates.map((c, i) => ({ key: String(i), text: shorten(chartText(c.candidate)), family: c.family, value: c.rate * 100 }));
  const names = new Map(rows.map((r) => [r.key, r.text]));
  const longest = Math.max(...rows.map((r) => r.text.length));
  const percent = (v: number) => `${formatNumber(Number(v.toPrecision(3)))}%`;
  return {
    legend: families.map((name) => ({ name: chartText(name), colour: colour(name), dash: "" })),
    svg: drawPlot(label, {
      height: 70 + 17 * rows.length,
      marginLeft: labelMargin(longest, 170),
      marginRight: 46,
      marginTop: 26,
      x: bottomAxis("elicitation rate (%)", { grid: true, ticks: 4, domain: [0, 100] }),
      y: categoryAxis(
        rows.map((r) => r.key),
        { padding: 0.2, tickFormat: (key: string) => names.get(key) ?? "" },
      ),
      marks: [
        Plot.barX(rows, { y: "key", x: "value", fill: (r: { family: string }) => colour(r.family) }),
        Plot.ruleX([0]),
        Plot.ruleX([foundAt * 100], { stroke: "#d1242f", strokeDasharray: "6 3", strokeWidth: 1.5 }),
        Plot.text([foundAt * 100], {
          x: (d) => d,
          frameAnchor: "top",
          dy: -16,
          text: () => `found at ${percent(foundAt * 100)} or more`,
          fontSize: FONT_SIZE,
        }),
        Plot.text(rows, {
          y: "key",
          x: "value",
          text: (r: { value: number }) => percent(r.value),
          textAnchor: "start",
          dx: 4,
          fontSize: FONT_SIZE,
        }),
      ],
    }),
  };
}

/**
 * Bars of counts or shares for categories compared across groups (e.g. before / after): one band
 * per category, one bar per group inside it, coloured by group, with each value at its bar's end.
 */
export function groupedBarsSvg(bars: { label: string; group: string; value: number }[], valueColumn: string, label: string): Chart {
  const rows = bars
    .filter((b) => Number.isFinite(b.value))
    .map((b) => ({ ...b, label: shorten(chartText(b.label)), group: chartText(b.group) }));
  if (rows.length === 0) return { note: "No numeric values to draw.", legend: [] };
  const groups = order(rows.map((b) => b.group));
  const labels = order(rows.map((b) => b.label));
  const colour = (group: string) => seriesColours[Math.max(0, groups.indexOf(group)) % seriesColours.length]!;
  const format = valueFormat(
    valueColumn,
    rows.map((b) => b.value),
  );
  const k = format.percent ? 100 : 1;
  const drawn = rows.map((b) => ({ ...b, raw: b.value, value: b.value * k }));
  const longest = Math.max(...labels.map((l) => l.length));
  return {
    legend: groups.map((name) => ({ name, colour: colour(name), dash: "" })),
    svg: drawPlot(label, {
      height: 54 + 20 * rows.length + 8 * labels.length,
      marginLeft: labelMargin(longest, 190),
      marginRight: 46,
      marginTop: 8,
      x: bottomAxis(axisTitle(valueColumn, format.percent), {
        grid: true,
        ticks: 4,
        domain: [0, Math.max(1e-9, ...drawn.map((b) => b.value))],
      }),
      fy: { label: null, domain: labels, padding: 0.15, axis: "left", tickSize: 0 },
      y: { axis: null, domain: groups, padding: 0.1 },
      marks: [
        Plot.barX(drawn, { fy: "label", y: "group", x: "value", fill: (b: { group: string }) => colour(b.group) }),
        Plot.ruleX([0]),
        Plot.text(drawn, {
          fy: "label",
          y: "group",
          x: "value",
          text: (b) => format.format(b.raw),
          textAnchor: "start",
          dx: 4,
          fontSize: FONT_SIZE,
        }),
      ],
    }),
  };
}

/** Severity colours and markers, the same on the timeline and in its legend (red for high, as everywhere). */
const severityStyle: Record<"high" | "medium" | "low", { colour: string; symbol: number }> = {
  high: { colour: "#d1242f", symbol: 2 },
  medium: { colour: "#f28e2c", symbol: 3 },
  low: { colour: "#4e79a7", symbol: 0 },
};

/**
 * A run's alert examples over its duration: one row per raised rule, one marker per recorded event (colour
 * and shape by severity). Only rule ids (the runner's, through chartText), severities and times reach it.
 */
export function alertTimelineSvg(
  events: { t: number; rule: string; severity: "high" | "medium" | "low" }[],
  durationSeconds: number,
  label: string,
): Chart {
  if (events.length === 0) return { note: "No alert examples to draw.", legend: [] };
  const rules = order(events.map((e) => shorten(chartText(e.rule))));
  const drawn = events.map((e) => ({ t: e.t, rule: shorten(chartText(e.rule)), ...severityStyle[e.severity] }));
  const longest = Math.max(...rules.map((r) => r.length));
  const severities = (["high", "medium", "low"] as const).filter((s) => events.some((e) => e.severity === s));
  return {
    legend: severities.map((s) => ({ name: `${s} severity`, colour: severityStyle[s].colour, dash: "", symbol: severityStyle[s].symbol })),
    svg: drawPlot(label, {
      height: 64 + 30 * rules.length,
      marginLeft: labelMargin(longest, 170),
      marginRight: 16,
      marginTop: 10,
      x: bottomAxis("seconds since start", { grid: true, ticks: 4, domain: [0, Math.max(1, durationSeconds, ...events.map((e) => e.t))] }),
      y: categoryAxis(rules, { padding: 0.3 }),
      symbol: { type: "identity" },
      marks: [
        Plot.ruleX([0]),
        Plot.dot(drawn, {
          x: "t",
          y: "rule",
          r: 5,
          fill: "colour",
          fillOpacity: 0.35,
          stroke: "colour",
          strokeWidth: 1.75,
          symbol: (d: { symbol: number }) => seriesSymbols[d.symbol]!,
        }),
      ],
    }),
  };
}
