// What the evaluate job asks GitHub about its own workflow run, just before the sandbox starts: who
// approved it, which job (and so which live log) it is, and whether the pull request still points at the
// commit that was approved.
import type { Approval } from "../result/format.js";
import type { GitHubClient } from "./client.js";

export interface RepoRef {
  owner: string;
  repo: string;
}

/** The run's environment reviews, as GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals gives them. */
export async function reviewsOfRun(octokit: GitHubClient, where: RepoRef & { runId: number }, at: string): Promise<Approval[]> {
  const { data } = await octokit.rest.actions.getReviewsForRun({ owner: where.owner, repo: where.repo, run_id: where.runId });
  return data.map((review) => ({
    reviewer: review.user.login,
    state: review.state === "approved" ? "approved" : "rejected",
    at,
    ...(review.comment ? { comment: review.comment.slice(0, 2000) } : {}),
    environments: review.environments.map((e) => e.name ?? "").filter(Boolean),
  }));
}

export interface RunJob {
  name: string;
  url: string;
  runner: string | null;
  /** When GitHub started and completed the job (null while it has not). */
  startedAt: string | null;
  completedAt: string | null;
}

/** The jobs of a run's attempt: display name, live log, runner, and when each ran. */
export async function jobsOfRun(octokit: GitHubClient, where: RepoRef & { runId: number; attempt: number }): Promise<RunJob[]> {
  const jobs = await jobsOfAttempt(octokit, where);
  return jobs
    .filter((job) => job.html_url)
    .map((job) => ({
      name: job.name,
      url: job.html_url!,
      runner: job.runner_name,
      startedAt: job.started_at || null,
      completedAt: job.completed_at ?? null,
    }));
}

export interface RunArtifact {
  id: number;
  name: string;
  /** Set by GitHub when the upload started; no uploader can choose it. */
  createdAt: string | null;
}

/** Every artifact of a workflow run, as GitHub lists them (any job of the run may have uploaded any of them). */
export async function artifactsOfRun(octokit: GitHubClient, where: RepoRef & { runId: number }): Promise<RunArtifact[]> {
  const artifacts = await octokit.paginate(octokit.rest.actions.listWorkflowRunArtifacts, {
    owner: where.owner,
    repo: where.repo,
    run_id: where.runId,
    per_page: 100,
  });
  return artifacts.map((a) => ({ id: a.id, name: a.name, createdAt: a.created_at }));
}

/** The job this runner is running in the run's attempt: its page is the live log. */
export async function currentJob(
  octokit: GitHubClient,
  where: RepoRef & { runId: number; attempt: number; runnerName: string },
): Promise<{ url: string; startedAt: string } | undefined> {
  const jobs = await jobsOfAttempt(octokit, where);
  const mine = jobs.filter((job) => job.runner_name === where.runnerName && job.status === "in_progress");
  return mine.length === 1 && mine[0]!.html_url ? { url: mine[0]!.html_url, startedAt: mine[0]!.started_at } : undefined;
}

export async function pullRequestHead(octokit: GitHubClient, where: RepoRef & { number: number }): Promise<{ sha: string; open: boolean }> {
  const { data } = await octokit.rest.pulls.get({ owner: where.owner, repo: where.repo, pull_number: where.number });
  return { sha: data.head.sha, open: data.state === "open" };
}

/**
 * Why a run must not start, or undefined: the approved commit is no longer the pull request's head
 * (superseded), the pull request was closed (cancelled), or nobody but its author or requester approved it.
 */
export function refusal(
  expected: { head: string; excluded: string[]; requireApproval: boolean },
  found: { head: { sha: string; open: boolean }; approvals: Approval[] },
): { status: "superseded" | "cancelled" | "rejected"; reason: string } | undefined {
  if (!found.head.open) return { status: "cancelled", reason: "the pull request was closed before the sandbox started; nothing ran" };
  if (found.head.sha !== expected.head) {
    return {
      status: "superseded",
      reason:
        `the pull request moved to ${found.head.sha} after ${expected.head} was approved; ` +
        "nothing ran, and the new commit needs its own approval",
    };
  }
  if (!expected.requireApproval) return undefined;
  const approvers = found.approvals.filter((a) => a.state === "approved").map((a) => a.reviewer);
  const rejecters = found.approvals.filter((a) => a.state === "rejected").map((a) => a.reviewer);
  if (rejecters.length > 0) return { status: "rejected", reason: `rejected by ${rejecters.join(", ")}; nothing ran` };
  const valid = approvers.filter((login) => !expected.excluded.includes(login));
  if (approvers.length === 0)
    return {
      status: "rejected",
      reason:
        "no reviewer approved this workflow run (the evaluation environment must require reviewers: " +
        "runner-setup/configure-repo.mjs); nothing ran",
    };
  if (valid.length === 0)
    return {
      status: "rejected",
      reason: `approved only by ${approvers.join(", ")}, who wrote or requested it; someone else must approve; nothing ran`,
    };
  return undefined;
}

function jobsOfAttempt(octokit: GitHubClient, where: RepoRef & { runId: number; attempt: number }) {
  return octokit.paginate(octokit.rest.actions.listJobsForWorkflowRunAttempt, {
    owner: where.owner,
    repo: where.repo,
    run_id: where.runId,
    attempt_number: where.attempt,
    per_page: 100,
  });
}
