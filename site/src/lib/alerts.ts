// What behaviour monitoring saw in a run (runner-setup/MONITORING.md), as the run page, the overview and
// the alerts CSV show it. Rule ids, severities and meanings come from the runner's rules; the process
// names and details in the examples are the program's own text: they are escaped (shownText) here and
// reach pages only as element content, never a chart or markup.
import { shownText } from "../../../actions/lib/src/text.js";
import { stageOffsets } from "./log";
import type { RunResult } from "./result";

/** An alert as a result records it: results written before rules had kinds have none. */
type Alert = NonNullable<RunResult["alerts"]>[number];
export type Severity = Alert["severity"];
/** What an alert is about (the rule's kind, in the containment suite's categories). */
export type AlertKind = NonNullable<Alert["kind"]>;

export const SEVERITIES: Severity[] = ["high", "medium", "low"];

/** One example event of a raised rule, placed on the run's clock. */
export interface AlertEvent {
  /** Seconds since the run started (a stage's events are moved by when its sandbox started). */
  t: number;
  stage?: string;
  rule: string;
  severity: Severity;
  kind?: AlertKind;
  process: string;
  detail: string;
}

/**
 * Rules raised, most severe first, with their counts (events beyond the examples are only counted), and
 * their recorded examples in time order.
 */
interface Raised {
  alerts: Alert[];
  events: AlertEvent[];
}

export type Behaviour =
  /** The result predates behaviour monitoring. */
  | { kind: "not-recorded" }
  /** Not monitored (or, in a staged run, not every stage was): what the monitored stages raised is still shown. */
  | ({ kind: "unavailable"; reason: string } & Raised)
  | ({
      kind: "monitored";
      evaluated: number;
      /** Events not evaluated (over the collector's bounds or dropped by the sandbox). */
      dropped: number;
      collector: "ok" | "overloaded" | "broken";
      problems: string[];
      /** Rules not raised because the experiment declared the behaviour. */
      suppressed: { rule: string; behaviour: string; count: number }[];
    } & Raised);

const EXAMPLE_CHARS = 300;

export function behaviourOf(result: Pick<RunResult, "monitoring" | "alerts" | "stages" | "startedAt">): Behaviour {
  const monitoring = result.monitoring;
  if (!monitoring) return { kind: "not-recorded" };
  const raised = {
    alerts: [...(result.alerts ?? [])].sort((a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity)),
    events: alertEvents(result),
  };
  if (monitoring.status === "unavailable") return { kind: "unavailable", reason: shownText(monitoring.reason, 1000), ...raised };
  return {
    kind: "monitored",
    ...raised,
    evaluated: monitoring.events.evaluated,
    dropped: Object.values(monitoring.dropped).reduce((a, b) => a + b, 0),
    collector: monitoring.collector,
    problems: monitoring.problems.map((p) => shownText(p, 500)),
    suppressed: monitoring.suppressed,
  };
}

/**
 * Every recorded example on the run's clock. A staged run's own alerts merge its stages' (with times
 * relative to each stage's sandbox), so its events are taken from the stages, each moved by its start.
 */
export function alertEvents(result: Pick<RunResult, "alerts" | "stages" | "startedAt">): AlertEvent[] {
  const offsets = stageOffsets(result);
  const sources = result.stages
    ? result.stages.map((stage) => ({ stage: stage.name, offset: offsets.get(stage.name) ?? 0, alerts: stage.alerts ?? [] }))
    : [{ stage: undefined, offset: 0, alerts: result.alerts ?? [] }];
  return sources
    .flatMap(({ stage, offset, alerts }) =>
      alerts.flatMap((alert) =>
        alert.examples.map((example) => ({
          t: Math.round((example.t + offset) * 1000) / 1000,
          ...(stage ? { stage } : {}),
          rule: alert.rule,
          severity: alert.severity,
          ...(alert.kind ? { kind: alert.kind } : {}),
          process: shownText(example.process, 60),
          detail: shownText(example.detail.join(" "), EXAMPLE_CHARS),
        })),
      ),
    )
    .sort((a, b) => a.t - b.t || a.rule.localeCompare(b.rule));
}

/** An alert's kind as the site writes it: the kind, or that the result was written before rules had kinds. */
export function kindLabel(kind: AlertKind | undefined): string {
  return kind ?? "kind not recorded";
}

/** The most severe alert a run raised, if any: the overview puts high ones first. */
export function worstSeverity(result: Pick<RunResult, "alerts">): Severity | undefined {
  return SEVERITIES.find((severity) => result.alerts?.some((alert) => alert.severity === severity));
}

/** How many events a run's alerts of one severity counted. */
export function alertCount(result: Pick<RunResult, "alerts">, severity: Severity): number {
  return (result.alerts ?? []).filter((alert) => alert.severity === severity).reduce((total, alert) => total + alert.count, 0);
}

/** The same runs with those that raised a high-severity alert first, each group keeping its order. */
export function highAlertsFirst<T extends { result: Pick<RunResult, "alerts"> }>(runs: T[]): T[] {
  const high = runs.filter((run) => worstSeverity(run.result) === "high");
  return [...high, ...runs.filter((run) => !high.includes(run))];
}
