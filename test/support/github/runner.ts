// Runs a workflow's jobs the way the Actions runner does, for the GitHub double: `./…` actions run their
// bundle (runs.main, then runs.post at the end of the job) from the job's checkout with INPUT_ values
// from `with:` and the action.yml defaults; `run:` scripts run with bash in the workspace; GitHub's own
// actions (checkout, artifacts, cache, setup-node, create-github-app-token) are simulated over the bare
// repository and the double's REST API. Jobs run in `needs` order; a job in an environment waits at its
// gate (a deployment review, decided through the REST API); a cancelled run sends SIGINT to the running
// step (SIGTERM 7.5 s later, as the runner does) and then runs only what `always()`/`cancelled()` allow.
import { spawn } from "node:child_process";
import { createSign } from "node:crypto";
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { interruptOnAbort, parseFileCommands, runAction, type ActionRun } from "../action.js";
import type { Permission } from "../fake-github.js";
import { evaluateCondition, ExpressionError, expressionString, interpolate, LENIENT, type StatusFunctions } from "./expressions.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
type Step = Record<string, any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
type Job = Record<string, any>;
export type JobResult = "success" | "failure" | "cancelled" | "skipped";
export type GateDecision = "approved" | "rejected" | "cancelled";

export interface StepRun {
  job: string;
  matrix?: Record<string, unknown>;
  name: string;
  id?: string;
  uses?: string;
  with: Record<string, string>;
  outcome: "success" | "failure" | "cancelled" | "skipped";
  outputs: Record<string, string>;
  run?: ActionRun;
  /** The action's post step (runs.post), run at the end of the job with the state its main step saved. */
  post?: ActionRun;
}

export interface JobInstance {
  matrix?: Record<string, unknown>;
  displayName: string;
  runsOn: string[];
  runner: string;
  workspace: string;
  temp: string;
  steps: StepRun[];
  result: JobResult;
  /** The environment review, for a job in an environment. */
  gate?: GateDecision;
  /** The `steps` context at the end of the job (job outputs are evaluated in it). */
  stepsContext: Record<string, unknown>;
}

export interface JobRun {
  name: string;
  result: JobResult;
  outputs: Record<string, string>;
  /** One entry per matrix combination (one for a job without a matrix). */
  instances: JobInstance[];
}

export interface JobHooks {
  /** A job instance is about to wait for its environment's review (before any step runs). */
  gate(job: string, displayName: string, environment: string, matrix: Record<string, unknown> | undefined): Promise<GateDecision>;
  started?(job: string, displayName: string, runner: string, labels: string[]): void;
  finished?(job: string, displayName: string, result: JobResult): void;
}

export interface WorkflowRunOptions {
  /** Parsed workflow file. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
  workflow: Record<string, any>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
  event: Record<string, any>;
  eventName: string;
  /** The `github` context: sha, ref, repository, … (workspace, job, token, event and event_name are added). */
  github: Record<string, unknown>;
  /** workflow_dispatch inputs (the `inputs` context). */
  inputs?: Record<string, unknown>;
  /** Repository secrets the run may read (none for a pull_request from a fork). */
  secrets?: Record<string, string>;
  /** The GITHUB_TOKEN of one job, holding that job's permissions. */
  tokenFor(job: string, permissions: Record<string, Permission>): string;
  /** The bare repository actions/checkout and `git fetch origin` read from. */
  origin: string;
  /** REST API root of the double (create-github-app-token talks to it). */
  apiUrl: string;
  /** Folder for workspaces, runner temp folders and artifacts. */
  root: string;
  /** Self-hosted and hosted runners available: name → labels. */
  runners: Record<string, string[]>;
  /** actions/cache entries shared between runs: key → folder. */
  caches: Map<string, string>;
  /** Environment of every step. */
  env?: Record<string, string>;
  hooks: JobHooks;
  /** Aborted when the run is cancelled. */
  signal: AbortSignal;
  /** Called before each step, to look at or veto it (throw to fail the test). */
  onStep?(job: string, step: Step, workspace: string): void;
  /** Given the run's record as soon as it exists: it fills in as the jobs go on. */
  onStart?(run: WorkflowRun): void;
  /**
   * GitHub's side of an artifact upload (CreateArtifact): stamps it, or throws GitHub's 409 message when the
   * run already has an artifact of that name. Returns its id.
   */
  createArtifact(name: string): number;
}

