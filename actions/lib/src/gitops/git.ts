// Reads a commit's objects as data. Nothing here checks out, merges or runs anything from the commit:
// `git diff --name-only`, `git ls-tree` and `git cat-file blob` apply no hooks, filters or textconv.
import { execFile } from "node:child_process";
import { CrucibleError } from "../errors.js";

export const SHA_PATTERN = /^[0-9a-f]{40}$|^[0-9a-f]{64}$/;

export interface GitTreeEntry {
  mode: string;
  type: "blob" | "tree" | "commit";
  sha: string;
  /** Blob size in bytes; null for trees and submodules. */
  size: number | null;
  /** Repository-relative path with forward slashes. */
  path: string;
}

/** Runs git with a fixed argv (never a shell) and returns stdout as bytes. */
export function git(cwd: string, args: string[], maxBuffer = 64 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(
      "git",
      // No pager, no optional locks, no config from the environment that could run programs.
      ["-c", "core.quotePath=false", "--no-pager", ...args],
      { cwd, encoding: "buffer", maxBuffer, env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_OPTIONAL_LOCKS: "0" } },
      (error, stdout, stderr) => {
        if (error)
          reject(
            new CrucibleError(`git ${args.join(" ")} failed in ${cwd}: ${(stderr as Buffer).toString("utf8").trim() || error.message}`),
          );
        else resolve(stdout as Buffer);
      },
    );
  });
}

export function assertSha(value: string, what: string): string {
  if (!SHA_PATTERN.test(value)) throw new CrucibleError(`${what} must be a full commit SHA (40 hex digits), got ${JSON.stringify(value)}`);
  return value;
}

/** Fails with a hint when the commit is not in the local repository (the workflow must fetch it first). */
export async function assertCommitPresent(cwd: string, sha: string, what: string): Promise<void> {
  try {
    await git(cwd, ["cat-file", "-e", `${sha}^{commit}`]);
  } catch {
    throw new CrucibleError(
      `${what} ${sha} is not in the repository at ${cwd}; fetch it first (git fetch origin ${sha}) and check out with fetch-depth: 0`,
    );
  }
}

/**
 * Paths changed between the merge base of base and head, and head (what a pull request changes), or
 * with "two-dot" between base and head themselves (what a push changes).
 */
export async function changedPaths(
  cwd: string,
  base: string,
  head: string,
  diff: "three-dot" | "two-dot" = "three-dot",
): Promise<string[]> {
  const range = diff === "three-dot" ? [`${base}...${head}`] : [base, head];
  const out = await git(cwd, ["diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", ...range, "--"]);
  return out.toString("utf8").split("\0").filter(Boolean);
}

/** Every entry under `prefix` at `commit`, recursively, with blob sizes. */
export async function listTree(cwd: string, commit: string, prefix?: string): Promise<GitTreeEntry[]> {
  const args = ["ls-tree", "-r", "-l", "-z", "--full-tree", commit];
  if (prefix) args.push("--", prefix);
  const out = await git(cwd, args);
  const entries: GitTreeEntry[] = [];
  for (const record of out.toString("utf8").split("\0")) {
    if (!record) continue;
    const tab = record.indexOf("\t");
    const [mode, type, sha, size] = record.slice(0, tab).split(/ +/);
    entries.push({
      mode: mode!,
      type: type as GitTreeEntry["type"],
      sha: sha!,
      size: size === "-" ? null : Number(size),
      path: record.slice(tab + 1),
    });
  }
  return entries;
}

export async function readBlob(cwd: string, sha: string, maxBytes: number): Promise<Buffer> {
  return git(cwd, ["cat-file", "blob", sha], maxBytes + 1024);
}
