// Support for the GitOps tests: git repositories with a base and a pull-request head commit, pull_request
// payloads adapted from @octokit/webhooks-examples, and the few GitHub endpoints the plan and request
// actions use beyond the record action's, added to a FakeGitHub instance without changing its file.
import { execFileSync } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { parseFileCommands, runAction, type ActionRun } from "./action.js";
import type { FakeGitHub, MatchedOperation } from "./fake-github.js";

const require = createRequire(import.meta.url);

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", ["-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", ...args], {
    cwd,
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  }).trim();
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
export async function makePullRequestRepo(baseFiles: Record<string, FileSpec>, headFiles: Record<string, FileSpec | null>): Promise<PullRequestRepo> {
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

/** The `opened` pull_request example from @octokit/webhooks-examples, pointed at our repository and commits. */
export function pullRequestEvent(options: { number: number; base: string; head: string; repository?: string; headRepository?: string; headRef?: string; action?: string }): Record<string, any> {
  const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, any>[] }[];
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

// ---------------------------------------------------------------------------------------------------
// Extra routes for FakeGitHub: git trees and blobs, refs, pull requests
// ---------------------------------------------------------------------------------------------------

type Json = Record<string, any>;
type Respond = (op: MatchedOperation, body: Json) => [number, unknown, Record<string, string>?];

export interface GitOpsRoutes {
  /** Pull requests opened through the fake. */
  pulls: { number: number; title: string; head: string; base: string; body: string }[];
  /** When false, pulls.create answers 403 like a repository that does not let Actions open pull requests. */
  allowPullRequests: boolean;
}

/**
 * Adds the endpoints the plan and request actions need to a running FakeGitHub by wrapping its
 * responder; requests and responses are still checked against the OpenAPI description by the fake.
 */
export function addGitOpsRoutes(fake: FakeGitHub, owner: string, repo: string): GitOpsRoutes {
  const state: GitOpsRoutes = { pulls: [], allowPullRequests: true };
  const internals = fake as unknown as { respond: Respond; refJson(ref: string, sha: string): Json; url: string };
  const original = internals.respond.bind(fake);
  const api = () => `${fake.url}/repos/${owner}/${repo}`;
  const treeEntries = (sha: string, recursive: boolean, prefix = ""): Json[] => {
    const out: Json[] = [];
    for (const e of fake.git.trees.get(sha) ?? []) {
      const p = `${prefix}${e.name}`;
      out.push({ path: p, mode: e.mode, type: e.type, sha: e.sha, url: `${api()}/git/${e.type}s/${e.sha}`, ...(e.type === "blob" ? { size: fake.git.blobs.get(e.sha)!.length } : {}) });
      if (recursive && e.type === "tree") out.push(...treeEntries(e.sha, true, `${p}/`));
    }
    return out;
  };
  const notFound: [number, unknown] = [404, { message: "Not Found", documentation_url: "https://docs.github.com/rest", status: "404" }];
  internals.respond = (op, body) => {
    switch (op.operationId) {
      case "git/get-tree": {
        let sha = op.path.tree_sha!;
        if (fake.git.commits.has(sha)) sha = fake.git.commits.get(sha)!.tree;
        if (!fake.git.trees.has(sha)) return notFound;
        const recursive = op.query.recursive !== undefined && op.query.recursive !== "0" && op.query.recursive !== "false";
        return [200, { sha, url: `${api()}/git/trees/${sha}`, truncated: false, tree: treeEntries(sha, recursive) }];
      }
      case "git/get-blob": {
        const blob = fake.git.blobs.get(op.path.file_sha!);
        if (!blob) return notFound;
        return [200, { sha: op.path.file_sha, node_id: `B_${op.path.file_sha}`, url: `${api()}/git/blobs/${op.path.file_sha}`, size: blob.length, content: blob.toString("base64"), encoding: "base64" }];
      }
      case "git/create-ref": {
        const ref = String(body.ref).replace(/^refs\//, "");
        if (!String(body.ref).startsWith("refs/heads/")) return [422, { message: "Reference name must start with refs/", documentation_url: "https://docs.github.com/rest", status: "422" }];
        if (fake.refs.has(ref)) return [422, { message: "Reference already exists", documentation_url: "https://docs.github.com/rest", status: "422" }];
        if (!fake.git.commits.has(body.sha)) return [422, { message: "Object does not exist", documentation_url: "https://docs.github.com/rest", status: "422" }];
        fake.refs.set(ref, body.sha);
        return [201, internals.refJson(ref, body.sha), { location: `${api()}/git/refs/${ref}` }];
      }
      case "pulls/list":
        return [200, []];
      case "pulls/create": {
        if (!state.allowPullRequests) return [403, { message: "GitHub Actions is not permitted to create or approve pull requests.", documentation_url: "https://docs.github.com/rest/pulls/pulls#create-a-pull-request", status: "403" }];
        if (!fake.refs.has(`heads/${body.head}`) || !fake.refs.has(`heads/${body.base}`)) return [422, { message: "Validation Failed", documentation_url: "https://docs.github.com/rest", status: "422" }];
        const number = 100 + state.pulls.length;
        state.pulls.push({ number, title: body.title, head: body.head, base: body.base, body: body.body ?? "" });
        return [201, pullRequestJson(fake, owner, repo, number, body)];
      }
      default:
        return original(op, body);
    }
  };
  return state;
}

/** A pulls.create response: the webhook example's pull request, which carries every required field, re-pointed. */
function pullRequestJson(fake: FakeGitHub, owner: string, repo: string, number: number, body: Json): Json {
  const pr = structuredClone(pullRequestEvent({ number, base: fake.head(body.base), head: fake.head(body.head), repository: `${owner}/${repo}`, headRef: body.head }).pull_request);
  pr.title = body.title;
  pr.body = body.body ?? null;
  pr.html_url = `https://github.com/${owner}/${repo}/pull/${number}`;
  pr.url = `${fake.url}/repos/${owner}/${repo}/pulls/${number}`;
  pr.base.ref = body.base;
  pr.auto_merge = null;
  return pr;
}

// ---------------------------------------------------------------------------------------------------
// A bare "origin" repository, and the files of a commit
// ---------------------------------------------------------------------------------------------------

/**
 * A bare repository serving `repo` as GitHub would: main, the pull request's head branch and
 * refs/pull/<n>/head, fetchable by SHA (GitHub allows fetching any reachable commit).
 */
export async function makeBareOrigin(repo: PullRequestRepo, options: { headRef: string; pullRequest: number }): Promise<string> {
  const bare = await mkdtemp(path.join(os.tmpdir(), "crucible-origin-"));
  git(bare, "init", "-q", "--bare");
  git(bare, "config", "uploadpack.allowAnySHA1InWant", "true");
  git(repo.dir, "push", "-q", bare, `${repo.base}:refs/heads/main`, `${repo.head}:refs/heads/${options.headRef}`, `${repo.head}:refs/pull/${options.pullRequest}/head`);
  return bare;
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

// ---------------------------------------------------------------------------------------------------
// Expressions: ${{ … }} as the runner evaluates them (the subset the workflows use), strictly
// ---------------------------------------------------------------------------------------------------

export class ExpressionError extends Error {}

type Node =
  | { k: "lit"; v: unknown }
  | { k: "ctx"; name: string }
  | { k: "prop"; obj: Node; key: Node; text: string }
  | { k: "call"; name: string; args: Node[] }
  | { k: "not"; e: Node }
  | { k: "bin"; op: string; l: Node; r: Node };

const TOKEN_RE = /\s*(?:('(?:[^']|'')*')|(-?(?:0x[0-9a-f]+|\d+(?:\.\d+)?(?:e[+-]?\d+)?))(?![\w-])|([A-Za-z_][A-Za-z0-9_-]*)|(\|\||&&|==|!=|<=|>=|[<>!()[\].,*]))/iy;

function tokenize(source: string): string[] {
  const tokens: string[] = [];
  TOKEN_RE.lastIndex = 0;
  while (TOKEN_RE.lastIndex < source.length) {
    if (/^\s*$/.test(source.slice(TOKEN_RE.lastIndex))) break;
    const at = TOKEN_RE.lastIndex;
    const match = TOKEN_RE.exec(source);
    if (!match) throw new ExpressionError(`cannot read the expression ${JSON.stringify(source)} at ${at}`);
    tokens.push(match[1] ?? match[2] ?? match[3] ?? match[4]!);
  }
  return tokens;
}

function parseExpression(source: string): Node {
  const tokens = tokenize(source);
  let i = 0;
  const peek = () => tokens[i];
  const take = (expected?: string) => {
    const t = tokens[i++];
    if (t === undefined || (expected !== undefined && t !== expected)) throw new ExpressionError(`expected ${expected ?? "more"} in ${JSON.stringify(source)}, got ${t ?? "the end"}`);
    return t;
  };
  const textOf = (n: Node): string => (n.k === "ctx" ? n.name : n.k === "prop" ? n.text : "(…)");
  const primary = (): Node => {
    const t = take();
    if (t === "(") {
      const e = or();
      take(")");
      return e;
    }
    if (t === "!") return { k: "not", e: primary() };
    if (t.startsWith("'")) return { k: "lit", v: t.slice(1, -1).replace(/''/g, "'") };
    if (/^-?\d|^-?0x/i.test(t)) return { k: "lit", v: Number(t) };
    if (t === "true" || t === "false") return { k: "lit", v: t === "true" };
    if (t === "null") return { k: "lit", v: null };
    if (!/^[A-Za-z_]/.test(t)) throw new ExpressionError(`unexpected ${t} in ${JSON.stringify(source)}`);
    let node: Node;
    if (peek() === "(") {
      take("(");
      const args: Node[] = [];
      while (peek() !== ")") {
        args.push(or());
        if (peek() === ",") take(",");
      }
      take(")");
      node = { k: "call", name: t.toLowerCase(), args };
    } else node = { k: "ctx", name: t };
    for (;;) {
      if (peek() === ".") {
        take(".");
        const key = take();
        if (key === "*") throw new ExpressionError(`object filters (.*) are not supported: ${source}`);
        node = { k: "prop", obj: node, key: { k: "lit", v: key }, text: `${textOf(node)}.${key}` };
      } else if (peek() === "[") {
        take("[");
        const key = or();
        take("]");
        node = { k: "prop", obj: node, key, text: `${textOf(node)}[…]` };
      } else return node;
    }
  };
  const comparison = (): Node => {
    let l = primary();
    while (["==", "!=", "<", "<=", ">", ">="].includes(peek() ?? "")) l = { k: "bin", op: take(), l, r: primary() };
    return l;
  };
  const and = (): Node => {
    let l = comparison();
    while (peek() === "&&") l = { k: "bin", op: take(), l, r: comparison() };
    return l;
  };
  const or = (): Node => {
    let l = and();
    while (peek() === "||") l = { k: "bin", op: take(), l, r: and() };
    return l;
  };
  const node = or();
  if (i !== tokens.length) throw new ExpressionError(`unexpected ${tokens[i]} in ${JSON.stringify(source)}`);
  return node;
}

const truthy = (v: unknown) => !(v === false || v === 0 || v === "" || v === null || v === undefined || Number.isNaN(v));
const toNumber = (v: unknown): number => (v === null || v === undefined ? 0 : typeof v === "boolean" ? Number(v) : typeof v === "number" ? v : typeof v === "string" ? (v.trim() === "" ? 0 : Number(v)) : NaN);

/** The runner's loose comparison: strings case-insensitively, mixed types as numbers. */
function compare(op: string, a: unknown, b: unknown): boolean {
  if (typeof a === "string" && typeof b === "string") {
    const [x, y] = [a.toUpperCase(), b.toUpperCase()];
    return op === "==" ? x === y : op === "!=" ? x !== y : op === "<" ? x < y : op === "<=" ? x <= y : op === ">" ? x > y : x >= y;
  }
  if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) return op === "==" ? a === b : op === "!=" ? a !== b : false;
  const [x, y] = [toNumber(a), toNumber(b)];
  return op === "==" ? x === y : op === "!=" ? x !== y : op === "<" ? x < y : op === "<=" ? x <= y : op === ">" ? x > y : x >= y;
}

/** How a value becomes text in `with:`, `env:` and `${{ }}` inside strings. */
export function expressionString(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v, null, 2);
}

export interface StatusFunctions {
  success(): boolean;
  failure(): boolean;
}

/**
 * Evaluates one expression. Strict where the runner is lenient: reading a context, property or output
 * that does not exist throws, so a workflow that reads an output nobody produced fails the test.
 */
export function evaluateExpression(source: string, context: Record<string, unknown>, status: StatusFunctions = { success: () => true, failure: () => false }): unknown {
  const ast = parseExpression(source);
  const lookup = (obj: unknown, key: string, text: string): unknown => {
    if (obj === null || typeof obj !== "object") throw new ExpressionError(`${text}: cannot read ${key} of ${JSON.stringify(obj)} (in ${JSON.stringify(source)})`);
    const record = obj as Record<string, unknown>;
    const found = key in record ? key : Object.keys(record).find((k) => k.toLowerCase() === key.toLowerCase());
    if (found === undefined) throw new ExpressionError(`${text} does not exist (in ${JSON.stringify(source)})`);
    return record[found];
  };
  const evaluate = (n: Node): unknown => {
    switch (n.k) {
      case "lit":
        return n.v;
      case "ctx":
        return lookup(context, n.name, n.name);
      case "prop": {
        const key = evaluate(n.key);
        return lookup(evaluate(n.obj), String(key), n.text);
      }
      case "not":
        return !truthy(evaluate(n.e));
      case "bin": {
        if (n.op === "||") {
          const l = evaluate(n.l);
          return truthy(l) ? l : evaluate(n.r);
        }
        if (n.op === "&&") {
          const l = evaluate(n.l);
          return truthy(l) ? evaluate(n.r) : l;
        }
        return compare(n.op, evaluate(n.l), evaluate(n.r));
      }
      case "call": {
        const args = () => n.args.map(evaluate);
        switch (n.name) {
          case "always":
            return true;
          case "success":
            return status.success();
          case "failure":
            return status.failure();
          case "cancelled":
            return false;
          case "fromjson": {
            const [text] = args();
            try {
              return JSON.parse(expressionString(text));
            } catch {
              throw new ExpressionError(`fromJSON: not JSON: ${JSON.stringify(text)} (in ${JSON.stringify(source)})`);
            }
          }
          case "tojson":
            return JSON.stringify(args()[0], null, 2);
          case "format": {
            const [fmt, ...rest] = args();
            return expressionString(fmt).replace(/\{\{|\}\}|\{(\d+)\}/g, (m, index: string | undefined) => (m === "{{" ? "{" : m === "}}" ? "}" : expressionString(rest[Number(index)])));
          }
          case "contains": {
            const [haystack, needle] = args();
            if (Array.isArray(haystack)) return haystack.some((h) => compare("==", h, needle));
            return expressionString(haystack).toLowerCase().includes(expressionString(needle).toLowerCase());
          }
          case "startswith":
            return expressionString(args()[0]).toLowerCase().startsWith(expressionString(args()[1]).toLowerCase());
          case "endswith":
            return expressionString(args()[0]).toLowerCase().endsWith(expressionString(args()[1]).toLowerCase());
          case "join": {
            const [list, sep] = args();
            return Array.isArray(list) ? list.map(expressionString).join(sep === undefined ? "," : expressionString(sep)) : expressionString(list);
          }
          default:
            throw new ExpressionError(`function ${n.name}() is not supported by this harness (in ${JSON.stringify(source)})`);
        }
      }
    }
  };
  return evaluate(ast);
}

/**
 * A workflow value with ${{ }} in it: a value that is exactly one expression keeps its type (for
 * strategy.matrix, runs-on, …); otherwise every expression is turned into text in place.
 */
export function interpolate(value: unknown, context: Record<string, unknown>, status?: StatusFunctions): unknown {
  if (typeof value !== "string") return value;
  const whole = /^\s*\$\{\{([^]*?)\}\}\s*$/.exec(value);
  if (whole && !whole[1]!.includes("}}")) return evaluateExpression(whole[1]!, context, status);
  return value.replace(/\$\{\{([^]*?)\}\}/g, (_, expr: string) => expressionString(evaluateExpression(expr, context, status)));
}

/** An `if:` condition: `${{ }}` optional, and an implicit success() unless it calls a status function. */
export function evaluateCondition(condition: unknown, context: Record<string, unknown>, status: StatusFunctions): boolean {
  if (condition === undefined || condition === null) return status.success();
  if (typeof condition === "boolean") return condition && status.success();
  let text = String(condition).trim();
  const wrapped = /^\$\{\{([^]*)\}\}$/.exec(text);
  if (wrapped) text = wrapped[1]!.trim();
  if (!/\b(always|success|failure|cancelled)\s*\(/.test(text)) text = `success() && (${text})`;
  return truthy(evaluateExpression(text, context, status));
}

// ---------------------------------------------------------------------------------------------------
// Running a workflow's jobs: local actions for real, GitHub's own actions simulated
// ---------------------------------------------------------------------------------------------------

type Step = Record<string, any>;
type Job = Record<string, any>;

export interface StepRun {
  job: string;
  matrix?: Record<string, unknown>;
  name: string;
  id?: string;
  uses?: string;
  with: Record<string, string>;
  outcome: "success" | "failure" | "skipped";
  outputs: Record<string, string>;
  run?: ActionRun;
  /** The action's post step (runs.post), run at the end of the job with the state its main step saved. */
  post?: ActionRun;
}

export interface JobRun {
  name: string;
  result: "success" | "failure" | "skipped";
  outputs: Record<string, string>;
  /** One entry per matrix combination (one for a job without a matrix). */
  instances: { matrix?: Record<string, unknown>; displayName: string; runsOn: string[]; runner: string; workspace: string; temp: string; steps: StepRun[]; result: "success" | "failure" }[];
}

export interface WorkflowRunOptions {
  /** Parsed workflow file. */
  workflow: Record<string, any>;
  /** Jobs to run, in order (each job's needs must come earlier). */
  jobs: string[];
  event: Record<string, any>;
  eventName: string;
  /** The `github` context: sha, ref, repository, … (workspace, job, token, event and event_name are added). */
  github: Record<string, unknown>;
  token: string;
  /** The bare repository actions/checkout and `git fetch origin` read from. */
  origin: string;
  /** Folder for workspaces, runner temp folders and artifacts. */
  root: string;
  /** Self-hosted and hosted runners available: name → labels. */
  runners: Record<string, string[]>;
  /** Environment of every step (GITHUB_API_URL and the like). */
  env?: Record<string, string>;
  /** Decides a deployment review for a job that declares `environment:`. */
  approve(job: string, environment: string, matrix?: Record<string, unknown>): boolean;
  /** Called before each step, to look at or veto it (throw to fail the test). */
  onStep?(job: string, step: Step, workspace: string): void;
}

export interface WorkflowRun {
  jobs: Record<string, JobRun>;
  /** Every step that ran or was skipped, in order. */
  steps: StepRun[];
  /** Deployment reviews asked for. */
  approvals: { job: string; environment: string; matrix?: Record<string, unknown> }[];
  /** Where the uploaded Actions artifacts are, one folder per artifact name. */
  artifactsDir: string;
}

const stripSha = (uses: string) => uses.replace(/@.*$/, "");

/**
 * Runs the given jobs of a workflow the way the runner would, for testing: `./…` actions run their
 * bundle (runs.main and runs.post) from the job's checkout with INPUT_ values from `with:` and the
 * action.yml defaults; `run:` scripts run with bash in the workspace; actions/checkout fetches from the
 * bare origin; upload-/download-artifact copy folders through a local store. Expressions are evaluated
 * strictly, a `with:` key an action does not declare, a missing required input or an output nobody
 * produced throws.
 */
export async function runWorkflow(options: WorkflowRunOptions): Promise<WorkflowRun> {
  const artifacts = path.join(options.root, "artifacts");
  await mkdir(artifacts, { recursive: true });
  const eventPath = path.join(options.root, "event.json");
  await writeFile(eventPath, JSON.stringify(options.event));
  const run: WorkflowRun = { jobs: {}, steps: [], approvals: [], artifactsDir: artifacts };
  const workflowEnv = (options.workflow.env ?? {}) as Record<string, string>;

  const needsOf = (job: Job) => [job.needs ?? []].flat() as string[];
  const needsContext = (job: Job) =>
    Object.fromEntries(
      needsOf(job).map((n) => {
        if (!run.jobs[n]) throw new ExpressionError(`a job needs ${n}, which has not run`);
        return [n, { result: run.jobs[n]!.result, outputs: run.jobs[n]!.outputs }];
      }),
    );

  for (const jobName of options.jobs) {
    const job = options.workflow.jobs[jobName] as Job;
    if (!job) throw new Error(`the workflow has no job ${jobName}`);
    const needs = needsContext(job);
    const baseContext = { github: { ...options.github, event: options.event, event_name: options.eventName, job: jobName, token: options.token }, needs, secrets: { GITHUB_TOKEN: options.token }, vars: {}, inputs: {}, env: workflowEnv };
    const jobStatus: StatusFunctions = { success: () => Object.values(needs).every((n) => n.result === "success"), failure: () => Object.values(needs).some((n) => n.result === "failure") };
    const jobRun: JobRun = { name: jobName, result: "skipped", outputs: {}, instances: [] };
    run.jobs[jobName] = jobRun;
    if (!evaluateCondition(job.if, baseContext, jobStatus)) continue;

    // strategy.matrix: include-only or plain dimensions.
    let combinations: (Record<string, unknown> | undefined)[] = [undefined];
    if (job.strategy?.matrix !== undefined) {
      const matrix = interpolate(job.strategy.matrix, baseContext) as Record<string, unknown>;
      const maxParallel = interpolate(job.strategy["max-parallel"], baseContext);
      if (maxParallel !== undefined && (typeof maxParallel !== "number" || maxParallel < 1)) throw new ExpressionError(`${jobName}: strategy.max-parallel must be a positive number, got ${JSON.stringify(maxParallel)}`);
      const { include, exclude, ...dimensions } = matrix as { include?: Record<string, unknown>[]; exclude?: unknown };
      if (exclude !== undefined) throw new Error("matrix exclude is not supported by this harness");
      if (Object.keys(dimensions).length > 0 && include) throw new Error("matrix dimensions with include are not supported by this harness");
      combinations = include ?? Object.entries(dimensions).reduce<Record<string, unknown>[]>((acc, [key, values]) => acc.flatMap((c) => (values as unknown[]).map((v) => ({ ...c, [key]: v }))), [{}]);
      if (combinations.length === 0) throw new Error(`${jobName}: the matrix is empty`);
    }

    let failed = false;
    for (const [index, matrix] of combinations.entries()) {
      const id = `${jobName}-${index}`;
      const workspace = path.join(options.root, id, "workspace");
      const temp = path.join(options.root, id, "temp");
      await mkdir(workspace, { recursive: true });
      await mkdir(temp, { recursive: true });
      const matrixContext = { ...baseContext, matrix: matrix ?? {}, strategy: { "fail-fast": job.strategy?.["fail-fast"] ?? true, "job-index": index, "job-total": combinations.length } };
      const runsOn = [interpolate(job["runs-on"], matrixContext)].flat().map(String);
      const runner = Object.entries(options.runners).find(([, labels]) => runsOn.every((l) => labels.some((m) => m.toLowerCase() === l.toLowerCase())));
      if (!runner) throw new Error(`${jobName}: no runner carries the labels ${runsOn.join(", ")}`);
      const displayName = expressionString(interpolate(job.name ?? jobName, matrixContext));
      if (job.environment) {
        const environment = expressionString(interpolate(typeof job.environment === "string" ? job.environment : job.environment.name, matrixContext));
        run.approvals.push({ job: jobName, environment, matrix });
        if (!options.approve(jobName, environment, matrix)) {
          failed = true;
          jobRun.instances.push({ matrix, displayName, runsOn, runner: runner[0], workspace, temp, steps: [], result: "failure" });
          continue;
        }
      }

      const github = { ...matrixContext.github, workspace };
      const runnerContext = { temp, name: runner[0], os: "Linux", arch: "X64" };
      const stepsContext: Record<string, { outputs: Record<string, string>; outcome: string; conclusion: string }> = {};
      const jobEnvRaw = (job.env ?? {}) as Record<string, string>;
      const stepRuns: StepRun[] = [];
      const posts: { record: StepRun; entry: string; stateFile: string; postIf: unknown; env: Record<string, string>; inputs: Record<string, string> }[] = [];
      const stepStatus: StatusFunctions = { success: () => stepRuns.every((s) => s.outcome !== "failure"), failure: () => stepRuns.some((s) => s.outcome === "failure") };
      const runnerEnv = (action: string): Record<string, string> => ({
        CI: "true",
        GITHUB_ACTIONS: "true",
        GITHUB_ACTION: action,
        GITHUB_WORKSPACE: workspace,
        GITHUB_EVENT_PATH: eventPath,
        GITHUB_EVENT_NAME: options.eventName,
        GITHUB_REPOSITORY: String(options.github.repository),
        GITHUB_REPOSITORY_OWNER: String(options.github.repository).split("/")[0]!,
        GITHUB_SHA: String(options.github.sha),
        GITHUB_REF: String(options.github.ref),
        GITHUB_REF_NAME: String(options.github.ref_name ?? ""),
        GITHUB_HEAD_REF: String(options.github.head_ref ?? ""),
        GITHUB_BASE_REF: String(options.github.base_ref ?? ""),
        GITHUB_ACTOR: String(options.github.actor ?? ""),
        GITHUB_SERVER_URL: String(options.github.server_url ?? "https://github.com"),
        GITHUB_API_URL: String(options.github.api_url ?? ""),
        GITHUB_RUN_ID: String(options.github.run_id ?? "1"),
        GITHUB_RUN_NUMBER: String(options.github.run_number ?? "1"),
        GITHUB_RUN_ATTEMPT: String(options.github.run_attempt ?? "1"),
        GITHUB_JOB: jobName,
        GITHUB_WORKFLOW: String(options.workflow.name ?? ""),
        RUNNER_TEMP: temp,
        RUNNER_NAME: runner[0],
        RUNNER_OS: "Linux",
        RUNNER_ARCH: "X64",
        ...options.env,
      });

      for (const [stepIndex, step] of ((job.steps ?? []) as Step[]).entries()) {
        const envContext = { ...workflowEnv };
        const context = () => ({ ...matrixContext, github, runner: runnerContext, steps: stepsContext, env: envContext });
        for (const [k, v] of Object.entries(jobEnvRaw)) envContext[k] = expressionString(interpolate(v, context()));
        const name = expressionString(interpolate(step.name ?? step.uses ?? step.run?.split("\n")[0] ?? `step ${stepIndex}`, context()));
        const record: StepRun = { job: jobName, matrix, name, id: step.id, uses: step.uses, with: {}, outcome: "skipped", outputs: {} };
        const stepEnv: Record<string, string> = {};
        for (const [k, v] of Object.entries((step.env ?? {}) as Record<string, string>)) stepEnv[k] = expressionString(interpolate(v, context()));
        Object.assign(envContext, stepEnv);
        const withValues: Record<string, string> = {};
        for (const [k, v] of Object.entries((step.with ?? {}) as Record<string, unknown>)) withValues[k] = expressionString(interpolate(v, context()));
        record.with = withValues;
        const shouldRun = evaluateCondition(step.if, context(), stepStatus);
        if (shouldRun) {
          options.onStep?.(jobName, step, workspace);
          const env = { ...runnerEnv(step.id ?? `__step${stepIndex}`), ...envContext };
          try {
            if (typeof step.uses === "string" && step.uses.startsWith("./")) {
              const dir = path.join(workspace, step.uses);
              const actionFile = (await stat(path.join(dir, "action.yml")).catch(() => undefined)) ? path.join(dir, "action.yml") : path.join(dir, "action.yaml");
              const action = parseYaml(await readFile(actionFile, "utf8")) as Record<string, any>;
              const declared = (action.inputs ?? {}) as Record<string, { required?: boolean; default?: unknown }>;
              for (const key of Object.keys(withValues)) if (!(key in declared)) throw new ExpressionError(`${jobName}: step "${name}" gives ${step.uses} the input ${key}, which its action.yml does not declare`);
              const inputs: Record<string, string> = {};
              for (const [key, input] of Object.entries(declared)) {
                if (key in withValues) inputs[key] = withValues[key]!;
                else if (input.default !== undefined) inputs[key] = expressionString(interpolate(String(input.default), context()));
                else if (input.required) throw new ExpressionError(`${jobName}: step "${name}" does not give ${step.uses} its required input ${key}`);
              }
              if (!/^node\d+$/.test(String(action.runs?.using))) throw new Error(`${step.uses}: runs.using ${action.runs?.using} is not a node action`);
              const stateFile = path.join(temp, `state-${stepIndex}`);
              await writeFile(stateFile, "");
              const entry = path.join(dir, action.runs.main);
              const result = await runAction(entry, { inputs, env: { ...env, GITHUB_STATE: stateFile } });
              record.run = result;
              record.outputs = result.outputs;
              record.outcome = result.code === 0 ? "success" : "failure";
              if (action.runs.post) posts.unshift({ record, entry: path.join(dir, action.runs.post), stateFile, postIf: action.runs["post-if"] ?? "success()", env, inputs });
            } else if (typeof step.uses === "string") {
              record.outputs = await simulateAction(stripSha(step.uses), withValues, { workspace, origin: options.origin, artifacts, git });
              record.outcome = "success";
            } else if (typeof step.run === "string") {
              const script = path.join(temp, `run-${stepIndex}.sh`);
              // The runner substitutes expressions into the script text before running it.
              await writeFile(script, expressionString(interpolate(step.run, context())));
              const outputFile = path.join(temp, `run-${stepIndex}.output`);
              await writeFile(outputFile, "");
              const result = spawnBash(script, workspace, { PATH: process.env.PATH ?? "", HOME: os.homedir(), ...env, GITHUB_OUTPUT: outputFile });
              record.run = { code: result.code, stdout: result.stdout, stderr: result.stderr, outputs: parseFileCommands(await readFile(outputFile, "utf8")), summary: "" };
              record.outputs = record.run.outputs;
              record.outcome = result.code === 0 ? "success" : "failure";
            } else throw new Error(`${jobName}: step "${name}" has neither uses nor run`);
          } catch (error) {
            if (error instanceof ExpressionError) throw error;
            throw new Error(`${jobName}: step "${name}" could not run: ${(error as Error).message}`);
          }
        }
        if (step.id) stepsContext[step.id] = { outputs: record.outputs, outcome: record.outcome, conclusion: record.outcome };
        stepRuns.push(record);
        run.steps.push(record);
      }
      // Post steps, in reverse order, with the state their main step saved.
      for (const post of posts) {
        if (!evaluateCondition(post.postIf, { ...matrixContext, github, runner: runnerContext, steps: stepsContext }, stepStatus)) continue;
        const state = parseFileCommands(await readFile(post.stateFile, "utf8"));
        const stateEnv = Object.fromEntries(Object.entries(state).map(([k, v]) => [`STATE_${k}`, v]));
        const result = await runAction(post.entry, { inputs: post.inputs, env: { ...post.env, ...stateEnv, GITHUB_STATE: path.join(temp, "post-state") } });
        post.record.post = result;
        if (result.code !== 0) throw new Error(`${jobName}: the post step of ${post.entry} failed: ${result.stdout}${result.stderr}`);
      }
      const instanceResult = stepRuns.some((s) => s.outcome === "failure") ? "failure" : "success";
      if (instanceResult === "failure") failed = true;
      jobRun.instances.push({ matrix, displayName, runsOn, runner: runner[0], workspace, temp, steps: stepRuns, result: instanceResult });
      // Job outputs: evaluated once the steps are done, strictly.
      for (const [key, value] of Object.entries((job.outputs ?? {}) as Record<string, string>)) {
        jobRun.outputs[key] = expressionString(interpolate(value, { ...matrixContext, github, runner: runnerContext, steps: stepsContext }));
      }
    }
    jobRun.result = failed ? "failure" : "success";
  }
  return run;
}

function spawnBash(script: string, cwd: string, env: Record<string, string>): { code: number | null; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", script], { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return { code: 0, stdout, stderr: "" };
  } catch (error) {
    const e = error as { status: number | null; stdout?: string; stderr?: string };
    return { code: e.status, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** GitHub's own actions, as far as these workflows use them. Anything else is refused. */
async function simulateAction(action: string, inputs: Record<string, string>, ctx: { workspace: string; origin: string; artifacts: string; git: typeof git }): Promise<Record<string, string>> {
  const flag = (v: string | undefined, fallback: boolean) => (v === undefined || v === "" ? fallback : v === "true");
  switch (action) {
    case "actions/checkout": {
      const known = new Set(["ref", "fetch-depth", "persist-credentials", "sparse-checkout", "repository", "token", "path"]);
      for (const key of Object.keys(inputs)) if (!known.has(key)) throw new Error(`actions/checkout: input ${key} is not simulated`);
      if (inputs.repository || inputs.path) throw new Error("actions/checkout: repository and path are not simulated");
      const ref = inputs.ref;
      if (!ref) throw new Error("actions/checkout: give ref (the harness does not guess the event's ref)");
      const depth = Number(inputs["fetch-depth"] ?? "1");
      const ws = ctx.workspace;
      ctx.git(ws, "init", "-q");
      ctx.git(ws, "remote", "add", "origin", `file://${ctx.origin}`);
      if (depth === 0) ctx.git(ws, "fetch", "-q", "--no-tags", "origin", "+refs/heads/*:refs/remotes/origin/*", ref);
      else ctx.git(ws, "fetch", "-q", "--no-tags", `--depth=${depth}`, "origin", ref);
      if (inputs["sparse-checkout"]) ctx.git(ws, "sparse-checkout", "set", "--cone", ...inputs["sparse-checkout"].split("\n").map((l) => l.trim()).filter(Boolean));
      ctx.git(ws, "checkout", "-q", "--detach", /^[0-9a-f]{40}$/.test(ref) ? ref : "FETCH_HEAD");
      // persist-credentials: false leaves no token in .git/config; the harness never writes one.
      return {};
    }
    case "actions/upload-artifact": {
      const name = inputs.name || "artifact";
      // One path or several, one per line; several keep their paths below their common folder, as the action does.
      const sources = inputs.path!.split("\n").map((l) => l.trim()).filter(Boolean);
      const target = path.join(ctx.artifacts, name);
      if (await stat(target).catch(() => undefined)) throw new Error(`actions/upload-artifact: an artifact named ${name} already exists in this run`);
      const present = (await Promise.all(sources.map(async (source) => ((await stat(source).catch(() => undefined)) ? source : undefined)))).filter((s): s is string => !!s);
      if (present.length === 0) {
        if ((inputs["if-no-files-found"] ?? "warn") === "error") throw new Error(`actions/upload-artifact: no files at ${sources.join(", ")}`);
        return {};
      }
      if (present.length === 1 && (await stat(present[0]!)).isDirectory()) await cp(present[0]!, target, { recursive: true });
      else {
        let common = path.dirname(present[0]!);
        while (!present.every((p) => p.startsWith(common + path.sep))) common = path.dirname(common);
        for (const source of present) await cp(source, path.join(target, path.relative(common, source)), { recursive: true });
      }
      return { "artifact-id": String(name.length), "artifact-url": `https://github.com/artifacts/${name}` };
    }
    case "actions/download-artifact": {
      const names = (await readdir(ctx.artifacts)).sort();
      const pattern = inputs.pattern ? new RegExp(`^${inputs.pattern.replace(/[.+?^$()|[\]\\{}]/g, "\\$&").replace(/\*/g, ".*")}$`) : undefined;
      const chosen = inputs.name ? names.filter((n) => n === inputs.name) : names.filter((n) => !pattern || pattern.test(n));
      if (inputs.name && chosen.length === 0) throw new Error(`actions/download-artifact: no artifact named ${inputs.name}`);
      const destination = inputs.path || ctx.workspace;
      await mkdir(destination, { recursive: true });
      for (const name of chosen) await cp(path.join(ctx.artifacts, name), flag(inputs["merge-multiple"], false) || inputs.name ? destination : path.join(destination, name), { recursive: true });
      return { "download-path": destination };
    }
    default:
      throw new Error(`${action} is not simulated by this harness`);
  }
}
