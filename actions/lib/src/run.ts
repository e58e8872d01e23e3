import { mkdir } from "node:fs/promises";
import path from "node:path";
import { CrucibleError, PolicyRejectedError, SandboxStartError } from "./errors.js";
import { ArtifactStore, defaultArtifactStore, type StoredArtifact } from "./artifact-store.js";
import type { Experiment, Input, Resources, Stage } from "./experiment.js";
import { collectOutputs } from "./files.js";
import { GpuAllocator, listGpus, sampleGpus, type GpuLease } from "./gpu.js";
import { checkImageSourceAgainstPolicy, imageLabel, resolveImagePolicy } from "./image-source.js";
import { checkAgainstPolicy, runtimeFor, SANDBOX_ARTIFACTS, SANDBOX_OUTPUT, type SandboxPolicy, type SandboxSpec } from "./policy.js";
import { currentProcess, ownerLabels } from "./owner.js";
import { LineRelay, LogFile, type RelayedLine } from "./relay.js";
import type { RunStatus, StageResult } from "./result/format.js";
import {
  notStartedOutcome,
  singleProgramResult,
  statusOfExec,
  type ProgramOutcome,
  type ReportedCharts,
  type ResultHeader,
} from "./result/outcome.js";
import { readMetrics, readSeries, type Collected } from "./result/program-outputs.js";
import { experimentRecord, gitHead, newRunId, provenanceOf, type GivenProvenance } from "./result/provenance.js";
import { skippedStage, stageRecord, stagesResult, unmetNeed } from "./result/stages.js";
import { writeNotStarted, writeResult, type WrittenResult } from "./result/write.js";
import {
  MANAGED_LABEL,
  RUN_ID_LABEL,
  type ExecResult,
  type ImageRef,
  type ResourceSample,
  type RuntimeInfo,
  type SandboxProvider,
} from "./sandbox/sandbox.js";
import {
  closeMonitor,
  mergeStageMonitoring,
  openMonitor,
  type MonitoringOptions,
  type MonitoringOutcome,
  type OpenedMonitor,
} from "./monitoring/session.js";
import { UsageMonitor, type UsagePeaks } from "./usage.js";

/** What an adapter (CLI or action) is told while a run goes on. */
export interface RunEvents {
  /** A new phase starts: "prepare image", "create sandbox", "run", "collect results". */
  phase?(name: string): void;
  info?(message: string): void;
  line?(line: RelayedLine): void;
  /** The sandbox exists: adapters record its id so a later cleanup step can remove it. */
  sandboxCreated?(sandboxId: string): void;
  /** About once a second while the program runs, with the peaks so far. */
  sample?(sample: ResourceSample, peak: UsagePeaks): void;
  /** Multi-stage runs: a stage starts (index from 0); its phases are then named "<stage>: <phase>". */
  stage?(name: string, index: number, total: number): void;
  stageFinished?(stage: StageResult): void;
}

export interface RunOptions {
  experiment: Experiment;
  policy: SandboxPolicy;
  provider: SandboxProvider;
  /** Repository root: experiment paths in results are relative to it. */
  repoRoot: string;
  /** Where results/<runId>/ goes; default <experiment folder>/results. */
  resultsRoot?: string;
  /** Content-addressed store for stage artifacts; default $CRUCIBLE_ARTIFACT_STORE or ~/.cache/crucible/artifacts. */
  artifactStore?: string;
  signal?: AbortSignal;
  events?: RunEvents;
  /** What the adapter knows of where the run comes from; gitCommit defaults to the experiment checkout's HEAD. */
  provenance?: GivenProvenance;
  /**
   * The last word before the first sandbox starts (after the image is ready): e.g. the evaluate workflow's
   * check that the approved commit is still the pull request's head. A refusal is recorded; nothing runs.
   */
  beforeStart?: () => Promise<{ status: "superseded" | "rejected" | "cancelled"; reason: string } | undefined>;
  /** Extra container labels, e.g. the workflow run, so a post step can find its sandboxes. */
  labels?: Record<string, string>;
  runId?: string;
  /**
   * On a sandbox host, for an image the experiment brings: the digest the reviewer approved and the
   * build job's image archive. The image is used only if its digest matches; a Dockerfile is never built.
   */
  approvedImage?: { digest: string; archive?: string };
  /**
   * Behaviour monitoring (monitoring/session.ts): the traced runtime and the rules, or why this runner
   * cannot monitor. Either way it is recorded in the result.
   */
  monitoring?: MonitoringOptions;
}

