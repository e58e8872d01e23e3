import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { CrucibleError, PolicyRejectedError, SandboxStartError } from "./errors.js";
import { ArtifactStore, defaultArtifactStore, type StoredArtifact } from "./artifact-store.js";
import type { Experiment, HeadlineMetric, Input, Resources, Stage } from "./experiment.js";
import { collectOutputs, droppedEntry, type CollectedFile, type DroppedEntry } from "./files.js";
import { GpuAllocator, listGpus, sampleGpus, type GpuLease } from "./gpu.js";
import type { ImageRef } from "./image.js";
import { checkAgainstPolicy, SANDBOX_ARTIFACTS, SANDBOX_OUTPUT, type SandboxPolicy, type SandboxSpec } from "./policy.js";
import { InputRefusedError, parseJsonWithin, type JsonLimits } from "./limits.js";
import { DISPLAY_TEXT, METRIC_NAME, METRIC_NAME_RULE, SERIES_NAME, SERIES_NAME_RULE } from "./names.js";
import { currentProcess, ownerLabels } from "./owner.js";
import { LineRelay, LogFile, type RelayedLine } from "./relay.js";
import { assertValid, schemaProblems, validateResultDocument, validateSeriesDocument } from "./schemas.js";
import { MANAGED_LABEL, RUN_ID_LABEL } from "./sandbox/docker.js";
import type { ExecResult, ResourceSample, RuntimeInfo, SandboxProvider } from "./sandbox/sandbox.js";
import type { Alert } from "./monitoring/rules.js";
import {
  closeMonitor,
  mergeStageMonitoring,
  type MonitoringOptions,
  type MonitoringOutcome,
  type MonitoringRecord,
  openMonitor,
} from "./monitoring/session.js";
import { createScratch } from "./scratch.js";
import { escapeControls, shownText } from "./text.js";
import { UsageMonitor, type UsagePeaks, type UsageRecord } from "./usage.js";

const execFileAsync = promisify(execFile);

export type RunStatus = "succeeded" | "failed" | "timed-out" | "oom-killed" | "cancelled" | "sandbox-error" | "rejected" | "superseded";

/** How a status is shown next to its name in summaries and comments. */
export const STATUS_ICONS: Record<RunStatus | "skipped", string> = {
  succeeded: "✅",
  failed: "❌",
  "timed-out": "⏱️",
  "oom-killed": "💥",
  cancelled: "🚫",
  "sandbox-error": "⚠️",
  rejected: "⛔",
  superseded: "↪️",
  skipped: "⏭️",
};

/** result.json (schemas/result.schema.json). */
export interface RunResult {
  /** 2 since provenance.gitCommit names the evaluated commit; version 1 files are still read. */
  schemaVersion: 1 | 2;
  runId: string;
  experiment: { name: string; path: string; contentHash: string; description: string; headline?: HeadlineMetric[] };
  status: RunStatus;
  statusReason: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  exitCode: number | null;
  runtime: RuntimeInfo;
  image: ImageRef;
  metrics: Record<string, number>;
  metricInfo?: Record<string, MetricInfo>;
  series?: Record<string, Series>;
  artifacts: CollectedFile[];
  dropped: DroppedEntry[];
  log: LogRecord;
  resources: Resources & { gpuDeviceIds: string[] };
  policy: Record<string, unknown>;
  monitoring?: MonitoringRecord;
  alerts?: Alert[];
  usage?: UsageRecord;
  provenance: Provenance;
  /** Multi-stage runs: one record per stage, in run order. */
  stages?: StageResult[];
  storedArtifacts?: (StoredArtifact & { stage: string })[];
}

/** Where a run came from: what was run, by which workflow and runner, approved by whom. */
export interface Provenance {
  /** The commit whose experiment was run (the approved PR head in the evaluate workflow). */
  gitCommit: string | null;
  /** The base-branch commit whose workflow and actions ran it (evaluate workflow only). */
  baseCommit?: string | null;
  repository?: string;
  runner: string;
  workflowRunUrl?: string | null;
  jobUrl: string | null;
  containerId: string | null;
  pullRequest?: number | null;
  approvals?: Approval[];
}

