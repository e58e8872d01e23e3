import type { EvaluationPlan } from "../../actions/lib/src/gitops/evaluation.js";

/** An evaluation plan as the plan job writes it, for tests of what acts on one. */
export function evaluationPlan(values: Partial<EvaluationPlan> = {}): EvaluationPlan {
  return {
    format: "crucible-evaluation-plan/1",
    state: "planned",
    repository: "octo/lab",
    pullRequest: 1,
    author: "researcher",
    trigger: "pull_request_target opened by researcher",
    base: "b".repeat(40),
    head: "a".repeat(40),
    baseRef: "main",
    headRef: "feature",
    fork: false,
    recordBranch: "feature",
    experiments: [],
    issues: [],
    serverUrl: "https://github.com",
    workflowRunUrl: "https://github.com/octo/lab/actions/runs/5",
    reportUrl: "https://example.org/site/",
    ...values,
  };
}
