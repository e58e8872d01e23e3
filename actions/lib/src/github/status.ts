import type { GitHubClient } from "./client.js";

export type CommitState = "error" | "failure" | "pending" | "success";

export interface CommitStatusOptions {
  owner: string;
  repo: string;
  sha: string;
  state: CommitState;
  context: string;
  description: string;
  targetUrl?: string | null;
}

/** GitHub shows at most 140 characters of a status description and refuses longer ones. */
const MAX_DESCRIPTION = 140;

export async function setCommitStatus(octokit: GitHubClient, options: CommitStatusOptions): Promise<void> {
  const { owner, repo, sha, state, context } = options;
  const description =
    options.description.length > MAX_DESCRIPTION ? `${options.description.slice(0, MAX_DESCRIPTION - 1)}…` : options.description;
  await octokit.rest.repos.createCommitStatus({ owner, repo, sha, state, context, description, target_url: options.targetUrl ?? null });
}
