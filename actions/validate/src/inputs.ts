import * as core from "@actions/core";
import { workspaceOf } from "../../lib/src/index.js";

/** The action's inputs and the parts of its environment it uses, read once. */
export interface ValidateInputs {
  workspace: string;
  /** Experiment files or folders to check, relative to the workspace; none means the pull request's. */
  paths: string[];
  /** The triggering event, whose pull request (if any) says which experiments changed. */
  eventPath: string | undefined;
}

export function getInputs(env: NodeJS.ProcessEnv = process.env): ValidateInputs {
  return { workspace: workspaceOf(env), paths: core.getMultilineInput("paths"), eventPath: env.GITHUB_EVENT_PATH || undefined };
}
