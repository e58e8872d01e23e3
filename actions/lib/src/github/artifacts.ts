// What the record and preview steps take from the evaluate jobs' artifacts. Those were uploaded by the
// sandboxing host, which runs hostile code: a compromised host could put anything in them. So nothing is
// taken on trust: only `<artifact of a planned experiment>/<run-id>/` folders, whose result.json matches
// the schema and names the planned experiment, commit and pull request, and within them only result.json,
// log.txt, output/** and stages/** as regular files with plain names, within size limits. Everything
// else is dropped and listed with the reason.
import { lstat, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { RunResult } from "../run.js";
import { describeSchemaError, validateResultDocument } from "../schemas.js";
import type { EvaluationPlan } from "../gitops/evaluation.js";
import type { PlannedExperiment } from "../gitops/plan.js";
import type { FileToCommit } from "./commit.js";

const RUN_ID = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$/;
/** A path segment that is harmless in a git tree, a shell and a URL. */
const PLAIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/;
const MAX_RUN_BYTES = 256 * 1024 * 1024;
const MAX_RUN_FILES = 10_000;

export interface AcceptedRun {
  planned: PlannedExperiment;
  result: RunResult;
  /** Repository-relative folder, e.g. experiments/hello-sandbox/results/<runId>. */
  dir: string;
  files: FileToCommit[];
}

export interface DroppedEntry {
  /** Where it was, relative to the artifacts folder. */
  path: string;
  reason: string;
}

export interface Acceptance {
  runs: AcceptedRun[];
  dropped: DroppedEntry[];
}

export async function acceptArtifacts(artifactsDir: string, plan: EvaluationPlan): Promise<Acceptance> {
  const runs: AcceptedRun[] = [];
  const dropped: DroppedEntry[] = [];
  const byArtifact = new Map(plan.experiments.map((e) => [e.artifact, e]));
  const present = await readdir(artifactsDir, { withFileTypes: true }).catch(() => []);
  for (const entry of present.sort((a, b) => a.name.localeCompare(b.name))) {
    const planned = byArtifact.get(entry.name);
    if (!planned || !entry.isDirectory()) {
      // Other artifacts of the run (stored checkpoints, the report) are not results.
      if (!/^(stored-|crucible-report)/.test(entry.name)) dropped.push({ path: entry.name, reason: "not the results artifact of a planned experiment" });
      continue;
    }
    const folder = path.join(artifactsDir, entry.name);
    for (const run of (await readdir(folder, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const where = `${entry.name}/${run.name}`;
      if (!run.isDirectory() || !RUN_ID.test(run.name)) {
        dropped.push({ path: where, reason: "not a <run-id>/ result folder" });
        continue;
      }
      const outcome = await acceptRun(path.join(folder, run.name), where, planned, plan);
      if ("reason" in outcome) dropped.push(outcome);
      else {
        runs.push(outcome.run);
        dropped.push(...outcome.dropped);
      }
    }
  }
  return { runs, dropped };
}

async function acceptRun(dir: string, where: string, planned: PlannedExperiment, plan: EvaluationPlan): Promise<{ run: AcceptedRun; dropped: DroppedEntry[] } | DroppedEntry> {
  const runId = path.basename(dir);
  const resultFile = path.join(dir, "result.json");
  const stats = await lstat(resultFile).catch(() => null);
  if (!stats?.isFile()) return { path: where, reason: "no result.json (as a regular file)" };
  if (stats.size > 64 * 1024 * 1024) return { path: where, reason: `result.json is ${stats.size} bytes` };
  const raw = await readFile(resultFile);
  let result: RunResult;
  try {
    result = JSON.parse(raw.toString("utf8")) as RunResult;
  } catch (error) {
    return { path: where, reason: `result.json is not JSON (${error instanceof Error ? error.message : String(error)})` };
  }
  if (!validateResultDocument(result)) {
    return { path: where, reason: `result.json does not match the result schema: ${(validateResultDocument.errors ?? []).slice(0, 3).map(describeSchemaError).join("; ")}` };
  }
  const mismatch =
    result.runId !== runId
      ? `its runId is ${result.runId}, not the folder's`
      : result.experiment.name !== planned.name || result.experiment.path !== planned.experiment
        ? `it is a result of ${result.experiment.path}, not of the planned ${planned.experiment}`
        : result.provenance.gitCommit !== plan.head
          ? `it names commit ${result.provenance.gitCommit ?? "none"}, not the planned ${plan.head}`
          : result.provenance.pullRequest !== plan.pullRequest
            ? `it names pull request ${result.provenance.pullRequest ?? "none"}, not #${plan.pullRequest}`
            : undefined;
  if (mismatch) return { path: where, reason: `result.json does not belong to this evaluation: ${mismatch}` };

  const repoDir = `${planned.dir}/results/${runId}`;
  const files: FileToCommit[] = [{ path: `${repoDir}/result.json`, content: raw }];
  const dropped: DroppedEntry[] = [];
  let bytes = raw.length;
  const take = async (absolute: string, relative: string) => {
    const content = await readFile(absolute);
    if (files.length >= MAX_RUN_FILES || bytes + content.length > MAX_RUN_BYTES) {
      dropped.push({ path: `${where}/${relative}`, reason: `over the limit of ${MAX_RUN_FILES} files or ${MAX_RUN_BYTES} bytes per run` });
      return;
    }
    bytes += content.length;
    files.push({ path: `${repoDir}/${relative}`, content });
  };
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name === "result.json") continue;
    if (entry.name === "log.txt" && entry.isFile()) await take(path.join(dir, entry.name), entry.name);
    else if ((entry.name === "output" || entry.name === "stages") && entry.isDirectory()) await walk(path.join(dir, entry.name), entry.name, take, (relative, reason) => dropped.push({ path: `${where}/${relative}`, reason }));
    else dropped.push({ path: `${where}/${entry.name}`, reason: "not part of a result folder (result.json, log.txt, output/, stages/)" });
  }
  return { run: { planned, result, dir: repoDir, files }, dropped };
}

async function walk(dir: string, relative: string, take: (absolute: string, relative: string) => Promise<void>, drop: (relative: string, reason: string) => void): Promise<void> {
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const inner = `${relative}/${entry.name}`;
    if (!PLAIN_NAME.test(entry.name)) drop(`${relative}/${JSON.stringify(entry.name).slice(1, -1)}`, "its name is not plain letters, digits, dots, dashes and underscores");
    else if (entry.isDirectory()) await walk(path.join(dir, entry.name), inner, take, drop);
    else if (entry.isFile()) await take(path.join(dir, entry.name), inner);
    else drop(inner, "not a regular file");
  }
}
