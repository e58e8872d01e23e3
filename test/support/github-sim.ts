// GitHub as the GitOps loop meets it: the REST double (fake-github.ts) plus the part of GitHub that
// decides which workflows run. Events are delivered as GitHub delivers them:
// - an event caused by a workflow's GITHUB_TOKEN starts no workflow, except workflow_dispatch;
// - pull_request runs the workflow as the pull request's merge commit has it (read-only token and no
//   secrets for a fork); pull_request_target runs the base branch's workflow with GITHUB_SHA = the base
//   branch's head; issue_comment runs the default branch's; push runs the pushed commit's;
//   workflow_dispatch runs the dispatched ref's, with its inputs checked against the workflow's;
// - `on:` types, branches and paths filters (paths of a pull request: its three-dot diff);
// - `concurrency:` groups: a newer run waits for the older one, which `cancel-in-progress` cancels, and a
//   pending run is replaced by a newer pending one;
// - environments: required reviewers decide a waiting job through the REST API (self-review refused
//   when the environment says so), deployment branch policies refuse other refs.
// Runs proceed concurrently; `settle()` waits until nothing can move without a person acting.
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Octokit } from "@octokit/rest";
import { parse as parseYaml } from "yaml";
import {
  ACTIONS_BOT,
  FakeGitHub,
  type DispatchRequest,
  type FakeEnvironment,
  type FakeReview,
  type FakeRun,
  type Identity,
  type Permission,
  type RepoEvent,
  type Role,
} from "./fake-github.js";
import { expressionString, interpolate } from "./github/expressions.js";
import type { FileChange } from "./github/git-store.js";
import { runWorkflow, type GateDecision, type JobResult, type WorkflowRun } from "./github/runner.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
type Json = Record<string, any>;

/** CRUCIBLE_SIM_DEBUG=1: one line per run and step on stderr, with the time, to see where a test waits. */
const debug = process.env.CRUCIBLE_SIM_DEBUG
  ? (line: string) => process.stderr.write(`[sim ${new Date().toISOString().slice(11, 23)}] ${line}\n`)
  : () => {};

export interface SimOptions {
  owner: string;
  repo: string;
  /** The default branch's first commit. */
  files: Record<string, string | Buffer>;
  people: Record<string, Role | null>;
  environments?: Record<string, { reviewers: string[]; preventSelfReview: boolean; branches: string[] | null }>;
  runners: Record<string, string[]>;
  /** Installs a GitHub App and stores its id and key as the secrets CRUCIBLE_APP_ID / CRUCIBLE_APP_PRIVATE_KEY. */
  app?: { id: number; slug: string; permissions: Record<string, Permission> };
  /** actions/cache entries that exist before the first run (key → folder). */
  caches?: Record<string, string>;
  env?: Record<string, string>;
  onStep?(workflow: string, job: string, step: Json, workspace: string): void;
}

export interface SimRun {
  id: number;
  workflow: string;
  name: string;
  eventName: string;
  /** GITHUB_REF of the run. */
  ref: string;
  action?: string;
  event: Json;
  inputs: Record<string, unknown>;
  record: FakeRun;
  group?: string;
  cancelInProgress: boolean;
  state: "pending" | "running" | "waiting" | "completed";
  controller: AbortController;
  result?: WorkflowRun;
  conclusion?: "success" | "failure" | "cancelled";
  error?: unknown;
  /** Resolves when the run completed. */
  done: Promise<void>;
  start(): void;
}

export interface SuppressedEvent {
  event: RepoEvent;
  reason: string;
}

export class GitHubSim {
  readonly runs: SimRun[] = [];
  /** Events GitHub would not deliver to workflows, and why. */
  readonly suppressed: SuppressedEvent[] = [];
  readonly tokens = new Map<string, string>();
  /**
   * GitHub delivers events asynchronously, seconds after what caused them. While true, events wait
   * here until release(): a test can let a run go on before a push's events arrive.
   */
  holdEvents = false;
  private held: RepoEvent[] = [];
  private readonly secrets: Record<string, string> = {};
  private readonly caches = new Map<string, string>();
  private waiters: (() => void)[] = [];
  private root = "";

