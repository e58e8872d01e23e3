import * as core from "@actions/core";
import { CrucibleError, githubApiUrlOf, githubRepositoryOf } from "../../lib/src/index.js";
import type { RawForm } from "../../lib/src/github/index.js";

const FIELDS = ["template", "name", "backdoor", "trigger", "epochs", "samples", "seed", "gpus", "attack", "timeout"] as const;
const BRANCH = /^[A-Za-z0-9._/-]{1,200}$/;

/** The action's inputs and the parts of its environment it uses, read and checked once. */
export interface RequestInputs {
  token: string;
  owner: string;
  repo: string;
  /** The branch the pull request targets. */
  base: string;
  /** The request form's fields exactly as typed; requestExperiment checks them. */
  form: RawForm;
  /** A token whose dispatches start workflows (the workflow token's pull request starts none); "" for none. */
  dispatchToken: string;
  validateWorkflow: string;
  evaluateWorkflow: string;
  actor: string | undefined;
  apiUrl: string;
}

export function getInputs(env: NodeJS.ProcessEnv = process.env): RequestInputs {
  const token = core.getInput("token", { required: true });
  core.setSecret(token);
  const { owner, repo } = githubRepositoryOf(env);
  const base = core.getInput("base") || env.GITHUB_REF_NAME || "";
  if (!BRANCH.test(base) || base.includes("..")) throw new CrucibleError(`base must be a branch name, got ${JSON.stringify(base)}`);
  // Read raw (not trimmed by getInput) so the form checks see exactly what was typed.
  const form: RawForm = {};
  for (const field of FIELDS) form[field] = env[`INPUT_${field.toUpperCase()}`] ?? "";
  const dispatchToken = core.getInput("dispatch-token");
  if (dispatchToken) core.setSecret(dispatchToken);
  return {
    token,
    owner,
    repo,
    base,
    form,
    dispatchToken,
    validateWorkflow: core.getInput("validate-workflow") || "validate.yml",
    evaluateWorkflow: core.getInput("evaluate-workflow") || "evaluate.yml",
    actor: env.GITHUB_TRIGGERING_ACTOR || env.GITHUB_ACTOR,
    apiUrl: githubApiUrlOf(env),
  };
}
