import type { GitHubClient } from "./client.js";

/** Who comments with a workflow's GITHUB_TOKEN. */
export const WORKFLOW_BOT = "github-actions[bot]";

export interface StickyCommentOptions {
  owner: string;
  repo: string;
  issueNumber: number;
  /** Hidden HTML comment that identifies our comment, e.g. `<!-- crucible:results -->`. */
  marker: string;
  body: string;
  /** false: only update an existing comment (say nothing new on a pull request that never had one). */
  create?: boolean;
  /** The login our comments are made with; only its comments are ours (default the workflow token's). */
  author?: string;
}

export interface StickyCommentOutcome {
  id: number;
  url: string;
  created: boolean;
}

/**
 * Keeps one comment per pull request: the first comment by our account whose body starts with the
 * marker is updated, otherwise one is created. The marker is put first in the body, so a comment that
 * merely quotes ours is not taken for it, and anyone can write the marker (any bot too, an App's or a
 * fork's workflow's), so only comments of the account that writes ours count.
 */
export async function upsertStickyComment(
  octokit: GitHubClient,
  options: StickyCommentOptions & { create?: true },
): Promise<StickyCommentOutcome>;
export async function upsertStickyComment(octokit: GitHubClient, options: StickyCommentOptions): Promise<StickyCommentOutcome | undefined>;
export async function upsertStickyComment(octokit: GitHubClient, options: StickyCommentOptions): Promise<StickyCommentOutcome | undefined> {
  const { owner, repo, issueNumber, marker, author = WORKFLOW_BOT } = options;
  const body = `${marker}\n${options.body}`;
  const pages = octokit.paginate.iterator(octokit.rest.issues.listComments, { owner, repo, issue_number: issueNumber, per_page: 100 });
  for await (const page of pages) {
    const existing = page.data.find((comment) => comment.user?.login === author && comment.body?.startsWith(marker));
    if (existing) {
      const { data } = await octokit.rest.issues.updateComment({ owner, repo, comment_id: existing.id, body });
      return { id: data.id, url: data.html_url, created: false };
    }
  }
  if (options.create === false) return undefined;
  const { data } = await octokit.rest.issues.createComment({ owner, repo, issue_number: issueNumber, body });
  return { id: data.id, url: data.html_url, created: true };
}