export interface Approval {
  reviewer: string;
  state: "approved" | "rejected";
  at: string;
  comment?: string;
  environments?: string[];
}

export interface LogRecord {
  path: string;
  lines: number;
  bytes: number;
  truncated: boolean;
  tail: string[];
}

export interface MetricInfo {
  unit?: string;
  description?: string;
  stage?: string;
}

/** Chart data a program offers in /output/series.json: a small table and the columns to plot. */
export interface Series {
  title?: string;
  kind: "line" | "bar" | "heatmap" | "table";
  stage?: string;
  columns: string[];
  rows: (number | string)[][];
  x?: string;
  y?: string;
  group?: string;
  value?: string;
}

export type StageStatus = RunStatus | "skipped";

/** result.json "stages": what one stage of a multi-stage run did. */
export interface StageResult {
  name: string;
  needs: string[];
  status: StageStatus;
  statusReason: string;
  startedAt?: string;
  finishedAt?: string;
  durationSeconds?: number;
  exitCode: number | null;
  command?: string[];
  params?: Record<string, unknown>;
  metrics: Record<string, number>;
  artifacts: CollectedFile[];
  storedArtifacts: StoredArtifact[];
  /** Artifacts of the stages it needs, as mounted (hash checked first). */
  consumed: (StoredArtifact & { stage: string })[];
  dropped: DroppedEntry[];
  log: LogRecord;
  resources?: Resources & { gpuDeviceIds: string[] };
  policy?: Record<string, unknown>;
  monitoring?: MonitoringRecord;
  alerts?: Alert[];
  usage?: UsageRecord;
  containerId?: string | null;
}

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
  /** Host scratch space for the sandbox's output folder; default $RUNNER_TEMP or the OS temp folder. */
  scratchRoot?: string;
  signal?: AbortSignal;
  events?: RunEvents;
  /** What the adapter knows of where the run comes from; gitCommit defaults to the experiment checkout's HEAD. */
  provenance?: Partial<Omit<Provenance, "containerId">> & { job?: string };
  /**
   * The last word before the first sandbox starts (after the image is ready): e.g. the evaluate workflow's
   * check that the approved commit is still the pull request's head. A refusal is recorded; nothing runs.
   */
  beforeStart?: () => Promise<{ status: "superseded" | "rejected" | "cancelled"; reason: string } | undefined>;
  /** Extra container labels, e.g. the workflow run, so a post step can find its sandboxes. */
  labels?: Record<string, string>;
  runId?: string;
  /**
   * Behaviour monitoring (monitoring/session.ts): the traced runtime and the rules, or why this runner
   * cannot monitor. Either way it is recorded in the result.
   */
  monitoring?: MonitoringOptions;
}

export interface RunOutcome {
  result: RunResult;
  resultDir: string;
  resultFile: string;
}

function provenanceOf(given: RunOptions["provenance"] = {}, gitCommit: string | null): Provenance {
  const { job: _job, ...known } = given;
  const present = Object.fromEntries(
    Object.entries(known).filter(([, value]) => value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0)),
  );
  return { ...present, gitCommit, runner: given.runner ?? os.hostname(), jobUrl: given.jobUrl ?? null, containerId: null };
}

