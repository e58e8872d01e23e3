// Support for the GitOps tests that run one action on its own: git repositories with a base and a
// pull-request head commit, and pull_request payloads adapted from @octokit/webhooks-examples. Whole
// workflows run through the GitHub simulator (github-sim.ts) instead.
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";

const require = createRequire(import.meta.url);

export function git(cwd: string, ...args: string[]): string {
  return execFileSync(
    "git",
    ["-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", ...args],
    {
      cwd,
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
    },
  ).trim();
}

/** A file to write: text, or {symlink: target}. */
export type FileSpec = string | Buffer | { symlink: string };

export async function writeFiles(root: string, files: Record<string, FileSpec | null>): Promise<void> {
  for (const [file, content] of Object.entries(files)) {
    const full = path.join(root, file);
    await rm(full, { recursive: true, force: true });
    if (content === null) continue;
    await mkdir(path.dirname(full), { recursive: true });
    if (typeof content === "object" && !Buffer.isBuffer(content)) await symlink(content.symlink, full);
    else await writeFile(full, content);
  }
}

export interface PullRequestRepo {
  dir: string;
  base: string;
  head: string;
}

/** A repository whose main holds `baseFiles`, and a branch `pr` that changes them by `headFiles` (null deletes). */
export async function makePullRequestRepo(
  baseFiles: Record<string, FileSpec>,
  headFiles: Record<string, FileSpec | null>,
): Promise<PullRequestRepo> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-gitops-"));
  git(dir, "init", "-q");
  await writeFiles(dir, baseFiles);
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", "base");
  const base = git(dir, "rev-parse", "HEAD");
  git(dir, "checkout", "-q", "-b", "pr");
  await writeFiles(dir, headFiles);
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "--allow-empty", "-m", "pull request");
  const head = git(dir, "rev-parse", "HEAD");
  // The workflow checks out the base branch; the head commit is only fetched.
  git(dir, "checkout", "-q", "main");
  return { dir, base, head };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
type Json = Record<string, any>;

/** The `opened` pull_request example from @octokit/webhooks-examples, pointed at our repository and commits. */
export function pullRequestEvent(options: {
  number: number;
  base: string;
  head: string;
  repository?: string;
  headRepository?: string;
  headRef?: string;
  action?: string;
}): Json {
  const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Json[] }[];
  const example = structuredClone(examples.find((e) => e.name === "pull_request")!.examples.find((e) => e.action === "opened")!);
  const repository = options.repository ?? "octo/lab";
  const [owner, name] = repository.split("/");
  const headRepository = options.headRepository ?? repository;
  example.action = options.action ?? "opened";
  example.number = options.number;
  example.repository = { ...example.repository, name, full_name: repository, owner: { ...example.repository.owner, login: owner } };
  const pr = example.pull_request;
  pr.number = options.number;
  pr.base = { ...pr.base, sha: options.base, ref: "main", label: `${owner}:main`, repo: { ...pr.base.repo, name, full_name: repository } };
  pr.head = {
    ...pr.head,
    sha: options.head,
    ref: options.headRef ?? "add-experiment",
    label: `${headRepository.split("/")[0]}:${options.headRef ?? "add-experiment"}`,
    repo: { ...pr.head.repo, name: headRepository.split("/")[1], full_name: headRepository, fork: headRepository !== repository },
  };
  return example;
}

/** path → text of every file in a commit. */
export function filesAt(dir: string, commit: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const line of git(dir, "ls-tree", "-r", commit).split("\n").filter(Boolean)) {
    const [meta, file] = line.split("\t") as [string, string];
    const sha = meta.split(" ")[2]!;
    files[file] = execFileSync("git", ["cat-file", "blob", sha], { cwd: dir, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  }
  return files;
}

export { evaluateExpression, ExpressionError, expressionString, interpolate } from "./github/expressions.js";
