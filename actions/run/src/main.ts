import path from "node:path";
import * as core from "@actions/core";
import {
  alertAnnotations,
  ArtifactStore,
  CrucibleError,
  ExperimentInvalidError,
  escapeControls,
  installRoot,
  newRunId,
  repositoryOf,
  runExperimentInSlot,
  type Progress,
  errorMessage,
} from "../../lib/src/index.js";
import { assembleRun, collectGarbage, localDocker } from "../../lib/src/docker/index.js";
import { approvedImageOf } from "./approved-image.js";
import { ActionsLog } from "./log.js";
import { runProvenance } from "./evaluation.js";
import { getInputs, STATE } from "./inputs.js";
import { renderSummary } from "./summary.js";

/** Tokens the runner holds; masked in case any of them ever reaches the log. */
const SECRET_VARIABLES = ["GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_CACHE_URL", "INPUT_TOKEN"];

/** Identifies this job's sandboxes, so the post step removes exactly those. */
function jobLabel(): string {
  const env = process.env;
  return `crucible.github-job=${env.GITHUB_RUN_ID ?? "local"}-${env.GITHUB_RUN_ATTEMPT ?? "1"}-${env.GITHUB_JOB ?? "job"}`;
}

export async function run(): Promise<void> {
  core.saveState(STATE.isPost, "true");
  const label = jobLabel();
  core.saveState(STATE.jobLabel, label);
  for (const name of SECRET_VARIABLES) if (process.env[name]) core.setSecret(process.env[name]!);

  const root = installRoot(import.meta.url);
  let workspace = process.cwd();
  let log: ActionsLog | undefined;
  let release = () => {};
  try {
    const inputs = getInputs();
    workspace = inputs.workspace;
    const file = inputs.experiment;
    const assembled = await assembleRun({
      root,
      experimentFile: file,
      policyFile: inputs.policy,
      ...(inputs.artifactStore ? { artifactStore: inputs.artifactStore } : {}),
      // The runner sends SIGINT on cancellation, then SIGTERM 7.5 s later: stop the sandbox and record the run.
      onSignal: (signal) => process.stdout.write(`[crucible] ${signal} received: cancelling the run\n`),
    });
    release = assembled.release;
    const { experiment, policy, provider, artifactStore } = assembled;
    const approvedImage = await approvedImageOf(experiment, inputs.imageArtifact, workspace);
    const containers: string[] = [];
    let latestProgress: Progress | undefined;
    const runId = newRunId();
    const resultsRoot = inputs.resultsDir ?? path.join(experiment.dir, "results");
    const savedLog = path.relative(workspace, path.join(resultsRoot, runId, "log.txt"));
    log = new ActionsLog((text) => process.stdout.write(text), inputs.logLimitBytes, savedLog);
    const outcome = await runExperimentInSlot({
      experiment,
      policy,
      provider,
      repoRoot: repositoryOf(file),
      resultsRoot,
      runId,
      artifactStore,
      signal: assembled.signal,
      ...(approvedImage ? { approvedImage } : {}),
      monitoring: assembled.monitoring,
      labels: { [label.split("=")[0]!]: label.split("=")[1]! },
      ...(await runProvenance(inputs.evaluation)),
      events: {
        phase: (name) => log!.phase(name),
        stageFinished: (stage) => log!.info(`stage ${stage.name}: ${stage.status} (${stage.statusReason})`),
        info: (message) => log!.info(message),
        line: (line) => {
          if (line.progress) latestProgress = line.progress;
          log!.line(line);
        },
        sample: (sample, peak) => log!.sample(sample, peak),
        sandboxCreated: (id) => {
          containers.push(id);
          core.saveState(STATE.containers, containers.join(","));
        },
      },
    });
    log.close();
    const resultPath = path.relative(workspace, outcome.resultFile);
    const { result } = outcome;
    core.setOutput("status", result.status);
    core.setOutput("result-path", resultPath);
    core.setOutput("run-id", result.runId);
    core.setOutput("metrics", JSON.stringify(result.metrics));
    // Stored artifacts are named by hash; the workflow uploads exactly these files as an Actions artifact.
    const store = new ArtifactStore(artifactStore);
    core.setOutput("stored-artifacts", (result.storedArtifacts ?? []).map((a) => store.pathOf(a.sha256)).join("\n"));
    // One annotation per raised rule, written here: the program's text is only ever inside the message, escaped.
    for (const a of alertAnnotations(result.alerts ?? [])) core[a.level](a.message, { title: a.title });
    await core.summary.addRaw(renderSummary(result, resultPath, latestProgress)).write();
    const headline = escapeControls(`${result.experiment.name}: ${result.status}: ${result.statusReason}`);
    if (result.status === "succeeded" || result.status === "superseded") core.info(headline);
    else core.setFailed(headline);
  } catch (error) {
    log?.close();
    if (error instanceof ExperimentInvalidError) {
      for (const issue of error.issues) {
        core.error(issue.message, {
          file: path.relative(workspace, path.resolve(issue.file)),
          startLine: issue.line,
          startColumn: issue.column,
        });
      }
      core.setFailed("the experiment file is invalid; nothing was run");
    } else {
      core.setFailed(error instanceof CrucibleError ? error.message : String((error as Error)?.stack ?? error));
    }
  } finally {
    release();
  }
}

/** Post step: remove every sandbox this job created that is still there. Never fails the job. */
export async function cleanup(): Promise<void> {
  try {
    const label = core.getState(STATE.jobLabel);
    if (!label) return;
    const report = await collectGarbage(localDocker(), { label });
    if (report.containers.length === 0) core.info("no sandbox of this job was left");
    for (const c of report.containers) core.info(`removed sandbox ${c.id.slice(0, 12)} (${c.reason})`);
    for (const p of report.processes) core.info(`killed orphaned ${p.command} ${p.pid} (${p.reason})`);
  } catch (error) {
    core.warning(`cleaning up sandboxes failed: ${errorMessage(error)}`);
  }
}
