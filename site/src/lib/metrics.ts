// Metric values as a reader wants them: with their unit, ratios that are shares as percentages, AUROC to
// three decimals, counts with thousands separators, a layer as "layer 1". Also the headline metrics of a
// run (declared in experiment.yaml, or the first few the program reported) and their change against the
// previous run, judged by the direction the experiment declared better.
import { formatBytes, formatDuration, formatNumber } from "./format";
import type { RunResult } from "./result";

export type Better = "higher" | "lower" | "neither";
export interface HeadlineSpec {
  metric: string;
  better: Better;
}

const NBSP = "\u00a0";

/** AUROC and similar scores keep their 0–1 scale; other shares read better as percentages. */
function isScore(name: string): boolean {
  return /auroc|(^|_)auc($|_)/i.test(name);
}

/** How a metric's values are shown: percentages (values ×100), fixed three decimals, or as they are. */
export type Scale = "share" | "percent" | "score" | "plain";

export function scaleOf(name: string, unit: string | undefined, value?: number): Scale {
  if (unit === "percent") return "percent";
  if (unit === "ratio" || unit === "share" || unit === "fraction") {
    if (isScore(name)) return "score";
    return value === undefined || (value >= 0 && value <= 1) ? "share" : "plain";
  }
  if (!unit && isScore(name)) return "score";
  return "plain";
}

export function formatPercent(percent: number): string {
  const abs = Math.abs(percent);
  const rounded = abs >= 1 ? percent.toFixed(1).replace(/\.0$/, "") : String(Number(percent.toPrecision(2)));
  const text = Number.isInteger(percent) ? String(percent) : rounded;
  return `${text}${NBSP}%`;
}

/** A metric's value with its unit, e.g. "99.5 %", "1.000", "layer 1", "128,896", "0.2968 nats". */
export function formatMetric(name: string, value: number, unit?: string): string {
  if (!Number.isFinite(value)) return String(value);
  switch (scaleOf(name, unit, value)) {
    case "share":
      return formatPercent(value * 100);
    case "percent":
      return formatPercent(value);
    case "score":
      return value.toFixed(3);
  }
  switch (unit) {
    case undefined:
    case "":
    case "score":
    case "ratio":
      return formatNumber(value);
    case "count":
      return Number.isInteger(value) ? value.toLocaleString("en-US") : formatNumber(value);
    case "layer":
    case "step":
    case "epoch":
      return `${unit} ${formatNumber(value)}`;
    case "bytes":
    case "B":
      return formatBytes(value);
    case "seconds":
    case "s":
      return formatDuration(value);
    default:
      return `${formatNumber(value)}${NBSP}${unit}`;
  }
}

const MINUS = "\u2212";
const signed = (text: string, diff: number) => (diff > 0 ? `+${text}` : diff < 0 ? `${MINUS}${text}` : `±${text}`);

/** The change from one value to another in the metric's own terms: "+0.5 pp", "−0.012", "+3 nats". */
export function formatDelta(name: string, unit: string | undefined, before: number, after: number): string {
  const diff = after - before;
  const abs = Math.abs(diff);
  switch (scaleOf(name, unit, after)) {
    case "share":
      return signed(`${formatNumber(abs * 100)}${NBSP}pp`, diff);
    case "percent":
      return signed(`${formatNumber(abs)}${NBSP}pp`, diff);
    case "score":
      return signed(abs.toFixed(3), diff);
  }
  return signed(formatMetric(name, abs, unit === "layer" ? undefined : unit), diff);
}

export type Change = "better" | "worse" | "same" | "changed";

export function judge(before: number, after: number, better: Better | undefined): Change {
  if (before === after) return "same";
  if (better === "higher") return after > before ? "better" : "worse";
  if (better === "lower") return after < before ? "better" : "worse";
  return "changed";
}

export interface Headline {
  name: string;
  value: number;
  text: string;
  unit?: string;
  description?: string;
  better?: Better;
}

/** Headline metrics of a run: the declared ones it has, in declared order; otherwise its first three. */
export function headlineOf(
  result: Pick<RunResult, "metrics" | "metricInfo" | "experiment">,
  declared?: HeadlineSpec[],
): { declared: boolean; metrics: Headline[] } {
  const specs = result.experiment.headline ?? declared;
  const info = result.metricInfo ?? {};
  const make = (name: string, better?: Better): Headline => ({
    name,
    value: result.metrics[name]!,
    text: formatMetric(name, result.metrics[name]!, info[name]?.unit),
    unit: info[name]?.unit,
    description: info[name]?.description,
    better,
  });
  const found = (specs ?? []).filter((s) => Object.hasOwn(result.metrics, s.metric)).map((s) => make(s.metric, s.better));
  if (found.length > 0) return { declared: true, metrics: found };
  return {
    declared: false,
    metrics: Object.keys(result.metrics)
      .slice(0, 3)
      .map((name) => make(name)),
  };
}
