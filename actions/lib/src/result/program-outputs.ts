// Readers of what a program leaves in /output for the pipeline itself to interpret: metrics.json (the
// headline numbers) and series.json (chart data). Anything that does not follow the rules is dropped
// with the reason; nothing a program writes is trusted.
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { droppedEntry, type collectOutputs } from "../files.js";
import { InputRefusedError, parseJsonWithin, type JsonLimits } from "../limits.js";
import { DISPLAY_TEXT, METRIC_NAME, METRIC_NAME_RULE, SERIES_NAME, SERIES_NAME_RULE } from "../names.js";
import { schemaProblems, validateSeriesDocument } from "../schemas.js";
import { shownText } from "../text.js";
import type { MetricInfo, Series } from "./format.js";
import { errorMessage } from "../errors.js";

const MAX_METRICS = 200;
/** metrics.json is a flat object of numbers (or {value, unit, description}): small and two levels deep. */
const METRICS_LIMITS = { maxBytes: 256 * 1024, maxDepth: 4 };
/** series.json holds small tables: {name: {columns, rows: [[…]]}}. */
const SERIES_LIMITS = { maxBytes: 512 * 1024, maxDepth: 6 };

/** Text of at most `max` characters without control characters, or absent. */
const optionalText = (value: unknown, max: number): boolean =>
  value === undefined || (typeof value === "string" && value.length <= max && DISPLAY_TEXT.test(value));

/**
 * metrics.json must be a flat object whose keys are metric names (names.ts) and whose values are finite
 * numbers or {value, unit, description} objects; every other entry is dropped with the reason.
 */
export async function readMetrics(
  outputDir: string,
  collected: Collected,
): Promise<{ metrics: Record<string, number>; metricInfo: Record<string, MetricInfo> }> {
  const metrics: Record<string, number> = {};
  const metricInfo: Record<string, MetricInfo> = {};
  const parsed = await readProgramJson(outputDir, "metrics.json", collected, METRICS_LIMITS);
  const drop = (key: string, reason: string) => collected.dropped.push(droppedEntry(`metrics.json#${key.slice(0, 128)}`, reason));
  for (const [key, raw] of Object.entries(parsed ?? {})) {
    const described = raw !== null && typeof raw === "object" && !Array.isArray(raw) ? (raw as Record<string, unknown>) : undefined;
    const value = described ? described.value : raw;
    const { unit, description } = described ?? {};
    if (!METRIC_NAME.test(key)) drop(key, `not a metric name: ${METRIC_NAME_RULE}`);
    else if (typeof value !== "number" || !Number.isFinite(value)) drop(key, "the value is not a finite number");
    else if (!optionalText(unit, 40)) drop(key, "the unit is not text of up to 40 characters without control characters");
    else if (!optionalText(description, 500)) drop(key, "the description is not text of up to 500 characters without control characters");
    else if (Object.keys(metrics).length >= MAX_METRICS) drop(key, `more than ${MAX_METRICS} metrics`);
    else {
      metrics[key] = value;
      const info: MetricInfo = {};
      if (unit !== undefined) info.unit = unit as string;
      if (description !== undefined) info.description = description as string;
      if (Object.keys(info).length > 0) metricInfo[key] = info;
    }
  }
  return { metrics, metricInfo };
}

/** Index of the first row holding a number JSON.parse made infinite (1e999), or -1. */
function infiniteRow(series: unknown): number {
  const rows = (series as { rows?: unknown } | null)?.rows;
  if (!Array.isArray(rows)) return -1;
  return rows.findIndex((row) => Array.isArray(row) && row.some((cell) => typeof cell === "number" && !Number.isFinite(cell)));
}

/** series.json: chart data the program offers; each series is kept only when its name and shape are valid. */
export async function readSeries(outputDir: string, collected: Collected): Promise<Record<string, Series>> {
  const parsed = await readProgramJson(outputDir, "series.json", collected, SERIES_LIMITS);
  const series: Record<string, Series> = {};
  for (const [name, value] of Object.entries(parsed ?? {})) {
    const drop = (reason: string) => collected.dropped.push(droppedEntry(`series.json#${name.slice(0, 64)}`, shownText(reason, 300)));
    const infinite = infiniteRow(value);
    const named = { [name]: value };
    if (!SERIES_NAME.test(name)) drop(`not a series name: ${SERIES_NAME_RULE}`);
    else if (infinite >= 0) drop(`row ${infinite} holds a number that is not finite`);
    else if (!validateSeriesDocument(named)) drop(`not a valid series: ${schemaProblems(validateSeriesDocument)}`);
    else Object.assign(series, named);
  }
  return series;
}

export type Collected = Awaited<ReturnType<typeof collectOutputs>>;

/**
 * Reads a JSON file the pipeline itself interprets (metrics.json, series.json). One that is not strict
 * JSON within its limits (invalid, too large, nested too deep, or with a duplicate key, which readers
 * resolve differently) is neither read nor kept, so no copy in results/ can say something the result
 * does not.
 */
async function readProgramJson(
  outputDir: string,
  name: string,
  collected: Collected,
  limits: JsonLimits,
): Promise<Record<string, unknown> | undefined> {
  if (!collected.files.some((f) => f.path === name)) return undefined;
  let refusal: string | undefined;
  let parsed: unknown;
  try {
    parsed = parseJsonWithin(await readFile(path.join(outputDir, name), "utf8"), limits);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) refusal = "not a JSON object";
  } catch (error) {
    refusal = error instanceof InputRefusedError ? error.message : `not readable (${errorMessage(error)})`;
  }
  if (refusal === undefined) return parsed as Record<string, unknown>;
  await rm(path.join(outputDir, name), { force: true });
  collected.files = collected.files.filter((f) => f.path !== name);
  collected.dropped.push(droppedEntry(name, `not read and not kept: ${refusal}`));
  return undefined;
}