  private constructor(
    readonly fake: FakeGitHub,
    private readonly options: SimOptions,
  ) {}

  static async start(options: SimOptions): Promise<GitHubSim> {
    const fake = await FakeGitHub.start({ owner: options.owner, repo: options.repo, branches: { main: options.files } });
    const sim = new GitHubSim(fake, options);
    sim.root = await mkdtemp(path.join(os.tmpdir(), "crucible-sim-"));
    for (const [login, role] of Object.entries(options.people)) sim.tokens.set(login, fake.addUser(login, role));
    for (const [name, settings] of Object.entries(options.environments ?? {})) fake.addEnvironment(name, settings);
    if (options.app) {
      const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      fake.installApp({ ...options.app, publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString() });
      sim.secrets.CRUCIBLE_APP_ID = String(options.app.id);
      sim.secrets.CRUCIBLE_APP_PRIVATE_KEY = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    }
    for (const [key, folder] of Object.entries(options.caches ?? {})) sim.caches.set(key, folder);
    fake.hooks = { event: (event) => sim.deliver(event), dispatch: (request) => sim.dispatch(request) };
    return sim;
  }

  close(): Promise<void> {
    for (const run of this.runs) if (run.state !== "completed") run.controller.abort();
    return this.fake.close();
  }

  /** A person's REST client. */
  as(login: string): Octokit {
    const token = this.tokens.get(login);
    if (!token) throw new Error(`no such person: ${login}`);
    return new Octokit({ auth: token, baseUrl: this.fake.url, log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } });
  }

  person(login: string): Identity {
    return this.fake.person(login);
  }

  /** A person pushes a commit with these files to a branch of this repository (or of their fork). */
  push(login: string, branch: string, files: Record<string, FileChange>, message = "Update", fork?: string): string {
    const ref = fork ? `forks/${fork}/${branch}` : `heads/${branch}`;
    if (!fork && !this.fake.git.ref(ref)) this.fake.git.setRef(ref, this.fake.head(this.fake.defaultBranch));
    if (fork && !this.fake.git.ref(ref)) this.fake.git.setRef(ref, this.fake.head(this.fake.defaultBranch));
    return this.fake.push(branch, files, message, this.person(login), ref);
  }

  // -------------------------------------------------------------------------------------------------
  // Which workflows an event starts
  // -------------------------------------------------------------------------------------------------

  /** Delivers the events held back while holdEvents was true, and stops holding. */
  release(): void {
    this.holdEvents = false;
    const held = this.held;
    this.held = [];
    for (const event of held) this.deliver(event);
  }

  private deliver(event: RepoEvent): void {
    if (this.holdEvents) {
      this.held.push(event);
      return;
    }
    if (event.sender.kind === "actions") {
      this.suppressed.push({ event, reason: "caused by GITHUB_TOKEN: GitHub creates no workflow run for it" });
      return;
    }
    if (event.kind === "pull_request") {
      const pr = this.fake.pull(event.number);
      if (event.action !== "closed") this.updateMergeRef(pr.number);
      const merge = this.fake.git.ref(`pull/${pr.number}/merge`) ?? pr.head.sha;
      const changed = this.changedPaths(pr.base.sha, pr.head.sha);
      const fork = pr.head.repo !== this.fake.fullName;
      const payload = (action: string) => ({
        action,
        number: pr.number,
        pull_request: this.fake.pullPayload(pr),
        repository: this.fake.repositoryPayload(),
        sender: this.fake.userJson(event.sender.login),
        ...(event.before ? { before: event.before, after: pr.head.sha } : {}),
      });
      for (const name of ["pull_request", "pull_request_target"] as const) {
        const target = name === "pull_request_target";
        const sha = target ? this.fake.head(pr.base.ref) : merge;
        const ref = target ? `refs/heads/${pr.base.ref}` : `refs/pull/${pr.number}/merge`;
        for (const workflow of this.workflowsAt(sha)) {
          const trigger = triggerOf(workflow.yaml, name);
          if (trigger === undefined) continue;
          if (!(trigger?.types ?? ["opened", "synchronize", "reopened"]).includes(event.action)) continue;
          if (!branchesMatch(trigger, pr.base.ref) || !pathsMatch(trigger, changed)) continue;
          this.startRun(workflow, name, payload(event.action), {
            sha,
            ref,
            headRef: pr.head.ref,
            baseRef: pr.base.ref,
            actor: event.sender.login,
            readOnly: !target && fork,
            headSha: target ? sha : pr.head.sha,
            pullRequests: [pr.number],
          });
        }
      }
    } else if (event.kind === "push") {
      const branch = event.ref.replace(/^refs\/heads\//, "");
      const changed = event.before ? this.changedPaths(event.before, event.after, true) : [];
      for (const workflow of this.workflowsAt(event.after)) {
        const trigger = triggerOf(workflow.yaml, "push");
        if (trigger === undefined || !branchesMatch(trigger, branch) || (event.before && !pathsMatch(trigger, changed))) continue;
        const payload = {
          ref: event.ref,
          before: event.before ?? "0".repeat(40),
          after: event.after,
          repository: this.fake.repositoryPayload(),
          sender: this.fake.userJson(event.sender.login),
          pusher: { name: event.sender.login },
        };
        this.startRun(workflow, "push", payload, { sha: event.after, ref: event.ref, actor: event.sender.login, headSha: event.after });
      }
    } else if (event.kind === "issue_comment") {
      const sha = this.fake.head(this.fake.defaultBranch);
      const comment = this.fake.comments.find((c) => c.id === event.comment)!;
      const pr = this.fake.pull(event.issue);
      for (const workflow of this.workflowsAt(sha)) {
        const trigger = triggerOf(workflow.yaml, "issue_comment");
        if (trigger === undefined || !(trigger?.types ?? ["created", "edited", "deleted"]).includes(event.action)) continue;
        const payload = {
          action: event.action,
          issue: {
            number: pr.number,
            title: pr.title,
            state: pr.state,
            user: this.fake.userJson(pr.author),
            pull_request: {
              url: `${this.fake.url}/repos/${this.fake.fullName}/pulls/${pr.number}`,
              html_url: `https://github.com/${this.fake.fullName}/pull/${pr.number}`,
            },
          },
          comment: this.fake.commentPayload(comment),
          repository: this.fake.repositoryPayload(),
          sender: this.fake.userJson(event.sender.login),
        };
        this.startRun(workflow, "issue_comment", payload, {
          sha,
          ref: `refs/heads/${this.fake.defaultBranch}`,
          actor: event.sender.login,
          headSha: sha,
        });
      }
    }
  }

  private dispatch(request: DispatchRequest): FakeRun | [number, string] {
    const sha = this.fake.git.ref(`heads/${request.ref}`);
    if (!sha) return [422, `No ref found for: ${request.ref}`];
    const file = request.workflow.includes("/") ? request.workflow : `.github/workflows/${request.workflow}`;
    const workflow = this.workflowsAt(sha).find((w) => w.file === file);
    if (!workflow) return [404, "Not Found"];
    const trigger = triggerOf(workflow.yaml, "workflow_dispatch");
    if (trigger === undefined) return [422, "Workflow does not have 'workflow_dispatch' trigger"];
    const declared = (trigger?.inputs ?? {}) as Record<string, Json>;
    const unexpected = Object.keys(request.inputs).filter((k) => !(k in declared));
    if (unexpected.length > 0) return [422, `Unexpected inputs provided: ${JSON.stringify(unexpected)}`];
    const inputs: Record<string, unknown> = {};
    for (const [name, spec] of Object.entries(declared)) {
      const given = request.inputs[name];
      const value = given === undefined ? spec.default : given;
      if (spec.required && (value === undefined || value === "")) return [422, `Required input '${name}' not provided`];
      if (spec.type === "choice" && value !== undefined && !(spec.options as unknown[]).includes(value))
        return [422, `Provided value '${value}' for input '${name}' not in the list of allowed values`];
      inputs[name] = spec.type === "boolean" ? value === true || value === "true" : value === undefined ? "" : String(value);
    }
    const payload = {
      inputs,
      ref: `refs/heads/${request.ref}`,
      repository: this.fake.repositoryPayload(),
      sender: this.fake.userJson(request.sender.login),
      workflow: file,
    };
    return this.startRun(workflow, "workflow_dispatch", payload, {
      sha,
      ref: `refs/heads/${request.ref}`,
      actor: request.sender.login,
      headSha: sha,
      inputs,
    }).record;
  }

  /** Workflow files at a commit. */
  private workflowsAt(sha: string): { file: string; yaml: Json }[] {
    const files = this.fake.git.flatten(this.fake.commit(sha).tree);
    const out: { file: string; yaml: Json }[] = [];
    for (const [file, { sha: blob }] of files) {
      if (!/^\.github\/workflows\/[^/]+\.ya?ml$/.test(file)) continue;
      try {
        out.push({ file, yaml: parseYaml(this.fake.git.readBlob(blob)!.toString("utf8")) });
      } catch (error) {
        // GitHub shows an invalid workflow file as a failed run; here it is a test's mistake.
        throw new Error(`${file} at ${sha} is not valid YAML: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    }
    return out.sort((a, b) => a.file.localeCompare(b.file));
  }

  /** Paths a pull request changes (three-dot diff), or a push (two-dot). */
  private changedPaths(base: string, head: string, twoDot = false): string[] {
    const range = twoDot ? [base, head] : [`${base}...${head}`];
    return this.fake.git
      .git(["diff", "--name-only", "-z", "--no-renames", ...range, "--"])
      .toString("utf8")
      .split("\0")
      .filter(Boolean);
  }

  /** refs/pull/<n>/merge: the pull request merged into its base, as GitHub prepares it (absent on conflict). */
  private updateMergeRef(number: number): void {
    const pr = this.fake.pull(number);
    const base = this.fake.head(pr.base.ref);
    try {
      const tree = this.fake.git.git(["merge-tree", "--write-tree", base, pr.head.sha]).toString("utf8").split("\n")[0]!.trim();
      const merge = this.fake.git.putCommit({
        tree,
        parents: [base, pr.head.sha],
        message: `Merge ${pr.head.sha} into ${base}`,
        author: { name: "GitHub", email: "noreply@github.com", date: new Date().toISOString() },
        committer: { name: "GitHub", email: "noreply@github.com", date: new Date().toISOString() },
      });
      this.fake.git.setRef(`pull/${number}/merge`, merge.sha);
    } catch {
      this.fake.git.deleteRef(`pull/${number}/merge`);
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Runs
  // -------------------------------------------------------------------------------------------------

  private startRun(
    workflow: { file: string; yaml: Json },
    eventName: string,
    event: Json,
    at: {
      sha: string;
      ref: string;
      actor: string;
      headSha: string;
      headRef?: string;
      baseRef?: string;
      readOnly?: boolean;
      inputs?: Record<string, unknown>;
      pullRequests?: number[];
    },
  ): SimRun {
    const fake = this.fake;
    const id = fake.newRunId();
    const controller = new AbortController();
    const inputs = at.inputs ?? {};
    const github = {
      repository: fake.fullName,
      repository_owner: fake.owner,
      server_url: "https://github.com",
      api_url: fake.url,
      run_id: String(id),
      run_number: String(id),
      run_attempt: "1",
      actor: at.actor,
      triggering_actor: at.actor,
      sha: at.sha,
      ref: at.ref,
      ref_name: at.ref.replace(/^refs\/(heads|tags)\//, ""),
      head_ref: at.headRef ?? "",
      base_ref: at.baseRef ?? "",
      event_name: eventName,
      event,
    };
    let concurrency = workflow.yaml.concurrency as Json | string | undefined;
    if (typeof concurrency === "string") concurrency = { group: concurrency };
    const group = concurrency ? expressionString(interpolate(concurrency.group, { github, inputs, vars: {} })) : undefined;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the simulated GitHub hands its own state to nested handlers
    const sim = this;
    const run: SimRun = {
      id,
      workflow: workflow.file,
      name: String(workflow.yaml.name ?? workflow.file),
      eventName,
      ref: at.ref,
      action: event.action,
      event,
      inputs,
      group,
      cancelInProgress: concurrency
        ? interpolate(concurrency["cancel-in-progress"] ?? false, { github, inputs, vars: {} }) === true ||
          concurrency["cancel-in-progress"] === "true"
        : false,
      state: "pending",
      controller,
      done: Promise.resolve(),
      record: {
        id,
        attempt: 1,
        name: String(workflow.yaml.name ?? workflow.file),
        path: workflow.file,
        event: eventName,
        headBranch: at.headRef || github.ref_name,
        headSha: at.headSha,
        actor: at.actor,
        status: "queued",
        conclusion: null,
        createdAt: new Date().toISOString(),
        pullRequests: at.pullRequests ?? [],
        jobs: [],
        artifacts: [],
        pending: [],
        reviews: [],
        cancel: () => sim.cancel(run),
      },
      start() {},
    };
    let resolveDone!: () => void;
    run.done = new Promise((resolve) => (resolveDone = resolve));
    run.start = () => {
      debug(`${run.workflow}#${run.id} starts (${eventName}${event.action ? ` ${event.action}` : ""})`);
      run.state = "running";
      run.record.status = "in_progress";
      this.notify();
      void this.execute(run, workflow.yaml, github, at.readOnly ?? false).then(() => {
        run.state = "completed";
        run.record.status = "completed";
        run.record.conclusion = run.conclusion ?? "failure";
        debug(`${run.workflow}#${run.id} completed: ${run.conclusion}${run.error ? ` (${String(run.error)})` : ""}`);
        resolveDone();
        this.startNextInGroup(run.group);
        this.notify();
      });
    };
    fake.runs.set(id, run.record);
    this.runs.push(run);

    // Concurrency: at most one running and one pending run per group.
    const others = group ? this.runs.filter((r) => r !== run && r.group === group && r.state !== "completed") : [];
    for (const pending of others.filter((r) => r.state === "pending")) this.cancel(pending);
    const active = others.filter((r) => r.state === "running" || r.state === "waiting");
    if (active.length > 0) {
      if (run.cancelInProgress) for (const r of active) this.cancel(r);
      run.record.status = "pending";
    } else queueMicrotask(() => run.start());
    return run;
  }

  private startNextInGroup(group: string | undefined): void {
    if (!group) return;
    if (this.runs.some((r) => r.group === group && (r.state === "running" || r.state === "waiting"))) return;
    const next = this.runs.find((r) => r.group === group && r.state === "pending" && !r.controller.signal.aborted);
    next?.start();
  }

  cancel(run: SimRun): void {
    if (run.state === "completed" || run.controller.signal.aborted) return;
    run.controller.abort();
    if (run.state === "pending") {
      // Never started: it completes as cancelled without running a job.
      run.state = "completed";
      run.conclusion = "cancelled";
      run.record.status = "completed";
      run.record.conclusion = "cancelled";
      this.notify();
    }
  }

  private async execute(run: SimRun, yaml: Json, github: Json, readOnly: boolean): Promise<void> {
    const fake = this.fake;
    const tokens: string[] = [];
    const jobIds = new Map<string, number>();
    try {
      run.result = await runWorkflow({
        workflow: yaml,
        event: run.event,
        eventName: run.eventName,
        github,
        inputs: run.inputs,
        secrets: readOnly ? {} : this.secrets,
        tokenFor: (_job, permissions) => {
          const scoped = readOnly ? Object.fromEntries(Object.keys(permissions).map((k) => [k, "read" as Permission])) : permissions;
          const token = fake.jobToken(run.id, scoped);
          tokens.push(token);
          return token;
        },
        origin: fake.git.dir,
        apiUrl: fake.url,
        root: path.join(this.root, String(run.id)),
        runners: this.options.runners,
        caches: this.caches,
        env: this.options.env,
        signal: run.controller.signal,
        onStep: (job, step, workspace) => {
          debug(`${run.workflow}#${run.id} ${job}: ${step.name ?? step.uses ?? String(step.run).split("\n")[0]}`);
          this.options.onStep?.(run.workflow, job, step, workspace);
        },
        onStart: (partial) => (run.result = partial),
        createArtifact: (name) => fake.createArtifact(run.id, name).id,
        hooks: {
          gate: (_job, displayName, environmentName) => this.gate(run, displayName, environmentName),
          started: (job, displayName, runner, labels) => {
            const id = fake.newJobId();
            jobIds.set(displayName, id);
            run.record.jobs.push({
              id,
              name: displayName,
              status: "in_progress",
              conclusion: null,
              runnerName: runner,
              labels,
              startedAt: new Date().toISOString(),
              completedAt: null,
            });
          },
          finished: (_job, displayName, result: JobResult) => {
            const job = run.record.jobs.find((j) => j.id === jobIds.get(displayName));
            if (job) Object.assign(job, { status: "completed", conclusion: result, completedAt: new Date().toISOString() });
          },
        },
      });
      const results = Object.values(run.result.jobs).map((j) => j.result);
      run.conclusion = run.controller.signal.aborted ? "cancelled" : results.includes("failure") ? "failure" : "success";
    } catch (error) {
      run.error = error;
      run.conclusion = "failure";
    } finally {
      for (const token of tokens) fake.revoke(token);
    }
  }

  /** An environment's protection rules, then a wait for a required reviewer's decision (or cancellation). */
  private gate(run: SimRun, displayName: string, environmentName: string): Promise<GateDecision> {
    const environment: FakeEnvironment | undefined = this.fake.environments.get(environmentName);
    // An environment that does not exist is created without protection, as GitHub does.
    if (!environment || environment.reviewers.length === 0) return Promise.resolve("approved");
    // Deployment branch policy: the run's ref must be an allowed branch (a pull_request run's merge ref never is).
    const ref = run.ref.startsWith("refs/heads/") ? run.ref.slice("refs/heads/".length) : run.ref;
    if (environment.branches && !environment.branches.includes(ref)) return Promise.resolve("rejected");
    return new Promise<GateDecision>((resolve) => {
      const onAbort = () => {
        run.record.pending = run.record.pending.filter((p) => p.job !== displayName);
        settleState();
        resolve("cancelled");
      };
      const settleState = () => {
        // Decided, or cancelled (its always() jobs still run): either way the run moves on.
        run.state = run.record.pending.length > 0 ? "waiting" : "running";
        run.record.status = run.state === "waiting" ? "waiting" : "in_progress";
        this.notify();
      };
      run.record.pending.push({
        environment,
        job: displayName,
        since: new Date().toISOString(),
        decide: (review: FakeReview) => {
          run.controller.signal.removeEventListener("abort", onAbort);
          queueMicrotask(() => {
            settleState();
            resolve(review.state);
          });
        },
      });
      run.controller.signal.addEventListener("abort", onAbort, { once: true });
      settleState();
    });
  }

  // -------------------------------------------------------------------------------------------------
  // Waiting
  // -------------------------------------------------------------------------------------------------

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Waits until every run is completed, waiting for a review, or pending behind one that is. */
  async settle(timeoutMs = 600_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const busy = this.runs.filter((r) => r.state === "running");
      if (busy.length === 0) return;
      debug(`settle: waiting for ${busy.map((r) => `${r.workflow}#${r.id}`).join(", ")}`);
      if (Date.now() > deadline)
        throw new Error(`runs still busy after ${timeoutMs} ms: ${busy.map((r) => `${r.workflow}#${r.id}`).join(", ")}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 500);
      });
    }
  }

  /** Runs of a workflow file, oldest first. */
  runsOf(workflow: string): SimRun[] {
    return this.runs.filter((r) => r.workflow === `.github/workflows/${workflow}`);
  }

  /** A reviewer decides on every job of the run waiting in `environment`. */
  async review(login: string, run: SimRun, state: "approved" | "rejected", comment = "", environment = "evaluation"): Promise<void> {
    const env = this.fake.environments.get(environment)!;
    await this.as(login).rest.actions.reviewPendingDeploymentsForRun({
      owner: this.fake.owner,
      repo: this.fake.repo,
      run_id: run.id,
      environment_ids: [env.id],
      state,
      comment,
    });
  }

  /**
   * What any process in a running job can do, whatever the job's `permissions:` say: upload an artifact to
   * its run with the job's ACTIONS_RUNTIME_TOKEN (an escaped build, for example). That token, like the
   * job's VM, ends with the job: only a job of the run in progress can do it.
   */
  uploadFromJob(run: SimRun, jobName: string, name: string, files: Record<string, string>): void {
    const job = run.record.jobs.find((j) => j.name === jobName);
    if (job?.status !== "in_progress")
      throw new Error(`${jobName} of run ${run.id} is not in progress: its runtime token is no longer valid`);
    this.fake.createArtifact(run.id, name);
    for (const [file, content] of Object.entries(files)) {
      const target = path.join(run.result!.artifactsDir, name, file);
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, content);
    }
  }

  /** Files of the workspace of the whole simulation (for reading artifacts of a run). */
  async artifact(run: SimRun, name: string, file: string): Promise<string> {
    return readFile(path.join(run.result!.artifactsDir, name, file), "utf8");
  }

  botComments(marker: string): { body: string; login: string; id: number }[] {
    return this.fake.comments.filter((c) => c.body.startsWith(marker) && (c.login === ACTIONS_BOT || c.login.endsWith("[bot]")));
  }
}

