// The result format: what results/<run-id>/result.json holds (schemas/result.schema.json is the authority).
// The run writes it, the GitHub side and the site read it; all of them take the types from here.
import type { StoredArtifact } from "../artifact-store.js";
import type { HeadlineMetric, Resources } from "../experiment.js";
import type { CollectedFile, DroppedEntry } from "../files.js";
import type { Alert } from "../monitoring/rules.js";
import type { MonitoringRecord } from "../monitoring/session.js";
import type { ImageRef } from "../sandbox/sandbox.js";
import type { RuntimeInfo } from "../sandbox/sandbox.js";
import type { UsageRecord } from "../usage.js";
import type { Log, RunResultDocument, Series, Stage as ResultStage } from "../contracts/result.js";

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

/**
 * result.json as this version writes it: a narrowing of the type generated from schemas/result.schema.json
 * (which also admits version 1 files), so the compiler holds the writer to the contract.
 */
export interface RunResult extends Omit<RunResultDocument, "stages"> {
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

export interface LogRecord extends Log {
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
export type { Series };

export type StageStatus = RunStatus | "skipped";

/** result.json "stages": what one stage of a multi-stage run did. */
// The schema's stage status excludes "superseded" (only a whole run is superseded), but run.ts types a
// stage's outcome as any RunStatus: "status" stays outside the narrowing until run.ts narrows it.
export interface StageResult extends Omit<ResultStage, "status"> {
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