/** The written result.json and where it is. */
export type RunOutcome = WrittenResult;

/** Everything one run shares between its sandboxes. */
interface RunContext {
  options: RunOptions;
  runId: string;
  image: ImageRef;
  store: ArtifactStore;
  /** Labels naming this process as the sandboxes' owner (owner.ts). */
  ownerLabels: Record<string, string>;
}

/** One program to run in one sandbox: the single-stage experiment itself, or one stage. */
interface Program {
  stage?: string;
  command: string[];
  inputs: Input[];
  params: Record<string, unknown>;
  resources: Resources;
  artifacts: { stage: string; path: string; hostPath: string }[];
  /** Folder that gets log.txt and output/. */
  dir: string;
  /** Also receives every line, e.g. the run's combined log. */
  echo?: (line: RelayedLine) => void;
}

/**
 * Runs one experiment in a sandbox (or each of its stages in its own sandbox) and records it. Problems
 * that mean nothing ran (Docker down, runtime missing, image cannot be built) throw and write nothing;
 * once the run is decided, every ending — a policy rejection, a runtime failure, a timeout, a
 * cancellation — leaves a result with its logs.
 */
export async function runExperiment(options: RunOptions): Promise<RunOutcome> {
  const { experiment, policy, provider, events = {} } = options;
  const startedAt = new Date();
  const runId = options.runId ?? newRunId(startedAt);
  const resultDir = path.join(options.resultsRoot ?? path.join(experiment.dir, "results"), runId);
  // `git rev-parse` runs while the image is prepared and the program runs: only the record needs the commit.
  const gitCommit = options.provenance?.gitCommit !== undefined ? Promise.resolve(options.provenance.gitCommit) : gitHead(experiment.dir);
  const header = async (runtime: RuntimeInfo, image: ImageRef): Promise<ResultHeader> => ({
    schemaVersion: 2,
    runId,
    experiment: experimentRecord(experiment, options.repoRoot),
    startedAt: startedAt.toISOString(),
    runtime,
    image,
    resources: { ...experiment.resources, gpuDeviceIds: [] },
    provenance: provenanceOf(options.provenance, await gitCommit),
  });
  // A run refused before it starts is still recorded: the request was valid, the runner or the workflow said no.
  const notStarted = async (status: RunStatus, reason: string, runtime: RuntimeInfo, image: ImageRef) =>
    writeNotStarted(resultDir, await header(runtime, image), status, reason);
  const imagePolicy = policy.images ?? resolveImagePolicy(undefined);
  const unprepared: ImageRef = { name: imageLabel(experiment.spec.image), ref: "", id: "", recipeHash: "" };
  try {
    checkAgainstPolicy(experiment, policy);
    // A registry the runner does not allow is refused here, before anything is pulled.
    checkImageSourceAgainstPolicy(experiment.image, imagePolicy);
  } catch (error) {
    if (!(error instanceof PolicyRejectedError)) throw error;
    return notStarted("rejected", error.message, { name: policy.runtime, version: "not started" }, unprepared);
  }

  events.phase?.("prepare image");
  const runtime = await provider.preflight();
  // A runner killed outright (SIGKILL) cannot remove its sandbox: the next run does, before starting its own.
  for (const gone of await provider.reclaim()) {
    events.info?.(`removed sandbox ${gone.id.slice(0, 12)} of run ${gone.runId || "unknown"}: ${gone.reason}`);
  }
  let image: ImageRef;
  try {
    image =
      experiment.image.kind === "recipe"
        ? await provider.prepareImage(experiment.image.name, (line) => events.info?.(line))
        : await provider.prepareImage(
            {
              source: experiment.image,
              experimentName: experiment.spec.name,
              experimentDir: experiment.dir,
              policy: imagePolicy,
              ...(options.approvedImage ? { approved: options.approvedImage } : {}),
            },
            (line) => events.info?.(line),
          );
  } catch (error) {
    if (!(error instanceof PolicyRejectedError)) throw error;
    events.info?.(`not started: ${error.message}`);
    return notStarted("rejected", error.message, runtime, unprepared);
  }
  const refused = await options.beforeStart?.();
  if (refused) {
    events.info?.(`not started: ${refused.reason}`);
    return notStarted(refused.status, refused.reason, runtime, image);
  }
  const context: RunContext = {
    options,
    runId,
    image,
    store: new ArtifactStore(options.artifactStore ?? defaultArtifactStore()),
    ownerLabels: ownerLabels(await currentProcess()),
  };
  await mkdir(resultDir, { recursive: true });

  if (!experiment.stages) {
    const outcome = await runProgram(context, {
      command: experiment.spec.command ?? [],
      inputs: experiment.inputs,
      params: experiment.spec.params ?? {},
      resources: experiment.resources,
      artifacts: [],
      dir: resultDir,
    });
    return writeResult(resultDir, outcome.log, singleProgramResult(await header(runtime, image), outcome));
  }
  return runStages(context, experiment.stages, resultDir, await header(runtime, image));
}

