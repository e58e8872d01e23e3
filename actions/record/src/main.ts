import { cp, mkdir, readdir, rm } from "node:fs/promises";
import path from "node:path";
import * as core from "@actions/core";
import { CrucibleError, escapeControls, errorMessage } from "../../lib/src/index.js";
import {
  acceptArtifacts,
  announceEvaluation,
  artifactsOfRun,
  createGitHubClient,
  ensureBranch,
  materializeExperiment,
  openFollowUp,
  recordEvaluation,
  withBuiltImages,
  runAuthority,
  writeAcceptedRuns,
} from "../../lib/src/github/index.js";
import { getInputs, type RecordInputs } from "./inputs.js";

export async function run(): Promise<void> {
  try {
    const inputs = getInputs();
    if (inputs.mode === "announce") await announce(inputs);
    else if (inputs.mode === "preflight") await preflight(inputs);
    else if (inputs.mode === "record") await record(inputs);
    else await preview(inputs);
  } catch (error) {
    core.setFailed(errorMessage(error));
  }
}

function client(token: string) {
  return createGitHubClient({ token, baseUrl: process.env.GITHUB_API_URL || "https://api.github.com", onRetry: core.info });
}

async function announce(inputs: RecordInputs): Promise<void> {
  const plan = inputs.images ? await withBuiltImages(inputs.plan, inputs.images) : inputs.plan;
  const outcome = await announceEvaluation(client(inputs.token), { owner: inputs.owner, repo: inputs.repo, info: core.info }, plan);
  core.info(`${inputs.plan.state}: status ${outcome.state ?? "unchanged"}${outcome.comment ? `, comment ${outcome.comment.url}` : ""}`);
}

/**
 * In the evaluate job, before the sandbox starts: the names this job will upload the experiment's results
 * under must still be free. Another job of the run (an escaped build) may have taken one first; then the
 * real upload would be refused, so nothing is run and the job fails saying which artifact is in the way.
 */
async function preflight(inputs: RecordInputs): Promise<void> {
  const names = [inputs.resultArtifact, `stored-${inputs.resultArtifact}`];
  const taken = (await artifactsOfRun(client(inputs.token), { owner: inputs.owner, repo: inputs.repo, runId: inputs.runId })).filter((a) =>
    names.includes(a.name),
  );
  if (taken.length > 0) {
    const described = taken.map((a) => `an artifact named ${a.name} (id ${a.id}, created ${a.createdAt ?? "at an unknown time"})`);
    throw new CrucibleError(
      `this workflow run already has ${described.join(" and ")}, ` +
        "uploaded before this evaluate job ran: another job of the run took the name of this experiment's results " +
        "(a build job running the pull request's Dockerfile can), so they could not be uploaded. Nothing was run; " +
        "the record job lists that artifact as ignored. A rerun of a previous attempt's job meets its own upload here: " +
        "use /crucible rerun.",
    );
  }
  core.info(`${names.join(" and ")}: no artifact of this run has these names yet`);
}

async function record(inputs: RecordInputs): Promise<void> {
  const { owner, repo, plan } = inputs;
  const octokit = client(inputs.token);
  const pusher = inputs.pushToken === inputs.token ? octokit : client(inputs.pushToken);
  if (plan.fork) {
    // A fork's branch cannot be pushed to: its results go to results/pr-<n>, then a follow-up pull request.
    const branch = await ensureBranch(pusher, { owner, repo, branch: plan.recordBranch, fromSha: plan.base });
    core.info(branch.created ? `created ${plan.recordBranch} at ${branch.sha}` : `${plan.recordBranch} exists at ${branch.sha}`);
  }
  const outcome = await recordEvaluation(octokit, {
    owner,
    repo,
    plan,
    artifactsDir: inputs.artifacts,
    evaluation: inputs.evaluation,
    baseline: { repository: inputs.workspace, commit: "HEAD" },
    runId: inputs.runId,
    attempt: inputs.attempt,
    previewUrl: inputs.previewUrl,
    pusher,
    info: core.info,
  });
  if (outcome.commit) core.setOutput("commit-sha", outcome.commit.sha);
  core.setOutput("state", outcome.state);
  if (plan.fork && outcome.commit) {
    const followUp = await openFollowUp(pusher, {
      owner,
      repo,
      branch: plan.recordBranch,
      base: plan.baseRef,
      pullRequest: plan.pullRequest,
      serverUrl: process.env.GITHUB_SERVER_URL,
    });
    if (followUp.kind === "comment")
      core.warning(
        `a follow-up pull request from ${plan.recordBranch} to ${plan.baseRef} is needed; ` +
          `it could not be opened (${followUp.reason}). Said so on #${plan.pullRequest}: ${followUp.url}`,
      );
    else
      core.info(`${followUp.kind === "created" ? "opened" : "already open:"} follow-up pull request #${followUp.number} ${followUp.url}`);
  }
  await core.summary.addRaw(outcome.markdown).write();
}

/**
 * The report site's input for this pull request: the base branch's experiments (this checkout), the
 * planned folders as the head commit has them (as data), and the accepted results of this evaluation.
 */
async function preview(inputs: RecordInputs): Promise<void> {
  const { plan, destination } = inputs;
  await rm(destination, { recursive: true, force: true });
  await mkdir(destination, { recursive: true });
  await cp(path.join(inputs.workspace, "experiments"), path.join(destination, "experiments"), { recursive: true, verbatimSymlinks: true });
  for (const planned of plan.experiments) {
    const folder = path.join(destination, planned.dir);
    for (const entry of await readdir(folder).catch(() => []))
      if (entry !== "results") await rm(path.join(folder, entry), { recursive: true, force: true });
    await materializeExperiment({ repository: inputs.workspace, commit: plan.head, dir: planned.dir, destination });
  }
  // The preview is data for a read-only build: GitHub's view of the run (approvals, jobs) still overrides the upload's.
  const octokit = client(inputs.token);
  const authority = await runAuthority(
    octokit,
    { owner: inputs.owner, repo: inputs.repo, runId: inputs.runId, attempt: inputs.attempt },
    plan,
  );
  const { runs, dropped } = await acceptArtifacts(inputs.artifacts, plan, authority);
  for (const d of dropped) core.info(`ignored ${escapeControls(JSON.stringify(d.path))}: ${escapeControls(d.reason)}`);
  await writeAcceptedRuns(runs, destination);
  core.setOutput("experiments", path.join(destination, "experiments"));
  core.info(`preview data: ${runs.length} run(s) of ${plan.experiments.length} planned experiment(s) over the base branch's experiments`);
}