export function newRunId(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

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

/** What running a program left behind, before it becomes (part of) a result. */
interface ProgramOutcome {
  status: RunStatus;
  statusReason: string;
  exitCode: number | null;
  log: LogFile;
  metrics: Record<string, number>;
  metricInfo: Record<string, MetricInfo>;
  series: Record<string, Series>;
  files: CollectedFile[];
  dropped: DroppedEntry[];
  policy: Record<string, unknown>;
  usage?: UsageRecord;
  gpuDeviceIds: string[];
  containerId: string | null;
  monitoring?: MonitoringOutcome;
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
  const gitCommit = options.provenance?.gitCommit !== undefined ? options.provenance.gitCommit : await gitHead(experiment.dir);
  const base = {
    schemaVersion: 2 as const,
    runId,
    experiment: {
      name: experiment.spec.name,
      path: path.relative(options.repoRoot, experiment.file).split(path.sep).join("/"),
      contentHash: experiment.contentHash,
      description: experiment.spec.description,
      ...(experiment.spec.headline ? { headline: experiment.spec.headline } : {}),
    },
    startedAt: startedAt.toISOString(),
    resources: { ...experiment.resources, gpuDeviceIds: [] as string[] },
    provenance: provenanceOf(options.provenance, gitCommit),
  };

  // A run refused before it starts is still recorded: the request was valid, the runner or the workflow said no.
  const notStarted = async (status: RunStatus, statusReason: string, runtime: RuntimeInfo, image: ImageRef) => {
    await mkdir(resultDir, { recursive: true });
    const log = new LogFile(path.join(resultDir, "log.txt"), policy.logMaxBytes);
    await log.close();
    return finish(resultDir, log, {
      ...base,
      status,
      statusReason,
      exitCode: null,
      runtime,
      image,
      metrics: {},
      artifacts: [],
      dropped: [],
      policy: {},
    });
  };
  try {
    checkAgainstPolicy(experiment, policy);
  } catch (error) {
    if (!(error instanceof PolicyRejectedError)) throw error;
    return notStarted(
      "rejected",
      error.message,
      { name: policy.runtime, version: "not started" },
      { name: experiment.spec.image, ref: "", id: "", recipeHash: "" },
    );
  }

  events.phase?.("prepare image");
  const runtime = await provider.preflight();
  // A runner killed outright (SIGKILL) cannot remove its sandbox: the next run does, before starting its own.
  for (const gone of await provider.reclaim()) {
    events.info?.(`removed sandbox ${gone.id.slice(0, 12)} of run ${gone.runId || "unknown"}: ${gone.reason}`);
  }
  const image = await provider.prepareImage(experiment.spec.image, (line) => events.info?.(line));
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
    return finish(resultDir, outcome.log, {
      ...base,
      status: outcome.status,
      statusReason: outcome.statusReason,
      exitCode: outcome.exitCode,
      runtime,
      image,
      metrics: outcome.metrics,
      ...metricExtras(outcome),
      artifacts: outcome.files.map((f) => ({ ...f, path: `output/${f.path}` })),
      dropped: outcome.dropped,
      policy: outcome.policy,
      ...(outcome.usage ? { usage: outcome.usage } : {}),
      ...(outcome.monitoring ? { monitoring: outcome.monitoring.monitoring, alerts: outcome.monitoring.alerts } : {}),
      resources: { ...base.resources, gpuDeviceIds: outcome.gpuDeviceIds },
      provenance: { ...base.provenance, containerId: outcome.containerId },
    });
  }
  return runStages(context, experiment.stages, resultDir, { ...base, runtime, image });
}

/**
 * Runs the stages in order. A stage starts only when every stage it needs succeeded and left its
 * artifacts; otherwise it is skipped with the reason, and after a cancellation nothing else starts.
 */
