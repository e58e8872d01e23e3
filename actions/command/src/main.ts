import { readFile } from "node:fs/promises";
import * as core from "@actions/core";
import { errorMessage } from "../../lib/src/index.js";
import { type CommentEvent, createGitHubClient, handleCommand } from "../../lib/src/github/index.js";
import { getInputs } from "./inputs.js";

export async function run(): Promise<void> {
  try {
    const { token, owner, repo, workflow, eventPath, refName, apiUrl } = getInputs();
    const event = JSON.parse(await readFile(eventPath, "utf8")) as CommentEvent & { repository?: { default_branch?: string } };
    const ref = event.repository?.default_branch || refName;
    const octokit = createGitHubClient({ token, baseUrl: apiUrl, onRetry: core.info });
    const outcome = await handleCommand(octokit, { owner, repo, event, ref, workflow, info: core.info });
    core.setOutput("outcome", outcome.kind);
    if (outcome.kind === "ignored") core.info(`nothing to do: ${outcome.reason}`);
    else if (outcome.kind === "refused") core.info(`refused ${outcome.login} (permission ${outcome.permission}) and said so`);
  } catch (error) {
    core.setFailed(errorMessage(error));
  }
}
