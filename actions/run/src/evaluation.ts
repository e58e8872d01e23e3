import * as core from "@actions/core";
import { CrucibleError, escapeControls, type RunOptions } from "../../lib/src/index.js";
import { createGitHubClient, currentJob, pullRequestHead, refusal, reviewsOfRun } from "../../lib/src/github/index.js";

const SHA = /^[0-9a-f]{40}$/;

/**
 * Where the run comes from, from the workflow's environment and inputs. In the evaluate workflow (a
 * pull-request input) it also asks GitHub who approved this workflow run and which job this is, and
 * checks, just before the sandbox starts, that the approved commit is still the pull request's head.
 */
export async function runProvenance(): Promise<Pick<RunOptions, "provenance" | "beforeStart">> {
  const env = process.env;
  const runUrl = env.GITHUB_RUN_ID
    ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}/attempts/${env.GITHUB_RUN_ATTEMPT ?? "1"}`
    : null;
  const common = {
    runner: env.RUNNER_NAME,
    job: env.GITHUB_JOB,
    workflowRunUrl: runUrl,
    jobUrl: runUrl,
    ...(env.GITHUB_REPOSITORY ? { repository: env.GITHUB_REPOSITORY } : {}),
  };
  const prInput = core.getInput("pull-request");
  if (!prInput) return { provenance: { ...common, gitCommit: env.GITHUB_SHA ?? null } };

  if (!/^[1-9][0-9]{0,9}$/.test(prInput))
    throw new CrucibleError(`pull-request must be a pull request number, got ${JSON.stringify(prInput)}`);
  const head = core.getInput("head-sha");
  // Under pull_request_target GITHUB_SHA is the base branch's commit: the evaluated commit must come from the plan.
  if (!SHA.test(head))
    throw new CrucibleError(`head-sha must be the planned commit (the plan's head-sha output), got ${JSON.stringify(head)}`);
  const base = core.getInput("base-sha") || env.GITHUB_SHA || "";
  const token = core.getInput("token");
  if (!token)
    throw new CrucibleError(
      "token is required with pull-request (pull-requests and actions read), to check the approval and the pull request's head",
    );
  core.setSecret(token);
  const excluded = core
    .getInput("excluded-approvers")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const requireApproval = core.getBooleanInput("require-approval");
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? "").split("/") as [string, string];
  const octokit = createGitHubClient({ token, baseUrl: env.GITHUB_API_URL || "https://api.github.com", onRetry: core.info });
  const number = Number(prInput);
  const runId = Number(env.GITHUB_RUN_ID);
  const job = await currentJob(octokit, {
    owner,
    repo,
    runId,
    attempt: Number(env.GITHUB_RUN_ATTEMPT ?? "1"),
    runnerName: env.RUNNER_NAME ?? "",
  });
  const approvals = await reviewsOfRun(octokit, { owner, repo, runId }, job?.startedAt ?? new Date().toISOString());
  for (const a of approvals) core.info(escapeControls(`review: ${a.state} by ${a.reviewer}${a.comment ? ` (${a.comment})` : ""}`));
  return {
    provenance: {
      ...common,
      gitCommit: head,
      baseCommit: SHA.test(base) ? base : null,
      jobUrl: job?.url ?? runUrl,
      pullRequest: number,
      approvals,
    },
    beforeStart: async () =>
      refusal({ head, excluded, requireApproval }, { head: await pullRequestHead(octokit, { owner, repo, number }), approvals }),
  };
}