async function runStages(
  context: RunContext,
  stages: Stage[],
  resultDir: string,
  base: Omit<
    RunResult,
    "status" | "statusReason" | "exitCode" | "metrics" | "artifacts" | "dropped" | "policy" | "finishedAt" | "durationSeconds" | "log"
  >,
): Promise<RunOutcome> {
  const { options } = context;
  const { events = {} } = options;
  const runLog = new LogFile(path.join(resultDir, "log.txt"), options.policy.logMaxBytes);
  const records: StageResult[] = [];
  // Units and chart data are kept once, on the run, with the stage that reported them.
  const reported: Pick<ProgramOutcome, "metricInfo" | "series">[] = [];
  const byName = new Map<string, StageResult>();
  const runStart = Date.now();
  const usage = new UsageMonitor();
  for (const [index, stage] of stages.entries()) {
    const blocker = options.signal?.aborted
      ? "the run was cancelled before this stage started"
      : stage.needs.map((n) => byName.get(n)).find((n) => n && n.status !== "succeeded");
    const common = { name: stage.name, needs: stage.needs, command: stage.command, params: stage.params };
    if (blocker) {
      const reason =
        typeof blocker === "string"
          ? blocker
          : `needs stage ${blocker.name}, which ended ${blocker.status}${blocker.status === "skipped" ? "" : `: ${blocker.statusReason}`}`;
      events.info?.(`stage ${stage.name} skipped: ${reason}`);
      const record: StageResult = {
        ...common,
        status: "skipped",
        statusReason: reason,
        exitCode: null,
        metrics: {},
        artifacts: [],
        storedArtifacts: [],
        consumed: [],
        dropped: [],
        log: { path: `stages/${stage.name}/log.txt`, lines: 0, bytes: 0, truncated: false, tail: [] },
      };
      records.push(record);
      byName.set(stage.name, record);
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
      const record = stageRecord(stage, common, startedAt, consumed, [], {
        ...emptyOutcome(log),
        status: "sandbox-error",
        statusReason: error.message,
      });
      records.push(record);
      byName.set(stage.name, record);
      continue;
    }
    for (const m of mounts)
      events.info?.(`mounting ${m.stage}/${m.path} (sha256 ${m.sha256.slice(0, 12)}…) read-only at /artifacts/${m.stage}/${m.path}`);
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
    const record = stageRecord(stage, common, startedAt, consumed, stored, outcome);
    reported[records.length] = outcome;
    if (outcome.usage) usage.addRecord(outcome.usage, (startedAt.getTime() - runStart) / 1000);
    records.push(record);
    byName.set(stage.name, record);
    events.stageFinished?.(record);
  }
  await runLog.close();

  const failed = records.find((r) => r.status !== "succeeded" && r.status !== "skipped");
  const skipped = records.filter((r) => r.status === "skipped");
  const status: RunStatus = failed ? (failed.status as RunStatus) : skipped.length > 0 ? "cancelled" : "succeeded";
  const statusReason = failed
    ? `stage ${failed.name} ended ${failed.status}: ${failed.statusReason.replace(/\.$/, "")}${skipped.length ? `; skipped: ${skipped.map((s) => s.name).join(", ")}` : ""}`
    : skipped.length > 0
      ? `the run was cancelled; skipped: ${skipped.map((s) => s.name).join(", ")}`
      : `all ${records.length} stages succeeded`;
  const { metrics, metricInfo, series, dropped } = mergeStageMetrics(records, reported);
  return finish(resultDir, runLog, {
    ...base,
    status,
    statusReason,
    exitCode: failed ? failed.exitCode : 0,
    metrics,
    ...metricExtras({ metricInfo, series }),
    artifacts: records.flatMap((r) => r.artifacts),
    dropped,
    policy: records.find((r) => r.policy)?.policy ?? {},
    usage: usage.record(),
    ...mergeStageMonitoring(records),
    stages: records,
    storedArtifacts: records.flatMap((r) => r.storedArtifacts.map((a) => ({ stage: r.name, ...a }))),
  });
}

function emptyOutcome(log: LogFile): ProgramOutcome {
  return {
    status: "sandbox-error",
    statusReason: "",
    exitCode: null,
    log,
    metrics: {},
    metricInfo: {},
    series: {},
    files: [],
    dropped: [],
    policy: {},
    gpuDeviceIds: [],
    containerId: null,
  };
}

function stageRecord(
  stage: Stage,
  common: Pick<StageResult, "name" | "needs" | "command" | "params">,
  startedAt: Date,
  consumed: StageResult["consumed"],
  stored: StoredArtifact[],
  outcome: ProgramOutcome,
): StageResult {
  const finishedAt = new Date();
  const prefix = `stages/${stage.name}`;
  return {
    ...common,
    status: outcome.status,
    statusReason: escapeControls(outcome.statusReason),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    exitCode: outcome.exitCode,
    metrics: outcome.metrics,
    artifacts: outcome.files.map((f) => ({ ...f, path: `${prefix}/output/${f.path}` })),
    storedArtifacts: stored,
    consumed,
    dropped: outcome.dropped,
    log: {
      path: `${prefix}/log.txt`,
      lines: outcome.log.lines,
      bytes: outcome.log.bytes,
      truncated: outcome.log.truncated,
      tail: outcome.log.tail,
    },
    resources: { ...stage.resources, gpuDeviceIds: outcome.gpuDeviceIds },
    policy: outcome.policy,
    ...(outcome.usage ? { usage: outcome.usage } : {}),
    ...(outcome.monitoring ? { monitoring: outcome.monitoring.monitoring, alerts: outcome.monitoring.alerts } : {}),
    containerId: outcome.containerId,
  };
}

