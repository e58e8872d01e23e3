import { readFile } from "node:fs/promises";
import * as core from "@actions/core";
import { CrucibleError, errorMessage } from "../../lib/src/index.js";
import { type CommentEvent, createGitHubClient, handleCommand } from "../../lib/src/github/index.js";

export async function run(): Promise<void> {
  try {
    const env = process.env;
    const token = core.getInput("token", { required: true });
    core.setSecret(token);
    const [owner, repo, ...rest] = (env.GITHUB_REPOSITORY ?? "").split("/");
    if (!owner || !repo || rest.length > 0)
      throw new CrucibleError(`GITHUB_REPOSITORY must be owner/repo, got ${JSON.stringify(env.GITHUB_REPOSITORY ?? "")}`);
    const workflow = core.getInput("workflow") || "evaluate.yml";
    if (!/^[A-Za-z0-9._-]+\.ya?ml$/.test(workflow))
      throw new CrucibleError(`workflow must be a workflow file name, got ${JSON.stringify(workflow)}`);
    if (!env.GITHUB_EVENT_PATH) throw new CrucibleError("GITHUB_EVENT_PATH is not set: this action runs on issue_comment events");
    const event = JSON.parse(await readFile(env.GITHUB_EVENT_PATH, "utf8")) as CommentEvent & { repository?: { default_branch?: string } };
    const ref = event.repository?.default_branch || env.GITHUB_REF_NAME || "";
    const octokit = createGitHubClient({ token, baseUrl: env.GITHUB_API_URL || "https://api.github.com", onRetry: core.info });
    const outcome = await handleCommand(octokit, { owner, repo, event, ref, workflow, info: core.info });
    core.setOutput("outcome", outcome.kind);
    if (outcome.kind === "ignored") core.info(`nothing to do: ${outcome.reason}`);
    else if (outcome.kind === "refused") core.info(`refused ${outcome.login} (permission ${outcome.permission}) and said so`);
  } catch (error) {
    core.setFailed(errorMessage(error));
  }
}
