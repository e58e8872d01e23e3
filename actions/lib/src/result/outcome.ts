// What running one program in one sandbox left behind, and the result fields it becomes: a single-stage
// run's result here, a stage's record in stages.ts.
import type { CollectedFile, DroppedEntry } from "../files.js";
import type { MonitoringOutcome } from "../monitoring/session.js";
import type { ExecResult } from "../sandbox/sandbox.js";
import type { UsageRecord } from "../usage.js";
import type { MetricInfo, RunResult, RunStatus, Series } from "./format.js";
import type { LogSummary } from "./write.js";

/** Units, descriptions and chart data a program reported beside its metrics. */
export interface ReportedCharts {
  metricInfo: Record<string, MetricInfo>;
  series: Record<string, Series>;
}

export interface ProgramOutcome extends ReportedCharts {
  /** Never superseded: that is decided before any program runs. */
  status: Exclude<RunStatus, "superseded">;
  statusReason: string;
  exitCode: number | null;
  log: LogSummary;
  metrics: Record<string, number>;
  files: CollectedFile[];
  dropped: DroppedEntry[];
  policy: Record<string, unknown>;
  usage?: UsageRecord;
  gpuDeviceIds: string[];
  containerId: string | null;
  monitoring?: MonitoringOutcome;
}

/** The fields a result takes from what ran; the header holds the rest, and writeResult adds the end and the log. */
export type OutcomeField = "status" | "statusReason" | "exitCode" | "metrics" | "artifacts" | "dropped" | "policy";

/** The part of a result known before any program runs: the run, its experiment, runtime, image and provenance. */
export type ResultHeader = Omit<RunResult, OutcomeField | "finishedAt" | "durationSeconds" | "log">;

/** The outcome of a program that never started (no GPU for it, an artifact that failed its check): its log stays empty. */
export function notStartedOutcome(log: LogSummary, status: ProgramOutcome["status"], statusReason: string): ProgramOutcome {
  return {
    status,
    statusReason,
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

/** The status of a program that ran: an exit is succeeded (code 0) or failed, a kill keeps its name. */
export function statusOfExec(exec: ExecResult): ProgramOutcome["status"] {
  if (exec.outcome !== "exited") return exec.outcome;
  return exec.exitCode === 0 ? "succeeded" : "failed";
}

/** The optional fields of a result, present only when there is something in them. */
export function metricExtras(outcome: ReportedCharts): Pick<RunResult, "metricInfo" | "series"> {
  return {
    ...(Object.keys(outcome.metricInfo).length ? { metricInfo: outcome.metricInfo } : {}),
    ...(Object.keys(outcome.series).length ? { series: outcome.series } : {}),
  };
}

/** The monitoring fields of a result or stage record, when the sandbox had a monitoring session. */
export function monitoringFields(outcome: ProgramOutcome): Pick<RunResult, "monitoring" | "alerts"> {
  return outcome.monitoring ? { monitoring: outcome.monitoring.monitoring, alerts: outcome.monitoring.alerts } : {};
}

/** A single-stage run's result (before writeResult adds its end and log): the header and its one program's outcome. */
export function singleProgramResult(
  header: ResultHeader,
  outcome: ProgramOutcome,
): Omit<RunResult, "finishedAt" | "durationSeconds" | "log"> {
  return {
    ...header,
    status: outcome.status,
    statusReason: outcome.statusReason,
    exitCode: outcome.exitCode,
    metrics: outcome.metrics,
    ...metricExtras(outcome),
    artifacts: outcome.files.map((f) => ({ ...f, path: `output/${f.path}` })),
    dropped: outcome.dropped,
    policy: outcome.policy,
    ...(outcome.usage ? { usage: outcome.usage } : {}),
    ...monitoringFields(outcome),
    resources: { ...header.resources, gpuDeviceIds: outcome.gpuDeviceIds },
    provenance: { ...header.provenance, containerId: outcome.containerId },
  };
}
