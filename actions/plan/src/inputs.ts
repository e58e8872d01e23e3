import path from "node:path";
import * as core from "@actions/core";
import { CrucibleError, githubApiUrlOf, githubRepositoryOf, parseMemory, workspaceOf } from "../../lib/src/index.js";

const LABEL = /^[A-Za-z0-9._-]{1,64}$/;

/** The action's inputs, read and checked once. */
export interface PlanInputs {
  mode: "plan" | "materialize";
  /** The git repository (a checkout of the base branch with the head fetched). */
  repository: string;
  /** GITHUB_REPOSITORY, checked to be owner/repo. */
  owner: string;
  repo: string;
  token: string;
  apiUrl: string;
  runnerLabels: string[];
  gpuLabel: string;
  maxParallel: number;
  reportUrl: string;
  maxFolderBytes: number;
  headSha: string;
  experiment: string;
  /** materialize: where the planned folder is written. */
  path: string;
}

export function getInputs(): PlanInputs {
  const env = process.env;
  const workspace = workspaceOf(env);
  const mode = core.getInput("mode") || "plan";
  if (mode !== "plan" && mode !== "materialize") throw new CrucibleError(`mode must be plan or materialize, got ${JSON.stringify(mode)}`);
  const { owner, repo } = githubRepositoryOf(env);
  const token = core.getInput("token");
  if (token) core.setSecret(token);
  const runnerLabels = core
    .getInput("runner-labels")
    .split(",")
    .map((l) => l.trim())
    .filter(Boolean);
  const gpuLabel = core.getInput("gpu-label") || "gpu";
  for (const label of [...runnerLabels, gpuLabel])
    if (!LABEL.test(label)) throw new CrucibleError(`runner label ${JSON.stringify(label)} is not a plain label`);
  const maxParallel = core.getInput("max-parallel") || "4";
  if (!/^[1-9][0-9]{0,2}$/.test(maxParallel) || Number(maxParallel) > 256)
    throw new CrucibleError(`max-parallel must be a whole number from 1 to 256, got ${JSON.stringify(maxParallel)}`);
  const reportUrl = core.getInput("report-url") || defaultReportUrl(owner, repo);
  if (!/^https?:\/\//.test(reportUrl)) throw new CrucibleError(`report-url must be an http(s) URL, got ${JSON.stringify(reportUrl)}`);
  return {
    mode,
    repository: path.resolve(workspace, core.getInput("repository") || "."),
    owner,
    repo,
    token,
    apiUrl: githubApiUrlOf(env),
    runnerLabels,
    gpuLabel,
    maxParallel: Number(maxParallel),
    reportUrl,
    maxFolderBytes: parseMemory(core.getInput("max-folder-bytes") || "256Mi"),
    headSha: core.getInput("head-sha"),
    experiment: core.getInput("experiment"),
    path: mode === "materialize" ? materializeTarget(workspace, core.getInput("path")) : "",
  };
}

/** Where GitHub Pages serves a project site: https://<owner>.github.io/<repo>/. */
function defaultReportUrl(owner: string, repo: string): string {
  return `https://${owner.toLowerCase()}.github.io/${repo}/`;
}

/**
 * The pull request's files go to their own folder: under RUNNER_TEMP (outside the workspace that holds
 * the trusted actions) or a subfolder of the workspace, never the workspace itself.
 */
function materializeTarget(workspace: string, given: string): string {
  const destination = path.resolve(workspace, given || path.join(process.env.RUNNER_TEMP || "", "pr"));
  const inside = (root: string | undefined) => {
    if (!root) return false;
    const relative = path.relative(path.resolve(root), destination);
    return relative !== "" && !relative.startsWith("..") && !path.isAbsolute(relative);
  };
  if (!inside(process.env.RUNNER_TEMP) && !inside(workspace)) {
    throw new CrucibleError(
      `path must be a folder under RUNNER_TEMP or inside the workspace (not the workspace itself), got ${JSON.stringify(given)}`,
    );
  }
  return destination;
}
