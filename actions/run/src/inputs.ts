import path from "node:path";
import * as core from "@actions/core";
import { CrucibleError, githubApiUrlOf, githubRepositoryOf, parseMemory, workspaceOf } from "../../lib/src/index.js";

const SHA = /^[0-9a-f]{40}$/;

/** The keys of what the main step leaves for the post step (core.saveState), named once. */
export const STATE = {
  /** Set by the main step: index.ts runs the cleanup when it is there. */
  isPost: "isPost",
  /** The label of this job's sandboxes, which the post step removes. */
  jobLabel: "jobLabel",
  /** The sandboxes created so far, for a reader of the runner's state file. */
  containers: "containers",
} as const;

/** The evaluate workflow's inputs: which pull request and commit this run evaluates, and whose approval counts. */
export interface EvaluationInputs {
  pullRequest: number;
  /** The planned commit (under pull_request_target GITHUB_SHA is the base branch's commit). */
  head: string;
  /** The base branch's commit, or null when not given as a full SHA. */
  base: string | null;
  token: string;
  owner: string;
  repo: string;
  apiUrl: string;
  excludedApprovers: string[];
  requireApproval: boolean;
}

/** The action's inputs, read and checked once; paths are absolute. */
export interface RunInputs {
  workspace: string;
  experiment: string;
  /** Where results/<run-id>/ goes; undefined for the experiment's own results folder. */
  resultsDir: string | undefined;
  policy: string | undefined;
  artifactStore: string | undefined;
  /** The approved image's archive (evaluate workflow), "" for none. */
  imageArtifact: string;
  logLimitBytes: number;
  /** Present only in the evaluate workflow (a pull-request input). */
  evaluation: EvaluationInputs | undefined;
}

export function getInputs(env: NodeJS.ProcessEnv = process.env): RunInputs {
  const workspace = workspaceOf(env);
  const optionalPath = (name: string) => (core.getInput(name) ? path.resolve(workspace, core.getInput(name)) : undefined);
  return {
    workspace,
    experiment: path.resolve(workspace, core.getInput("experiment", { required: true })),
    resultsDir: optionalPath("results-dir"),
    policy: optionalPath("policy"),
    artifactStore: optionalPath("artifact-store"),
    imageArtifact: core.getInput("image-artifact"),
    logLimitBytes: parseMemory(core.getInput("log-limit") || "8Mi"),
    evaluation: core.getInput("pull-request") ? evaluationInputs(env) : undefined,
  };
}

function evaluationInputs(env: NodeJS.ProcessEnv): EvaluationInputs {
  const pullRequest = core.getInput("pull-request");
  if (!/^[1-9][0-9]{0,9}$/.test(pullRequest))
    throw new CrucibleError(`pull-request must be a pull request number, got ${JSON.stringify(pullRequest)}`);
  const head = core.getInput("head-sha");
  if (!SHA.test(head))
    throw new CrucibleError(`head-sha must be the planned commit (the plan's head-sha output), got ${JSON.stringify(head)}`);
  const base = core.getInput("base-sha") || env.GITHUB_SHA || "";
  const token = core.getInput("token");
  if (!token)
    throw new CrucibleError(
      "token is required with pull-request (pull-requests and actions read), to check the approval and the pull request's head",
    );
  core.setSecret(token);
  return {
    pullRequest: Number(pullRequest),
    head,
    base: SHA.test(base) ? base : null,
    token,
    ...githubRepositoryOf(env),
    apiUrl: githubApiUrlOf(env),
    excludedApprovers: core
      .getInput("excluded-approvers")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    requireApproval: core.getBooleanInput("require-approval"),
  };
}
