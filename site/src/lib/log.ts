// A run's saved log (log.txt beside result.json, and each stage's under stages/<stage>/) as the log pages
// show it: numbered lines with stage and run time, progress reports as progress, and runs of identical
// lines folded into one with a count, so a flooding program costs one row rather than thousands.
import { existsSync } from "node:fs";
import { readFile, realpath } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import type { RunResult, StageResult } from "./result";
import type { Run } from "./runs";

export interface Progress {
  step: number;
  total: number;
  percent: number;
  /** Other numbers and words of the report: "epoch=1 loss=2.27". */
  extras: string;
}

export interface LogLine {
  /** 1-based line number in the file. */
  n: number;
  stream?: string;
  /** Seconds since the stage's (or single-stage run's) output began, as the file records it. */
  t?: number;
  /** Seconds since the run started (staged runs: the stage's start plus t). */
  runT?: number;
  stage?: string;
  text: string;
  progress?: Progress;
}

/** A line, or a run of identical lines shown once. */
export interface LogEntry {
  line: LogLine;
  /** How many identical lines in a row this entry stands for (1 for a plain line). */
  count: number;
  /** Number of the last line it stands for. */
  last: number;
}

/** Longest text shown for one line on a page; log.txt has it whole. */
export const MAX_SHOWN_CHARS = 2000;
/** Entries shown on one log page; log.txt has the rest. */
export const MAX_ENTRIES = 5000;
/** Identical lines in a row from which they are folded into one. */
const FOLD_FROM = 3;

const LINE = /^\[\+(\d+(?:\.\d+)?)s (stdout|stderr)\] (.*)$/;

/**
 * Parses log lines. stageNames: the run's stages, whose names prefix lines of the combined log
 * ("train-probes | ..."); offsets: each stage's start in seconds after the run's start.
 */
export function parseLog(
  lines: string[],
  options: { stageNames?: string[]; offsets?: Map<string, number>; stage?: string; firstNumber?: number } = {},
): LogLine[] {
  const stages = new Set(options.stageNames ?? []);
  return lines.map((raw, index): LogLine => {
    const n = (options.firstNumber ?? 1) + index;
    const match = LINE.exec(raw);
    if (!match) return { n, text: raw };
    let text = match[3]!;
    let stage = options.stage;
    const bar = text.indexOf(" | ");
    if (!stage && bar > 0 && stages.has(text.slice(0, bar))) {
      stage = text.slice(0, bar);
      text = text.slice(bar + 3);
    }
    const t = Number(match[1]);
    const offset = stage ? options.offsets?.get(stage) : 0;
    return { n, stream: match[2], t, runT: offset === undefined ? undefined : offset + t, stage, text, progress: parseProgress(text) };
  });
}

export function parseProgress(text: string): Progress | undefined {
  if (!text.startsWith('{"progress"')) return undefined;
  try {
    const value = (JSON.parse(text) as { progress?: Record<string, unknown> }).progress;
    const step = Number(value?.step);
    const total = Number(value?.total);
    if (!value || !Number.isFinite(step) || !Number.isFinite(total) || total <= 0) return undefined;
    const extras = Object.entries(value)
      .filter(([key, v]) => key !== "step" && key !== "total" && (typeof v === "number" || typeof v === "string"))
      .slice(0, 8)
      .map(([key, v]) => `${key}=${typeof v === "number" ? (Number.isInteger(v) ? v : Number(v.toPrecision(4))) : String(v).slice(0, 40)}`)
      .join(" ");
    return { step, total, percent: Math.min(100, Math.max(0, (step / total) * 100)), extras };
  } catch {
    return undefined;
  }
}

/** Folds runs of identical lines (same text, stream and stage) into one entry with a count. */
export function foldRepeats(lines: LogLine[]): LogEntry[] {
  const entries: LogEntry[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    let j = i + 1;
    while (j < lines.length && lines[j]!.text === line.text && lines[j]!.stream === line.stream && lines[j]!.stage === line.stage) j++;
    if (j - i >= FOLD_FROM) {
      entries.push({ line, count: j - i, last: lines[j - 1]!.n });
      i = j;
    } else {
      entries.push({ line, count: 1, last: line.n });
      i++;
    }
  }
  return entries;
}

/** Seconds from the run's start to each stage's start. */
export function stageOffsets(result: Pick<RunResult, "startedAt" | "stages">): Map<string, number> {
  const start = Date.parse(result.startedAt);
  const offsets = new Map<string, number>();
  for (const stage of result.stages ?? []) {
    if (stage.startedAt) offsets.set(stage.name, Math.max(0, (Date.parse(stage.startedAt) - start) / 1000));
  }
  return offsets;
}

/**
 * The log file a result names, when it is inside the run's folder and committed: a result's paths are
 * followed only downwards from its own folder (a result could name ../../secret).
 */
export async function logFile(run: Run, record: { path: string }): Promise<string | undefined> {
  const folder = dirname(run.file);
  const file = resolve(folder, record.path);
  if (!file.startsWith(folder + sep) || !file.endsWith(".txt") || !existsSync(file)) return undefined;
  try {
    const real = await realpath(file);
    return real.startsWith((await realpath(folder)) + sep) ? real : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a log file is there to publish (cheap: for getStaticPaths). */
export function logFileExists(run: Run, record: { path: string }): boolean {
  const folder = dirname(run.file);
  const file = resolve(folder, record.path);
  return file.startsWith(folder + sep) && file.endsWith(".txt") && existsSync(file);
}

export async function readLogLines(file: string): Promise<string[]> {
  const text = await readFile(file, "utf8");
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/** A stage's log record, by name. */
export function stageOf(result: RunResult, name: string): StageResult | undefined {
  return result.stages?.find((stage) => stage.name === name);
}

/** "+5.321 s"; minutes past a minute: "+1:05.2". */
export function formatLogTime(seconds: number | undefined): string {
  if (seconds === undefined) return "";
  if (seconds < 60) return `+${seconds.toFixed(3)} s`;
  const minutes = Math.floor(seconds / 60);
  return `+${minutes}:${(seconds - minutes * 60).toFixed(1).padStart(4, "0")}`;
}