function metricExtras(outcome: Pick<ProgramOutcome, "metricInfo" | "series">): Pick<RunResult, "metricInfo" | "series"> {
  return {
    ...(Object.keys(outcome.metricInfo).length ? { metricInfo: outcome.metricInfo } : {}),
    ...(Object.keys(outcome.series).length ? { series: outcome.series } : {}),
  };
}

/**
 * Moves a stage's declared artifacts out of its collected outputs into the store, so they are not
 * committed. A declared artifact that was not written fails the stage: its dependents cannot run.
 */
async function storeArtifacts(store: ArtifactStore, stage: Stage, dir: string, outcome: ProgramOutcome): Promise<StoredArtifact[]> {
  if (outcome.status !== "succeeded") return [];
  const stored: StoredArtifact[] = [];
  const missing: string[] = [];
  for (const declared of stage.artifacts) {
    const file = outcome.files.find((f) => f.path === declared);
    if (!file) {
      missing.push(declared);
      continue;
    }
    const hostFile = path.join(dir, "output", declared);
    const artifact = await store.put(hostFile, declared);
    if (artifact.sha256 !== file.sha256) throw new CrucibleError(`artifact ${declared} changed between collection and storage`);
    await rm(hostFile);
    stored.push(artifact);
  }
  outcome.files = outcome.files.filter((f) => !stage.artifacts.includes(f.path));
  if (missing.length > 0) {
    outcome.status = "failed";
    outcome.statusReason = `the program exited 0 but did not write the declared artifact(s) ${missing.join(", ")} in /output, so the stages that need them cannot run`;
  }
  return stored;
}

