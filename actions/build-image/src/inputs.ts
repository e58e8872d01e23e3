import path from "node:path";
import * as core from "@actions/core";
import { workspaceOf } from "../../lib/src/index.js";

/** The action's inputs, read once, as absolute paths. */
export interface BuildImageInputs {
  /** The experiment file whose Dockerfile is built. */
  experiment: string;
  /** Where the image archive and its record are written. */
  output: string;
}

export function getInputs(env: NodeJS.ProcessEnv = process.env): BuildImageInputs {
  const workspace = workspaceOf(env);
  return {
    experiment: path.resolve(workspace, core.getInput("experiment", { required: true })),
    output: path.resolve(workspace, core.getInput("output", { required: true })),
  };
}
