import type { GitHubClient } from "./client.js";
import { httpStatus, sleep } from "./client.js";
import { errorMessage } from "../errors.js";

export interface FileToCommit {
  /** Repository-relative path with forward slashes. */
  path: string;
  content: Buffer;
}

export interface CommitFilesOptions {
  owner: string;
  repo: string;
  branch: string;
  files: FileToCommit[];
  message: string;
  /** Attempts when the branch moves under us; default 5. */
  maxAttempts?: number;
  /** Delay before the first rebuild; doubles each attempt. */
  backoffMs?: number;
  onRetry?: (message: string) => void;
  /**
   * Build on exactly this commit, and move the branch only if it still points there: never onto a head
   * someone else made since (the results of an evaluated commit belong on that commit).
   */
  parent?: string;
}

export interface CommitOutcome {
  sha: string;
  /** The branch head the commit was built on. */
  parentSha: string;
  attempts: number;
  /** With `parent`: the branch had moved to this commit, so it was left alone (the commit exists, on no branch). */
  moved?: string;
}

/**
 * Commits every file in ONE commit on top of the branch head through the Git Data API, then moves the
 * branch without forcing. If someone pushed meanwhile, GitHub refuses the non-fast-forward update;
 * the tree and commit are then rebuilt on the new head (blobs are kept: they do not depend on it), so
 * neither their push nor any of our files is lost.
 */
export async function commitFiles(octokit: GitHubClient, options: CommitFilesOptions): Promise<CommitOutcome> {
  const { owner, repo, branch, files, message, maxAttempts = 5, backoffMs = 500 } = options;
  assertCommittablePaths(files.map((f) => f.path));
  const ref = `heads/${branch}`;

  const entries: { path: string; mode: "100644"; type: "blob"; sha: string }[] = [];
  for (const file of files) {
    const { data } = await octokit.rest.git.createBlob({ owner, repo, content: file.content.toString("base64"), encoding: "base64" });
    entries.push({ path: file.path, mode: "100644", type: "blob", sha: data.sha });
  }

  for (let attempt = 1; ; attempt++) {
    const current = (await octokit.rest.git.getRef({ owner, repo, ref })).data.object.sha;
    const head = options.parent ?? current;
    const headCommit = (await octokit.rest.git.getCommit({ owner, repo, commit_sha: head })).data;
    const tree = (await octokit.rest.git.createTree({ owner, repo, base_tree: headCommit.tree.sha, tree: entries })).data;
    const commit = (await octokit.rest.git.createCommit({ owner, repo, message, tree: tree.sha, parents: [head] })).data;
    if (options.parent && current !== options.parent) return { sha: commit.sha, parentSha: head, attempts: attempt, moved: current };
    try {
      await octokit.rest.git.updateRef({ owner, repo, ref, sha: commit.sha, force: false });
      return { sha: commit.sha, parentSha: head, attempts: attempt };
    } catch (error) {
      // 422 "Update is not a fast forward" (409 on some paths): the branch moved since we read it.
      const status = httpStatus(error);
      if ((status !== 422 && status !== 409) || attempt >= maxAttempts) throw error;
      if (options.parent)
        return {
          sha: commit.sha,
          parentSha: head,
          attempts: attempt,
          moved: (await octokit.rest.git.getRef({ owner, repo, ref })).data.object.sha,
        };
      const delay = backoffMs * 2 ** (attempt - 1);
      options.onRetry?.(`${branch} moved while committing (${errorMessage(error)}); rebuilding on the new head in ${delay} ms`);
      await sleep(delay);
    }
  }
}

/** Paths GitHub would reject or that would write outside an ordinary file: absolute, `..`, `.git`, empty segments, duplicates. */
function assertCommittablePaths(paths: string[]): void {
  if (paths.length === 0) throw new Error("nothing to commit: no files given");
  const seen = new Set<string>();
  for (const p of paths) {
    const segments = p.split("/");
    if (segments.some((s) => s === "" || s === "." || s === ".." || s.toLowerCase() === ".git") || p.includes("\\") || p.includes("\0")) {
      throw new Error(`refusing to commit ${JSON.stringify(p)}: not a plain repository-relative path`);
    }
    if (seen.has(p)) throw new Error(`refusing to commit ${JSON.stringify(p)} twice`);
    seen.add(p);
  }
}