/**
 * Runs the stages in order. A stage starts only when every stage it needs succeeded and left its
 * artifacts; otherwise it is skipped with the reason, and after a cancellation nothing else starts.
 */
async function runStages(context: RunContext, stages: Stage[], resultDir: string, header: ResultHeader): Promise<RunOutcome> {
  const { options } = context;
  const { events = {} } = options;
  const runLog = new LogFile(path.join(resultDir, "log.txt"), options.policy.logMaxBytes);
  const records: StageResult[] = [];
  // Units and chart data are kept once, on the run, with the stage that reported them.
  const reported: ReportedCharts[] = [];
  const byName = new Map<string, StageResult>();
  const runStart = Date.now();
  const usage = new UsageMonitor();
  const finished = (record: StageResult) => {
    records.push(record);
    byName.set(record.name, record);
  };
  for (const [index, stage] of stages.entries()) {
    const unmet = stage.needs.map((n) => byName.get(n)).find((n) => n && n.status !== "succeeded");
    const blocker = options.signal?.aborted ? "the run was cancelled before this stage started" : unmet && unmetNeed(unmet);
    if (blocker) {
      events.info?.(`stage ${stage.name} skipped: ${blocker}`);
      finished(skippedStage(stage, blocker));
      continue;
    }
    events.stage?.(stage.name, index, stages.length);
    const dir = path.join(resultDir, "stages", stage.name);
    await mkdir(dir, { recursive: true });
    const startedAt = new Date();
    const consumed = stage.needs.flatMap((n) => byName.get(n)!.storedArtifacts.map((a) => ({ stage: n, ...a })));
    let mounts: (Program["artifacts"][number] & StoredArtifact)[];
    try {
      mounts = await Promise.all(consumed.map(async (a) => ({ ...a, hostPath: await context.store.verified(a) })));
    } catch (error) {
      if (!(error instanceof CrucibleError)) throw error;
      const log = new LogFile(path.join(dir, "log.txt"), options.policy.logMaxBytes);
      await log.close();
      finished(stageRecord(stage, startedAt, consumed, [], notStartedOutcome(log, "sandbox-error", error.message)));
      continue;
    }
    for (const m of mounts) {
      const digest = m.sha256.slice(0, 12);
      events.info?.(`mounting ${m.stage}/${m.path} (sha256 ${digest}…) read-only at /artifacts/${m.stage}/${m.path}`);
    }
    const outcome = await runProgram(context, {
      stage: stage.name,
      command: stage.command,
      inputs: stage.inputs,
      params: stage.params,
      resources: stage.resources,
      artifacts: mounts,
      dir,
      echo: (line) => runLog.write({ ...line, text: `${stage.name} | ${line.text}` }),
    });
    const stored = await storeArtifacts(context.store, stage, dir, outcome);
    const record = stageRecord(stage, startedAt, consumed, stored, outcome);
    reported[records.length] = outcome;
    if (outcome.usage) usage.addRecord(outcome.usage, (startedAt.getTime() - runStart) / 1000);
    finished(record);
    events.stageFinished?.(record);
  }
  await runLog.close();
  return writeResult(resultDir, runLog, {
    ...header,
    ...stagesResult(records, reported),
    usage: usage.record(),
    ...mergeStageMonitoring(records),
  });
}

