import * as core from "@actions/core";
import { escapeControls, type RunOptions } from "../../lib/src/index.js";
import { createGitHubClient, currentJob, pullRequestHead, refusal, reviewsOfRun } from "../../lib/src/github/index.js";
import type { EvaluationInputs } from "./inputs.js";

/**
 * Where the run comes from, from the workflow's environment and inputs. In the evaluate workflow (a
 * pull-request input) it also asks GitHub who approved this workflow run and which job this is, and
 * checks, just before the sandbox starts, that the approved commit is still the pull request's head.
 */
export async function runProvenance(evaluation: EvaluationInputs | undefined): Promise<Pick<RunOptions, "provenance" | "beforeStart">> {
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
  if (!evaluation) return { provenance: { ...common, gitCommit: env.GITHUB_SHA ?? null } };

  const { owner, repo, head, pullRequest: number } = evaluation;
  const octokit = createGitHubClient({ token: evaluation.token, baseUrl: evaluation.apiUrl, onRetry: core.info });
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
      baseCommit: evaluation.base,
      jobUrl: job?.url ?? runUrl,
      pullRequest: number,
      approvals,
    },
    beforeStart: async () =>
      refusal(
        { head, excluded: evaluation.excludedApprovers, requireApproval: evaluation.requireApproval },
        { head: await pullRequestHead(octokit, { owner, repo, number }), approvals },
      ),
  };
}