/** A step that fails the way it fails on GitHub (the action reports an error), not a fault of the harness. */
class StepFailure extends Error {}

export interface WorkflowRun {
  jobs: Record<string, JobRun>;
  /** Every step that ran or was skipped, in order. */
  steps: StepRun[];
  /** Where the uploaded Actions artifacts are, one folder per artifact name. */
  artifactsDir: string;
}

const stripSha = (uses: string) => uses.replace(/@.*$/, "");

/** The token scopes a job gets: its `permissions:`, else the workflow's, else GitHub's read-only default. */
export function permissionsOf(job: Job, workflow: Job): Record<string, Permission> {
  const declared = job.permissions ?? workflow.permissions ?? "read-all";
  const all = ["actions", "checks", "contents", "deployments", "issues", "packages", "pages", "pull-requests", "statuses", "id-token"];
  if (declared === "read-all" || declared === "write-all")
    return Object.fromEntries(all.map((s) => [s, declared === "read-all" ? "read" : "write"]));
  const out: Record<string, Permission> = {};
  for (const [scope, level] of Object.entries(declared as Record<string, string>))
    if (level === "read" || level === "write") out[scope] = level;
  return out;
}

/** Jobs in an order where each comes after the jobs it needs. */
export function jobOrder(workflow: Job): string[] {
  const order: string[] = [];
  const visit = (name: string, trail: string[]) => {
    if (order.includes(name)) return;
    if (trail.includes(name)) throw new Error(`jobs need each other in a cycle: ${[...trail, name].join(" → ")}`);
    const job = workflow.jobs[name];
    if (!job) throw new Error(`a job needs ${name}, which the workflow does not have`);
    for (const need of [job.needs ?? []].flat() as string[]) visit(need, [...trail, name]);
    order.push(name);
  };
  for (const name of Object.keys(workflow.jobs)) visit(name, []);
  return order;
}

export async function runWorkflow(options: WorkflowRunOptions): Promise<WorkflowRun> {
  const artifacts = path.join(options.root, "artifacts");
  await mkdir(artifacts, { recursive: true });
  const eventPath = path.join(options.root, "event.json");
  await writeFile(eventPath, JSON.stringify(options.event));
  const run: WorkflowRun = { jobs: {}, steps: [], artifactsDir: artifacts };
  options.onStart?.(run);
  const workflowEnv = (options.workflow.env ?? {}) as Record<string, string>;
  const cancelled = () => options.signal.aborted;

  for (const jobName of jobOrder(options.workflow)) {
    const job = options.workflow.jobs[jobName] as Job;
    const needs = Object.fromEntries(
      ([job.needs ?? []].flat() as string[]).map((n) => [n, { result: run.jobs[n]!.result, outputs: run.jobs[n]!.outputs }]),
    );
    const baseContext = {
      github: { ...options.github, event: options.event, event_name: options.eventName, job: jobName },
      needs,
      secrets: { GITHUB_TOKEN: "", ...options.secrets },
      vars: {},
      inputs: options.inputs ?? {},
      env: workflowEnv,
      runner: {},
    };
    const jobStatus: StatusFunctions = {
      success: () => !cancelled() && Object.values(needs).every((n) => n.result === "success"),
      failure: () => Object.values(needs).some((n) => n.result === "failure"),
      cancelled,
    };
    // A job that does not run still has its declared outputs, empty, as on GitHub.
    const jobRun: JobRun = {
      name: jobName,
      result: "skipped",
      outputs: Object.fromEntries(Object.keys(job.outputs ?? {}).map((k) => [k, ""])),
      instances: [],
    };
    run.jobs[jobName] = jobRun;
    if (!evaluateCondition(job.if, baseContext, jobStatus)) {
      if (cancelled()) jobRun.result = "cancelled";
      continue;
    }

    const token = options.tokenFor(jobName, permissionsOf(job, options.workflow));
    const context0 = { ...baseContext, github: { ...baseContext.github, token }, secrets: { ...baseContext.secrets, GITHUB_TOKEN: token } };

    // strategy.matrix: include-only or plain dimensions.
    let combinations: (Record<string, unknown> | undefined)[] = [undefined];
    if (job.strategy?.matrix !== undefined) {
      const matrix = interpolate(job.strategy.matrix, context0) as Record<string, unknown>;
      const maxParallel = interpolate(job.strategy["max-parallel"], context0);
      if (maxParallel !== undefined && (typeof maxParallel !== "number" || maxParallel < 1))
        throw new ExpressionError(`${jobName}: strategy.max-parallel must be a positive number, got ${JSON.stringify(maxParallel)}`);
      const { include, exclude, ...dimensions } = matrix as { include?: Record<string, unknown>[]; exclude?: unknown };
      if (exclude !== undefined) throw new Error("matrix exclude is not supported by this harness");
      if (Object.keys(dimensions).length > 0 && include)
        throw new Error("matrix dimensions with include are not supported by this harness");
      combinations =
        include ??
        Object.entries(dimensions).reduce<Record<string, unknown>[]>(
          (acc, [key, values]) => acc.flatMap((c) => (values as unknown[]).map((v) => ({ ...c, [key]: v }))),
          [{}],
        );
      if (combinations.length === 0) throw new Error(`${jobName}: the matrix is empty`);
    }

    for (const [index, matrix] of combinations.entries()) {
      const instance = await runJobInstance(options, run, {
        jobName,
        job,
        index,
        matrix,
        total: combinations.length,
        context0,
        token,
        eventPath,
        artifacts,
      });
      jobRun.instances.push(instance);
      // Job outputs: evaluated once the steps are done, strictly.
      const stepsContext = instance.stepsContext;
      for (const [key, value] of Object.entries((job.outputs ?? {}) as Record<string, string>)) {
        if (instance.steps.length > 0) {
          jobRun.outputs[key] = expressionString(
            interpolate(value, {
              ...context0,
              matrix: matrix ?? {},
              runner: { temp: instance.temp, name: instance.runner },
              steps: stepsContext,
            }),
          );
        }
      }
    }
    const results = jobRun.instances.map((i) => i.result);
    jobRun.result = results.includes("failure") ? "failure" : results.includes("cancelled") ? "cancelled" : "success";
  }
  return run;
}

