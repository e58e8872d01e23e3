import * as core from "@actions/core";
import { createGitHubClient, FormError, type RawForm, requestExperiment } from "../../lib/src/github/index.js";
import { errorMessage } from "../../lib/src/index.js";

const FIELDS = ["template", "name", "backdoor", "trigger", "epochs", "samples", "seed", "gpus", "attack", "timeout"] as const;
const BRANCH = /^[A-Za-z0-9._/-]{1,200}$/;

export async function run(): Promise<void> {
  try {
    const token = core.getInput("token", { required: true });
    core.setSecret(token);
    const [owner, repo, ...rest] = (process.env.GITHUB_REPOSITORY ?? "").split("/");
    if (!owner || !repo || rest.length > 0)
      throw new Error(`GITHUB_REPOSITORY must be owner/repo, got ${JSON.stringify(process.env.GITHUB_REPOSITORY ?? "")}`);
    const base = core.getInput("base") || process.env.GITHUB_REF_NAME || "";
    if (!BRANCH.test(base) || base.includes("..")) throw new Error(`base must be a branch name, got ${JSON.stringify(base)}`);
    // Inputs are read raw (not trimmed by getInput) so the form checks see exactly what was typed.
    const form: RawForm = {};
    for (const field of FIELDS) form[field] = process.env[`INPUT_${field.toUpperCase()}`] ?? "";
    const client = (t: string) =>
      createGitHubClient({ token: t, baseUrl: process.env.GITHUB_API_URL || "https://api.github.com", onRetry: core.info });
    const dispatchWith = core.getInput("dispatch-token");
    if (dispatchWith) core.setSecret(dispatchWith);
    const dispatch = dispatchWith
      ? {
          octokit: client(dispatchWith),
          validate: core.getInput("validate-workflow") || "validate.yml",
          evaluate: core.getInput("evaluate-workflow") || "evaluate.yml",
        }
      : undefined;
    const outcome = await requestExperiment(client(token), {
      owner,
      repo,
      base,
      form,
      actor: process.env.GITHUB_TRIGGERING_ACTOR || process.env.GITHUB_ACTOR,
      dispatch,
      info: core.info,
    });
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
          ? `Dispatched for it (the workflow token's pull request starts no workflow by itself): ${outcome.dispatched.map((d) => d.url ?? d.workflow).join(", ")}.`
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
