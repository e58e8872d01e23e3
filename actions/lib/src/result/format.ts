// The result format: what results/<run-id>/result.json holds (schemas/result.schema.json is the authority).
// The run writes it, the GitHub side and the site read it; all of them take the types from here.
import type { Resources } from "../experiment.js";
import type { Alert } from "../monitoring/rules.js";
import type { MonitoringRecord } from "../monitoring/session.js";
import type { Log, RunResultDocument, Series, Stage as ResultStage } from "../contracts/result.js";

export type RunStatus = RunResultDocument["status"];

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
 * A result.json as read (committed, or uploaded by a job): what the schema guarantees for every version, and
 * no more. Fields this version always writes may be missing from an older file.
 */
export type RecordedResult = RunResultDocument;

/**
 * result.json as this version writes it: the type generated from schemas/result.schema.json (which also admits
 * version 1 files and leaves room for what older versions did not write), narrowed where this version always
 * writes more, so the compiler holds the writer to it.
 */
export interface RunResult
  extends
    Omit<RunResultDocument, "experiment" | "dropped" | "policy" | "log" | "resources" | "monitoring" | "alerts" | "provenance" | "stages">,
    Required<Pick<RunResultDocument, "dropped" | "policy">> {
  experiment: RunResultDocument["experiment"] & { description: string };
  log: LogRecord;
  resources: GrantedResources;
  /** The suppressed alerts name declared behaviours, not any text. */
  monitoring?: MonitoringRecord;
  /** This version gives every alert its rule's kind. */
  alerts?: Alert[];
  provenance: Provenance;
  /** Multi-stage runs: one record per stage, in run order. */
  stages?: StageResult[];
}

/** Where a run came from: what was run, by which workflow and runner, approved by whom. */
export type Provenance = RunResultDocument["provenance"] &
  Required<Pick<RunResultDocument["provenance"], "gitCommit" | "runner" | "jobUrl" | "containerId">>;

/** An environment review of the workflow run that ran the experiment. */
export type Approval = NonNullable<RunResultDocument["provenance"]["approvals"]>[number];

/** The log as this version records it: always with its last lines. */
export type LogRecord = Required<Log>;

/** What the sandbox was given: every resource the experiment asked for, and the GPUs assigned to it. */
export type GrantedResources = Resources & { gpuDeviceIds: string[] };

export type MetricInfo = NonNullable<RunResultDocument["metricInfo"]>[string];

/** Chart data a program offers in /output/series.json: a small table and the columns to plot. */
export type { Series };

export type StageStatus = RunStatus | "skipped";

/** result.json "stages": what one stage of a multi-stage run did, narrowed as RunResult is. */
export interface StageResult extends Omit<ResultStage, "log" | "resources" | "monitoring" | "alerts"> {
  log: LogRecord;
  resources?: GrantedResources;
  monitoring?: MonitoringRecord;
  alerts?: Alert[];
}
