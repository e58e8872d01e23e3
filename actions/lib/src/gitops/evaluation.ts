// The evaluation of one pull request as the plan decided it: what the later jobs (announce, evaluate,
// record, preview) are given as the plan job's `plan` output, and the only thing they act on.
import { CrucibleError, type Issue, errorMessage } from "../errors.js";
import { SHA_PATTERN } from "./git.js";
import type { PlannedExperiment } from "./plan.js";

export const PLAN_FORMAT = "crucible-evaluation-plan/1";

/**
 * planned: experiments to run once approved. invalid: problems found, nothing runs. nothing: the pull
 * request changes no experiment. results-only: the last push only added results (the record step's),
 * nothing to plan again. closed: the pull request was closed. cancel-requested: someone asked to cancel.
 */
export type EvaluationState = "planned" | "invalid" | "nothing" | "results-only" | "closed" | "cancel-requested";

export interface EvaluationPlan {
  format: typeof PLAN_FORMAT;
  state: EvaluationState;
  /** owner/repo. */
  repository: string;
  pullRequest: number;
  /** Login of the pull request's author. */
  author: string;
  /** Login of whoever asked for this evaluation when it is not the author (a rerun, a form request). */
  requestedBy?: string;
  /** What started it, for people: "pull_request_target synchronize", "/crucible rerun by alice", … */
  trigger: string;
  base: string;
  head: string;
  /** The previous head, for a synchronize. */
  before?: string;
  baseRef: string;
  headRef: string;
  fork: boolean;
  /** Where results are committed: the pull request's branch, or results/pr-<n> for a fork. */
  recordBranch: string;
  experiments: PlannedExperiment[];
  issues: Issue[];
  serverUrl: string;
  workflowRunUrl: string;
  /** The report site's base URL. */
  reportUrl: string;
}

/** Reads the plan job's output, refusing anything that is not a plan this code wrote. */
export function parsePlan(text: string): EvaluationPlan {
  let plan: EvaluationPlan;
  try {
    plan = JSON.parse(text) as EvaluationPlan;
  } catch (error) {
    throw new CrucibleError(`the plan is not JSON: ${errorMessage(error)}`);
  }
  if (plan?.format !== PLAN_FORMAT) throw new CrucibleError(`the plan is not a ${PLAN_FORMAT} document`);
  if (!SHA_PATTERN.test(plan.head) || !SHA_PATTERN.test(plan.base))
    throw new CrucibleError("the plan's head and base must be full commit SHAs");
  if (!Number.isInteger(plan.pullRequest) || plan.pullRequest <= 0) throw new CrucibleError("the plan names no pull request");
  if (!Array.isArray(plan.experiments) || !Array.isArray(plan.issues)) throw new CrucibleError("the plan has no experiment list");
  return plan;
}

/** Logins that may not approve this evaluation: who wrote the pull request and who asked for the run. */
export function excludedApprovers(plan: Pick<EvaluationPlan, "author" | "requestedBy">): string[] {
  return [...new Set([plan.author, plan.requestedBy].filter((login): login is string => !!login))];
}

export function compareUrl(plan: Pick<EvaluationPlan, "serverUrl" | "repository" | "base" | "head">): string {
  return `${plan.serverUrl.replace(/\/+$/, "")}/${plan.repository}/compare/${plan.base}...${plan.head}`;
}

export function commitUrl(plan: Pick<EvaluationPlan, "serverUrl" | "repository">, sha: string): string {
  return `${plan.serverUrl.replace(/\/+$/, "")}/${plan.repository}/commit/${sha}`;
}

export function totalMinutes(plan: Pick<EvaluationPlan, "experiments">): number {
  return plan.experiments.reduce((sum, e) => sum + e.estimate.minutes, 0);
}
