// A local stand-in for api.github.com that behaves like GitHub for the operations the GitOps loop uses,
// over a real bare git repository (support/github/git-store.ts). Every request and response is checked
// against GitHub's OpenAPI description (@octokit/openapi) and tests assert `violations` is empty.
//
// Behaviour modelled, not only shapes:
// - who a token is: a person (with a repository role), a workflow job's GITHUB_TOKEN (with the job's
//   `permissions:`), or a GitHub App installation token (with the permissions it was minted with); an
//   operation outside the token's permissions is refused with 403 as GitHub does;
// - what happened, and who caused it: pull requests opened, synchronized (their head branch moved),
//   closed and reopened, pushes, comments and workflow dispatches are reported to `hooks.event` with
//   the identity that caused them, so the simulator (github-sim.ts) can start workflows only for the
//   events GitHub would deliver;
// - environments with required reviewers and "prevent self-review", deployment reviews, the run's
//   approvals history, its jobs (with the times they started and completed) and cancellation, on runs
//   the simulator registers;
// - a run's artifacts: created_at set by the server when the upload starts, names unique per run (a
//   second upload of a name is refused with 409, as upload-artifact v4 is);
// - self-hosted runners (github/runners.ts): the organisation's runner groups restricted to repositories
//   and workflows, just-in-time registrations (repository admins, organisation owners), which queued job
//   a runner is given, and the fork-PR approval setting. Organisation operations answer only when the
//   owner is an organisation (`ownerType`), as /orgs/{user} is not found on GitHub.
import { createPublicKey, createVerify, randomBytes, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { GitStore, type FileChange, type Person, type StoredCommit } from "./github/git-store.js";
import { githubContract, type Json, type MatchedOperation } from "./github/openapi.js";
import { BROKER_PREFIX, FakeRunners } from "./github/runners.js";

export type { MatchedOperation } from "./github/openapi.js";

export type Role = "admin" | "maintain" | "write" | "triage" | "read";
export type Permission = "read" | "write";

/** Whoever a token belongs to. */
export interface Identity {
  login: string;
  type: "User" | "Bot";
  kind: "user" | "actions" | "app";
  /** Scopes of a job token or an App installation token; a person's token has their role instead. */
  permissions?: Record<string, Permission>;
  /** The workflow run a GITHUB_TOKEN belongs to. */
  runId?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  operationId?: string;
  body?: unknown;
  status: number;
  login?: string;
}

export interface FakeComment {
  id: number;
  issueNumber: number;
  body: string;
  login: string;
  createdAt: string;
  updatedAt: string;
  reactions: { content: string; login: string }[];
}

export interface FakeStatus {
  sha: string;
  state: string;
  context: string;
  description: string | null;
  targetUrl: string | null;
  login?: string;
}

export interface FakePullRequest {
  number: number;
  title: string;
  body: string;
  author: string;
  state: "open" | "closed";
  /** Head branch, in this repository or (fork) in headRepo. */
  head: { ref: string; sha: string; repo: string };
  base: { ref: string; sha: string };
  openedBy: Identity;
}

export interface FakeEnvironment {
  id: number;
  name: string;
  reviewers: string[];
  preventSelfReview: boolean;
  /** Branches allowed to deploy; null: any. */
  branches: string[] | null;
}

export type ReviewState = "approved" | "rejected";

export interface FakeReview {
  user: string;
  state: ReviewState;
  comment: string;
  environments: string[];
  at: string;
}

export interface FakeJob {
  id: number;
  name: string;
  status: "queued" | "waiting" | "in_progress" | "completed";
  conclusion: string | null;
  runnerName: string | null;
  labels: string[];
  startedAt: string;
  completedAt: string | null;
}

export interface FakeArtifact {
  id: number;
  name: string;
  sizeInBytes: number;
  /** Set by the server when the upload starts (CreateArtifact), never by the uploader. */
  createdAt: string;
}

/** What upload-artifact v4 says when its CreateArtifact call is refused because the name is taken. */
export const ARTIFACT_CONFLICT =
  "Failed to CreateArtifact: Received non-retryable error: Failed request: (409) Conflict: " +
  "an artifact with this name already exists on the workflow run";

export interface FakeRun {
  id: number;
  attempt: number;
  name: string;
  path: string;
  event: string;
  headBranch: string;
  headSha: string;
  /** Who caused the event; for "prevent self-review", who may not approve. */
  actor: string;
  status: "queued" | "pending" | "waiting" | "in_progress" | "completed";
  conclusion: string | null;
  createdAt: string;
  pullRequests: number[];
  jobs: FakeJob[];
  /** Uploaded so far (absent: none). */
  artifacts?: FakeArtifact[];
  pending: { environment: FakeEnvironment; job: string; since: string; decide(review: FakeReview): void }[];
  reviews: FakeReview[];
  cancel(): void;
}

export type RepoEvent =
  | { kind: "pull_request"; action: "opened" | "synchronize" | "closed" | "reopened"; number: number; before?: string; sender: Identity }
  | { kind: "push"; ref: string; before: string | null; after: string; sender: Identity }
  | { kind: "issue_comment"; action: "created"; issue: number; comment: number; sender: Identity };

export interface DispatchRequest {
  workflow: string;
  ref: string;
  inputs: Record<string, unknown>;
  sender: Identity;
}

export interface FakeGitHubHooks {
  /** Something happened in the repository (the simulator decides which workflows it starts). */
  event?(event: RepoEvent): void;
  /** A workflow_dispatch: returns the new run, or a refusal ([status, message]). */
  dispatch?(request: DispatchRequest): FakeRun | [number, string];
}

export interface FakeGitHubOptions {
  owner: string;
  repo: string;
  /** A token of the repository's admin (login "octo-admin"), for tests that act directly. */
  token?: string;
  /** Branch name → its files; each branch starts with one commit holding them. */
  branches?: Record<string, Record<string, string | Buffer>>;
  /** An existing bare repository to serve instead (its refs/heads are the branches). */
  store?: GitStore;
  defaultBranch?: string;
  /** A user account (the default) or an organisation, which alone has runner groups and org endpoints. */
  ownerType?: "User" | "Organization";
  /** A private repository; public by default, which matters to runner groups (allows_public_repositories). */
  private?: boolean;
}

const DOCS = "https://docs.github.com/rest";
/** The repository's id, as its payloads and the runner-group repository lists carry it. */
export const REPOSITORY_ID = 1;
const REPOSITORY_DATES = { created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z", pushed_at: "2026-01-01T00:00:00Z" };

/** Error statuses GitHub sends (its documentation's prose says so) that the OpenAPI description leaves out. */
const UNDESCRIBED_ERRORS: Record<string, number[]> = {
  "actions/review-pending-deployments-for-run": [422],
  "actions/create-workflow-dispatch": [403, 404, 422],
  // "The authenticated user must have admin access" (403), and a runner or group that is not there (404).
  "actions/generate-runner-jitconfig-for-repo": [403],
  "actions/generate-runner-jitconfig-for-org": [403],
  "actions/get-self-hosted-runner-for-repo": [403, 404],
  "actions/get-self-hosted-runner-for-org": [403, 404],
  "actions/delete-self-hosted-runner-from-repo": [403, 404],
  "actions/delete-self-hosted-runner-from-org": [403, 404],
  "actions/list-self-hosted-runners-for-repo": [403],
  "actions/list-self-hosted-runners-for-org": [403, 404],
  "actions/list-self-hosted-runner-groups-for-org": [403, 404],
  "actions/create-self-hosted-runner-group-for-org": [403, 404, 409],
  "actions/update-self-hosted-runner-group-for-org": [403, 404],
  "actions/set-repo-access-to-self-hosted-runner-group-in-org": [403, 404],
  "actions/list-repo-access-to-self-hosted-runner-group-in-org": [403, 404],
  "actions/set-fork-pr-contributor-approval-permissions-repository": [403],
  "actions/get-fork-pr-contributor-approval-permissions-repository": [403],
};
export const ACTIONS_BOT = "github-actions[bot]";

/** What each operation needs of a job or App token: [scope, level]; several entries = any of them. */
const REQUIRED: Record<string, [string, Permission][]> = {
  "git/get-ref": [["contents", "read"]],
  "git/get-commit": [["contents", "read"]],
  "git/get-tree": [["contents", "read"]],
  "git/get-blob": [["contents", "read"]],
  "repos/get-commit": [["contents", "read"]],
  "git/create-blob": [["contents", "write"]],
  "git/create-tree": [["contents", "write"]],
  "git/create-commit": [["contents", "write"]],
  "git/create-ref": [["contents", "write"]],
  "git/update-ref": [["contents", "write"]],
  "pulls/get": [["pull-requests", "read"]],
  "pulls/list": [["pull-requests", "read"]],
  "pulls/create": [["pull-requests", "write"]],
  "pulls/update": [["pull-requests", "write"]],
  "issues/list-comments": [
    ["issues", "read"],
    ["pull-requests", "read"],
  ],
  "issues/create-comment": [
    ["issues", "write"],
    ["pull-requests", "write"],
  ],
  "issues/update-comment": [
    ["issues", "write"],
    ["pull-requests", "write"],
  ],
  "reactions/create-for-issue-comment": [
    ["issues", "write"],
    ["pull-requests", "write"],
  ],
  "repos/create-commit-status": [["statuses", "write"]],
  "repos/list-commit-statuses-for-ref": [["statuses", "read"]],
  "actions/create-workflow-dispatch": [["actions", "write"]],
  "actions/cancel-workflow-run": [["actions", "write"]],
  "actions/get-workflow-run": [["actions", "read"]],
  "actions/get-reviews-for-run": [["actions", "read"]],
  "actions/get-pending-deployments-for-run": [["actions", "read"]],
  "actions/list-jobs-for-workflow-run-attempt": [["actions", "read"]],
  "actions/list-jobs-for-workflow-run": [["actions", "read"]],
  "actions/list-workflow-run-artifacts": [["actions", "read"]],
  "repos/get-collaborator-permission-level": [["metadata", "read"]],
  "repos/get": [["metadata", "read"]],
  "actions/generate-runner-jitconfig-for-repo": [["administration", "write"]],
  "actions/list-self-hosted-runners-for-repo": [["administration", "read"]],
  "actions/get-self-hosted-runner-for-repo": [["administration", "read"]],
  "actions/delete-self-hosted-runner-from-repo": [["administration", "write"]],
  "actions/get-fork-pr-contributor-approval-permissions-repository": [["administration", "read"]],
  "actions/set-fork-pr-contributor-approval-permissions-repository": [["administration", "write"]],
  "actions/generate-runner-jitconfig-for-org": [["organization_self_hosted_runners", "write"]],
  "actions/list-self-hosted-runners-for-org": [["organization_self_hosted_runners", "read"]],
  "actions/get-self-hosted-runner-for-org": [["organization_self_hosted_runners", "read"]],
  "actions/delete-self-hosted-runner-from-org": [["organization_self_hosted_runners", "write"]],
  "actions/list-self-hosted-runner-groups-for-org": [["organization_self_hosted_runners", "read"]],
  "actions/create-self-hosted-runner-group-for-org": [["organization_self_hosted_runners", "write"]],
  "actions/update-self-hosted-runner-group-for-org": [["organization_self_hosted_runners", "write"]],
  "actions/list-repo-access-to-self-hosted-runner-group-in-org": [["organization_self_hosted_runners", "read"]],
  "actions/set-repo-access-to-self-hosted-runner-group-in-org": [["organization_self_hosted_runners", "write"]],
};

/** What a person needs: their role, for operations that change the repository or its workflows. */
const NEEDS_WRITE_ROLE = new Set([
  "git/create-blob",
  "git/create-tree",
  "git/create-commit",
  "git/create-ref",
  "git/update-ref",
  "actions/create-workflow-dispatch",
  "actions/cancel-workflow-run",
  "repos/create-commit-status",
]);
const WRITE_ROLES = new Set<Role>(["admin", "maintain", "write"]);
/** An organisation's runners and runner groups: its owners only. */
const ORG_RUNNER_OPERATIONS = new Set(
  Object.keys(REQUIRED).filter((id) => REQUIRED[id]!.some(([scope]) => scope === "organization_self_hosted_runners")),
);
/** A repository's runners and its Actions settings: its admins only. */
const NEEDS_ADMIN_ROLE = new Set([
  "actions/generate-runner-jitconfig-for-repo",
  "actions/list-self-hosted-runners-for-repo",
  "actions/get-self-hosted-runner-for-repo",
  "actions/delete-self-hosted-runner-from-repo",
  "actions/get-fork-pr-contributor-approval-permissions-repository",
  "actions/set-fork-pr-contributor-approval-permissions-repository",
]);

export class FakeGitHub {
  readonly requests: RecordedRequest[] = [];
  /** Every way a request or a response strayed from GitHub's OpenAPI description. */
  readonly violations: string[] = [];
  readonly comments: FakeComment[] = [];
  readonly statuses: FakeStatus[] = [];
  readonly pulls: FakePullRequest[] = [];
  readonly environments = new Map<string, FakeEnvironment>();
  readonly runs = new Map<number, FakeRun>();
  readonly roles = new Map<string, Role>();
  /** Owners of the organisation (when the owner is one): they alone manage its runners and runner groups. */
  readonly orgOwners = new Set<string>();
  readonly runners: FakeRunners;
  readonly ownerType: "User" | "Organization";
  readonly git: GitStore;
  readonly owner: string;
  readonly repo: string;
  readonly defaultBranch: string;
  hooks: FakeGitHubHooks = {};
  /** When false, GitHub Actions may not open pull requests (the repository setting), as on a new repository. */
  allowActionsToCreatePullRequests = true;
  url = "";
  private readonly tokens = new Map<string, Identity>();
  /** Commits made through the Git Data API by a bot (a workflow's or an App's token): GitHub signs those. */
  private readonly signed = new Map<string, string>();
  private appConfig?: { id: number; slug: string; key: KeyObject; installationId: number; permissions: Record<string, Permission> };
  private readonly server = createServer((req, res) => void this.handle(req, res));
  private readonly contract = githubContract();
  private pendingPush?: { branch: string; files: Record<string, string> };
  private nextId = 1000;
  private readonly repositoryPrivate: boolean;

  private constructor(options: FakeGitHubOptions) {
    this.owner = options.owner;
    this.repo = options.repo;
    this.git = options.store ?? GitStore.create();
    this.defaultBranch = options.defaultBranch ?? "main";
    this.ownerType = options.ownerType ?? "User";
    this.repositoryPrivate = options.private ?? false;
    this.runners = new FakeRunners({
      owner: this.owner,
      repo: this.repo,
      repositoryId: REPOSITORY_ID,
      repositoryPrivate: this.repositoryPrivate,
      url: () => this.url,
      ownerJson: () => this.userJson(this.owner),
      contract: this.contract,
      nextId: () => this.nextId++,
    });
    for (const [branch, files] of Object.entries(options.branches ?? {})) {
      this.git.setRef(
        `heads/${branch}`,
        this.git.commitFiles(null, files, "Initial commit", { name: "GitHub", email: "noreply@github.com" }),
      );
    }
    if (options.token) this.addUser("octo-admin", "admin", options.token);
  }

  static async start(options: FakeGitHubOptions): Promise<FakeGitHub> {
    const fake = new FakeGitHub(options);
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  get fullName(): string {
    return `${this.owner}/${this.repo}`;
  }

  // ---------------------------------------------------------------------------------------------
  // People, tokens, the App, environments
  // ---------------------------------------------------------------------------------------------

  /** A person with a role on the repository (or none: an outside contributor) and their token. */
  addUser(login: string, role: Role | null, token = `ghp_${login.replace(/\W/g, "")}_${randomBytes(6).toString("hex")}`): string {
    if (role) this.roles.set(login, role);
    this.tokens.set(token, { login, type: "User", kind: "user" });
    return token;
  }

  /** A workflow job's GITHUB_TOKEN: github-actions[bot] with the job's permissions. */
  jobToken(runId: number, permissions: Record<string, Permission>): string {
    const token = `ghs_run${runId}_${randomBytes(8).toString("hex")}`;
    this.tokens.set(token, { login: ACTIONS_BOT, type: "Bot", kind: "actions", permissions: { metadata: "read", ...permissions }, runId });
    return token;
  }

  revoke(token: string): void {
    this.tokens.delete(token);
  }

  identity(token: string): Identity | undefined {
    return this.tokens.get(token);
  }

  /** Installs a GitHub App on the repository: JWTs signed with its private key may mint installation tokens. */
  installApp(app: { id: number; slug: string; publicKeyPem: string; permissions: Record<string, Permission> }): void {
    this.appConfig = {
      id: app.id,
      slug: app.slug,
      key: createPublicKey(app.publicKeyPem),
      installationId: 7000 + app.id,
      permissions: app.permissions,
    };
  }

  addEnvironment(name: string, settings: { reviewers: string[]; preventSelfReview: boolean; branches: string[] | null }): FakeEnvironment {
    const environment = { id: this.nextId++, name, ...settings };
    this.environments.set(name, environment);
    return environment;
  }

  // ---------------------------------------------------------------------------------------------
  // The repository
  // ---------------------------------------------------------------------------------------------

  head(branch: string): string {
    return this.git.ref(`heads/${branch}`)!;
  }

  commit(sha: string): StoredCommit {
    return this.git.commit(sha)!;
  }

  files(commitSha: string): Map<string, string> {
    return this.git.files(commitSha);
  }

  /** The paths a commit adds or changes against its first parent. */
  added(commitSha: string): string[] {
    const parent = this.commit(commitSha).parents[0];
    const out = this.git.git([
      "diff",
      "--name-only",
      "-z",
      "--no-renames",
      ...(parent ? [parent] : ["4b825dc642cb6eb9a060e54bf8d69288fbee4904"]),
      commitSha,
      "--",
    ]);
    return out.toString("utf8").split("\0").filter(Boolean).sort();
  }

  pull(number: number): FakePullRequest {
    const pr = this.pulls.find((p) => p.number === number);
    if (!pr) throw new Error(`no pull request #${number}`);
    return pr;
  }

  /** The ref a pull request's head lives at in the bare repository (forks keep theirs under refs/forks/). */
  headRefOf(pr: Pick<FakePullRequest, "head">): string {
    return pr.head.repo === this.fullName ? `heads/${pr.head.ref}` : `forks/${pr.head.repo}/${pr.head.ref}`;
  }

  addComment(issueNumber: number, body: string, login = "someone"): FakeComment {
    const now = new Date().toISOString();
    const comment: FakeComment = { id: this.nextId++, issueNumber, body, login, createdAt: now, updatedAt: now, reactions: [] };
    this.comments.push(comment);
    return comment;
  }

  /** Someone else pushes these files to the branch just before the next ref update, which then is not a fast forward. */
  pushBeforeNextUpdate(branch: string, files: Record<string, string>): void {
    this.pendingPush = { branch, files };
  }

  /** A commit with these files on top of the branch (or fork branch) by `sender`, moved there as a push would. */
  push(
    branch: string,
    files: Record<string, FileChange>,
    message = "A push",
    sender: Identity = this.person("octo-admin"),
    ref = `heads/${branch}`,
  ): string {
    const before = this.git.ref(ref) ?? null;
    const sha = this.git.commitFiles(before, files, message, { name: sender.login, email: `${sender.login}@users.noreply.github.com` });
    this.moveRef(ref, sha, sender);
    return sha;
  }

  person(login: string): Identity {
    return { login, type: "User", kind: "user" };
  }

  /** Moves a branch and tells whoever listens: a push, and a synchronize of every open pull request whose head it is. */
  moveRef(ref: string, sha: string, sender: Identity): void {
    const before = this.git.ref(ref) ?? null;
    this.git.setRef(ref, sha);
    if (ref.startsWith("heads/")) this.hooks.event?.({ kind: "push", ref: `refs/${ref}`, before, after: sha, sender });
    for (const pr of this.pulls.filter((p) => p.state === "open" && this.headRefOf(p) === ref && p.head.sha !== sha)) {
      const previous = pr.head.sha;
      pr.head.sha = sha;
      this.git.setRef(`pull/${pr.number}/head`, sha);
      this.hooks.event?.({ kind: "pull_request", action: "synchronize", number: pr.number, before: previous, sender });
    }
  }

  /** A person opens a pull request (from a branch here, or from a fork's branch). */
  openPullRequest(options: {
    title: string;
    body?: string;
    head: string;
    base?: string;
    headRepo?: string;
    by: Identity;
  }): FakePullRequest {
    const headRepo = options.headRepo ?? this.fullName;
    const base = options.base ?? this.defaultBranch;
    const pr: FakePullRequest = {
      number: this.pulls.length + 1,
      title: options.title,
      body: options.body ?? "",
      author: options.by.login,
      state: "open",
      head: { ref: options.head, sha: "", repo: headRepo },
      base: { ref: base, sha: this.head(base) },
      openedBy: options.by,
    };
    const headSha = this.git.ref(this.headRefOf(pr));
    if (!headSha) throw new Error(`no branch ${options.head} in ${headRepo}`);
    pr.head.sha = headSha;
    this.pulls.push(pr);
    this.git.setRef(`pull/${pr.number}/head`, headSha);
    this.hooks.event?.({ kind: "pull_request", action: "opened", number: pr.number, sender: options.by });
    return pr;
  }

  setPullRequestState(number: number, state: "open" | "closed", sender: Identity): void {
    const pr = this.pull(number);
    if (pr.state === state) return;
    pr.state = state;
    if (state === "open") pr.base.sha = this.head(pr.base.ref);
    this.hooks.event?.({ kind: "pull_request", action: state === "closed" ? "closed" : "reopened", number, sender });
  }

  // ---------------------------------------------------------------------------------------------
  // Workflow runs (registered by the simulator)
  // ---------------------------------------------------------------------------------------------

  newRunId(): number {
    return this.nextId++;
  }

  newJobId(): number {
    return this.nextId++;
  }

  /**
   * An artifact upload by a job of the run (any step can make one with its job's ACTIONS_RUNTIME_TOKEN):
   * the server stamps created_at; a name the run already has is refused, as GitHub refuses it with 409.
   */
  createArtifact(runId: number, name: string): FakeArtifact {
    const run = this.runs.get(runId);
    if (!run) throw new Error(`no workflow run ${runId}`);
    run.artifacts ??= [];
    if (run.artifacts.some((a) => a.name === name)) throw new Error(ARTIFACT_CONFLICT);
    // The size (of the zip GitHub stores) is not modelled; nothing here reads it.
    const artifact = { id: this.nextId++, name, sizeInBytes: 0, createdAt: new Date().toISOString() };
    run.artifacts.push(artifact);
    return artifact;
  }

  runUrl(run: Pick<FakeRun, "id">): string {
    return `https://github.com/${this.fullName}/actions/runs/${run.id}`;
  }

  // ---------------------------------------------------------------------------------------------
  // HTTP
  // ---------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.serve(req, res);
    } catch (error) {
      // A bug of the double (or of a hook): say so in the violations, and answer as a server would.
      this.violations.push(`internal error of the fake: ${error instanceof Error ? error.stack : String(error)}`);
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: "Server Error" }));
    }
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const record: RecordedRequest = { method: req.method ?? "GET", path: `${url.pathname}${url.search}`, status: 0 };
    this.requests.push(record);
    if (url.pathname.startsWith(`${BROKER_PREFIX}/`)) {
      // The runner application's own protocol, not REST: nothing to check against the description.
      const credential = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
      const [status, response] = this.runners.broker(record.method, url.pathname, credential, raw ? (JSON.parse(raw) as Json) : {});
      record.status = status;
      res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
      res.end(response === undefined ? undefined : JSON.stringify(response));
      return;
    }
    let body: unknown;
    if (raw !== "") {
      try {
        body = record.body = JSON.parse(raw);
      } catch {
        this.violations.push(`${record.method} ${record.path}: the body is not JSON`);
        return this.send(res, record, undefined, 400, { message: "Problems parsing JSON", documentation_url: DOCS });
      }
    }
    const { operation, violations } = this.contract.checkRequest(record.method, url.pathname, url.searchParams, body);
    this.violations.push(...violations);
    if (!operation) return this.send(res, record, undefined, 404, { message: "Not Found", documentation_url: DOCS });
    record.operationId = operation.operationId;
    const credential = /^(?:token|Bearer) (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
    if (operation.template.startsWith("/app/") || operation.operationId === "apps/get-repo-installation") {
      const [status, response] = this.respondToApp(operation, credential, (body ?? {}) as Json);
      return this.send(res, record, operation, status, response);
    }
    const who = this.tokens.get(credential);
    if (!who) return this.send(res, record, operation, 401, { message: "Bad credentials", documentation_url: DOCS, status: "401" });
    record.login = who.login;
    const { owner, repo, org } = operation.path;
    const elsewhere =
      org !== undefined ? org !== this.owner || this.ownerType !== "Organization" : owner !== this.owner || repo !== this.repo;
    if (elsewhere) return this.send(res, record, operation, 404, { message: "Not Found", documentation_url: DOCS, status: "404" });
    const refusal = this.refuse(who, operation.operationId);
    if (refusal) return this.send(res, record, operation, 403, { message: refusal, documentation_url: DOCS, status: "403" });
    const [status, response, headers] = this.respond(operation, (body ?? {}) as Json, who);
    this.send(res, record, operation, status, response, headers);
  }

  /** Why GitHub would refuse this identity the operation, or undefined. */
  private refuse(who: Identity, operationId: string): string | undefined {
    if (who.kind === "user") {
      if (NEEDS_WRITE_ROLE.has(operationId) && !WRITE_ROLES.has(this.roles.get(who.login) as Role))
        return "Must have admin rights to Repository.";
      if (NEEDS_ADMIN_ROLE.has(operationId) && this.roles.get(who.login) !== "admin") return "Must have admin rights to Repository.";
      if (ORG_RUNNER_OPERATIONS.has(operationId) && !this.orgOwners.has(who.login)) {
        return "You must be an organization owner to manage its self-hosted runners.";
      }
      return undefined;
    }
    const needs = REQUIRED[operationId];
    if (!needs) return undefined;
    const granted = who.permissions ?? {};
    const ok = needs.some(([scope, level]) => granted[scope] === "write" || (level === "read" && granted[scope] === "read"));
    return ok ? undefined : "Resource not accessible by integration";
  }

  private send(
    res: ServerResponse,
    record: RecordedRequest,
    operation: MatchedOperation | undefined,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    record.status = status;
    if (operation && !UNDESCRIBED_ERRORS[operation.operationId]?.includes(status))
      this.violations.push(...this.contract.checkResponse(operation, status, body));
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  }

  private body(op: MatchedOperation, status: number, values: Json = {}): Json {
    return this.contract.responseBody(op, status, values);
  }

  private respond(op: MatchedOperation, body: Json, who: Identity): [number, unknown, Record<string, string>?] {
    const api = `${this.url}/repos/${this.owner}/${this.repo}`;
    const notFound: [number, unknown] = [404, { message: "Not Found", documentation_url: DOCS, status: "404" }];
    const invalid = (message: string): [number, unknown] => [422, { message, documentation_url: DOCS, status: "422" }];
    const person = { name: who.login, email: `${who.login}@users.noreply.github.com`, date: new Date().toISOString() };
    switch (op.operationId) {
      // --- git data ---
      case "git/get-ref": {
        const sha = this.git.ref(op.path.ref!);
        return sha ? [200, this.refJson(op.path.ref!, sha)] : notFound;
      }
      case "git/create-ref": {
        if (!String(body.ref).startsWith("refs/heads/")) return invalid("Reference name must start with refs/");
        const ref = String(body.ref).slice("refs/".length);
        if (this.git.ref(ref)) return invalid("Reference already exists");
        if (this.git.typeOf(body.sha) !== "commit") return invalid("Object does not exist");
        this.moveRef(ref, body.sha, who);
        return [201, this.refJson(ref, body.sha), { location: `${api}/git/refs/${ref}` }];
      }
      case "git/update-ref": {
        const ref = op.path.ref!;
        if (!this.git.ref(ref)) return invalid("Reference does not exist");
        if (this.pendingPush && `heads/${this.pendingPush.branch}` === ref) {
          const { branch, files } = this.pendingPush;
          this.pendingPush = undefined;
          this.push(branch, files, "A concurrent push");
        }
        if (this.git.typeOf(body.sha) !== "commit") return invalid("Object does not exist");
        if (!body.force && !this.git.isAncestor(this.git.ref(ref)!, body.sha)) {
          return [
            422,
            { message: "Update is not a fast forward", documentation_url: `${DOCS}/git/refs#update-a-reference`, status: "422" },
          ];
        }
        this.moveRef(ref, body.sha, who);
        return [200, this.refJson(ref, body.sha)];
      }
      case "git/create-blob": {
        const sha = this.git.putBlob(Buffer.from(body.content, body.encoding === "base64" ? "base64" : "utf8"));
        return [201, { url: `${api}/git/blobs/${sha}`, sha }, { location: `${api}/git/blobs/${sha}` }];
      }
      case "git/get-blob": {
        const blob = this.git.readBlob(op.path.file_sha!);
        if (!blob) return notFound;
        return [
          200,
          {
            sha: op.path.file_sha,
            node_id: `B_${op.path.file_sha}`,
            url: `${api}/git/blobs/${op.path.file_sha}`,
            size: blob.length,
            content: blob.toString("base64"),
            encoding: "base64",
          },
        ];
      }
      case "git/create-tree": {
        if (body.base_tree && this.git.typeOf(body.base_tree) !== "tree") return invalid("base_tree is not a valid tree oid");
        const changes = new Map<string, { sha: string; mode: string } | null>();
        for (const entry of body.tree as Json[]) {
          if (entry.sha === null) changes.set(entry.path, null);
          else if (entry.type !== "blob" || this.git.typeOf(entry.sha) !== "blob")
            return invalid(`tree.sha ${entry.sha} is not a valid blob`);
          else changes.set(entry.path, { sha: entry.sha, mode: entry.mode });
        }
        return [201, this.treeJson(this.git.writeTree(body.base_tree ?? null, changes), false)];
      }
      case "git/get-tree": {
        let sha = op.path.tree_sha!;
        if (this.git.typeOf(sha) === "commit") sha = this.git.commit(sha)!.tree;
        if (this.git.typeOf(sha) !== "tree") return notFound;
        const recursive = op.query.recursive !== undefined && op.query.recursive !== "0" && op.query.recursive !== "false";
        return [200, this.treeJson(sha, recursive)];
      }
      case "git/get-commit": {
        const commit = this.git.commit(op.path.commit_sha!);
        return commit ? [200, this.commitJson(commit)] : notFound;
      }
      case "repos/get-commit": {
        const sha = this.git.ref(`heads/${op.path.ref}`) ?? op.path.ref!;
        const commit = this.git.commit(sha);
        if (!commit) return [422, { message: `No commit found for SHA: ${op.path.ref}`, documentation_url: DOCS, status: "422" }];
        const bot = this.signed.get(commit.sha);
        const html = `https://github.com/${this.fullName}/commit/${commit.sha}`;
        return [
          200,
          this.body(op, 200, {
            sha: commit.sha,
            node_id: nodeId("C", commit.sha),
            url: `${this.url}/repos/${this.fullName}/commits/${commit.sha}`,
            html_url: html,
            comments_url: `${this.url}/repos/${this.fullName}/commits/${commit.sha}/comments`,
            commit: {
              author: commit.author,
              committer: commit.committer,
              message: commit.message,
              comment_count: 0,
              tree: { sha: commit.tree, url: `${this.url}/repos/${this.fullName}/git/trees/${commit.tree}` },
              url: `${this.url}/repos/${this.fullName}/git/commits/${commit.sha}`,
              verification: { verified: !!bot, reason: bot ? "valid" : "unsigned", signature: null, payload: null, verified_at: null },
            },
            author: bot ? this.userJson(bot) : this.roles.has(commit.author.name) ? this.userJson(commit.author.name) : null,
            committer: bot ? this.userJson("web-flow") : null,
            parents: commit.parents.map((p) => ({
              sha: p,
              url: `${this.url}/repos/${this.fullName}/commits/${p}`,
              html_url: `https://github.com/${this.fullName}/commit/${p}`,
            })),
          }),
        ];
      }
      case "git/create-commit": {
        if (this.git.typeOf(body.tree) !== "tree") return invalid("Tree SHA does not exist");
        const parents: string[] = body.parents ?? [];
        if (parents.some((p) => this.git.typeOf(p) !== "commit")) return invalid("Parent SHA does not exist or is not a commit object");
        const author: Person = { ...person, ...body.author };
        const commit = this.git.putCommit({
          tree: body.tree,
          parents,
          message: body.message,
          author,
          committer: { ...person, ...(body.committer ?? {}) },
        });
        if (who.type === "Bot" && !body.author && !body.committer) this.signed.set(commit.sha, who.login);
        return [201, this.commitJson(commit), { location: `${api}/git/commits/${commit.sha}` }];
      }

      // --- pull requests ---
      case "pulls/get": {
        const pr = this.pulls.find((p) => p.number === Number(op.path.pull_number));
        return pr ? [200, this.pullJson(op, 200, pr)] : notFound;
      }
      case "pulls/list": {
        const state = String(op.query.state ?? "open");
        const [headOwner, headRef] = String(op.query.head ?? ":").split(":");
        const found = this.pulls.filter(
          (p) =>
            (state === "all" || p.state === state) &&
            (!op.query.head || (p.head.ref === headRef && p.head.repo.split("/")[0] === headOwner)) &&
            (!op.query.base || p.base.ref === op.query.base),
        );
        return [200, found.map((pr) => this.pullJson(op, 200, pr, "pull-request-simple"))];
      }
      case "pulls/create": {
        if (who.kind === "actions" && !this.allowActionsToCreatePullRequests) {
          return [
            403,
            {
              message: "GitHub Actions is not permitted to create or approve pull requests.",
              documentation_url: `${DOCS}/pulls/pulls#create-a-pull-request`,
              status: "403",
            },
          ];
        }
        if (!this.git.ref(`heads/${body.head}`) || !this.git.ref(`heads/${body.base}`)) return invalid("Validation Failed");
        const pr = this.openPullRequest({ title: body.title, body: body.body, head: body.head, base: body.base, by: who });
        return [201, this.pullJson(op, 201, pr)];
      }
      case "pulls/update": {
        const pr = this.pulls.find((p) => p.number === Number(op.path.pull_number));
        if (!pr) return notFound;
        if (body.state) this.setPullRequestState(pr.number, body.state, who);
        return [200, this.pullJson(op, 200, pr)];
      }

      // --- comments and reactions ---
      case "issues/list-comments": {
        const perPage = Number(op.query.per_page ?? 30);
        const page = Number(op.query.page ?? 1);
        const all = this.comments.filter((c) => c.issueNumber === Number(op.path.issue_number));
        const pages = Math.max(1, Math.ceil(all.length / perPage));
        const links: Record<string, string> =
          page < pages ? { link: `<${api}/issues/${op.path.issue_number}/comments?per_page=${perPage}&page=${page + 1}>; rel="next"` } : {};
        return [200, all.slice((page - 1) * perPage, page * perPage).map((c) => this.commentJson(c)), links];
      }
      case "issues/create-comment": {
        const number = Number(op.path.issue_number);
        if (!this.pulls.some((p) => p.number === number)) return notFound;
        const comment = this.addComment(number, body.body, who.login);
        this.hooks.event?.({ kind: "issue_comment", action: "created", issue: number, comment: comment.id, sender: who });
        return [201, this.commentJson(comment)];
      }
      case "issues/update-comment": {
        const comment = this.comments.find((c) => c.id === Number(op.path.comment_id));
        if (!comment) return notFound;
        if (comment.login !== who.login)
          return [403, { message: "Must have admin rights to Repository.", documentation_url: DOCS, status: "403" }];
        comment.body = body.body;
        comment.updatedAt = new Date().toISOString();
        return [200, this.commentJson(comment)];
      }
      case "reactions/create-for-issue-comment": {
        const comment = this.comments.find((c) => c.id === Number(op.path.comment_id));
        if (!comment) return notFound;
        const existing = comment.reactions.find((r) => r.content === body.content && r.login === who.login);
        if (!existing) comment.reactions.push({ content: body.content, login: who.login });
        return [
          existing ? 200 : 201,
          this.contract.component("reaction", {
            id: this.nextId++,
            node_id: "REA_x",
            user: this.userJson(who.login),
            content: body.content,
            created_at: new Date().toISOString(),
          }),
        ];
      }

      // --- statuses, collaborators ---
      case "repos/create-commit-status": {
        if (this.git.typeOf(op.path.sha!) !== "commit") return invalid(`No commit found for SHA: ${op.path.sha}`);
        const status: FakeStatus = {
          sha: op.path.sha!,
          state: body.state,
          context: body.context ?? "default",
          description: body.description ?? null,
          targetUrl: body.target_url ?? null,
          login: who.login,
        };
        this.statuses.push(status);
        return [201, this.statusJson(status)];
      }
      case "repos/list-commit-statuses-for-ref": {
        const sha = this.git.ref(`heads/${op.path.ref}`) ?? op.path.ref!;
        return [
          200,
          this.statuses
            .filter((s) => s.sha === sha)
            .reverse()
            .map((s) => this.statusJson(s)),
        ];
      }
      case "repos/get-collaborator-permission-level": {
        const role = this.roles.get(op.path.username!);
        const permission =
          role === "admin"
            ? "admin"
            : role === "maintain" || role === "write"
              ? "write"
              : role === "triage" || role === "read"
                ? "read"
                : "none";
        return [
          200,
          this.body(op, 200, {
            permission,
            role_name: role ?? "none",
            user: this.contract.component("collaborator", { ...this.userJson(op.path.username!), role_name: role ?? "none" }),
          }),
        ];
      }

      // --- Actions ---
      case "actions/create-workflow-dispatch": {
        const created = this.hooks.dispatch?.({
          workflow: op.path.workflow_id!,
          ref: String(body.ref).replace(/^refs\/heads\//, ""),
          inputs: body.inputs ?? {},
          sender: who,
        });
        if (!created) return notFound;
        if (Array.isArray(created)) return [created[0], { message: created[1], documentation_url: DOCS, status: String(created[0]) }];
        if (!body.return_run_details) return [204, undefined];
        return [200, { workflow_run_id: created.id, run_url: `${api}/actions/runs/${created.id}`, html_url: this.runUrl(created) }];
      }
      case "actions/get-workflow-run": {
        const run = this.runs.get(Number(op.path.run_id));
        return run ? [200, this.runJson(op, run)] : notFound;
      }
      case "actions/cancel-workflow-run": {
        const run = this.runs.get(Number(op.path.run_id));
        if (!run) return notFound;
        if (run.status === "completed")
          return [409, { message: "Cannot cancel a workflow run that is completed.", documentation_url: DOCS, status: "409" }];
        run.cancel();
        return [202, {}];
      }
      case "actions/get-reviews-for-run": {
        const run = this.runs.get(Number(op.path.run_id));
        if (!run) return notFound;
        return [
          200,
          run.reviews.map((r) =>
            this.contract.component("environment-approvals", {
              state: r.state,
              comment: r.comment,
              user: this.userJson(r.user),
              environments: r.environments.map((name) => this.environmentJson(this.environments.get(name)!)),
            }),
          ),
        ];
      }
      case "actions/get-pending-deployments-for-run": {
        const run = this.runs.get(Number(op.path.run_id));
        if (!run) return notFound;
        return [200, run.pending.map((p) => this.pendingJson(p, who))];
      }
      case "actions/review-pending-deployments-for-run": {
        const run = this.runs.get(Number(op.path.run_id));
        if (!run) return notFound;
        const ids = new Set<number>(body.environment_ids);
        const waiting = run.pending.filter((p) => ids.has(p.environment.id));
        if (waiting.length === 0) return invalid("No pending deployments for these environments");
        for (const p of waiting) {
          if (who.kind !== "user" || !p.environment.reviewers.includes(who.login))
            return invalid(`${who.login} is not a required reviewer of ${p.environment.name}`);
          if (p.environment.preventSelfReview && who.login === run.actor)
            return invalid("Self-review is not allowed: the user who triggered this run cannot approve it");
        }
        const review: FakeReview = {
          user: who.login,
          state: body.state,
          comment: body.comment ?? "",
          environments: [...new Set(waiting.map((p) => p.environment.name))],
          at: new Date().toISOString(),
        };
        run.reviews.push(review);
        run.pending = run.pending.filter((p) => !waiting.includes(p));
        const deployments = waiting.map((p) => this.deploymentJson(p, run, who));
        for (const p of waiting) p.decide(review);
        return [200, deployments];
      }
      case "actions/list-jobs-for-workflow-run":
      case "actions/list-jobs-for-workflow-run-attempt": {
        const run = this.runs.get(Number(op.path.run_id));
        if (!run) return notFound;
        return [200, { total_count: run.jobs.length, jobs: run.jobs.map((j) => this.jobJson(run, j)) }];
      }
      case "actions/list-workflow-run-artifacts": {
        const run = this.runs.get(Number(op.path.run_id));
        if (!run) return notFound;
        const all = run.artifacts ?? [];
        const named = op.query.name ? all.filter((a) => a.name === op.query.name) : all;
        const perPage = Number(op.query.per_page ?? 30);
        const page = Number(op.query.page ?? 1);
        const pages = Math.max(1, Math.ceil(named.length / perPage));
        const links: Record<string, string> =
          page < pages ? { link: `<${api}/actions/runs/${run.id}/artifacts?per_page=${perPage}&page=${page + 1}>; rel="next"` } : {};
        const artifacts = named.slice((page - 1) * perPage, page * perPage).map((a) => this.artifactJson(run, a));
        return [200, { total_count: named.length, artifacts }, links];
      }
      case "repos/get": {
        const visibility = this.repositoryPrivate ? "private" : "public";
        return [200, this.body(op, 200, { ...this.repositoryJson(), ...REPOSITORY_DATES, visibility })];
      }
      default: {
        const served = this.runners.respond(op, body);
        if (served) return served;
        this.violations.push(`${op.operationId}: exists on GitHub but this fake does not serve it`);
        return notFound;
      }
    }
  }

  /** /repos/{o}/{r}/installation and /app/… : authenticated with a JWT the App signs with its private key. */
  private respondToApp(op: MatchedOperation, jwt: string, body: Json): [number, unknown] {
    const app = this.appConfig;
    const unauthorized: [number, unknown] = [
      401,
      { message: "A JSON web token could not be decoded", documentation_url: DOCS, status: "401" },
    ];
    if (!app || !verifyJwt(jwt, app.key, app.id)) return unauthorized;
    if (op.operationId === "apps/get-repo-installation") {
      if (op.path.owner !== this.owner || op.path.repo !== this.repo)
        return [404, { message: "Not Found", documentation_url: DOCS, status: "404" }];
      return [
        200,
        this.contract.component("installation", {
          id: app.installationId,
          app_id: app.id,
          app_slug: app.slug,
          target_type: "Organization",
          account: this.userJson(this.owner),
          permissions: app.permissions,
          events: [],
          access_tokens_url: `${this.url}/app/installations/${app.installationId}/access_tokens`,
          repositories_url: `${this.url}/installation/repositories`,
          html_url: `https://github.com/organizations/${this.owner}/settings/installations/${app.installationId}`,
          repository_selection: "selected",
        }),
      ];
    }
    if (op.operationId === "apps/create-installation-access-token" && Number(op.path.installation_id) === app.installationId) {
      const asked: Record<string, Permission> = body.permissions ?? app.permissions;
      for (const [scope, level] of Object.entries(asked)) {
        const granted = app.permissions[scope];
        if (!granted || (level === "write" && granted !== "write"))
          return [
            422,
            { message: `The permissions requested are not granted to this installation: ${scope}`, documentation_url: DOCS, status: "422" },
          ];
      }
      const token = `ghs_app${app.id}_${randomBytes(8).toString("hex")}`;
      this.tokens.set(token, { login: `${app.slug}[bot]`, type: "Bot", kind: "app", permissions: { metadata: "read", ...asked } });
      return [
        201,
        this.contract.component("installation-token", {
          token,
          expires_at: new Date(Date.now() + 3600_000).toISOString(),
          permissions: asked,
          repository_selection: "selected",
        }),
      ];
    }
    return [404, { message: "Not Found", documentation_url: DOCS, status: "404" }];
  }

  // ---------------------------------------------------------------------------------------------
  // Response bodies: the description's required fields, filled with what matters
  // ---------------------------------------------------------------------------------------------

  private refJson(ref: string, sha: string): Json {
    const api = `${this.url}/repos/${this.owner}/${this.repo}`;
    return {
      ref: `refs/${ref}`,
      node_id: nodeId("REF", ref),
      url: `${api}/git/refs/${ref}`,
      object: { type: "commit", sha, url: `${api}/git/commits/${sha}` },
    };
  }

  private treeJson(sha: string, recursive: boolean): Json {
    const api = `${this.url}/repos/${this.owner}/${this.repo}`;
    const entries = (tree: string, prefix: string): Json[] =>
      this.git.tree(tree).flatMap((e) => [
        {
          path: `${prefix}${e.name}`,
          mode: e.mode,
          type: e.type,
          sha: e.sha,
          url: `${api}/git/${e.type}s/${e.sha}`,
          ...(e.size !== undefined ? { size: e.size } : {}),
        },
        ...(recursive && e.type === "tree" ? entries(e.sha, `${prefix}${e.name}/`) : []),
      ]);
    return { sha, url: `${api}/git/trees/${sha}`, truncated: false, tree: entries(sha, "") };
  }

  private commitJson(commit: StoredCommit): Json {
    const api = `${this.url}/repos/${this.owner}/${this.repo}`;
    const html = `https://github.com/${this.owner}/${this.repo}/commit`;
    return {
      sha: commit.sha,
      node_id: nodeId("C", commit.sha),
      url: `${api}/git/commits/${commit.sha}`,
      html_url: `${html}/${commit.sha}`,
      author: commit.author,
      committer: commit.committer,
      tree: { sha: commit.tree, url: `${api}/git/trees/${commit.tree}` },
      message: commit.message,
      parents: commit.parents.map((p) => ({ sha: p, url: `${api}/git/commits/${p}`, html_url: `${html}/${p}` })),
      verification: { verified: false, reason: "unsigned", signature: null, payload: null, verified_at: null },
    };
  }

  /** Webhook payload parts: the repository, a pull request, a comment, as GitHub sends them. */
  repositoryPayload(): Json {
    return this.repositoryJson();
  }

  pullPayload(pr: FakePullRequest): Json {
    return this.contract.component("pull-request", this.pullValues(pr));
  }

  commentPayload(comment: FakeComment): Json {
    return this.commentJson(comment);
  }

  private repositoryJson(fullName = this.fullName): Json {
    const [owner, name] = fullName.split("/") as [string, string];
    return this.contract.component("repository", {
      id: REPOSITORY_ID,
      name,
      full_name: fullName,
      owner: this.userJson(owner),
      private: fullName === this.fullName && this.repositoryPrivate,
      fork: fullName !== this.fullName,
      html_url: `https://github.com/${fullName}`,
      url: `${this.url}/repos/${fullName}`,
      default_branch: this.defaultBranch,
    });
  }

  private pullJson(op: MatchedOperation, status: number, pr: FakePullRequest, component?: string): Json {
    const values = this.pullValues(pr);
    return component ? this.contract.component(component, values) : this.body(op, status, values);
  }

  private pullValues(pr: FakePullRequest): Json {
    return {
      number: pr.number,
      id: pr.number,
      state: pr.state,
      title: pr.title,
      body: pr.body,
      user: this.userJson(pr.author),
      html_url: `https://github.com/${this.fullName}/pull/${pr.number}`,
      url: `${this.url}/repos/${this.fullName}/pulls/${pr.number}`,
      head: {
        ref: pr.head.ref,
        sha: pr.head.sha,
        label: `${pr.head.repo.split("/")[0]}:${pr.head.ref}`,
        repo: this.repositoryJson(pr.head.repo),
        user: this.userJson(pr.head.repo.split("/")[0]!),
      },
      base: {
        ref: pr.base.ref,
        sha: pr.base.sha,
        label: `${this.owner}:${pr.base.ref}`,
        repo: this.repositoryJson(),
        user: this.userJson(this.owner),
      },
      merged: false,
      mergeable: null,
      author_association: this.association(pr.author),
    };
  }

  private association(login: string): string {
    const role = this.roles.get(login);
    return role === "admin" || role === "maintain" ? "OWNER" : role ? "COLLABORATOR" : login.endsWith("[bot]") ? "NONE" : "CONTRIBUTOR";
  }

  private commentJson(comment: FakeComment): Json {
    const api = `${this.url}/repos/${this.owner}/${this.repo}`;
    return {
      id: comment.id,
      node_id: nodeId("IC", String(comment.id)),
      url: `${api}/issues/comments/${comment.id}`,
      html_url: `https://github.com/${this.owner}/${this.repo}/pull/${comment.issueNumber}#issuecomment-${comment.id}`,
      body: comment.body,
      user: this.userJson(comment.login),
      created_at: comment.createdAt,
      updated_at: comment.updatedAt,
      issue_url: `${api}/issues/${comment.issueNumber}`,
      author_association: this.association(comment.login),
      performed_via_github_app: null,
    };
  }

  private statusJson(status: FakeStatus): Json {
    const now = new Date().toISOString();
    const id = this.nextId++;
    return {
      url: `${this.url}/repos/${this.owner}/${this.repo}/statuses/${status.sha}`,
      avatar_url: null,
      id,
      node_id: nodeId("SC", String(id)),
      state: status.state,
      description: status.description,
      target_url: status.targetUrl,
      context: status.context,
      created_at: now,
      updated_at: now,
      creator: this.userJson(status.login ?? ACTIONS_BOT),
    };
  }

  private environmentJson(environment: FakeEnvironment): Json {
    return {
      id: environment.id,
      node_id: nodeId("EN", environment.name),
      name: environment.name,
      url: `${this.url}/repos/${this.fullName}/environments/${environment.name}`,
      html_url: `https://github.com/${this.fullName}/deployments/activity_log?environments_filter=${environment.name}`,
      created_at: "2026-01-01T00:00:00Z",
      updated_at: "2026-01-01T00:00:00Z",
    };
  }

  private pendingJson(p: FakeRun["pending"][number], who: Identity): Json {
    return this.contract.component("pending-deployment", {
      environment: {
        id: p.environment.id,
        node_id: nodeId("EN", p.environment.name),
        name: p.environment.name,
        url: `${this.url}/repos/${this.fullName}/environments/${p.environment.name}`,
        html_url: `https://github.com/${this.fullName}/deployments`,
      },
      wait_timer: 0,
      wait_timer_started_at: p.since,
      current_user_can_approve: who.kind === "user" && p.environment.reviewers.includes(who.login),
      reviewers: p.environment.reviewers.map((login) => ({ type: "User", reviewer: this.userJson(login) })),
    });
  }

  private deploymentJson(p: FakeRun["pending"][number], run: FakeRun, who: Identity): Json {
    return this.contract.component("deployment", {
      id: this.nextId++,
      node_id: "DE_x",
      url: `${this.url}/repos/${this.fullName}/deployments/1`,
      sha: run.headSha,
      ref: run.headBranch,
      task: "deploy",
      environment: p.environment.name,
      creator: this.userJson(who.login),
      statuses_url: `${this.url}/repos/${this.fullName}/deployments/1/statuses`,
      repository_url: `${this.url}/repos/${this.fullName}`,
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
    });
  }

  private runJson(op: MatchedOperation, run: FakeRun): Json {
    return this.body(op, 200, {
      id: run.id,
      name: run.name,
      head_branch: run.headBranch,
      head_sha: run.headSha,
      path: run.path,
      run_number: run.id,
      run_attempt: run.attempt,
      event: run.event,
      display_title: run.name,
      status: run.status,
      conclusion: run.conclusion,
      html_url: this.runUrl(run),
      url: `${this.url}/repos/${this.fullName}/actions/runs/${run.id}`,
      created_at: run.createdAt,
      updated_at: new Date().toISOString(),
      actor: this.userJson(run.actor),
      triggering_actor: this.userJson(run.actor),
      repository: this.contract.component("minimal-repository", {
        id: 1,
        name: this.repo,
        full_name: this.fullName,
        owner: this.userJson(this.owner),
      }),
      head_repository: this.contract.component("minimal-repository", {
        id: 1,
        name: this.repo,
        full_name: this.fullName,
        owner: this.userJson(this.owner),
      }),
    });
  }

  private artifactJson(run: FakeRun, artifact: FakeArtifact): Json {
    const url = `${this.url}/repos/${this.fullName}/actions/artifacts/${artifact.id}`;
    return this.contract.component("artifact", {
      id: artifact.id,
      node_id: nodeId("MDg6QXJ0aWZhY3Q", String(artifact.id)),
      name: artifact.name,
      size_in_bytes: artifact.sizeInBytes,
      url,
      archive_download_url: `${url}/zip`,
      expired: false,
      created_at: artifact.createdAt,
      updated_at: artifact.createdAt,
      expires_at: new Date(Date.parse(artifact.createdAt) + 30 * 86_400_000).toISOString(),
      digest: null,
      workflow_run: { id: run.id, repository_id: 1, head_repository_id: 1, head_branch: run.headBranch, head_sha: run.headSha },
    });
  }

  private jobJson(run: FakeRun, job: FakeJob): Json {
    return this.contract.component("job", {
      id: job.id,
      node_id: nodeId("CR", String(job.id)),
      run_id: run.id,
      run_attempt: run.attempt,
      run_url: `${this.url}/repos/${this.fullName}/actions/runs/${run.id}`,
      head_sha: run.headSha,
      head_branch: run.headBranch,
      workflow_name: run.name,
      name: job.name,
      url: `${this.url}/repos/${this.fullName}/actions/jobs/${job.id}`,
      html_url: `https://github.com/${this.fullName}/actions/runs/${run.id}/job/${job.id}`,
      status: job.status,
      conclusion: job.conclusion,
      started_at: job.startedAt,
      completed_at: job.completedAt,
      created_at: job.startedAt,
      check_run_url: `${this.url}/repos/${this.fullName}/check-runs/${job.id}`,
      labels: job.labels,
      runner_name: job.runnerName,
      runner_id: job.runnerName ? 1 : null,
      runner_group_id: job.runnerName ? 1 : null,
      runner_group_name: job.runnerName ? "Default" : null,
    });
  }

  userJson(login: string): Json {
    const api = `${this.url}/users/${encodeURIComponent(login)}`;
    return {
      login,
      id: login.endsWith("[bot]") ? 41898282 : 1 + [...login].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1_000_000, 0),
      node_id: nodeId("U", login),
      avatar_url: "https://avatars.githubusercontent.com/u/1?v=4",
      gravatar_id: "",
      url: api,
      html_url: login.endsWith("[bot]")
        ? `https://github.com/apps/${encodeURIComponent(login.replace(/\[bot\]$/, ""))}`
        : `https://github.com/${encodeURIComponent(login)}`,
      followers_url: `${api}/followers`,
      following_url: `${api}/following{/other_user}`,
      gists_url: `${api}/gists{/gist_id}`,
      starred_url: `${api}/starred{/owner}{/repo}`,
      subscriptions_url: `${api}/subscriptions`,
      organizations_url: `${api}/orgs`,
      repos_url: `${api}/repos`,
      events_url: `${api}/events{/privacy}`,
      received_events_url: `${api}/received_events`,
      type: login.endsWith("[bot]") ? "Bot" : login === this.owner && this.ownerType === "Organization" ? "Organization" : "User",
      site_admin: false,
    };
  }
}

function nodeId(kind: string, key: string): string {
  return `${kind}_${Buffer.from(key).toString("base64url")}`;
}

/** An RS256 JWT issued by the App (iss = its id), signed with its private key, not expired. */
function verifyJwt(jwt: string, key: KeyObject, appId: number): boolean {
  const [header, payload, signature] = jwt.split(".");
  if (!header || !payload || !signature) return false;
  const verifier = createVerify("RSA-SHA256");
  verifier.update(`${header}.${payload}`);
  if (!verifier.verify(key, Buffer.from(signature, "base64url"))) return false;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { iss?: unknown; exp?: number };
    return String(claims.iss) === String(appId) && typeof claims.exp === "number" && claims.exp * 1000 > Date.now();
  } catch {
    return false;
  }
}
