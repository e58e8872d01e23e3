// "Since the previous deploy": compares the runs being built with the manifest.json of the site that is
// deployed now (the publish workflow downloads it to $CRUCIBLE_PREVIOUS_MANIFEST before building).
import { readFile, stat } from "node:fs/promises";
import type { RunStatus } from "./result.js";

/** What this needs of a run (lib/runs.ts's Run has more). */
interface Run {
  id: string;
  result: { experiment: { name: string }; runId: string; status: RunStatus };
}

export const MANIFEST_FORMAT = "crucible-site-manifest/1";
const MAX_MANIFEST_BYTES = 32 * 1024 * 1024;

export interface DeployChanges<R extends Run = Run> {
  newRuns: R[];
  /** Experiments whose newest run ended differently from their newest run in the previous deploy. */
  statusChanges: { experiment: string; before: string; after: RunStatus; run: R }[];
  removedRuns: number;
}

/** Undefined when there is no previous manifest to compare with (first deploy, local build); throws on a malformed one. */
export async function deployChanges<R extends Run>(
  runs: R[],
  manifestFile = process.env.CRUCIBLE_PREVIOUS_MANIFEST,
): Promise<DeployChanges<R> | undefined> {
  if (!manifestFile) return undefined;
  const size = await stat(manifestFile).then(
    (s) => s.size,
    () => undefined,
  );
  if (size === undefined) return undefined;
  if (size > MAX_MANIFEST_BYTES)
    throw new Error(`${manifestFile}: the previous deploy's manifest is ${size} bytes, more than ${MAX_MANIFEST_BYTES}`);
  const manifest: unknown = JSON.parse(await readFile(manifestFile, "utf8"));
  const previous = (manifest as { runs?: unknown })?.runs;
  if (
    (manifest as { format?: unknown })?.format !== MANIFEST_FORMAT ||
    !previous ||
    typeof previous !== "object" ||
    Array.isArray(previous)
  ) {
    throw new Error(`${manifestFile}: not a ${MANIFEST_FORMAT} manifest`);
  }
  const before = new Map(Object.entries(previous as Record<string, unknown>).map(([id, status]) => [id, String(status)]));
  const current = new Set(runs.map((run) => run.id));
  // Run ids start with their UTC start time, so the greatest id of an experiment is its newest run.
  const latestBefore = new Map<string, string>();
  for (const id of [...before.keys()].sort()) latestBefore.set(id.slice(0, id.lastIndexOf("/")), id);
  const latestNow = new Map<string, R>();
  for (const run of [...runs].reverse()) latestNow.set(run.result.experiment.name, run);
  return {
    newRuns: runs.filter((run) => !before.has(run.id)),
    statusChanges: [...latestNow]
      .filter(([experiment, run]) => latestBefore.has(experiment) && before.get(latestBefore.get(experiment)!) !== run.result.status)
      .map(([experiment, run]) => ({ experiment, before: before.get(latestBefore.get(experiment)!)!, after: run.result.status, run })),
    removedRuns: [...before.keys()].filter((id) => !current.has(id)).length,
  };
}