/**
 * Moves a stage's declared artifacts into the store once its program succeeded. A declared artifact
 * that was not written fails the stage: its dependents cannot run.
 */
async function storeArtifacts(store: ArtifactStore, stage: Stage, dir: string, outcome: ProgramOutcome): Promise<StoredArtifact[]> {
  if (outcome.status !== "succeeded") return [];
  const { stored, missing, kept } = await store.moveDeclared(path.join(dir, "output"), stage.artifacts, outcome.files);
  outcome.files = kept;
  if (missing.length > 0) {
    outcome.status = "failed";
    outcome.statusReason =
      `the program exited 0 but did not write the declared artifact(s) ${missing.join(", ")} in /output, ` +
      "so the stages that need them cannot run";
  }
  return stored;
}

/** Runs one program in a fresh sandbox and collects what it left; every ending becomes an outcome. */
async function runProgram(context: RunContext, program: Program): Promise<ProgramOutcome> {
  const { options, runId, image } = context;
  const { experiment, policy, provider, events = {} } = options;
  const phase = (name: string) => events.phase?.(program.stage ? `${program.stage}: ${name}` : name);
  phase("create sandbox");
  const log = new LogFile(path.join(program.dir, "log.txt"), policy.logMaxBytes);
  let gpuLease: GpuLease | undefined;
  if (program.resources.gpus > 0 && policy.gpu) {
    const { leaseDir, devices } = policy.gpu;
    try {
      gpuLease = await new GpuAllocator(leaseDir, devices ? async () => devices : () => listGpus()).allocate(program.resources.gpus, {
        runId,
      });
    } catch (error) {
      if (!(error instanceof CrucibleError)) throw error;
      await log.close();
      return notStartedOutcome(log, "rejected", error.message);
    }
    events.info?.(`assigned GPU(s) ${gpuLease.deviceIds.join(", ")}`);
  }
  const relay = new LineRelay((line) => {
    log.write(line);
    program.echo?.(line);
    events.line?.(line);
  });
  // A sandbox with GPUs leases a channel only where every channel has a traced GPU runtime; runtimeFor then
  // picks that variant, so it is traced like any other sandbox.
  const monitor: OpenedMonitor = await openMonitor(
    options.monitoring,
    experiment.spec.behaviours ?? [],
    program.stage ? `${runId} ${program.stage}` : runId,
    { gpu: gpuLease !== undefined },
  );
  const channel = monitor.session?.setup;
  const spec: SandboxSpec = {
    ...(channel ? { traced: { runtime: channel.runtime, ...(channel.gpuRuntime ? { gpuRuntime: channel.gpuRuntime } : {}) } } : {}),
    image: image.id,
    policy,
    resources: program.resources,
    inputs: program.inputs,
    artifacts: program.artifacts,
    name: program.stage ? `${runId}-${program.stage}` : runId,
    outputBytes: Math.max(policy.outputBytes, experiment.outputs.maxBytes + 1024 * 1024),
    env: {
      CRUCIBLE_RUN_ID: runId,
      CRUCIBLE_OUTPUT: SANDBOX_OUTPUT,
      CRUCIBLE_PARAMS: JSON.stringify(program.params),
      ...(program.stage ? { CRUCIBLE_STAGE: program.stage, CRUCIBLE_ARTIFACTS: SANDBOX_ARTIFACTS } : {}),
    },
    labels: {
      [MANAGED_LABEL]: "true",
      [RUN_ID_LABEL]: runId,
      "crucible.experiment": experiment.spec.name,
      ...(program.stage ? { "crucible.stage": program.stage } : {}),
      "crucible.job": options.provenance?.job ?? "local",
      // Past this moment the sandbox has outlived its time limit and `crucible gc` may remove it.
      "crucible.deadline": new Date(Date.now() + (program.resources.timeoutSeconds + 300) * 1000).toISOString(),
      ...options.labels,
      ...context.ownerLabels,
    },
    gpuDeviceIds: gpuLease?.deviceIds ?? [],
  };
  const usage = new UsageMonitor();
  let exec: ExecResult | undefined;
  let sandboxError: string | undefined;
  let collected: Collected;
  let monitoring: MonitoringOutcome | undefined;
  const stopGpuSampling = gpuLease ? sampleGpus(gpuLease.deviceIds, (sample) => usage.addGpu(sample)) : () => undefined;
  try {
    const sandbox = await provider.create(spec);
    if (!sandbox.outputSizeLimited)
      events.info?.("not running as root: the output folder has no hard size limit (only the collection caps apply)");
    try {
      try {
        phase("run");
        exec = await sandbox.exec(program.command, {
          onOutput: (stream, chunk) => relay.push(stream, chunk),
          timeoutMs: program.resources.timeoutSeconds * 1000,
          signal: options.signal,
          onCreated: (id) => {
            monitor.session?.expect(id, runtimeFor(spec));
            events.sandboxCreated?.(id);
          },
          onSample: (sample) => {
            usage.add(sample);
            events.sample?.(sample, usage.peak);
          },
        });
      } catch (error) {
        if (!(error instanceof SandboxStartError)) throw error;
        sandboxError = error.message;
      } finally {
        relay.flush();
        await log.close();
      }
      // The program has ended: what it left in /output is collected before the sandbox and its folder go.
      phase("collect results");
      collected = await collectOutputs(sandbox.outputDir, path.join(program.dir, "output"), {
        maxBytes: experiment.outputs.maxBytes,
        maxFiles: experiment.outputs.maxFiles,
        declared: experiment.outputs.files,
      });
    } finally {
      await sandbox.cleanup();
      monitoring = await closeMonitor(monitor, { ending: exec, relay });
    }
  } finally {
    monitoring = await closeMonitor(monitor, { ending: exec, relay });
    stopGpuSampling();
    await gpuLease?.release();
  }
  const outputDir = path.join(program.dir, "output");
  const { metrics, metricInfo } = await readMetrics(outputDir, collected);
  const series = await readSeries(outputDir, collected);
  return {
    status: sandboxError ? "sandbox-error" : statusOfExec(exec!),
    statusReason: sandboxError ?? exec!.detail,
    exitCode: exec?.exitCode ?? null,
    log,
    metrics,
    metricInfo,
    series,
    files: collected.files,
    dropped: collected.dropped,
    policy: exec?.appliedConfig ?? {},
    usage: usage.record(),
    gpuDeviceIds: gpuLease?.deviceIds ?? [],
    containerId: exec?.sandboxId ?? null,
    ...(monitoring ? { monitoring } : {}),
  };
}
