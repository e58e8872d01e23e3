// What started an evaluation and which pull request it is about, from the event GitHub delivered:
// a pull_request_target event carries the pull request; a workflow_dispatch (the request form without an
// App, a `/crucible` command) carries its number, and the pull request is then read from the API.
import { CrucibleError, type Issue } from "../errors.js";
import { PLAN_FORMAT, type EvaluationPlan, type EvaluationState } from "./evaluation.js";
import { assertSha } from "./git.js";
import { planExperiments, type PlanOptions } from "./plan.js";

/** The fields of a pull request that planning reads; the webhook payload and GET /pulls/{n} share them. */
export interface PullRequestLike {
  number?: number;
  state?: string;
  body?: string | null;
  user?: { login?: string } | null;
  base?: { sha?: string; ref?: string; repo?: { full_name?: string } | null };
  head?: { sha?: string; ref?: string; repo?: { full_name?: string } | null };
}

export interface PullRequestInfo {
  number: number;
  base: string;
  head: string;
  baseRef: string;
  headRef: string;
  fork: boolean;
  open: boolean;
  author: string;
  /** Where the record job commits: the PR branch itself, or results/pr-<n> for a fork. */
  recordBranch: string;
  /** For a pull request the request form opened through the App: who filled in the form. */
  requestedBy?: string;
}

/** A line the request action writes into the pull requests it opens, naming who asked. */
export const REQUESTED_BY_MARKER = /^<!-- crucible:requested-by ([A-Za-z0-9](?:[A-Za-z0-9-]{0,38})) -->$/m;

export function pullRequestInfo(pr: PullRequestLike, repository: string): PullRequestInfo {
  const number = pr.number;
  if (!Number.isInteger(number) || number! <= 0) throw new CrucibleError("the pull request has no number");
  const base = assertSha(pr.base?.sha ?? "", "pull_request.base.sha");
  const head = assertSha(pr.head?.sha ?? "", "pull_request.head.sha");
  const headRepo = pr.head?.repo?.full_name;
  // A deleted fork has head.repo null: treat it like any other fork.
  const fork = !headRepo || headRepo.toLowerCase() !== (pr.base?.repo?.full_name ?? repository).toLowerCase();
  const headRef = pr.head?.ref ?? "";
  if (!fork && !headRef) throw new CrucibleError("the pull request has no head.ref");
  const author = pr.user?.login ?? "";
  // Only a pull request a bot opened (the request form's App) may name its requester; anyone else is the author.
  const requestedBy = author.endsWith("[bot]") ? REQUESTED_BY_MARKER.exec(pr.body ?? "")?.[1] : undefined;
  return {
    number: number!,
    base,
    head,
    baseRef: pr.base?.ref ?? "",
    headRef,
    fork,
    open: (pr.state ?? "open") === "open",
    author,
    recordBranch: fork ? `results/pr-${number}` : headRef,
    ...(requestedBy ? { requestedBy } : {}),
  };
}

export type Trigger =
  | { kind: "pull_request"; action: string; before?: string; sender: string; pr: PullRequestLike }
  | {
      kind: "dispatch";
      pullRequest: number;
      headSha?: string;
      experiment?: string;
      command: "evaluate" | "cancel";
      requestedBy?: string;
      sender: string;
    };

/** Reads the delivered event: pull_request(_target) or workflow_dispatch with the evaluate workflow's inputs. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- GitHub's JSON (payloads, workflows, OpenAPI), read loosely on purpose
export function triggerOf(eventName: string, event: Record<string, any>): Trigger {
  const sender = String(event.sender?.login ?? "");
  if (eventName === "pull_request_target" || eventName === "pull_request") {
    if (!event.pull_request) throw new CrucibleError(`the ${eventName} payload has no pull_request`);
    const before = typeof event.before === "string" && /^[0-9a-f]{40}$/.test(event.before) ? event.before : undefined;
    return {
      kind: "pull_request",
      action: String(event.action ?? ""),
      ...(before ? { before } : {}),
      sender,
      pr: { number: event.number, ...event.pull_request },
    };
  }
  if (eventName === "workflow_dispatch") {
    const inputs = (event.inputs ?? {}) as Record<string, unknown>;
    const text = (name: string) => (typeof inputs[name] === "string" ? (inputs[name] as string).trim() : "");
    const number = text("pull-request");
    if (!/^[1-9][0-9]{0,9}$/.test(number))
      throw new CrucibleError(`the pull-request input must be a pull request number, got ${JSON.stringify(inputs["pull-request"] ?? "")}`);
    const headSha = text("head-sha");
    if (headSha) assertSha(headSha, "the head-sha input");
    const experiment = text("experiment");
    if (experiment && !/^experiments\/[A-Za-z0-9._/-]{1,200}$/.test(experiment))
      throw new CrucibleError(`the experiment input must be a folder under experiments/, got ${JSON.stringify(experiment)}`);
    const command = text("command") || "evaluate";
    if (command !== "evaluate" && command !== "cancel")
      throw new CrucibleError(`the command input must be evaluate or cancel, got ${JSON.stringify(command)}`);
    const requestedBy = text("requested-by");
    if (requestedBy && !/^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/.test(requestedBy))
      throw new CrucibleError(`the requested-by input must be a GitHub login, got ${JSON.stringify(requestedBy)}`);
    return {
      kind: "dispatch",
      pullRequest: Number(number),
      ...(headSha ? { headSha } : {}),
      ...(experiment ? { experiment } : {}),
      command,
      ...(requestedBy ? { requestedBy } : {}),
      sender,
    };
  }
  throw new CrucibleError(`this action plans pull_request_target and workflow_dispatch events, not ${eventName}`);
}

export interface EvaluationContext {
  /** owner/repo. */
  repository: string;
  serverUrl: string;
  workflowRunUrl: string;
  reportUrl: string;
  /** Reads the pull request when the event does not carry it (a dispatch). */
  fetchPullRequest(number: number): Promise<PullRequestLike>;
  /**
   * Who made a commit, as GitHub saw it: signed by GitHub and authored by a bot means the record step
   * (a workflow's or the App's token) made it through the API; nobody else can make such a commit here.
   */
  commitOrigin(sha: string): Promise<{ verified: boolean; botAuthor: string | null }>;
  info?(message: string): void;
}

