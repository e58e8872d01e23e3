// How a multi-stage run's result is composed from its stages' records: one status, one set of metrics.
import type { DroppedEntry } from "../files.js";
import type { MetricInfo, RunResult, RunStatus, Series, StageResult } from "./format.js";

/** Units, descriptions and chart data a program reported beside its metrics. */
export interface ReportedCharts {
  metricInfo: Record<string, MetricInfo>;
  series: Record<string, Series>;
}

/**
 * A multi-stage run's status is that of the first stage that did not succeed; skipped stages without a
 * failure mean the run was cancelled.
 */
export function statusOfStages(records: StageResult[]): Pick<RunResult, "status" | "statusReason" | "exitCode"> {
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

/** The optional fields of a result, present only when there is something in them. */
export function metricExtras(outcome: ReportedCharts): Pick<RunResult, "metricInfo" | "series"> {
  return {
    ...(Object.keys(outcome.metricInfo).length ? { metricInfo: outcome.metricInfo } : {}),
    ...(Object.keys(outcome.series).length ? { series: outcome.series } : {}),
  };
}

/** The run's metrics are every stage's; a name two stages both report is kept per stage as <stage>.<name>. */
export function mergeStageMetrics(
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
