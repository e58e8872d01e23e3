// A multi-stage run's records: each stage's, from its program's outcome or the reason it was skipped, and the
// run's result composed from them (one status, one set of metrics).
import type { StoredArtifact } from "../artifact-store.js";
import type { Stage } from "../experiment.js";
import type { DroppedEntry } from "../files.js";
import { escapeControls } from "../text.js";
import type { MetricInfo, RunResult, RunStatus, Series, StageResult } from "./format.js";
import { metricExtras, monitoringFields, type OutcomeField, type ProgramOutcome, type ReportedCharts } from "./outcome.js";

/** What every record of a stage repeats from the experiment file. */
function declared(stage: Stage): Pick<StageResult, "name" | "needs" | "command" | "params"> {
  return { name: stage.name, needs: stage.needs, command: stage.command, params: stage.params };
}

/** Why a stage waits for one it needs that did not succeed. */
export function unmetNeed(need: StageResult): string {
  return `needs stage ${need.name}, which ended ${need.status}${need.status === "skipped" ? "" : `: ${need.statusReason}`}`;
}

/** The record of a stage that was not started: it has an empty log and nothing else. */
export function skippedStage(stage: Stage, reason: string): StageResult {
  return {
    ...declared(stage),
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
}

/** The record of a stage whose program was started (or refused) at startedAt, from its outcome. */
export function stageRecord(
  stage: Stage,
  startedAt: Date,
  consumed: StageResult["consumed"],
  stored: StoredArtifact[],
  outcome: ProgramOutcome,
): StageResult {
  const finishedAt = new Date();
  const prefix = `stages/${stage.name}`;
  const { lines, bytes, truncated, tail } = outcome.log;
  return {
    ...declared(stage),
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
    log: { path: `${prefix}/log.txt`, lines, bytes, truncated, tail },
    resources: { ...stage.resources, gpuDeviceIds: outcome.gpuDeviceIds },
    policy: outcome.policy,
    ...(outcome.usage ? { usage: outcome.usage } : {}),
    ...monitoringFields(outcome),
    containerId: outcome.containerId,
  };
}

/**
 * The run's result fields its stages decide (the run's usage and monitoring are merged by their own modules):
 * reported[i] is what the program of records[i] reported beside its metrics, absent for a stage that did not run.
 */
export function stagesResult(
  records: StageResult[],
  reported: (ReportedCharts | undefined)[],
): Pick<RunResult, OutcomeField | "metricInfo" | "series" | "stages" | "storedArtifacts"> {
  const { metrics, metricInfo, series, dropped } = mergeStageMetrics(records, reported);
  return {
    ...statusOfStages(records),
    metrics,
    ...metricExtras({ metricInfo, series }),
    artifacts: records.flatMap((r) => r.artifacts),
    dropped,
    policy: records.find((r) => r.policy)?.policy ?? {},
    stages: records,
    storedArtifacts: records.flatMap((r) => r.storedArtifacts.map((a) => ({ stage: r.name, ...a }))),
  };
}

/**
 * A multi-stage run's status is that of the first stage that did not succeed; skipped stages without a
 * failure mean the run was cancelled.
 */
function statusOfStages(records: StageResult[]): Pick<RunResult, "status" | "statusReason" | "exitCode"> {
  const failed = records.find((r): r is StageResult & { status: RunStatus } => r.status !== "succeeded" && r.status !== "skipped");
  const skipped = records.filter((r) => r.status === "skipped");
  const status: RunStatus = failed ? failed.status : skipped.length > 0 ? "cancelled" : "succeeded";
  const statusReason = failed
    ? `stage ${failed.name} ended ${failed.status}: ` +
      `${failed.statusReason.replace(/\.$/, "")}${skipped.length ? `; skipped: ${skipped.map((s) => s.name).join(", ")}` : ""}`
    : skipped.length > 0
      ? `the run was cancelled; skipped: ${skipped.map((s) => s.name).join(", ")}`
      : `all ${records.length} stages succeeded`;
  return { status, statusReason, exitCode: failed ? failed.exitCode : 0 };
}

/** The run's metrics are every stage's; a name two stages both report is kept per stage as <stage>.<name>. */
function mergeStageMetrics(
  records: StageResult[],
  reported: (ReportedCharts | undefined)[],
): ReportedCharts & { metrics: Record<string, number>; dropped: DroppedEntry[] } {
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
