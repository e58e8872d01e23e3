/**
 * How alerts are told to people: one "behaviour" line per run (step summary, PR comment, CLI) and one
 * annotation per raised rule (job log). Rule ids and meanings are ours; process names and details are the
 * program's, so they are escaped and cut here, and each place adds its own escaping (Markdown, HTML).
 */
import type { RecordedResult } from "../result/format.js";
import { shownText } from "../text.js";
import type { Alert, Severity } from "./rules.js";

const SEVERITY_ORDER: Severity[] = ["high", "medium", "low"];

/**
 * "tried: network-egress ×1 (high), shell-exec ×2 (medium)" — or that nothing was tried, or why nothing is known;
 * then what declared behaviours kept from being alerted ("declared, not alerted: network-egress ×2 (network-probe)").
 */
export function behaviourLine(result: Pick<RecordedResult, "monitoring" | "alerts">): string {
  const monitoring = result.monitoring;
  if (!monitoring) return "not monitored (this result predates behaviour monitoring)";
  const alerts = [...(result.alerts ?? [])].sort((a, b) => SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity));
  const listed = alerts.map((a) => `${a.rule} ×${a.count} (${a.severity})`).join(", ");
  if (monitoring.status === "unavailable") {
    // Without the trace, the output relay and the outcome still raise their alerts.
    const seen = alerts.length > 0 ? `; seen in the output and the outcome: ${listed}` : "";
    return `not monitored: ${shownText(monitoring.reason, 300)}${seen}`;
  }
  const dropped = Object.values(monitoring.dropped).reduce((a, b) => a + b, 0);
  const caveat =
    monitoring.collector === "broken"
      ? ` (monitoring broken: ${shownText(monitoring.problems.join("; "), 200)})`
      : dropped > 0
        ? ` (${dropped} events not evaluated: collector bounds or overload)`
        : "";
  // Declared behaviours are not alerted on, but what they hid is said next to what was raised.
  const declared = monitoring.suppressed.length
    ? `; declared, not alerted: ${monitoring.suppressed.map((s) => `${s.rule} ×${s.count} (${s.behaviour})`).join(", ")}`
    : "";
  if (alerts.length === 0) return `tried nothing the rules flag (${monitoring.events.evaluated} events)${declared}${caveat}`;
  return `tried: ${listed}${declared}${caveat}`;
}

export interface AlertAnnotation {
  level: "error" | "warning" | "notice";
  title: string;
  message: string;
}

/** One annotation per raised rule, written by the action; the program's text appears only escaped, inside the message. */
export function alertAnnotations(alerts: Alert[]): AlertAnnotation[] {
  return alerts.map((alert) => {
    const first = alert.examples[0];
    const example = first
      ? ` First at ${first.t.toFixed(1)} s by process ${JSON.stringify(shownText(first.process, 40))}: ` +
        shownText(first.detail.map((d) => JSON.stringify(d)).join(" "), 300)
      : "";
    return {
      level: alert.severity === "high" ? "error" : alert.severity === "medium" ? "warning" : "notice",
      title: `behaviour: ${alert.rule} (${alert.severity}, ${alert.kind})`,
      message: `The program ${alert.meaning} (${alert.count}×).${example}`,
    };
  });
}