interface InstanceSetup {
  jobName: string;
  job: Job;
  index: number;
  matrix: Record<string, unknown> | undefined;
  total: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
  context0: Record<string, any>;
  token: string;
  eventPath: string;
  artifacts: string;
}

async function runJobInstance(options: WorkflowRunOptions, run: WorkflowRun, setup: InstanceSetup): Promise<JobInstance> {
  const { jobName, job, index, matrix, context0, token } = setup;
  // A job whose `if:` uses always() runs to its end even when the run is cancelled, as on GitHub.
  const ignoresCancel = /\balways\s*\(/.test(String(job.if ?? ""));
  const signal = ignoresCancel ? new AbortController().signal : options.signal;
  const cancelled = () => signal.aborted;
  const id = `${jobName}-${index}`;
  const workspace = path.join(options.root, id, "workspace");
  const temp = path.join(options.root, id, "temp");
  await mkdir(workspace, { recursive: true });
  await mkdir(temp, { recursive: true });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
  const matrixContext: Record<string, any> = {
    ...context0,
    matrix: matrix ?? {},
    strategy: { "fail-fast": setup.job.strategy?.["fail-fast"] ?? true, "job-index": index, "job-total": setup.total },
  };
  const runsOn = [interpolate(job["runs-on"], matrixContext)].flat().map(String);
  const runner = Object.entries(options.runners).find(([, labels]) =>
    runsOn.every((l) => labels.some((m) => m.toLowerCase() === l.toLowerCase())),
  );
  if (!runner) throw new Error(`${jobName}: no runner carries the labels ${runsOn.join(", ")}`);
  const displayName = expressionString(interpolate(job.name ?? jobName, matrixContext));
  const instance: JobInstance = {
    matrix,
    displayName,
    runsOn,
    runner: runner[0],
    workspace,
    temp,
    steps: [],
    result: "success",
    stepsContext: {},
  };

  if (job.environment) {
    const environment = expressionString(
      interpolate(typeof job.environment === "string" ? job.environment : job.environment.name, matrixContext),
    );
    instance.gate = cancelled() ? "cancelled" : await options.hooks.gate(jobName, displayName, environment, matrix);
    if (instance.gate !== "approved") {
      instance.result = instance.gate === "rejected" ? "failure" : "cancelled";
      options.hooks.finished?.(jobName, displayName, instance.result);
      return instance;
    }
  }
  if (cancelled()) {
    instance.result = "cancelled";
    return instance;
  }
  options.hooks.started?.(jobName, displayName, runner[0], runsOn);

  const github = { ...matrixContext.github, workspace };
  const runnerContext = { temp, name: runner[0], os: "Linux", arch: "X64" };
  const stepsContext = instance.stepsContext as Record<string, { outputs: Record<string, string>; outcome: string; conclusion: string }>;
  const posts: {
    record: StepRun;
    entry: string;
    stateFile: string;
    postIf: unknown;
    env: Record<string, string>;
    inputs: Record<string, string>;
  }[] = [];
  const stepStatus: StatusFunctions = {
    success: () => !cancelled() && instance.steps.every((s) => s.outcome !== "failure"),
    failure: () => instance.steps.some((s) => s.outcome === "failure"),
    cancelled,
  };
  const g = options.github;
  const runnerEnv = (action: string): Record<string, string> => ({
    CI: "true",
    GITHUB_ACTIONS: "true",
    GITHUB_ACTION: action,
    GITHUB_WORKSPACE: workspace,
    GITHUB_EVENT_PATH: setup.eventPath,
    GITHUB_EVENT_NAME: options.eventName,
    GITHUB_REPOSITORY: String(g.repository),
    GITHUB_REPOSITORY_OWNER: String(g.repository).split("/")[0]!,
    GITHUB_SHA: String(g.sha),
    GITHUB_REF: String(g.ref),
    GITHUB_REF_NAME: String(g.ref_name ?? ""),
    GITHUB_HEAD_REF: String(g.head_ref ?? ""),
    GITHUB_BASE_REF: String(g.base_ref ?? ""),
    GITHUB_ACTOR: String(g.actor ?? ""),
    GITHUB_TRIGGERING_ACTOR: String(g.triggering_actor ?? g.actor ?? ""),
    GITHUB_SERVER_URL: String(g.server_url ?? "https://github.com"),
    GITHUB_API_URL: options.apiUrl,
    GITHUB_RUN_ID: String(g.run_id ?? "1"),
    GITHUB_RUN_NUMBER: String(g.run_number ?? "1"),
    GITHUB_RUN_ATTEMPT: String(g.run_attempt ?? "1"),
    GITHUB_JOB: jobName,
    GITHUB_WORKFLOW: String(options.workflow.name ?? ""),
    RUNNER_TEMP: temp,
    RUNNER_NAME: runner[0],
    RUNNER_OS: "Linux",
    RUNNER_ARCH: "X64",
    ...options.env,
  });

  for (const [stepIndex, step] of ((job.steps ?? []) as Step[]).entries()) {
    const envContext: Record<string, string> = { ...(context0.env as Record<string, string>) };
    const context = () => ({ ...matrixContext, github, runner: runnerContext, steps: stepsContext, env: envContext });
    for (const [k, v] of Object.entries((job.env ?? {}) as Record<string, string>))
      envContext[k] = expressionString(interpolate(v, context()));
    const name = expressionString(interpolate(step.name ?? step.uses ?? step.run?.split("\n")[0] ?? `step ${stepIndex}`, context()));
    const record: StepRun = { job: jobName, matrix, name, id: step.id, uses: step.uses, with: {}, outcome: "skipped", outputs: {} };
    // Outputs a step may be read for: a local action's declared ones ("" until set), anything of other steps.
    const local =
      typeof step.uses === "string" && step.uses.startsWith("./")
        ? await readActionFile(path.join(workspace, step.uses)).catch(() => undefined)
        : undefined;
    const declaredOutputs = Object.fromEntries(Object.keys(local?.action.outputs ?? {}).map((k) => [k, ""]));
    if (evaluateCondition(step.if, context(), stepStatus)) {
      const stepEnv: Record<string, string> = {};
      for (const [k, v] of Object.entries((step.env ?? {}) as Record<string, string>))
        stepEnv[k] = expressionString(interpolate(v, context()));
      Object.assign(envContext, stepEnv);
      for (const [k, v] of Object.entries((step.with ?? {}) as Record<string, unknown>))
        record.with[k] = expressionString(interpolate(v, context()));
      options.onStep?.(jobName, step, workspace);
      const env = { ...runnerEnv(step.id ?? `__step${stepIndex}`), ...envContext };
      const wasCancelled = cancelled();
      try {
        if (typeof step.uses === "string" && step.uses.startsWith("./")) {
          const dir = path.join(workspace, step.uses);
          const { action } = local ?? (await readActionFile(dir));
          const declared = (action.inputs ?? {}) as Record<string, { required?: boolean; default?: unknown }>;
          for (const key of Object.keys(record.with))
            if (!(key in declared))
              throw new ExpressionError(
                `${jobName}: step "${name}" gives ${step.uses} the input ${key}, which its action.yml does not declare`,
              );
          const inputs: Record<string, string> = {};
          for (const [key, input] of Object.entries(declared)) {
            if (key in record.with) inputs[key] = record.with[key]!;
            else if (input.default !== undefined) inputs[key] = expressionString(interpolate(String(input.default), context()));
            else if (input.required)
              throw new ExpressionError(`${jobName}: step "${name}" does not give ${step.uses} its required input ${key}`);
          }
          if (!/^node\d+$/.test(String(action.runs?.using)))
            throw new Error(`${step.uses}: runs.using ${action.runs?.using} is not a node action`);
          const stateFile = path.join(temp, `state-${stepIndex}`);
          await writeFile(stateFile, "");
          const result = await runAction(path.join(dir, action.runs.main), { inputs, env: { ...env, GITHUB_STATE: stateFile }, signal });
          record.run = result;
          record.outputs = result.outputs;
          record.outcome = result.code === 0 ? "success" : !wasCancelled && cancelled() ? "cancelled" : "failure";
          if (action.runs.post)
            posts.unshift({
              record,
              entry: path.join(dir, action.runs.post),
              stateFile,
              postIf: action.runs["post-if"] ?? "success()",
              env,
              inputs,
            });
        } else if (typeof step.uses === "string") {
          record.outputs = await simulateAction(stripSha(step.uses), record.with, {
            workspace,
            temp,
            options,
            artifacts: setup.artifacts,
            token,
          });
          record.outcome = "success";
        } else if (typeof step.run === "string") {
          const script = path.join(temp, `run-${stepIndex}.sh`);
          // The runner substitutes expressions into the script text before running it.
          await writeFile(script, expressionString(interpolate(step.run, context())));
          const outputFile = path.join(temp, `run-${stepIndex}.output`);
          await writeFile(outputFile, "");
          const result = await spawnBash(
            script,
            workspace,
            { PATH: process.env.PATH ?? "", HOME: os.homedir(), ...env, GITHUB_OUTPUT: outputFile },
            signal,
          );
          record.run = {
            code: result.code,
            stdout: result.stdout,
            stderr: result.stderr,
            outputs: parseFileCommands(await readFile(outputFile, "utf8")),
            summary: "",
          };
          record.outputs = record.run.outputs;
          record.outcome = result.code === 0 ? "success" : !wasCancelled && cancelled() ? "cancelled" : "failure";
        } else throw new Error(`${jobName}: step "${name}" has neither uses nor run`);
      } catch (error) {
        if (error instanceof ExpressionError) throw error;
        if (error instanceof StepFailure) {
          record.run = { code: 1, stdout: "", stderr: `Error: ${error.message}\n`, outputs: {}, summary: "" };
          record.outcome = "failure";
        } else throw new Error(`${jobName}: step "${name}" could not run: ${(error as Error).message}`, { cause: error });
      }
    }
    if (step.id) {
      const outputs: Record<string, string> & { [LENIENT]?: boolean } = local
        ? { ...declaredOutputs, ...record.outputs }
        : { ...record.outputs };
      if (!local) outputs[LENIENT] = true;
      stepsContext[step.id] = { outputs, outcome: record.outcome, conclusion: record.outcome };
    }
    instance.steps.push(record);
    run.steps.push(record);
  }
  // Post steps, in reverse order, with the state their main step saved.
  for (const post of posts) {
    if (!evaluateCondition(post.postIf, { ...matrixContext, github, runner: runnerContext, steps: stepsContext }, stepStatus)) continue;
    const state = parseFileCommands(await readFile(post.stateFile, "utf8"));
    const stateEnv = Object.fromEntries(Object.entries(state).map(([k, v]) => [`STATE_${k}`, v]));
    const result = await runAction(post.entry, {
      inputs: post.inputs,
      env: { ...post.env, ...stateEnv, GITHUB_STATE: path.join(temp, "post-state") },
    });
    post.record.post = result;
    if (result.code !== 0) throw new Error(`${jobName}: the post step of ${post.entry} failed: ${result.stdout}${result.stderr}`);
  }
  instance.result = instance.steps.some((s) => s.outcome === "failure") ? "failure" : cancelled() ? "cancelled" : "success";
  options.hooks.finished?.(jobName, displayName, instance.result);
  return instance;
}

/** bash as the runner runs a `run:` step; SIGINT then SIGTERM when the run is cancelled. */
function spawnBash(
  script: string,
  cwd: string,
  env: Record<string, string>,
  signal: AbortSignal,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["--noprofile", "--norc", "-eo", "pipefail", script], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const stop = interruptOnAbort(child, signal);
    child.on("close", (code) => {
      stop();
      resolve({ code, stdout, stderr });
    });
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
async function readActionFile(dir: string): Promise<{ action: Record<string, any> }> {
  const file = (await stat(path.join(dir, "action.yml")).catch(() => undefined))
    ? path.join(dir, "action.yml")
    : path.join(dir, "action.yaml");
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
  return { action: parseYaml(await readFile(file, "utf8")) as Record<string, any> };
}

interface SimulationContext {
  workspace: string;
  temp: string;
  options: WorkflowRunOptions;
  artifacts: string;
  token: string;
}

function git(cwd: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", ["-c", "advice.detachedHead=false", ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("close", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`git ${args.join(" ")}: ${err.trim()}`))));
  });
}