/** Decides the evaluation: which state, which pull request and commits, which experiments. */
export async function planEvaluation(
  trigger: Trigger,
  context: EvaluationContext,
  options: Omit<PlanOptions, "base" | "head" | "before" | "only">,
): Promise<EvaluationPlan> {
  const pr = pullRequestInfo(
    trigger.kind === "pull_request" ? trigger.pr : await context.fetchPullRequest(trigger.pullRequest),
    context.repository,
  );
  const requestedBy =
    trigger.kind === "dispatch" ? (trigger.requestedBy ?? (trigger.sender.endsWith("[bot]") ? undefined : trigger.sender)) : pr.requestedBy;
  const describe =
    trigger.kind === "pull_request"
      ? `pull_request_target ${trigger.action} by ${trigger.sender}`
      : trigger.command === "cancel"
        ? `cancel requested by ${requestedBy ?? trigger.sender}`
        : trigger.experiment
          ? `rerun of ${trigger.experiment} requested by ${requestedBy ?? trigger.sender}`
          : `evaluation dispatched for ${requestedBy ?? trigger.sender}`;
  const plan: EvaluationPlan = {
    format: PLAN_FORMAT,
    state: "planned",
    repository: context.repository,
    pullRequest: pr.number,
    author: pr.author,
    ...(requestedBy && requestedBy !== pr.author ? { requestedBy } : {}),
    trigger: describe,
    base: pr.base,
    head: pr.head,
    ...(trigger.kind === "pull_request" && trigger.before ? { before: trigger.before } : {}),
    baseRef: pr.baseRef,
    headRef: pr.headRef,
    fork: pr.fork,
    recordBranch: pr.recordBranch,
    experiments: [],
    issues: [],
    serverUrl: context.serverUrl,
    workflowRunUrl: context.workflowRunUrl,
    reportUrl: context.reportUrl,
  };
  const decided = (state: EvaluationState) => ({ ...plan, state });
  if ((trigger.kind === "pull_request" && trigger.action === "closed") || !pr.open) return decided("closed");
  if (trigger.kind === "dispatch" && trigger.command === "cancel") return decided("cancel-requested");
  if (trigger.kind === "dispatch" && trigger.headSha && trigger.headSha !== pr.head) {
    context.info?.(`the pull request moved from ${trigger.headSha} (dispatched) to ${pr.head}: planning ${pr.head}`);
  }
  const result = await planExperiments({
    ...options,
    base: pr.base,
    head: pr.head,
    ...(trigger.kind === "pull_request" && trigger.action === "synchronize" && trigger.before ? { before: trigger.before } : {}),
    ...(trigger.kind === "dispatch" && trigger.experiment ? { only: [trigger.experiment.replace(/\/+$/, "")] } : {}),
  });
  const issues = [...result.issues, ...(await forgedResults(result.results, pr.fork, context))];
  const state: EvaluationState =
    issues.length > 0 ? "invalid" : result.resultsOnly ? "results-only" : result.experiments.length === 0 ? "nothing" : "planned";
  return { ...plan, state, experiments: result.experiments, issues };
}

/**
 * Recorded results are evidence: only the record step writes them. A pull request's own changes to
 * results/ (a fork's, or a commit nobody but a bot through GitHub's API could have made) make it invalid,
 * so forged runs are never counted, shown as real or carried over as a verdict.
 */
async function forgedResults(results: { paths: string[]; commits: string[] }, fork: boolean, context: EvaluationContext): Promise<Issue[]> {
  if (results.paths.length === 0) return [];
  const first = results.paths[0]!;
  const issue = (message: string): Issue => ({ file: first, line: 1, column: 1, message });
  const listed = `${results.paths.length} file(s) under results/, e.g. ${first}`;
  if (fork)
    return [issue(`a pull request from a fork may not change recorded results (${listed}); results are written only by the record step`)];
  const foreign: string[] = [];
  for (const sha of results.commits) {
    const origin = await context.commitOrigin(sha);
    if (!origin.verified || !origin.botAuthor) foreign.push(sha);
  }
  if (foreign.length === 0) return [];
  return [
    issue(
      `commit ${foreign[0]}${foreign.length > 1 ? ` (and ${foreign.length - 1} more)` : ""} changes recorded results ` +
        `(${listed}), and the record step did not make it; results are written only by the record step: remove the change`,
    ),
  ];
}
