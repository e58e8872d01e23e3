// What the record and preview steps take from the evaluate jobs' artifacts. Those were uploaded by the
// sandboxing host, which runs hostile code: a compromised host could put anything in them. So nothing is
// taken on trust: only `<artifact of a planned experiment>/<run-id>/` folders, whose result.json matches
// the schema and names the planned experiment, commit and pull request, and within them only result.json,
// log.txt, output/** and stages/** as regular files with plain names, within size limits. Everything
// else is dropped and listed with the reason.
//
// Nor is an artifact's name: any job of the run can upload under any name, including the build job that
// runs a pull request's Dockerfile (its ACTIONS_RUNTIME_TOKEN is not GITHUB_TOKEN, so `permissions:`
// cannot take it away). So GitHub's own records decide which upload is the evaluate job's: the run's only
// artifact of that name, created (GitHub stamps the time) while the planned experiment's evaluate job of
// this attempt was running. Every build job has completed, and its VM is gone, before any evaluate job
// starts (`needs: build`, with the announce job in between).
import { lstat, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { Approval, RecordedResult } from "../result/format.js";
import { parseResult } from "../result/read.js";
import type { EvaluationPlan } from "../gitops/evaluation.js";
import type { PlannedExperiment } from "../gitops/plan.js";
import type { FileToCommit } from "./commit.js";
import type { GitHubClient } from "./client.js";
import { artifactsOfRun, jobsOfRun, reviewsOfRun, type RepoRef, type RunArtifact, type RunJob } from "./runs.js";

const RUN_ID = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$/;
/** A path segment that is harmless in a git tree, a shell and a URL. */
const PLAIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/;
const MAX_RUN_BYTES = 256 * 1024 * 1024;
const MAX_RUN_FILES = 10_000;
const MAX_DEPTH = 16;
const MAX_DROPPED = 1_000;

/**
 * What GitHub itself says about this workflow run, which overrides what the uploaded result claims:
 * who approved it, its URL, for each evaluate job its live log, runner and when it ran, and the run's
 * artifacts with the times GitHub created them.
 */
export interface RunAuthority {
  approvals: Approval[];
  workflowRunUrl: string;
  /** The jobs of this attempt, by display name (the evaluate jobs are "evaluate (experiments/x)"). */
  jobs: RunJob[];
  artifacts: RunArtifact[];
}

/** GitHub's view of this attempt of the workflow run, read now. */
export async function runAuthority(
  octokit: GitHubClient,
  where: RepoRef & { runId: number; attempt: number },
  plan: EvaluationPlan,
): Promise<RunAuthority> {
  return {
    approvals: await reviewsOfRun(octokit, where, new Date().toISOString()),
    workflowRunUrl: `${plan.workflowRunUrl}/attempts/${where.attempt}`,
    jobs: await jobsOfRun(octokit, where),
    artifacts: await artifactsOfRun(octokit, where),
  };
}

const evaluateJobName = (planned: PlannedExperiment) => `evaluate (${planned.dir})`;

/**
 * Why GitHub's records do not show the artifact `name` as the upload of the planned experiment's evaluate
 * job of this attempt, or undefined when they do. Times are compared inclusively: GitHub gives seconds.
 */
export function notUploadedByEvaluateJob(name: string, planned: PlannedExperiment, authority: RunAuthority): string | undefined {
  const listed = authority.artifacts.filter((a) => a.name === name);
  if (listed.length === 0) return "GitHub lists no artifact of this name in this workflow run";
  if (listed.length > 1)
    return (
      `GitHub lists ${listed.length} artifacts of this name in this workflow run (an earlier attempt's?); ` +
      "which one was downloaded cannot be told, so none is taken"
    );
  const createdAt = listed[0]!.createdAt ?? "";
  const job = authority.jobs.find((j) => j.name === evaluateJobName(planned));
  if (!job?.startedAt || !job.completedAt) return `GitHub shows no completed evaluate job of this attempt for ${planned.dir}`;
  const created = Date.parse(createdAt);
  if (Number.isNaN(created)) return "GitHub gives no creation time for it";
  if (created < Date.parse(job.startedAt) || created > Date.parse(job.completedAt))
    return (
      `GitHub created it at ${createdAt}, outside its evaluate job (${job.startedAt} to ${job.completedAt}): ` +
      "another job of this run uploaded it (a build job running the pull request's Dockerfile can), so nothing of it is taken"
    );
  return undefined;
}

export interface AcceptedRun {
  planned: PlannedExperiment;
  result: RecordedResult;
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

export async function acceptArtifacts(artifactsDir: string, plan: EvaluationPlan, authority: RunAuthority): Promise<Acceptance> {
  const runs: AcceptedRun[] = [];
  const dropped: DroppedEntry[] = [];
  const drop = (entry: DroppedEntry) => dropped.length < MAX_DROPPED && dropped.push(entry);
  const byArtifact = new Map(plan.experiments.map((e) => [e.artifact, e]));
  const present = await readdir(artifactsDir, { withFileTypes: true }).catch(() => []);
  for (const entry of present.sort((a, b) => a.name.localeCompare(b.name))) {
    const planned = byArtifact.get(entry.name);
    if (!planned || !entry.isDirectory()) {
      // Other artifacts of the run (stored checkpoints, the report) are not results.
      if (!/^(stored-|crucible-report)/.test(entry.name))
        drop({ path: entry.name, reason: "not the results artifact of a planned experiment" });
      continue;
    }
    const forged = notUploadedByEvaluateJob(entry.name, planned, authority);
    if (forged) {
      drop({ path: entry.name, reason: forged });
      continue;
    }
    const folder = path.join(artifactsDir, entry.name);
    const candidates = (await readdir(folder, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const other of candidates.filter((c) => !c.isDirectory() || !RUN_ID.test(c.name)))
      drop({ path: `${entry.name}/${other.name}`, reason: "not a <run-id>/ result folder" });
    const folders = candidates.filter((c) => c.isDirectory() && RUN_ID.test(c.name));
    // One evaluate job runs an experiment once: a second run folder means the upload was tampered with.
    if (folders.length > 1) {
      for (const f of folders)
        drop({
          path: `${entry.name}/${f.name}`,
          reason: `one of ${folders.length} run folders where the evaluate job writes one; none is taken`,
        });
      continue;
    }
    for (const run of folders) {
      const outcome = await acceptRun(path.join(folder, run.name), `${entry.name}/${run.name}`, planned, plan, authority);
      if ("reason" in outcome) drop(outcome);
      else {
        runs.push(outcome.run);
        for (const d of outcome.dropped) drop(d);
      }
    }
  }
  return { runs, dropped };
}

async function acceptRun(
  dir: string,
  where: string,
  planned: PlannedExperiment,
  plan: EvaluationPlan,
  authority: RunAuthority,
): Promise<{ run: AcceptedRun; dropped: DroppedEntry[] } | DroppedEntry> {
  const runId = path.basename(dir);
  const resultFile = path.join(dir, "result.json");
  const stats = await lstat(resultFile).catch(() => null);
  if (!stats?.isFile()) return { path: where, reason: "no result.json (as a regular file)" };
  if (stats.size > 64 * 1024 * 1024) return { path: where, reason: `result.json is ${stats.size} bytes` };
  const raw = await readFile(resultFile);
  const { result, problem } = parseResult(raw.toString("utf8"));
  if (!result) return { path: where, reason: `result.json ${problem}` };
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

  // Where the run came from is GitHub's to say, not the upload's: approvals, run and job, runner.
  const job = authority.jobs.find((j) => j.name === evaluateJobName(planned));
  result.provenance = {
    ...result.provenance,
    approvals: authority.approvals,
    workflowRunUrl: authority.workflowRunUrl,
    jobUrl: job?.url ?? authority.workflowRunUrl,
    ...(job?.runner ? { runner: job.runner } : {}),
  };
  const repoDir = `${planned.dir}/results/${runId}`;
  const content = Buffer.from(`${JSON.stringify(result, null, 2)}\n`);
  const files: FileToCommit[] = [{ path: `${repoDir}/result.json`, content }];
  const dropped: DroppedEntry[] = [];
  let bytes = content.length;
  const take = async (absolute: string, relative: string) => {
    // The size is checked before the file is read: an upload may hold anything.
    const size = (await lstat(absolute)).size;
    if (files.length >= MAX_RUN_FILES || bytes + size > MAX_RUN_BYTES) {
      if (dropped.length < MAX_DROPPED)
        dropped.push({
          path: `${where}/${relative}`,
          reason: `over the limit of ${MAX_RUN_FILES} files or ${MAX_RUN_BYTES} bytes per run`,
        });
      return;
    }
    bytes += size;
    files.push({ path: `${repoDir}/${relative}`, content: await readFile(absolute) });
  };
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name === "result.json") continue;
    if (entry.name === "log.txt" && entry.isFile()) await take(path.join(dir, entry.name), entry.name);
    else if ((entry.name === "output" || entry.name === "stages") && entry.isDirectory())
      await walk(path.join(dir, entry.name), entry.name, take, (relative, reason) =>
        dropped.push({ path: `${where}/${relative}`, reason }),
      );
    else dropped.push({ path: `${where}/${entry.name}`, reason: "not part of a result folder (result.json, log.txt, output/, stages/)" });
  }
  return { run: { planned, result, dir: repoDir, files }, dropped };
}

async function walk(
  dir: string,
  relative: string,
  take: (absolute: string, relative: string) => Promise<void>,
  drop: (relative: string, reason: string) => void,
  depth = 1,
): Promise<void> {
  if (depth > MAX_DEPTH) return drop(relative, `folders nested deeper than ${MAX_DEPTH}`);
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const inner = `${relative}/${entry.name}`;
    if (!PLAIN_NAME.test(entry.name))
      drop(`${relative}/${JSON.stringify(entry.name).slice(1, -1)}`, "its name is not plain letters, digits, dots, dashes and underscores");
    else if (entry.isDirectory()) await walk(path.join(dir, entry.name), inner, take, drop, depth + 1);
    else if (entry.isFile()) await take(path.join(dir, entry.name), inner);
    else drop(inner, "not a regular file");
  }
}
