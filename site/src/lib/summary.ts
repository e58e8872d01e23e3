// The sentence a run page leads with: how the run ended and why, where it ran, its headline metrics
// with units, and how they compare with the experiment's previous run. Built from the result alone.
import { formatBytes, formatDuration, formatTime } from "./format";
import { formatDelta, formatMetric, headlineOf, judge, type Change, type Headline, type HeadlineSpec } from "./metrics";
import type { RunResult } from "./result";
import { isSandboxed, runtimeLabel } from "./runtime";

type Result = Pick<
  RunResult,
  "status" | "statusReason" | "exitCode" | "durationSeconds" | "runtime" | "metrics" | "metricInfo" | "experiment" | "runId" | "startedAt"
>;

export interface HeadlineWithChange extends Headline {
  previous?: { text: string; delta: string; change: Change };
}

export interface RunSummary {
  /** "Finished (exit 0) in 1 min 30 s under gVisor (runsc …): a 99.5 %, b 1.000." */
  sentence: string;
  /** How it compares with the previous run, or that there is none. */
  comparison: string;
  headline: HeadlineWithChange[];
  /** Whether the experiment declared its headline metrics (otherwise the first few are shown). */
  declared: boolean;
}

/** Raw byte counts in a reason ("268435456 bytes") read as sizes. */
export function readableReason(reason: string): string {
  return reason.replace(/\b(\d{4,}) bytes\b/g, (_, bytes: string) => {
    const count = Number(bytes);
    return `${formatBytes(count)} (${count.toLocaleString("en-US")} bytes)`;
  });
}

/** How the run ended, and why when that is not plain success. */
function howItEnded(result: Result): { ended: string; why?: string } {
  const duration = formatDuration(result.durationSeconds);
  const reason = readableReason(result.statusReason).replace(/\.$/, "");
  const why = reason.charAt(0).toLowerCase() + reason.slice(1);
  switch (result.status) {
    case "succeeded":
      return { ended: `Finished (exit 0) in ${duration}` };
    case "failed":
      return { ended: `Failed${result.exitCode !== null ? ` with exit code ${result.exitCode}` : ""} after ${duration}`, why };
    case "timed-out":
      return { ended: `Timed out after ${duration}`, why };
    case "oom-killed":
      return { ended: `Killed at its memory limit after ${duration}`, why };
    case "cancelled":
      return { ended: `Cancelled after ${duration}`, why };
    case "sandbox-error":
      return { ended: "Stopped by a sandbox error", why };
    case "rejected":
      return { ended: "Rejected by the runner's policy; nothing ran", why };
    case "superseded":
      return { ended: "Superseded; nothing ran", why };
  }
}

export function summariseRun(result: Result, previous: Result | undefined, declared?: HeadlineSpec[]): RunSummary {
  const { declared: isDeclared, metrics } = headlineOf(result, declared);
  const where = isSandboxed(result.runtime)
    ? `under ${runtimeLabel(result.runtime)}`
    : `under ${result.runtime.name} ${result.runtime.version} (an unsandboxed baseline)`;
  const nothingRan = result.status === "rejected" || result.status === "superseded";
  const figures = metrics.map((m) => `${m.name} ${m.text}`).join(", ");
  const { ended, why } = howItEnded(result);
  const head = `${ended}${nothingRan ? "" : ` ${where}`}`;
  const sentence = why ? `${head}: ${why}.${figures ? ` Headline: ${figures}.` : ""}` : `${head}${figures ? `: ${figures}` : ""}.`;

  const headline: HeadlineWithChange[] = metrics.map((m) => {
    if (!previous || !Object.hasOwn(previous.metrics, m.name)) return m;
    const before = previous.metrics[m.name]!;
    return {
      ...m,
      previous: {
        text: formatMetric(m.name, before, previous.metricInfo?.[m.name]?.unit ?? m.unit),
        delta: formatDelta(m.name, m.unit, before, m.value),
        change: judge(before, m.value, m.better),
      },
    };
  });
  let comparison: string;
  if (!previous) {
    comparison = isSandboxed(result.runtime)
      ? "The first run of this experiment under gVisor: nothing to compare with."
      : "The first baseline run of this experiment: nothing to compare with.";
  } else {
    const outcome = previous.status === result.status ? `also ${previous.status}` : `${previous.status}; this one ${result.status}`;
    const changes = headline
      .filter((m) => m.previous)
      .map(({ name, previous: p }) => {
        if (p!.change === "same") return `${name} unchanged`;
        return `${name} ${p!.delta}${p!.change === "better" || p!.change === "worse" ? ` (${p!.change})` : ""}`;
      });
    const changed = changes.length ? `; ${changes.join(", ")}` : "";
    comparison = `Previous run ${previous.runId} (${formatTime(previous.startedAt)}) ${outcome}${changed}.`;
  }
  return { sentence, comparison, headline, declared: isDeclared };
}
