import * as core from "@actions/core";
import { CrucibleError, githubApiUrlOf, githubRepositoryOf } from "../../lib/src/index.js";

const WORKFLOW_FILE = /^[A-Za-z0-9._-]+\.ya?ml$/;

/** The action's inputs and the parts of its environment it uses, read and checked once. */
export interface CommandInputs {
  token: string;
  owner: string;
  repo: string;
  /** The workflow file a /evaluate comment dispatches. */
  workflow: string;
  /** The issue_comment event. */
  eventPath: string;
  refName: string;
  apiUrl: string;
}

export function getInputs(env: NodeJS.ProcessEnv = process.env): CommandInputs {
  const token = core.getInput("token", { required: true });
  core.setSecret(token);
  const { owner, repo } = githubRepositoryOf(env);
  const workflow = core.getInput("workflow") || "evaluate.yml";
  if (!WORKFLOW_FILE.test(workflow)) throw new CrucibleError(`workflow must be a workflow file name, got ${JSON.stringify(workflow)}`);
  if (!env.GITHUB_EVENT_PATH) throw new CrucibleError("GITHUB_EVENT_PATH is not set: this action runs on issue_comment events");
  return {
    token,
    owner,
    repo,
    workflow,
    eventPath: env.GITHUB_EVENT_PATH,
    refName: env.GITHUB_REF_NAME ?? "",
    apiUrl: githubApiUrlOf(env),
  };
}