/** The run's metrics are every stage's; a name two stages both report is kept per stage as <stage>.<name>. */
function mergeStageMetrics(
  records: StageResult[],
  reported: (Pick<ProgramOutcome, "metricInfo" | "series"> | undefined)[],
): { metrics: Record<string, number>; metricInfo: Record<string, MetricInfo>; series: Record<string, Series>; dropped: DroppedEntry[] } {
  const counts = new Map<string, number>();
  for (const r of records) for (const name of Object.keys(r.metrics)) counts.set(name, (counts.get(name) ?? 0) + 1);
  const metrics: Record<string, number> = {};
  const metricInfo: Record<string, MetricInfo> = {};
  const series: Record<string, Series> = {};
  const dropped: DroppedEntry[] = [];
  for (const [index, r] of records.entries()) {
    // A prefixed name can meet one another stage reported as it is: the first keeps it, the later is dropped.
    const taken = (key: string, kind: string) => {
      if (!Object.hasOwn(kind === "metric" ? metrics : series, key)) return false;
      const file = kind === "metric" ? "metrics.json" : "series.json";
      dropped.push({ path: `stages/${r.name}/${file}#${key}`, reason: `the run already has a ${kind} named ${key}` });
      return true;
    };
    for (const [name, value] of Object.entries(r.metrics)) {
      const key = counts.get(name)! > 1 ? `${r.name}.${name}` : name;
      if (taken(key, "metric")) continue;
      metrics[key] = value;
      metricInfo[key] = { ...reported[index]?.metricInfo[name], stage: r.name };
    }
    for (const [name, s] of Object.entries(reported[index]?.series ?? {})) {
      const key = Object.hasOwn(series, name) ? `${r.name}.${name}` : name;
      if (!taken(key, "series")) series[key] = { ...s, stage: r.name };
    }
    dropped.push(...r.dropped.map((d) => ({ ...d, path: `stages/${r.name}/${d.path}` })));
  }
  return { metrics, metricInfo, series, dropped };
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
      return { ...emptyOutcome(log), status: "rejected", statusReason: error.message };
    }
    events.info?.(`assigned GPU(s) ${gpuLease.deviceIds.join(", ")}`);
  }
  const scratch = await createScratch(
    options.scratchRoot ?? process.env.RUNNER_TEMP ?? os.tmpdir(),
    program.stage ? `${runId}-${program.stage}` : runId,
    Math.max(policy.outputBytes, experiment.outputs.maxBytes + 1024 * 1024),
  );
  if (!scratch.sizeLimited) events.info?.("not running as root: the output folder has no hard size limit (only the collection caps apply)");
  const relay = new LineRelay((line) => {
    log.write(line);
    program.echo?.(line);
    events.line?.(line);
  });
  const monitor = await openMonitor(options.monitoring, experiment.spec.behaviours ?? []);
  const spec: SandboxSpec = {
    ...(monitor.session ? { monitoredRuntime: monitor.session.setup.runtime } : {}),
    image: image.id,
    policy,
    resources: program.resources,
    inputs: program.inputs,
    artifacts: program.artifacts,
    outputDir: scratch.outputDir,
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
    try {
      phase("run");
      exec = await sandbox.exec(program.command, {
        onOutput: (stream, chunk) => relay.push(stream, chunk),
        timeoutMs: program.resources.timeoutSeconds * 1000,
        signal: options.signal,
        onCreated: (id) => {
          monitor.session?.expect(id);
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
      await sandbox.cleanup();
      monitoring = await closeMonitor(monitor);
    }

    phase("collect results");
    collected = await collectOutputs(scratch.outputDir, path.join(program.dir, "output"), {
      maxBytes: experiment.outputs.maxBytes,
      maxFiles: experiment.outputs.maxFiles,
      declared: experiment.outputs.files,
    });
  } finally {
    monitoring = await closeMonitor(monitor);
    stopGpuSampling();
    await gpuLease?.release();
    await scratch.dispose();
  }
  const outputDir = path.join(program.dir, "output");
  const { metrics, metricInfo } = await readMetrics(outputDir, collected);
  const series = await readSeries(outputDir, collected);
  return {
    status: sandboxError ? "sandbox-error" : exec!.outcome === "exited" ? (exec!.exitCode === 0 ? "succeeded" : "failed") : exec!.outcome,
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

async function finish(
  resultDir: string,
  log: LogFile,
  partial: Omit<RunResult, "finishedAt" | "durationSeconds" | "log">,
): Promise<RunOutcome> {
  const finishedAt = new Date();
  const result: RunResult = {
    ...partial,
    // Reasons are ours, but some quote what Docker or a runtime said.
    statusReason: escapeControls(partial.statusReason),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: Math.max(0, (finishedAt.getTime() - Date.parse(partial.startedAt)) / 1000),
    log: { path: "log.txt", lines: log.lines, bytes: log.bytes, truncated: log.truncated, tail: log.tail },
  };
  assertValid(validateResultDocument, result, "the run result");
  const resultFile = path.join(resultDir, "result.json");
  await writeFile(resultFile, `${JSON.stringify(result, null, 2)}\n`);
  return { result, resultDir, resultFile };
}

const MAX_METRICS = 200;
/** metrics.json is a flat object of numbers (or {value, unit, description}): small and two levels deep. */
const METRICS_LIMITS = { maxBytes: 256 * 1024, maxDepth: 4 };
/** series.json holds small tables: {name: {columns, rows: [[…]]}}. */
const SERIES_LIMITS = { maxBytes: 512 * 1024, maxDepth: 6 };

/** Text of at most `max` characters without control characters, or absent. */
const optionalText = (value: unknown, max: number): boolean =>
  value === undefined || (typeof value === "string" && value.length <= max && DISPLAY_TEXT.test(value));

/**
 * metrics.json must be a flat object whose keys are metric names (names.ts) and whose values are finite
 * numbers or {value, unit, description} objects; every other entry is dropped with the reason.
 */
async function readMetrics(outputDir: string, collected: Collected): Promise<Pick<ProgramOutcome, "metrics" | "metricInfo">> {
  const metrics: Record<string, number> = {};
  const metricInfo: Record<string, MetricInfo> = {};
  const parsed = await readProgramJson(outputDir, "metrics.json", collected, METRICS_LIMITS);
  const drop = (key: string, reason: string) => collected.dropped.push(droppedEntry(`metrics.json#${key.slice(0, 128)}`, reason));
  for (const [key, raw] of Object.entries(parsed ?? {})) {
    const described = raw !== null && typeof raw === "object" && !Array.isArray(raw) ? (raw as Record<string, unknown>) : undefined;
    const value = described ? described.value : raw;
    const { unit, description } = described ?? {};
    if (!METRIC_NAME.test(key)) drop(key, `not a metric name: ${METRIC_NAME_RULE}`);
    else if (typeof value !== "number" || !Number.isFinite(value)) drop(key, "the value is not a finite number");
    else if (!optionalText(unit, 40)) drop(key, "the unit is not text of up to 40 characters without control characters");
    else if (!optionalText(description, 500)) drop(key, "the description is not text of up to 500 characters without control characters");
    else if (Object.keys(metrics).length >= MAX_METRICS) drop(key, `more than ${MAX_METRICS} metrics`);
    else {
      metrics[key] = value;
      const info: MetricInfo = {};
      if (unit !== undefined) info.unit = unit as string;
      if (description !== undefined) info.description = description as string;
      if (Object.keys(info).length > 0) metricInfo[key] = info;
    }
  }
  return { metrics, metricInfo };
}

/** Index of the first row holding a number JSON.parse made infinite (1e999), or -1. */
function infiniteRow(series: unknown): number {
  const rows = (series as { rows?: unknown } | null)?.rows;
  if (!Array.isArray(rows)) return -1;
  return rows.findIndex((row) => Array.isArray(row) && row.some((cell) => typeof cell === "number" && !Number.isFinite(cell)));
}

/** series.json: chart data the program offers; each series is kept only when its name and shape are valid. */
async function readSeries(outputDir: string, collected: Collected): Promise<Record<string, Series>> {
  const parsed = await readProgramJson(outputDir, "series.json", collected, SERIES_LIMITS);
  const series: Record<string, Series> = {};
  for (const [name, value] of Object.entries(parsed ?? {})) {
    const drop = (reason: string) => collected.dropped.push(droppedEntry(`series.json#${name.slice(0, 64)}`, shownText(reason, 300)));
    const infinite = infiniteRow(value);
    if (!SERIES_NAME.test(name)) drop(`not a series name: ${SERIES_NAME_RULE}`);
    else if (infinite >= 0) drop(`row ${infinite} holds a number that is not finite`);
    else if (!validateSeriesDocument({ [name]: value })) drop(`not a valid series: ${schemaProblems(validateSeriesDocument)}`);
    else series[name] = value as Series;
  }
  return series;
}

type Collected = Awaited<ReturnType<typeof collectOutputs>>;

/**
 * Reads a JSON file the pipeline itself interprets (metrics.json, series.json). One that is not strict
 * JSON within its limits (invalid, too large, nested too deep, or with a duplicate key, which readers
 * resolve differently) is neither read nor kept, so no copy in results/ can say something the result
 * does not.
 */
async function readProgramJson(
  outputDir: string,
  name: string,
  collected: Collected,
  limits: JsonLimits,
): Promise<Record<string, unknown> | undefined> {
  if (!collected.files.some((f) => f.path === name)) return undefined;
  let refusal: string | undefined;
  let parsed: unknown;
  try {
    parsed = parseJsonWithin(await readFile(path.join(outputDir, name), "utf8"), limits);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) refusal = "not a JSON object";
  } catch (error) {
    refusal = error instanceof InputRefusedError ? error.message : `not readable (${(error as Error).message})`;
  }
  if (refusal === undefined) return parsed as Record<string, unknown>;
  await rm(path.join(outputDir, name), { force: true });
  collected.files = collected.files.filter((f) => f.path !== name);
  collected.dropped.push(droppedEntry(name, `not read and not kept: ${refusal}`));
  return undefined;
}

async function gitHead(dir: string): Promise<string | null> {
  try {
    const { stdout } = await execFileAsync("git", ["rev-parse", "HEAD"], { cwd: dir, timeout: 10_000 });
    return stdout.trim() || null;
  } catch {
    return null;
  }
}
