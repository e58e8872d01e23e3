import * as core from "@actions/core";
import { createGitHubClient, FormError, requestExperiment } from "../../lib/src/github/index.js";
import { errorMessage } from "../../lib/src/index.js";
import { getInputs } from "./inputs.js";

export async function run(): Promise<void> {
  try {
    const inputs = getInputs();
    const client = (token: string) => createGitHubClient({ token, baseUrl: inputs.apiUrl, onRetry: core.info });
    const dispatch = inputs.dispatchToken
      ? { octokit: client(inputs.dispatchToken), validate: inputs.validateWorkflow, evaluate: inputs.evaluateWorkflow }
      : undefined;
    const { owner, repo, base, form, actor } = inputs;
    const outcome = await requestExperiment(client(inputs.token), { owner, repo, base, form, actor, dispatch, info: core.info });
    core.setOutput("pull-request", String(outcome.pullRequest.number));
    core.setOutput("pull-request-url", outcome.pullRequest.url);
    core.setOutput("branch", outcome.branch);
    core.setOutput("experiment", `${outcome.rendered.dir}/experiment.yaml`);
    await core.summary
      .addHeading("Evaluation requested", 2)
      .addRaw(
        `Opened pull request #${outcome.pullRequest.number} with ${outcome.rendered.dir}/experiment.yaml (${outcome.rendered.template}).`,
        true,
      )
      .addRaw(
        outcome.dispatched.length > 0
          ? `Dispatched for it (the workflow token's pull request starts no workflow by itself): ` +
              `${outcome.dispatched.map((d) => d.url ?? d.workflow).join(", ")}.`
          : "",
        true,
      )
      .addCodeBlock(outcome.rendered.yaml, "yaml")
      .write();
  } catch (error) {
    if (error instanceof FormError) for (const problem of error.problems) core.error(problem, { title: "Invalid request" });
    core.setFailed(errorMessage(error));
  }
}
