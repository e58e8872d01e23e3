#!/usr/bin/env node
// Refuses every job on this runner except the evaluate workflow's `evaluate` job of the repository's
// default branch. The runner group already restricts which workflows may use these runners
// (configure-org.mjs); this check is the host's own, so a misconfigured group, a repository-level runner
// without groups, or a workflow that names these labels from another branch still gets no job here.
// It reads what the runner sets for the job (GITHUB_REPOSITORY, GITHUB_WORKFLOW_REF, GITHUB_JOB,
// GITHUB_EVENT_NAME, GITHUB_REF, GITHUB_EVENT_PATH): values GitHub's service fills in, not the workflow.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const EVALUATE_WORKFLOW = ".github/workflows/evaluate.yml";
export const EVALUATE_JOB = "evaluate";
/** evaluate.yml's triggers: pull requests into the default branch (base-branch code) and dispatches. */
export const EVALUATE_EVENTS = ["pull_request_target", "workflow_dispatch"];

/** Undefined when the job may run; otherwise why not, in one sentence. */
export function refusal(env, event) {
  const missing = ["GITHUB_REPOSITORY", "GITHUB_WORKFLOW_REF", "GITHUB_JOB", "GITHUB_EVENT_NAME", "GITHUB_REF"].filter((k) => !env[k]);
  if (missing.length > 0) return `the runner did not say which job this is (${missing.join(", ")} unset)`;
  const defaultBranch = event?.repository?.default_branch;
  if (typeof defaultBranch !== "string" || !defaultBranch) return "the job's event names no default branch of the repository";
  const expectedRef = `refs/heads/${defaultBranch}`;
  const expectedWorkflow = `${env.GITHUB_REPOSITORY}/${EVALUATE_WORKFLOW}@${expectedRef}`;
  if (env.GITHUB_WORKFLOW_REF !== expectedWorkflow) return `only ${expectedWorkflow} may run here, not ${env.GITHUB_WORKFLOW_REF}`;
  if (env.GITHUB_JOB !== EVALUATE_JOB) return `only the ${EVALUATE_JOB} job may run here, not ${env.GITHUB_JOB}`;
  if (!EVALUATE_EVENTS.includes(env.GITHUB_EVENT_NAME))
    return `only ${EVALUATE_EVENTS.join(" and ")} events may run here, not ${env.GITHUB_EVENT_NAME}`;
  if (env.GITHUB_REF !== expectedRef) return `only runs of ${expectedRef} may run here, not ${env.GITHUB_REF}`;
  return undefined;
}

function readEvent(file) {
  if (!file) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const reason = refusal(process.env, readEvent(process.env.GITHUB_EVENT_PATH));
  // Quoted values come from GitHub; control characters are shown escaped so they cannot act on the log.
  const safe = (text) => JSON.stringify(text).slice(1, -1);
  if (reason) {
    console.log(
      `::error title=Job refused by this runner::${safe(`${reason}. This runner takes only ${EVALUATE_WORKFLOW}'s ${EVALUATE_JOB} job on the default branch.`)}`,
    );
    process.exit(1);
  }
  console.log(
    `crucible runner: accepted ${safe(process.env.GITHUB_WORKFLOW_REF)} job ${safe(process.env.GITHUB_JOB)} (${safe(process.env.GITHUB_EVENT_NAME)})`,
  );
}
