// "Where to act": the runs that need a person, from the newest sandboxed run of each experiment — an
// attack that got out of gVisor, a program that failed or hit a limit, a run that never ran, and
// headline metrics that moved the wrong way since the previous run. Baselines under runc breaching is
// what they are for, so they are listed apart, not as something to fix.
import { loadContainmentMatrix } from "./containment";
import { formatDelta, formatMetric, headlineOf, judge } from "./metrics";
import { headlineSpecs, previousRun, sandboxedRuns, type Run } from "./runs";

export type AttentionKind = "breached" | "failed" | "limit" | "not-run" | "regressed";

export interface AttentionItem {
  kind: AttentionKind;
  run: Run;
  /** What is wrong, in a sentence. */
  what: string;
}

export const attentionHeadings: Record<AttentionKind, string> = {
  breached: "Attacks that got out of gVisor",
  failed: "Runs that failed",
  limit: "Runs stopped at a limit",
  "not-run": "Runs that never ran",
  regressed: "Headline metrics that got worse",
};

/** The kind as a few words, for counts ("2 failed, 1 regressed"). */
export const attentionWords: Record<AttentionKind, string> = {
  breached: "breached gVisor",
  failed: "failed",
  limit: "stopped at a limit",
  "not-run": "never ran",
  regressed: "regressed",
};

export async function attentionItems(runs: Run[]): Promise<AttentionItem[]> {
  const { matrix } = await loadContainmentMatrix();
  const items: AttentionItem[] = [];
  const latest = new Map<string, Run>();
  for (const run of sandboxedRuns(runs)) if (!latest.has(run.result.experiment.name)) latest.set(run.result.experiment.name, run);
  for (const run of latest.values()) {
    const { result } = run;
    const verdict = matrix?.verdicts.find((v) => v.attack === result.experiment.name && v.runId === result.runId);
    if (verdict) {
      // An attack is judged by its verdict: timing out or running out of memory is often how it is contained.
      if (verdict.verdict === "breached") items.push({ kind: "breached", run, what: verdict.reasons[0] ?? "A host-side check failed." });
    } else if (result.status === "failed" || result.status === "sandbox-error") {
      items.push({ kind: "failed", run, what: result.statusReason });
    } else if (result.status === "timed-out" || result.status === "oom-killed") {
      items.push({ kind: "limit", run, what: result.statusReason });
    } else if (result.status === "rejected" || result.status === "superseded" || result.status === "cancelled") {
      items.push({ kind: "not-run", run, what: result.statusReason });
    }
    const previous = await previousRun(run);
    if (!previous) continue;
    const worse = headlineOf(result, await headlineSpecs(run))
      .metrics.filter((m) => m.better && Object.hasOwn(previous.result.metrics, m.name))
      .filter((m) => judge(previous.result.metrics[m.name]!, m.value, m.better) === "worse")
      .map((m) => {
        const before = previous.result.metrics[m.name]!;
        const delta = formatDelta(m.name, m.unit, before, m.value);
        return `${m.name} ${formatMetric(m.name, before, m.unit)} → ${m.text} (${delta}, ${m.better} is better)`;
      });
    if (worse.length > 0) items.push({ kind: "regressed", run, what: `Since run ${previous.result.runId}: ${worse.join("; ")}.` });
  }
  return items;
}

/** Containment verdicts of baselines that breached: expected, shown for completeness. */
export async function baselineBreaches(): Promise<{ attack: string; runtime: string; runId: string }[]> {
  const { matrix } = await loadContainmentMatrix();
  return (matrix?.verdicts ?? []).filter((v) => v.verdict === "breached" && !/^runsc/.test(v.runtime));
}
