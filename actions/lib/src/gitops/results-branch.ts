// Results of a pull request from a fork cannot be pushed to the fork: they go to a results/pr-<n>
// branch of this repository, and a follow-up pull request (or, when the token may not open one, a
// comment saying one is needed) brings them to the base branch.
import type { GitHubClient } from "../github/client.js";
import { httpStatus } from "../github/client.js";
import { upsertStickyComment } from "../github/comment.js";
import { escapeMarkdown, link } from "../github/markdown.js";
import { errorMessage } from "../errors.js";

export const FOLLOW_UP_MARKER = "<!-- crucible:follow-up -->";
export const RESULTS_BRANCH_PATTERN = /^results\/pr-[1-9][0-9]*$/;

export interface EnsureBranchOptions {
  owner: string;
  repo: string;
  branch: string;
  /** Commit to start the branch at when it does not exist yet. */
  fromSha: string;
}

/** Creates refs/heads/<branch> at fromSha unless it exists; returns whether it was created. */
export async function ensureBranch(octokit: GitHubClient, options: EnsureBranchOptions): Promise<{ created: boolean; sha: string }> {
  const { owner, repo, branch, fromSha } = options;
  try {
    const { data } = await octokit.rest.git.getRef({ owner, repo, ref: `heads/${branch}` });
    return { created: false, sha: data.object.sha };
  } catch (error) {
    if (httpStatus(error) !== 404) throw error;
  }
  try {
    const { data } = await octokit.rest.git.createRef({ owner, repo, ref: `refs/heads/${branch}`, sha: fromSha });
    return { created: true, sha: data.object.sha };
  } catch (error) {
    // Created meanwhile by a concurrent job: that is what we wanted.
    if (httpStatus(error) !== 422) throw error;
    const { data } = await octokit.rest.git.getRef({ owner, repo, ref: `heads/${branch}` });
    return { created: false, sha: data.object.sha };
  }
}

export interface FollowUpOptions {
  owner: string;
  repo: string;
  /** The results branch, e.g. results/pr-12. */
  branch: string;
  /** The branch the follow-up pull request targets (the fork PR's base). */
  base: string;
  /** The fork pull request the results belong to. */
  pullRequest: number;
  serverUrl?: string;
}

export type FollowUpOutcome =
  { kind: "existing" | "created"; number: number; url: string } | { kind: "comment"; url: string; reason: string };

/**
 * Opens (once) a pull request from the results branch to the base branch. When the token may not open
 * pull requests (the repository setting "Allow GitHub Actions to create and approve pull requests" is
 * off, 403) or GitHub refuses (422), it keeps a comment on the fork pull request saying a follow-up PR
 * is needed, with the compare link.
 */
export async function openFollowUp(octokit: GitHubClient, options: FollowUpOptions): Promise<FollowUpOutcome> {
  const { owner, repo, branch, base, pullRequest } = options;
  if (!RESULTS_BRANCH_PATTERN.test(branch))
    throw new Error(`refusing to open a follow-up from ${JSON.stringify(branch)}: not a results/pr-<n> branch`);
  const { data: open } = await octokit.rest.pulls.list({ owner, repo, state: "open", head: `${owner}:${branch}`, base, per_page: 10 });
  if (open[0]) return { kind: "existing", number: open[0].number, url: open[0].html_url };
  const title = `Results of #${pullRequest}`;
  const body = [
    `Crucible results of #${pullRequest}, which comes from a fork: they cannot be pushed to the ` +
      `fork's branch, so they were committed to \`${branch}\`.`,
    "",
    "Merge this after (or together with) the experiment's pull request.",
  ].join("\n");
  try {
    const { data } = await octokit.rest.pulls.create({ owner, repo, title, head: branch, base, body, maintainer_can_modify: false });
    return { kind: "created", number: data.number, url: data.html_url };
  } catch (error) {
    const status = httpStatus(error);
    if (status !== 403 && status !== 422) throw error;
    const server = (options.serverUrl ?? "https://github.com").replace(/\/+$/, "");
    const compare = `${server}/${owner}/${repo}/compare/${encodeURIComponent(base)}...${encodeURIComponent(branch)}?expand=1`;
    const reason = errorMessage(error);
    const comment = await upsertStickyComment(octokit, {
      owner,
      repo,
      issueNumber: pullRequest,
      marker: FOLLOW_UP_MARKER,
      body: [
        `The results of this pull request were committed to <code>${escapeMarkdown(branch)}</code>, because it comes from a fork.`,
        `**A follow-up pull request is needed** to bring them to <code>${escapeMarkdown(base)}</code>: the ` +
          `workflow could not open it (${escapeMarkdown(reason)}).`,
        `A maintainer can open it here: ${link(`compare ${base}...${branch}`, compare) ?? escapeMarkdown(compare)}.`,
      ].join("\n\n"),
    });
    return { kind: "comment", url: comment.url, reason };
  }
}
