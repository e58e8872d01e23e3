// Where a run comes from: its id, the experiment file and the commit that was run, the runner and what the
// adapter knows.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { Experiment } from "../experiment.js";
import type { Provenance, RunResult } from "./format.js";

const execFileAsync = promisify(execFile);

/** What an adapter knows of where a run comes from (the job's name is a label, not provenance). */
export type GivenProvenance = Partial<Omit<Provenance, "containerId">> & { job?: string };

/** The result's provenance: what the adapter gave, without empty entries, on this runner. */
export function provenanceOf(given: GivenProvenance = {}, gitCommit: string | null): Provenance {
  const { job: _job, ...known } = given;
  const present = Object.fromEntries(
    Object.entries(known).filter(([, value]) => value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0)),
  );
  return { ...present, gitCommit, runner: given.runner ?? os.hostname(), jobUrl: given.jobUrl ?? null, containerId: null };
}

/** A run id: its UTC start time, then random hex (schemas/result.schema.json). */
export function newRunId(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

/** The commit checked out at `dir`, or null outside a git checkout. */
export async function gitHead(dir: string): Promise<string | null> {
  try {
    const { stdout } = await execFileAsync("git", ["rev-parse", "HEAD"], { cwd: dir, timeout: 10_000 });
    return stdout.trim() || null;
  } catch {
    return null;
  }
}

/** The result's account of the experiment: its name, its file relative to the repository root, and its hash. */
export function experimentRecord(experiment: Experiment, repoRoot: string): RunResult["experiment"] {
  return {
    name: experiment.spec.name,
    path: path.relative(repoRoot, experiment.file).split(path.sep).join("/"),
    contentHash: experiment.contentHash,
    description: experiment.spec.description,
    ...(experiment.spec.headline ? { headline: experiment.spec.headline } : {}),
  };
}
