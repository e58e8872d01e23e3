import { readFile } from "node:fs/promises";
import path from "node:path";
import * as core from "@actions/core";
// The core and GitHub entries only: this bundle does not carry the Docker client.
import { CrucibleError, ExperimentInvalidError, formatIssue, imagesDirOf, installRoot, errorMessage } from "../../lib/src/index.js";
import {
  createGitHubClient,
  escapeMarkdown,
  excludedApprovers,
  materializeExperiment,
  matrixOf,
  buildMatrixOf,
  planEvaluation,
  triggerOf,
} from "../../lib/src/github/index.js";
import { getInputs, type PlanInputs } from "./inputs.js";

export async function run(): Promise<void> {
  try {
    const inputs = getInputs();
    if (inputs.mode === "plan") await plan(inputs);
    else await materialize(inputs);
  } catch (error) {
    if (error instanceof ExperimentInvalidError) {
      for (const issue of error.issues)
        core.error(issue.message, { title: "Experiment refused", file: issue.file, startLine: issue.line, startColumn: issue.column });
      core.setFailed(`the experiment was refused; nothing was run:\n${error.message}`);
    } else core.setFailed(errorMessage(error));
  }
}

async function plan(inputs: PlanInputs): Promise<void> {
  const env = process.env;
  const file = env.GITHUB_EVENT_PATH;
  if (!file) throw new CrucibleError("GITHUB_EVENT_PATH is not set: this action runs in the evaluate workflow");
  const trigger = triggerOf(env.GITHUB_EVENT_NAME ?? "", JSON.parse(await readFile(file, "utf8")));
  const octokit = inputs.token ? createGitHubClient({ token: inputs.token, baseUrl: inputs.apiUrl, onRetry: core.info }) : undefined;
  const api = () => {
    if (!octokit)
      throw new CrucibleError(
        "planning reads the pull request and who made its commits from the API: give the token input (contents and pull-requests read)",
      );
    return octokit;
  };
  const { owner, repo } = inputs;
  const serverUrl = env.GITHUB_SERVER_URL || "https://github.com";
  const evaluation = await planEvaluation(
    trigger,
    {
      repository: `${owner}/${repo}`,
      serverUrl,
      workflowRunUrl: `${serverUrl}/${owner}/${repo}/actions/runs/${env.GITHUB_RUN_ID ?? "0"}`,
      reportUrl: inputs.reportUrl,
      info: core.info,
      fetchPullRequest: async (number) => (await api().rest.pulls.get({ owner, repo, pull_number: number })).data,
      commitOrigin: async (sha) => {
        const { data } = await api().rest.repos.getCommit({ owner, repo, ref: sha });
        return { verified: data.commit.verification?.verified === true, botAuthor: data.author?.type === "Bot" ? data.author.login : null };
      },
    },
    {
      repository: inputs.repository,
      imagesDir: imagesDirOf(installRoot(import.meta.url)),
      runnerLabels: inputs.runnerLabels,
      gpuLabel: inputs.gpuLabel,
      maxFolderBytes: inputs.maxFolderBytes,
    },
  );
  core.info(`pull request #${evaluation.pullRequest} at ${evaluation.head} (${evaluation.trigger}): ${evaluation.state}`);
  for (const issue of evaluation.issues)
    core.error(issue.message, { title: "Experiment refused", file: issue.file, startLine: issue.line, startColumn: issue.column });

  const matrix = matrixOf({ experiments: evaluation.state === "planned" ? evaluation.experiments : [] });
  core.setOutput("plan", JSON.stringify(evaluation));
  core.setOutput("state", evaluation.state);
  core.setOutput("matrix", JSON.stringify(matrix));
  core.setOutput("count", String(matrix.include.length));
  const builds = buildMatrixOf({ experiments: evaluation.state === "planned" ? evaluation.experiments : [] });
  core.setOutput("build-matrix", JSON.stringify(builds));
  core.setOutput("build-count", String(builds.include.length));
  core.setOutput("head-sha", evaluation.head);
  core.setOutput("base-sha", evaluation.base);
  core.setOutput("pr-number", String(evaluation.pullRequest));
  core.setOutput("max-parallel", String(inputs.maxParallel));
  core.setOutput("excluded-approvers", excludedApprovers(evaluation).join(","));

  // core.summary writes HTML as given, and these values come from the pull request: each is escaped.
  const text = (value: string) => escapeMarkdown(value);
  core.summary.addHeading(`Evaluation of #${evaluation.pullRequest} at ${evaluation.head.slice(0, 12)}: ${evaluation.state}`, 2);
  core.summary.addRaw(`${text(evaluation.trigger)}.`, true);
  if (evaluation.experiments.length > 0) {
    core.summary.addTable([
      [
        { data: "Experiment", header: true },
        { data: "Image", header: true },
        { data: "Resources", header: true },
        { data: "Timeout", header: true },
        { data: "Runner", header: true },
        { data: "Estimate", header: true },
        { data: "Declared behaviours (not alerted)", header: true },
      ],
      ...evaluation.experiments.map((e) =>
        [
          e.dir,
          e.image,
          `${e.resources.cpus} CPU, ${e.resources.memory}, ${e.gpus} GPU`,
          e.resources.timeout,
          e["runs-on"].join(", "),
          `${e.estimate.minutes} min (${e.estimate.basis})`,
          e.behaviours?.join(", ") || "none",
        ].map(text),
      ),
    ]);
  }
  if (evaluation.issues.length > 0) core.summary.addList(evaluation.issues.map((i) => text(formatIssue(i))));
  // An invalid plan is an outcome, not a failure of this job: the announce job reports it on the pull request.
  await core.summary.write();
}

async function materialize(inputs: PlanInputs): Promise<void> {
  const head = inputs.headSha;
  if (!head) throw new CrucibleError("materialize needs the head-sha input (the plan's head-sha output)");
  const destination = inputs.path;
  const file = await materializeExperiment({
    repository: inputs.repository,
    commit: head,
    dir: inputs.experiment,
    destination,
    maxFolderBytes: inputs.maxFolderBytes,
  });
  const output = path.join(destination, file);
  core.setOutput("experiment-file", output);
  core.info(`wrote ${inputs.experiment} as of ${head} to ${path.dirname(output)} (as data)`);
}
