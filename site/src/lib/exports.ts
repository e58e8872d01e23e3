// The CSV downloads behind every table of runs or metrics. Columns are raw values (seconds,
// bytes, ISO times) rather than the pages' formatted text, so spreadsheets can compute with them.
import { alertEvents } from "./alerts";
import { toCsv, type CsvCell } from "./csv";
import type { RunResult } from "./result";
import { runsFor, type FindingView } from "./findings";
import type { Run } from "./runs";
import { isSandboxed } from "./runtime";

type Usage = NonNullable<RunResult["usage"]>;

/** One row per run; each metric any of the runs reported gets a column. */
export function runsCsv(runs: Run[]): string {
  const metricNames = [...new Set(runs.flatMap(({ result }) => Object.keys(result.metrics)))];
  const header = [
    "experiment",
    "run_id",
    "status",
    "status_reason",
    "runtime",
    "runtime_version",
    "sandboxed",
    "started_at",
    "finished_at",
    "duration_seconds",
    "exit_code",
    "git_commit",
    "runner",
    ...metricNames.map((name) => `metric:${name}`),
  ];
  const rows = runs.map(({ result }): CsvCell[] => [
    result.experiment.name,
    result.runId,
    result.status,
    result.statusReason,
    result.runtime.name,
    result.runtime.version,
    isSandboxed(result.runtime),
    result.startedAt,
    result.finishedAt,
    result.durationSeconds,
    result.exitCode,
    result.provenance.gitCommit,
    result.provenance.runner,
    ...metricNames.map((name) => result.metrics[name]),
  ]);
  return toCsv(header, rows);
}

export function metricsCsv(result: RunResult): string {
  const info = result.metricInfo ?? {};
  return toCsv(
    ["name", "value", "unit", "stage", "description"],
    Object.entries(result.metrics).map(([name, value]) => [name, value, info[name]?.unit, info[name]?.stage, info[name]?.description]),
  );
}

export function usageCsv(usage: Usage): string {
  return toCsv(
    ["t_seconds", "cpu_percent", "memory_bytes"],
    usage.samples.map((s) => [s.t, s.cpuPercent, s.memoryBytes]),
  );
}

export function gpuUsageCsv(usage: Usage): string {
  return toCsv(
    ["t_seconds", "gpu_utilization_percent", "gpu_memory_bytes"],
    (usage.gpuSamples ?? []).map((s) => [s.t, s.utilizationPercent, s.memoryBytes]),
  );
}

/** A research view's table: one row per run, one column per metric of the view that any run has. */
export function findingsCsv(runs: Run[], view: FindingView): string {
  const found = runsFor(runs, view);
  const columns = view.metrics.filter((m) => found.some(({ metrics }) => metrics.some(([name]) => name === m)));
  return toCsv(
    ["experiment", "run_id", "runtime", "sandboxed", "started_at", ...columns],
    found.map(({ run: { result } }) => [
      result.experiment.name,
      result.runId,
      result.runtime.name,
      isSandboxed(result.runtime),
      result.startedAt,
      ...columns.map((c) => result.metrics[c]),
    ]),
  );
}

/** One row per recorded alert event, on the run's clock (program text escaped, as on the page). */
export function alertsCsv(result: RunResult): string {
  return toCsv(
    ["t_seconds", "stage", "rule", "severity", "kind", "process", "detail"],
    alertEvents(result).map((e) => [e.t, e.stage ?? "", e.rule, e.severity, e.kind ?? "", e.process, e.detail]),
  );
}
