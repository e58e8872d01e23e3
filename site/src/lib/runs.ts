import { readFile } from "node:fs/promises";
import { getCollection } from "astro:content";
import { readExperimentFile } from "./experiment-file";
import type { HeadlineSpec } from "./metrics";
import type { RunResult } from "./result";
import { isSandboxed } from "./runtime";

/** A run as the collection stores it (see results-loader.ts); a type, not an interface, so it is a store's record. */
export type StoredRun = {
  /** The result without usage samples, series rows, container configurations and log tails. */
  result: RunResult;
  /** The validated result.json on disk, for pages that show the rest. */
  file: string;
  usageSamples: number;
  gpuSamples: number;
  seriesNames: string[];
};

export interface Run extends StoredRun {
  /** "<experiment>/<runId>", also the run's path under runs/. */
  id: string;
}

let runs: Promise<Run[]> | undefined;

/**
 * Every committed run, newest first. Read once per build: getCollection walks every entry's data on
 * each call (looking for image references), which for a thousand results with usage samples cost
 * seconds per page template.
 */
export function getRuns(): Promise<Run[]> {
  runs ??= getCollection("runs").then((entries) =>
    entries
      .map((entry) => ({ id: entry.id, ...(entry.data as unknown as StoredRun) }))
      .sort((a, b) => b.result.startedAt.localeCompare(a.result.startedAt) || a.id.localeCompare(b.id)),
  );
  return runs;
}

/** Runs grouped by experiment name, each group newest first. */
export async function getRunsByExperiment(): Promise<Map<string, Run[]>> {
  return Map.groupBy(await getRuns(), (run) => run.result.experiment.name);
}

/** The committed result.json of a run, byte for byte. */
export function readRawResult(run: Run): Promise<string> {
  return readFile(run.file, "utf8");
}

/** The whole result of a run (the collection keeps a summary; the loader validated this file). */
export async function readFullResult(run: Run): Promise<RunResult> {
  return JSON.parse(await readRawResult(run)) as RunResult;
}

let byExperiment: Promise<Map<string, Run[]>> | undefined;

function runsByExperimentCached(): Promise<Map<string, Run[]>> {
  byExperiment ??= getRunsByExperiment();
  return byExperiment;
}

/** Runs under gVisor only: what every count, headline and "latest" list is made of. */
export function sandboxedRuns(runs: Run[]): Run[] {
  return runs.filter((run) => isSandboxed(run.result.runtime));
}

/** The newest earlier run of the same experiment under the same kind of runtime (sandboxed or baseline). */
export async function previousRun(run: Run): Promise<Run | undefined> {
  const sandboxed = isSandboxed(run.result.runtime);
  const runs = (await runsByExperimentCached()).get(run.result.experiment.name) ?? [];
  const index = runs.findIndex((other) => other.id === run.id);
  return runs.slice(index + 1).find((other) => isSandboxed(other.result.runtime) === sandboxed);
}

/** The headline metrics an experiment declares: in the result since schema 2, else in its file as committed now. */
export async function headlineSpecs(run: Run): Promise<HeadlineSpec[] | undefined> {
  return run.result.experiment.headline ?? (await readExperimentFile(run.result.experiment.path))?.headline;
}