/** GitHub's own actions, as far as these workflows use them. Anything else is refused. */
async function simulateAction(action: string, inputs: Record<string, string>, ctx: SimulationContext): Promise<Record<string, string>> {
  const flag = (v: string | undefined, fallback: boolean) => (v === undefined || v === "" ? fallback : v === "true");
  const allow = (known: string[]) => {
    for (const key of Object.keys(inputs)) if (!known.includes(key)) throw new Error(`${action}: input ${key} is not simulated`);
  };
  switch (action) {
    case "actions/checkout": {
      allow(["ref", "fetch-depth", "persist-credentials", "sparse-checkout", "token"]);
      // Without ref, checkout takes the event's commit (github.sha), as actions/checkout does.
      const ref = inputs.ref || String(ctx.options.github.sha);
      const depth = Number(inputs["fetch-depth"] ?? "1");
      const ws = ctx.workspace;
      await git(ws, "init", "-q");
      await git(ws, "remote", "add", "origin", `file://${ctx.options.origin}`);
      if (depth === 0) await git(ws, "fetch", "-q", "--no-tags", "origin", "+refs/heads/*:refs/remotes/origin/*", ref);
      else await git(ws, "fetch", "-q", "--no-tags", `--depth=${depth}`, "origin", ref);
      if (inputs["sparse-checkout"])
        await git(
          ws,
          "sparse-checkout",
          "set",
          "--cone",
          ...inputs["sparse-checkout"]
            .split("\n")
            .map((l) => l.trim())
            .filter(Boolean),
        );
      await git(ws, "checkout", "-q", "--detach", /^[0-9a-f]{40}$/.test(ref) ? ref : "FETCH_HEAD");
      // persist-credentials: false leaves no token in .git/config; the harness never writes one.
      return {};
    }
    case "actions/upload-artifact": {
      allow(["name", "path", "if-no-files-found", "retention-days"]);
      const name = inputs.name || "artifact";
      // One path or several, one per line; several keep their paths below their common folder, as the action does.
      const sources = inputs
        .path!.split("\n")
        .map((l) => l.trim())
        .filter(Boolean);
      const target = path.join(ctx.artifacts, name);
      const present = (
        await Promise.all(sources.map(async (source) => ((await stat(source).catch(() => undefined)) ? source : undefined)))
      ).filter((s): s is string => !!s);
      if (present.length === 0) {
        if ((inputs["if-no-files-found"] ?? "warn") === "error")
          throw new Error(`actions/upload-artifact: no files at ${sources.join(", ")}`);
        return {};
      }
      // As the action does: files found, then GitHub is asked to create the artifact, which a taken name fails.
      let id: number;
      try {
        id = ctx.options.createArtifact(name);
      } catch (error) {
        throw new StepFailure((error as Error).message);
      }
      if (present.length === 1 && (await stat(present[0]!)).isDirectory()) await cp(present[0]!, target, { recursive: true });
      else {
        let common = path.dirname(present[0]!);
        while (!present.every((p) => p.startsWith(common + path.sep))) common = path.dirname(common);
        for (const source of present) await cp(source, path.join(target, path.relative(common, source)), { recursive: true });
      }
      return {
        "artifact-id": String(id),
        "artifact-url": `https://github.com/${ctx.options.github.repository}/actions/runs/${ctx.options.github.run_id}/artifacts/${id}`,
      };
    }
    case "actions/download-artifact": {
      allow(["name", "pattern", "path", "merge-multiple"]);
      const names = (await readdir(ctx.artifacts)).sort();
      const pattern = inputs.pattern
        ? new RegExp(`^${inputs.pattern.replace(/[.+?^$()|[\]\\{}]/g, "\\$&").replace(/\*/g, ".*")}$`)
        : undefined;
      const chosen = inputs.name ? names.filter((n) => n === inputs.name) : names.filter((n) => !pattern || pattern.test(n));
      if (inputs.name && chosen.length === 0) throw new Error(`actions/download-artifact: no artifact named ${inputs.name}`);
      const destination = inputs.path || ctx.workspace;
      await mkdir(destination, { recursive: true });
      for (const name of chosen)
        await cp(
          path.join(ctx.artifacts, name),
          flag(inputs["merge-multiple"], false) || inputs.name ? destination : path.join(destination, name),
          { recursive: true },
        );
      return { "download-path": destination };
    }
    case "actions/setup-node":
      // Node 24 is already first on PATH (node_modules/.bin); nothing to install.
      allow(["node-version", "cache"]);
      return { "node-version": "v24" };
    case "actions/cache/restore": {
      allow(["path", "key"]);
      const saved = ctx.options.caches.get(inputs.key!);
      if (!saved) return { "cache-hit": "false" };
      const target = path.resolve(ctx.workspace, inputs.path!);
      await rm(target, { recursive: true, force: true });
      // Hard links: the cache is large and read-only here, and the copy is instant.
      await new Promise<void>((resolve, reject) =>
        spawn("cp", ["-al", saved, target]).on("close", (code) => (code === 0 ? resolve() : reject(new Error(`cp -al ${saved} failed`)))),
      );
      // Tool caches inside the folder are written in place; linked, they would write through to the cache.
      for (const entry of await readdir(target))
        if (entry.startsWith(".") && entry !== ".bin" && entry !== ".package-lock.json")
          await rm(path.join(target, entry), { recursive: true, force: true });
      return { "cache-hit": "true", "cache-primary-key": inputs.key!, "cache-matched-key": inputs.key! };
    }
    case "actions/cache/save": {
      allow(["path", "key"]);
      if (!ctx.options.caches.has(inputs.key!)) ctx.options.caches.set(inputs.key!, path.resolve(ctx.workspace, inputs.path!));
      return {};
    }
    case "actions/create-github-app-token":
      return createAppToken(inputs, ctx);
    default:
      throw new Error(`${action} is not simulated by this harness`);
  }
}