/** The trigger's settings for an event name: undefined when the workflow does not trigger on it, null when it does with no settings. */
function triggerOf(yaml: Json, name: string): Json | null | undefined {
  const on = yaml.on ?? yaml[true as unknown as string];
  if (typeof on === "string") return on === name ? null : undefined;
  if (Array.isArray(on)) return on.includes(name) ? null : undefined;
  if (on && typeof on === "object" && name in on) return (on as Json)[name] ?? null;
  return undefined;
}

function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      source += ".*";
      i++;
      if (glob[i + 1] === "/") i++;
    } else if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else source += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

function branchesMatch(trigger: Json | null, branch: string): boolean {
  if (trigger?.branches) return (trigger.branches as string[]).some((b) => globToRegExp(b).test(branch));
  if (trigger?.["branches-ignore"]) return !(trigger["branches-ignore"] as string[]).some((b) => globToRegExp(b).test(branch));
  return true;
}

function pathsMatch(trigger: Json | null, changed: string[]): boolean {
  if (trigger?.paths) return changed.some((file) => (trigger.paths as string[]).some((p) => globToRegExp(p).test(file)));
  if (trigger?.["paths-ignore"])
    return changed.some((file) => !(trigger["paths-ignore"] as string[]).some((p) => globToRegExp(p).test(file)));
  return true;
}