/** actions/create-github-app-token: a JWT signed with the App's key → its installation → a scoped token. */
async function createAppToken(inputs: Record<string, string>, ctx: SimulationContext): Promise<Record<string, string>> {
  const permissions: Record<string, string> = {};
  for (const [key, value] of Object.entries(inputs)) {
    if (key.startsWith("permission-")) permissions[key.slice("permission-".length)] = value;
    else if (key !== "app-id" && key !== "private-key") throw new Error(`actions/create-github-app-token: input ${key} is not simulated`);
  }
  if (!inputs["app-id"] || !inputs["private-key"]) throw new Error("actions/create-github-app-token: app-id and private-key are required");
  const now = Math.floor(Date.now() / 1000);
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${part({ alg: "RS256", typ: "JWT" })}.${part({ iat: now - 60, exp: now + 540, iss: inputs["app-id"] })}`;
  const jwt = `${unsigned}.${createSign("RSA-SHA256").update(unsigned).sign(inputs["private-key"], "base64url")}`;
  const repository = String(ctx.options.github.repository);
  const call = async (method: string, url: string, body?: unknown) => {
    const response = await fetch(`${ctx.options.apiUrl}${url}`, {
      method,
      headers: { authorization: `Bearer ${jwt}`, accept: "application/vnd.github+json", "content-type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
    const json = (await response.json()) as Record<string, any>;
    if (!response.ok) throw new Error(`actions/create-github-app-token: ${method} ${url}: ${response.status} ${json.message}`);
    return json;
  };
  const installation = await call("GET", `/repos/${repository}/installation`);
  const minted = await call("POST", `/app/installations/${installation.id}/access_tokens`, {
    permissions,
    repositories: [repository.split("/")[1]],
  });
  return { token: minted.token, "installation-id": String(installation.id), "app-slug": installation.app_slug };
}
